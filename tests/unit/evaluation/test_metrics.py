"""Metrics are after costs, annualised by the timeframe, split by regime and engine, and JSON-safe."""

from __future__ import annotations

import json
import math

import numpy as np
import polars as pl
import pytest

from huracan_core.evaluation.backtest import backtest
from huracan_core.evaluation.metrics import compute_metrics, metrics_from_returns, sharpe_ratio
from tests.stubs.signals import candles_from_opens, random_walk_opens


def _bars(net: np.ndarray, position: float = 1.0) -> pl.DataFrame:
    n = net.size
    return pl.DataFrame({"position": np.full(n, position), "gross": net, "cost": np.zeros(n)})


def test_a_constant_positive_return_compounds_and_has_no_drawdown_and_no_defined_ratios() -> None:
    net = np.full(288, 0.0001)  # one day of 5m bars at +1 bps each
    m = compute_metrics(_bars(net), backtest(candles_from_opens([1.0, 1.0]), [0.0, 0.0], 0.0).trades, "5m")
    assert m["net_pnl_pct"] == pytest.approx((1.0001**288 - 1) * 100, abs=1e-6)
    assert m["max_drawdown_pct"] == 0.0
    assert m["sharpe"] is None  # zero variance: undefined, not inf
    assert m["sortino"] is None  # no downside
    assert m["days"] == 1.0 and m["exposure"] == 1.0
    assert m["turnover"] == 1.0  # one unit bought on the first bar, in one day
    json.dumps(m, allow_nan=False)


def test_sharpe_is_annualised_with_the_timeframe() -> None:
    net = np.array([0.001, -0.0005] * 50)
    expected = net.mean() / net.std(ddof=1) * math.sqrt(24 * 365)
    assert sharpe_ratio(net, 24 * 365) == pytest.approx(expected)
    assert metrics_from_returns(net, "1h")["sharpe"] == pytest.approx(expected, abs=1e-6)
    assert metrics_from_returns(net, "5m")["sharpe"] == pytest.approx(expected * math.sqrt(12), abs=1e-6)


def test_drawdown_is_the_largest_fall_from_a_peak() -> None:
    m = metrics_from_returns(np.array([0.10, -0.50, 0.20]), "1d")
    assert m["max_drawdown_pct"] == pytest.approx(50.0)


def test_hand_example_metrics() -> None:
    c = candles_from_opens([100.0, 101.0, 102.0, 100.0, 103.0])
    r = backtest(c, [1.0, 1.0, -1.0, 0.0, 0.0], 10.0, regime=["TREND", "TREND", "RANGE", "RANGE", "RANGE"])
    m = compute_metrics(r.bars, r.trades, "5m")
    assert m["trades"] == 2 and m["hit_rate"] == 0.0
    assert m["fees_bps"] == pytest.approx(40.0)  # 1 + 2 (reversal) + 1 units at 10 bps
    assert m["exposure"] == pytest.approx(0.6)
    assert m["turnover"] == pytest.approx(4 / (5 / 288))
    assert m["avg_trade_bps"] == pytest.approx(100 * ((1 / 101 - 2 / 102) * 100 - 0.2 - 3.2) / 2)
    assert m["net_pnl_pct"] == pytest.approx((r.bars["equity"][-1] - 1) * 100, abs=1e-6)
    reg = m["per_regime"]
    assert set(reg) == {"TREND", "RANGE"}
    assert reg["TREND"]["net_pnl_pct"] + reg["RANGE"]["net_pnl_pct"] == pytest.approx(
        r.bars["net"].sum() * 100, abs=1e-5
    )
    assert reg["TREND"]["trades"] == 1 and reg["RANGE"]["trades"] == 1


def test_per_engine_attribution_adds_up_to_the_trades_net_pnl() -> None:
    n = 400
    c = candles_from_opens(random_walk_opens(n, seed=3))
    rng = np.random.default_rng(4)
    target = np.repeat(rng.choice([-1.0, 0.0, 1.0], n // 10), 10)
    w = rng.random((n, 3))
    weights = pl.DataFrame({"trend": w[:, 0], "range": w[:, 1], "sweep": w[:, 2]})
    r = backtest(c, target, 7.0, engine_weights=weights)
    per_engine = compute_metrics(r.bars, r.trades, "15m")["per_engine"]
    assert set(per_engine) == {"trend", "range", "sweep"}
    total = sum(v["net_pnl_pct"] for v in per_engine.values())
    assert total == pytest.approx(r.trades["net_pnl_pct"].sum(), abs=1e-4)


def test_no_trades_gives_json_safe_nones() -> None:
    r = backtest(candles_from_opens(np.full(50, 10.0)), np.zeros(50), 5.0)
    m = compute_metrics(r.bars, r.trades, "15m")
    assert m["trades"] == 0 and m["hit_rate"] is None and m["avg_trade_bps"] is None
    assert m["net_pnl_pct"] == 0.0 and m["sharpe"] is None
    json.dumps(m, allow_nan=False)
