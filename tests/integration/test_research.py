"""The research path a quant judges: walk-forward OOS backtest after costs, and the lookahead analysis."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from huracan_core.alphas import RuleEngine
from huracan_core.alphas.arrays import sided
from huracan_core.alphas.registry import all_engines
from huracan_core.cli import app
from huracan_core.decision import DecisionSettings
from huracan_core.evaluation.lookahead import analyse_symbol
from huracan_core.evaluation.research import build_research_frame, evaluate_walk_forward
from huracan_core.market import SyntheticSource

END = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
DAY = 86_400_000


@pytest.fixture(scope="module")
def market() -> dict[str, pl.DataFrame]:
    src = SyntheticSource(seed=7)
    return {s: src.fetch(s, "15m", END - 20 * DAY, END) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")}


class PeeksAtNextOpen(RuleEngine):
    """Leaky on purpose: goes long when the next bar opens higher."""

    name = "leaky_next_open"
    description = "Reads the next bar's open (the future)."
    regimes: ClassVar[frozenset[str]] = frozenset({"TREND", "RANGE"})
    inputs = ("open",)
    horizon_bars = 1
    lookback_bars = 2

    def rule(self, x: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        nxt = pl.Series(x["open"]).shift(-1).to_numpy()
        move = nxt / x["open"] - 1.0
        return sided(move > 0, move < 0), np.ones_like(move)


def test_lookahead_is_clean_over_the_whole_recipe_all_engines_and_the_decision(market: dict) -> None:
    report = analyse_symbol(
        market["SOLUSDT"], "SOLUSDT", "15m", refs=market, engines=all_engines(), decision=DecisionSettings()
    )
    assert report.engine_errors == {}
    columns = report.columns_checked
    assert columns > 100  # features, regime, costs, 21 engines x 3 fields, decision fields
    assert report.clean, report.leaking_columns()


def test_lookahead_catches_a_leaky_engine_and_names_it(market: dict) -> None:
    report = analyse_symbol(
        market["SOLUSDT"], "SOLUSDT", "15m", refs=market,
        engines=[*all_engines()[:3], PeeksAtNextOpen()], decision=DecisionSettings(), n_cuts=3,
    )
    leaking = report.leaking_columns()
    assert "engine:leaky_next_open:direction" in leaking
    assert not any(name.startswith("engine:trend") for name in leaking)
    leak = next(x for x in report.leaks if x.name == "engine:leaky_next_open:direction")
    assert leak.first_diff == leak.cut  # the last bar before the cut is the one that peeked


def test_walk_forward_metrics_are_oos_only_and_costs_never_help(market: dict) -> None:
    rf = build_research_frame(market["SOLUSDT"], "SOLUSDT", "15m", refs=market)
    ev = evaluate_walk_forward(rf, all_engines(), decision=DecisionSettings(edge_threshold_bps=0.0))
    first_test = ev.splits[0].test.start
    assert ev.metrics["oos"]["bars"] == rf.frame.height - rf.first_valid - first_test
    assert ev.metrics["oos"]["first_bar"] > int(rf.frame["timestamp"][rf.first_valid + ev.splits[0].test.start - 1])
    for split in ev.splits:  # no training row's label reaches into its test range
        assert split.train_index().max() < split.test.start
    assert ev.metrics["net_pnl_pct"] <= ev.metrics["gross_pnl_pct"] + 1e-9
    if ev.trades.height:
        assert (ev.trades["entry_time"] > ev.metrics["oos"]["first_bar"] - 1).all()


def test_backtest_command_writes_metrics_and_trades_and_plot(tmp_path: Path) -> None:
    out = tmp_path / "bt"
    result = CliRunner().invoke(
        app,
        ["backtest", "--source", "synthetic", "--symbols", "SOLUSDT", "--days", "30", "--end", "2026-01-01",
         "--out", str(out), "--plot"],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "SOLUSDT/metrics.json").read_text())
    for key in ("net_pnl_pct", "gross_pnl_pct", "sharpe", "sortino", "max_drawdown_pct", "hit_rate", "trades",
                "turnover", "avg_trade_bps", "fees_bps", "per_regime", "per_engine", "oos", "recipe_hash"):
        assert key in metrics
    trades = pl.read_parquet(out / "SOLUSDT/trades.parquet")
    for column in ("entry_time", "exit_time", "entry_price", "exit_price", "side", "size", "costs_bps",
                   "net_pnl_pct", "engine_mix", "regime"):
        assert column in trades.columns
    assert (out / "SOLUSDT/equity.png").stat().st_size > 1000
    assert "SOLUSDT" in result.output


def test_lookahead_command_exits_zero_when_clean() -> None:
    result = CliRunner().invoke(
        app, ["lookahead", "--source", "synthetic", "--symbols", "ETHUSDT", "--days", "15", "--end", "2026-01-01",
              "--cuts", "3"],
    )
    assert result.exit_code == 0, result.output
    assert "no lookahead" in result.output


def test_backtest_command_evaluates_with_the_engine_settings_from_config_and_lists_skipped_symbols(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HURACAN__ENGINE__HORIZONS", "[]")  # no horizon choice: engine.hold_bars is the hold
    monkeypatch.setenv("HURACAN__ENGINE__HOLD_BARS", "4")
    monkeypatch.setenv("HURACAN__ENGINE__MIN_SIGNALS", "12")
    monkeypatch.setenv("HURACAN__ENGINE__FOLDS", "3")  # no --folds: engine.folds applies
    out = tmp_path / "bt"
    result = CliRunner().invoke(
        app,
        ["backtest", "--source", "synthetic", "--symbols", "SOLUSDT,RAREUSDT", "--days", "20", "--end",
         "2026-01-01", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "SOLUSDT/metrics.json").read_text())
    used = metrics["settings"]
    assert (used["hold_bars"], used["min_signals"], used["n_folds"]) == (4, 12, 3)
    assert metrics["oos"]["folds"] == 3
    assert metrics["engines"]["min_signals"] == 12
    # A trade that ends flat (no new trade at its exit) was closed by its horizon, so it lasted at least
    # hold_bars bars, exactly hold_bars when no later decision extended it: 4 here, never under 8 bars.
    trades = pl.read_parquet(out / "SOLUSDT/trades.parquet")
    by_horizon = trades.filter(~pl.col("exit_bar").is_in(trades["entry_bar"].implode()))
    assert by_horizon.height and by_horizon["bars_held"].min() == 4
    # RAREUSDT's volume fails the data gate: named with its reason, the run still succeeds.
    assert "RAREUSDT: Low volume" in result.output
    assert json.loads((out / "summary.json").read_text())["skipped"] == {"RAREUSDT": "Low volume. Skipped."}


def test_backtest_command_fails_naming_each_reason_when_no_symbol_can_be_evaluated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HURACAN__DATA__GATES__MIN_MEDIAN_QUOTE_VOLUME", "1e15")
    out = tmp_path / "bt"
    result = CliRunner().invoke(
        app,
        ["backtest", "--source", "synthetic", "--symbols", "SOLUSDT,ETHUSDT", "--days", "10", "--end",
         "2026-01-01", "--out", str(out)],
    )
    assert result.exit_code == 1, result.output
    assert "SOLUSDT: Low volume" in result.output and "ETHUSDT: Low volume" in result.output
    assert "Written to" not in result.output
    assert not out.exists()


def test_every_backtest_result_stands_beside_buy_and_hold_and_flat_with_its_deflated_sharpe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With the horizon choice on (off by default), so that its trials are checked too.
    monkeypatch.setenv("HURACAN__ENGINE__HORIZONS", '["1h", "4h", "12h", "1d", "3d"]')
    out = tmp_path / "bt"
    result = CliRunner().invoke(
        app,
        ["backtest", "--source", "synthetic", "--symbols", "SOLUSDT", "--days", "30", "--end", "2026-01-01",
         "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "DSR" in result.output and "B&H" in result.output
    metrics = json.loads((out / "SOLUSDT/metrics.json").read_text())
    held, flat = metrics["benchmarks"]["buy_and_hold"], metrics["benchmarks"]["flat"]
    assert flat["net_pnl_pct"] == 0.0 and flat["trades"] == 0 and flat["max_drawdown_pct"] == 0.0
    # Buy-and-hold over the same OOS bars: in at the first OOS bar's next open, out at the last bar's open.
    first, last = metrics["oos"]["first_bar"], metrics["oos"]["last_bar"]
    candles = SyntheticSource(seed=7).fetch("SOLUSDT", "15m", first, last + 1)
    opens = candles["open"].to_numpy()
    assert held["trades"] == 1
    assert held["gross_pnl_pct"] == pytest.approx((opens[-1] / opens[1] - 1) * 100, rel=1e-6)
    assert 0 < held["gross_pnl_pct"] - held["net_pnl_pct"] < 1.0  # one round trip of costs, no more
    breakdown = metrics["trial_breakdown"]
    # The coin's horizon was the best of K candidates (engine.horizons that 30 days can walk forward with):
    # K candidate models, each with its own gate cells and calibrated choices.
    k = breakdown["horizon_candidates"]
    assert k == len(metrics["horizon"]["candidates"]) >= 2
    assert metrics["trials"] == breakdown["total"] == k * (breakdown["gate_cells"] + breakdown["calibrated_choices"])
    # Its trades are held for the chosen horizon: one closed by its horizon (not by a reversal, nor by the
    # end of the data) lasted at least that long (longer when a later decision extended it).
    chosen = metrics["horizon"]["bars"]
    assert metrics["settings"]["hold_bars"] == chosen
    trades = pl.read_parquet(out / "SOLUSDT/trades.parquet")
    by_horizon = trades.filter(
        ~pl.col("exit_bar").is_in(trades["entry_bar"].implode()) & (pl.col("exit_bar") < trades["exit_bar"].max())
    )
    assert by_horizon.height == 0 or by_horizon["bars_held"].min() >= chosen
    assert breakdown["calibrated_choices"] >= 2 * 21  # every rule engine's two sides were judged on data
