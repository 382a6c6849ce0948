"""The live path's newest bar equals the batch research frame's last rows, and its engine fence holds."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from huracan_core.alphas.registry import (
    all_engines,
    fit_states,
    run_engine_latest,
    run_engines,
    run_engines_latest,
)
from huracan_core.alphas.trend_following import TrendEngine
from huracan_core.evaluation.latest import cost_tail_bars, latest_research, latest_tail_bars, regime_tail_bars
from huracan_core.evaluation.research import build_research_frame
from huracan_core.exceptions import EngineError
from huracan_core.market import SyntheticSource

END = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
DAY = 86_400_000
ROWS = 97


@pytest.fixture(scope="module")
def market() -> dict[str, pl.DataFrame]:
    src = SyntheticSource(seed=11)
    return {s: src.fetch(s, "15m", END - 33 * DAY, END) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")}


@pytest.fixture(scope="module")
def batch(market: dict[str, pl.DataFrame]) -> pl.DataFrame:
    rf = build_research_frame(market["SOLUSDT"], "SOLUSDT", "15m", refs=market)
    return rf.frame.with_columns(rf.costs.drop("timestamp"))


def _close(a: object, b: object) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and abs(a - b) <= 1e-9 * max(1.0, abs(a))  # type: ignore[operator]
    return a == b


def test_the_minimal_tails_are_the_documented_ones() -> None:
    assert regime_tail_bars("15m") == 2904  # 30-day percentile (2880 bars) of a 24-bar realised vol
    assert cost_tail_bars() == 97
    assert latest_tail_bars("15m", ROWS) == 2904


def test_newest_rows_from_the_minimal_tail_equal_the_batch_frame(
    market: dict[str, pl.DataFrame], batch: pl.DataFrame
) -> None:
    tail = latest_tail_bars("15m", ROWS)
    sol = market["SOLUSDT"]
    for end in range(sol.height - 40, sol.height + 1, 4):
        refs = {s: c.slice(0, end) for s, c in market.items() if s != "SOLUSDT"}
        latest = latest_research(sol.slice(end - tail, tail), "SOLUSDT", "15m", refs=refs, rows=ROWS)
        expected = batch.row(end - 1, named=True)
        got = {**latest.row(), **latest.costs}
        assert set(got) == set(expected)
        assert all(_close(got[k], expected[k]) for k in expected), {
            k: (got[k], expected[k]) for k in expected if not _close(got[k], expected[k])
        }
        assert latest.frame.height == ROWS
        assert latest.frame["timestamp"].to_list() == batch["timestamp"].slice(end - ROWS, ROWS).to_list()


def test_a_short_history_gives_what_the_batch_frame_gives_on_it(market: dict[str, pl.DataFrame]) -> None:
    sol = market["SOLUSDT"].head(600)
    rf = build_research_frame(sol, "SOLUSDT", "15m", refs=market)
    latest = latest_research(sol, "SOLUSDT", "15m", refs=market)
    assert latest.regime == str(rf.frame["regime"][-1])
    assert all(_close(latest.costs[k], rf.costs[k][-1]) for k in latest.costs)


def test_engines_on_their_own_lookback_give_the_batch_signal_of_the_last_row(batch: pl.DataFrame) -> None:
    engines = all_engines()
    states, _ = fit_states(engines, batch.head(2000))
    frame = batch.slice(0, 2600)
    latest = run_engines_latest(engines, frame.tail(ROWS), states)
    full = run_engines(engines, frame, states)
    assert not latest.errors and set(latest.signals) == set(full.signals)
    for name, row in latest.signals.items():
        expected = full.signals[name].row(-1, named=True)
        assert row["direction"] == expected["direction"], name
        assert row["horizon_bars"] == expected["horizon_bars"], name
        # torch's single-window forward differs from the batched one in float32 rounding only
        tol = 1e-4 if name == "neural" else 1e-12
        assert abs(row["edge_bps"] - expected["edge_bps"]) <= tol, name
        assert abs(row["confidence"] - expected["confidence"]) <= tol, name


class _Broken(TrendEngine):
    def latest_signal(self, frame: pl.DataFrame, state: object) -> dict[str, object]:  # type: ignore[override]
        return {"direction": 2, "edge_bps": 1.0, "confidence": 0.5, "horizon_bars": 16}


def test_a_malformed_latest_signal_becomes_an_engine_error_naming_the_engine(batch: pl.DataFrame) -> None:
    engine = _Broken()
    state = engine.fit(batch.head(2000))
    with pytest.raises(EngineError, match=r"trend.*direction"):
        run_engine_latest(engine, batch.tail(5), state)
    with pytest.raises(EngineError, match="trend"):
        run_engine_latest(TrendEngine(), batch.tail(5), {"engine": "other"})


@pytest.mark.parametrize("timeframe", ["5m", "1h"])
def test_research_costs_forget_bars_older_than_a_day_at_5m_and_1h_and_hamilton_agrees(timeframe: str) -> None:
    """The cost estimate of a bar reads the day before it, whatever the bar length (not 96 bars: 8 hours
    of 5m bars, 4 days of 1h bars); Hamilton's newest-bar costs are the same numbers."""
    from huracan_core.costs import COST_COLUMNS, CostParams
    from huracan_core.timeframe import bars_per_day

    src = SyntheticSource(seed=11)
    candles = src.fetch("SOLUSDT", timeframe, END - 40 * DAY, END)
    day = round(bars_per_day(timeframe))
    end = candles.height - 5
    # Scramble the highs, lows and volumes of everything older than a day before bar `end - 1`.
    old = end - day - 1
    rng = np.random.default_rng(3)
    scrambled = candles.with_columns(
        pl.when(pl.int_range(pl.len()) < old)
        .then(pl.col(c) * pl.Series(rng.uniform(1.0, 1.5, candles.height)))
        .otherwise(pl.col(c))
        .alias(c)
        for c in ("high", "volume")
    )
    costs = build_research_frame(candles.head(end), "SOLUSDT", timeframe).costs
    again = build_research_frame(scrambled.head(end), "SOLUSDT", timeframe).costs
    for column in COST_COLUMNS:
        assert costs[column][-1] == pytest.approx(again[column][-1], rel=1e-12), column
    # ... and a bar or two earlier the windows (exactly a day) reach the scrambled ones: the spread's bar
    # pair one bar sooner than the volume average.
    assert costs["spread_bps"][-2] != again["spread_bps"][-2]
    assert costs["slippage_bps"][-3] != again["slippage_bps"][-3]
    tail = latest_tail_bars(timeframe)
    assert tail >= CostParams.for_timeframe(timeframe).spread_window_bars + 1
    latest = latest_research(candles.head(end).tail(tail), "SOLUSDT", timeframe)
    for column in COST_COLUMNS:
        assert latest.costs[column] == pytest.approx(costs[column][-1], rel=1e-9), column
