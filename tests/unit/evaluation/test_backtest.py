"""The backtest fills at the next open, charges every fill its per-side cost, and adds up exactly."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from huracan_core.config import CostsConfig
from huracan_core.costs import bar_costs
from huracan_core.evaluation.backtest import backtest, mix_json
from huracan_core.exceptions import DataIntegrityError
from tests.stubs.signals import candles_from_opens, random_walk_opens

N = 40
prices = arrays(np.float64, N, elements=st.floats(1.0, 1000.0))
targets = arrays(np.float64, N, elements=st.sampled_from([-1.0, -0.5, 0.0, 0.3, 1.0]))
costs = arrays(np.float64, N, elements=st.floats(0.0, 50.0))


@settings(max_examples=60, deadline=None)
@given(prices, costs)
def test_no_signals_mean_no_trades_no_costs_and_zero_pnl(opens: np.ndarray, cost: np.ndarray) -> None:
    r = backtest(candles_from_opens(opens), np.zeros(N), cost)
    assert r.trades.height == 0
    assert r.bars["cost"].sum() == 0.0
    assert r.bars["net"].abs().max() == 0.0
    assert r.net_return == 0.0


@settings(max_examples=60, deadline=None)
@given(prices, targets, costs)
def test_doubling_every_fee_never_raises_net_pnl(
    opens: np.ndarray, target: np.ndarray, cost: np.ndarray
) -> None:
    c = candles_from_opens(opens)
    once = backtest(c, target, cost)
    twice = backtest(c, target, 2 * cost)
    assert twice.net_return <= once.net_return + 1e-12
    assert (twice.trades["net_pnl_pct"].to_numpy() <= once.trades["net_pnl_pct"].to_numpy() + 1e-12).all()


@settings(max_examples=60, deadline=None)
@given(prices, targets, costs)
def test_costs_reduce_net_below_gross_by_exactly_the_cost_sum(
    opens: np.ndarray, target: np.ndarray, cost: np.ndarray
) -> None:
    r = backtest(candles_from_opens(opens), target, cost)
    b = r.bars
    pos = b["position"].to_numpy()
    charged = np.concatenate([cost[:1], cost[:-1]])  # a fill at bar t's open pays bar t-1's estimate
    expected_cost = np.abs(np.diff(np.concatenate([[0.0], pos]))) * charged / 1e4
    np.testing.assert_allclose(b["cost"].to_numpy(), expected_cost, rtol=0, atol=1e-15)
    np.testing.assert_allclose(b["gross"].to_numpy() - b["net"].to_numpy(), expected_cost, rtol=0, atol=1e-12)
    # The trade list accounts for every bar of gross pnl and every bps of cost.
    assert r.trades["costs_bps"].sum() == pytest.approx(expected_cost.sum() * 1e4, abs=1e-9)
    assert r.trades["gross_pnl_pct"].sum() == pytest.approx(b["gross"].sum() * 100, abs=1e-9)


def test_a_position_decided_at_a_bar_earns_nothing_from_that_bars_own_jump() -> None:
    opens = np.full(10, 100.0)
    opens[5:] = 110.0  # the move happens inside bar 4 (open 100 -> next open 110)
    c = candles_from_opens(opens)
    late = np.zeros(10)
    late[4] = 1.0  # decided at bar 4's close, after the jump: filled at bar 5's open
    assert backtest(c, late, 0.0).bars["gross"].sum() == 0.0
    early = np.zeros(10)
    early[3] = 1.0  # decided at bar 3's close: held through bar 4
    assert backtest(c, early, 0.0).bars["gross"].sum() == pytest.approx(0.10)


def test_a_reversal_pays_two_fills() -> None:
    c = candles_from_opens(np.full(6, 100.0))
    r = backtest(c, [1.0, -1.0, -1.0, 0.0, 0.0, 0.0], 10.0)
    assert r.bars["cost"].to_list() == pytest.approx([0, 0.001, 0.002, 0, 0.001, 0])
    long, short = r.trades.rows(named=True)
    assert long["costs_bps"] == pytest.approx(20.0) and short["costs_bps"] == pytest.approx(20.0)
    assert long["exit_bar"] == short["entry_bar"] == 2


def test_small_example_matches_the_hand_computation() -> None:
    c = candles_from_opens([100.0, 101.0, 102.0, 100.0, 103.0])
    r = backtest(c, [1.0, 1.0, -1.0, 0.0, 0.0], 10.0, regime=["TREND", "TREND", "RANGE", "RANGE", "RANGE"])
    b = r.bars
    assert b["position"].to_list() == [0.0, 1.0, 1.0, -1.0, 0.0]
    gross = [0.0, 1 / 101, -2 / 102, -0.03, 0.0]
    cost = [0.0, 0.001, 0.0, 0.002, 0.001]
    assert b["gross"].to_list() == pytest.approx(gross, abs=1e-15)
    assert b["cost"].to_list() == pytest.approx(cost, abs=1e-15)
    equity = np.cumprod(1 + np.array(gross) - np.array(cost))
    assert b["equity"].to_list() == pytest.approx(equity.tolist(), abs=1e-15)
    assert b["complete"].to_list() == [True, True, True, True, False]
    t = r.trades
    assert t["side"].to_list() == [1, -1]
    assert t["entry_price"].to_list() == [101.0, 100.0]
    assert t["exit_price"].to_list() == [100.0, 103.0]
    assert t["entry_time"].to_list() == c["timestamp"].to_list()[1:4:2]
    assert t["costs_bps"].to_list() == pytest.approx([20.0, 20.0])
    assert t["gross_pnl_pct"].to_list() == pytest.approx([(1 / 101 - 2 / 102) * 100, -3.0])
    assert t["net_pnl_pct"].to_list() == pytest.approx([(1 / 101 - 2 / 102) * 100 - 0.2, -3.2])
    assert t["regime"].to_list() == ["TREND", "RANGE"]  # regime at the decision bar


def test_resizing_stays_in_one_trade_and_pays_for_the_units_it_moves() -> None:
    c = candles_from_opens(np.full(6, 100.0))
    r = backtest(c, [0.5, 1.0, 1.0, 0.0, 0.0, 0.0], 10.0)
    assert r.trades.height == 1
    row = r.trades.row(0, named=True)
    assert (row["size"], row["max_size"]) == (0.5, 1.0)
    assert row["costs_bps"] == pytest.approx(10.0 * (0.5 + 0.5 + 1.0))


def test_the_last_bar_closes_any_open_position() -> None:
    c = candles_from_opens(random_walk_opens(20))
    r = backtest(c, np.ones(20), 5.0)
    assert r.bars["position"][-1] == 0.0
    assert r.trades.height == 1 and r.trades["exit_bar"][0] == 19


def test_engine_mix_is_taken_from_the_decision_bar() -> None:
    c = candles_from_opens(np.full(6, 100.0))
    weights = pl.DataFrame({"trend": [0.9, 0.2, 0, 0, 0, 0], "range": [0.1, 0.8, 0, 0, 0, 0]})
    r = backtest(c, [1.0, 0.0, -1.0, 0.0, 0.0, 0.0], 1.0, engine_weights=weights)
    assert json.loads(r.trades["engine_mix"][0]) == {"trend": 0.9, "range": 0.1}
    assert r.trades["engine_mix"][1] == "{}"  # no engine weight at that decision bar


def test_the_cost_of_a_fill_is_known_before_the_fill_bars_candle() -> None:
    """A fill at bar t's open cannot know bar t's high, low or volume: changing them changes nothing it pays."""
    opens = random_walk_opens(300, seed=3)
    c = candles_from_opens(opens).with_columns(pl.Series("volume", np.random.default_rng(3).lognormal(5, 1, 300)))
    t = 250
    target = np.zeros(300)
    target[t - 1 : t + 9] = 1.0  # decided at bar t-1's close: filled at bar t's open, closed at t+10's
    other = c.with_columns(
        pl.when(pl.int_range(pl.len()) == t).then(pl.col("high") * 1.05).otherwise(pl.col("high")).alias("high"),
        pl.when(pl.int_range(pl.len()) == t).then(pl.col("low") * 0.95).otherwise(pl.col("low")).alias("low"),
        pl.when(pl.int_range(pl.len()) == t).then(pl.col("volume") * 0.01).otherwise(pl.col("volume")).alias("volume"),
    )
    paid = [
        backtest(frame, target, bar_costs(frame, "TESTUSDT", CostsConfig())).bars["cost"][t]
        for frame in (c, other)
    ]
    assert paid[0] > 0
    assert paid[1] == paid[0]
    estimates = bar_costs(other, "TESTUSDT", CostsConfig())["cost_bps"]
    assert estimates[t] != bar_costs(c, "TESTUSDT", CostsConfig())["cost_bps"][t]  # bar t's own estimate moved


def test_costs_can_come_from_the_costs_frame() -> None:
    c = candles_from_opens(np.full(5, 100.0))
    frame = pl.DataFrame(
        {"fee_bps": [10.0] * 5, "spread_bps": [1.0] * 5, "slippage_bps": [0.5] * 5, "cost_bps": [11.5] * 5}
    )
    r = backtest(c, [1.0, 0, 0, 0, 0], frame)
    assert r.bars["cost"].sum() == pytest.approx(2 * 11.5e-4)


@pytest.mark.parametrize(
    ("target", "cost", "match"),
    [
        ([1.5, 0, 0], 1.0, "within"),
        ([float("nan"), 0, 0], 1.0, "finite"),
        ([0, 0, 0], -1.0, "cost_bps"),
        ([0, 0], 1.0, "shape"),
    ],
)
def test_bad_inputs_are_named_errors(target: list[float], cost: float, match: str) -> None:
    with pytest.raises(DataIntegrityError, match=match):
        backtest(candles_from_opens([100.0, 101.0, 102.0]), target, cost)


def test_backtest_of_a_year_of_five_minute_bars_is_fast() -> None:
    import time

    n = 105_120
    c = candles_from_opens(random_walk_opens(n))
    target = np.where(np.random.default_rng(1).random(n) < 0.5, 1.0, -1.0)
    start = time.perf_counter()
    r = backtest(c, target, 8.0)
    assert time.perf_counter() - start < 1.0
    assert r.trades.height > 10_000


def test_mix_json_reads_weights_as_nan_to_num_would() -> None:
    """mix_json skips np.nan_to_num for finite weights; the JSON must be what nan_to_num gave, every case."""

    def reference(weights: dict, top_k: int | None) -> str:
        items = [(name, float(np.nan_to_num(w))) for name, w in weights.items()]
        items = sorted((i for i in items if abs(i[1]) > 0), key=lambda i: -abs(i[1]))[: top_k or None]
        return json.dumps({name: round(w, 6) for name, w in items})

    rng = np.random.default_rng(2)
    odd = [np.nan, np.inf, -np.inf, 0.0, -0.0, 0.25, -0.25, np.float32(np.inf), np.float32(0.1), -1e-7]
    plain = [0.1, 0.2, 0.3]
    for _ in range(2_000):
        weights = {
            f"e{i}": odd[int(rng.integers(len(odd)))] if rng.random() < 0.3 else plain[int(rng.integers(3))]
            for i in range(int(rng.integers(0, 12)))
        }
        for top_k in (None, 0, 3, 5):
            assert mix_json(weights, top_k) == reference(weights, top_k)
