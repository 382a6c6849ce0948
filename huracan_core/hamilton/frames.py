"""The research frames a replay trades on, built once for `huracan backtest --champions` and Hamilton's replay.

Both must see the same numbers: the same candles (with enough history before the window that every
feature, regime and cost of the window's first bar equals what the full history gives), the same reference
closes, the cross-sectional rank among the same coins, and the lake's funding rates joined point in time.
So both call `replay_frames`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from huracan_core.config import HuracanConfig
from huracan_core.costs import fees_from_config
from huracan_core.engine.candles_step import TrainingWindow, prepare_candles
from huracan_core.evaluation.latest import latest_tail_bars
from huracan_core.evaluation.research import REFERENCE_CLOSES, ResearchFrame, build_research_frame
from huracan_core.features.cross_section import cross_sectional_ranks
from huracan_core.market.base import CandleSource
from huracan_core.market.funding import lake_funding
from huracan_core.timeframe import timeframe_ms

ENGINE_LOOKBACK_MARGIN = 256  # bars beyond the regime and feature tails: the longest engine lookback is 96


def history_bars(timeframe: str) -> int:
    """Bars before a window's first bar after which older history changes nothing the window computes."""
    return latest_tail_bars(timeframe) + ENGINE_LOOKBACK_MARGIN


@dataclass
class ReplayFrames:
    """Per coin: the research frame from `history_bars` before the window to its end; skipped coins' reasons."""

    start_ms: int
    end_ms: int
    frames: dict[str, ResearchFrame] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def replay_frames(
    config: HuracanConfig,
    symbols: Sequence[str],
    start_ms: int,
    end_ms: int,
    *,
    source: CandleSource | None = None,
) -> ReplayFrames:
    """Research frames of `symbols` for the bars whose open is in [start_ms, end_ms), plus their history."""
    timeframe = config.general.timeframe
    tf = timeframe_ms(timeframe)
    first = (start_ms // tf) * tf
    window = TrainingWindow(first - history_bars(timeframe) * tf, (end_ms // tf) * tf, timeframe)
    wanted = list(dict.fromkeys([*symbols, *REFERENCE_CLOSES]))
    outcome = prepare_candles(config, wanted, window, source=source)
    refs = {r: outcome.candles[r] for r in REFERENCE_CLOSES if r in outcome.candles}
    ranks = cross_sectional_ranks({s: outcome.candles[s] for s in symbols if s in outcome.candles})
    fees = fees_from_config(config.costs)
    funding = lake_funding(config, [s for s in symbols if s in outcome.candles])
    out = ReplayFrames(first, window.end_ms)
    for symbol in symbols:
        if symbol not in outcome.candles:
            out.skipped[symbol] = (outcome.skipped | outcome.failed).get(symbol, "no candles")
            continue
        rf = build_research_frame(
            outcome.candles[symbol], symbol, timeframe, refs=refs, cost_config=config.costs, fees=fees,
            extra_columns=ranks[symbol], funding=funding.get(symbol),
        )  # fmt: skip
        if rf.frame.filter(rf.frame["timestamp"] >= first).height < 2:
            out.skipped[symbol] = "fewer than 2 bars inside the window"
            continue
        out.frames[symbol] = rf
    return out
