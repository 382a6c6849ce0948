"""Volatility targeting on the planted-edge market: a volatile coin trades smaller and draws down less.

The walk-forward evaluation (rule engines: the seasonal one finds the planted hours) of a calm coin and a
volatile one, with `target_volatility_pct` unset and set. What a user relies on: unset, nothing reads the
volatility (results are exactly today's); set, the same trades are taken, each sized at most
max_position * target / the realised volatility known at its decision bar, so the volatile coin's positions
are smaller than the calm coin's and its out-of-sample drawdown falls about in proportion to its size.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest

from huracan_core.alphas.registry import rule_engines
from huracan_core.decision import DecisionSettings
from huracan_core.evaluation.research import (
    Evaluation,
    ResearchFrame,
    build_research_frame,
    evaluate_walk_forward,
)
from huracan_core.market.planted import PlantedEdgeSource
from huracan_core.sizing import VOL_COLUMN

pytestmark = pytest.mark.slow

END = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp() * 1000)
DAY = 86_400_000
CALM, VOLATILE = "BTCUSDT", "DOGEUSDT"  # realised vol about 50% and 105% a year on this market
TARGET = 40.0


@pytest.fixture(scope="module")
def frames() -> dict[str, ResearchFrame]:
    src = PlantedEdgeSource(seed=11)
    candles = {s: src.fetch(s, "15m", END - 120 * DAY, END) for s in (CALM, VOLATILE, "ETHUSDT")}
    return {s: build_research_frame(candles[s], s, "15m", refs=candles) for s in (CALM, VOLATILE)}


def _evaluate(rf: ResearchFrame, target: float | None) -> Evaluation:
    return evaluate_walk_forward(rf, rule_engines(), decision=DecisionSettings(target_volatility_pct=target))


@pytest.fixture(scope="module")
def runs(frames: dict[str, ResearchFrame]) -> dict[tuple[str, float | None], Evaluation]:
    return {(s, t): _evaluate(rf, t) for s, rf in frames.items() for t in (None, TARGET)}


def test_without_a_target_the_volatility_is_never_read(frames: dict, runs: dict) -> None:
    rf = frames[VOLATILE]
    blind = ResearchFrame(
        rf.symbol, rf.timeframe, rf.frame, rf.costs.with_columns(pl.lit(float("nan")).alias(VOL_COLUMN)),
        rf.recipe, rf.first_valid,
    )  # fmt: skip
    plain, without_vol = runs[(VOLATILE, None)], _evaluate(blind, None)
    assert plain.bars.equals(without_vol.bars) and plain.trades.equals(without_vol.trades)
    assert plain.metrics["max_drawdown_pct"] == without_vol.metrics["max_drawdown_pct"]


def test_a_target_keeps_the_trades_and_caps_each_size_at_target_over_the_vol_of_its_decision_bar(
    frames: dict, runs: dict
) -> None:
    for symbol, rf in frames.items():
        plain, sized = runs[(symbol, None)], runs[(symbol, TARGET)]
        assert sized.trades.height >= 30, symbol
        for column in ("entry_time", "exit_time", "side"):
            assert sized.trades[column].equals(plain.trades[column]), (symbol, column)
        vol = plain.decisions.join(rf.costs, on="timestamp", how="left")[VOL_COLUMN].to_numpy()
        expected = np.minimum(plain.decisions["size"].to_numpy(), TARGET / vol)
        traded = plain.decisions["side"].to_numpy() != 0
        assert np.array_equal(sized.decisions["size"].to_numpy()[traded], expected[traded]), symbol


def test_the_volatile_coin_trades_smaller_and_its_drawdown_falls_about_in_proportion(runs: dict) -> None:
    def mean_size(symbol: str, target: float | None) -> float:
        return float(runs[(symbol, target)].trades["size"].mean())

    # Unsized, both coins trade close to full size; sized, the volatile one trades far smaller.
    assert mean_size(CALM, None) > 0.75 and mean_size(VOLATILE, None) > 0.75
    assert mean_size(VOLATILE, TARGET) < 0.7 * mean_size(CALM, TARGET)
    shrink = mean_size(VOLATILE, TARGET) / mean_size(VOLATILE, None)
    assert shrink < 0.6
    dd_plain = runs[(VOLATILE, None)].metrics["max_drawdown_pct"]
    dd_sized = runs[(VOLATILE, TARGET)].metrics["max_drawdown_pct"]
    assert dd_plain > 0 and 0.6 * shrink <= dd_sized / dd_plain <= 1.4 * shrink, (dd_plain, dd_sized, shrink)
    # the edge is still earned: smaller, never of the other sign
    for symbol in (CALM, VOLATILE):
        assert runs[(symbol, TARGET)].metrics["net_pnl_pct"] > 0, symbol
