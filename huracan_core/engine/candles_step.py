"""The engine's candle step: bring each symbol's candles for the training window, then apply the data gates.

ccxt fills the lake incrementally (candles, and funding rates where the coin has a perpetual) and the
engine reads the lake; `lake` reads what a user brought; the
synthetic market is read directly (never written into a lake, where it could later pass for real data).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from huracan_core.config import HuracanConfig
from huracan_core.exceptions import DataIntegrityError, HuracanError, UnknownSymbolError
from huracan_core.market import LakeSource, open_source
from huracan_core.market.base import CandleSource
from huracan_core.market.gates import check_candles
from huracan_core.timeframe import DAY_MS, timeframe_ms

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingWindow:
    """Bars whose open time is in [start_ms, end_ms): the lookback ending at the as-of moment."""

    start_ms: int
    end_ms: int
    timeframe: str

    @classmethod
    def ending_at(cls, as_of: datetime, lookback_days: float, timeframe: str) -> TrainingWindow:
        tf = timeframe_ms(timeframe)
        end = (int(as_of.timestamp() * 1000) // tf) * tf
        start = ((end - int(lookback_days * DAY_MS)) // tf) * tf
        return cls(start, end, timeframe)


@dataclass
class CandlesOutcome:
    """Per symbol: candles that passed the gates, or the reason a symbol was skipped or failed."""

    window: TrainingWindow
    source: str
    candles: dict[str, pl.DataFrame] = field(default_factory=dict)
    gate_stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def prepare_candles(
    config: HuracanConfig,
    symbols: Sequence[str],
    window: TrainingWindow,
    *,
    source: CandleSource | None = None,
    on_symbol: Callable[[str, str, str | None], None] | None = None,
    fill: bool = True,
) -> CandlesOutcome:
    """Load and gate the candles of every symbol; one bad symbol never stops the others.

    With ccxt, `fill=True` first brings the lake up to date from the exchange (the candle step);
    `fill=False` only reads the lake (training workers, which must see exactly what that step stored).

    `on_symbol(symbol, verdict, reason)` is called with verdict "ok", "skipped" or "failed" so callers
    can keep engine_status.json and progress bars current.
    """
    tf = window.timeframe
    if config.data.source == "ccxt":
        lake = LakeSource(config.data.lake_dir)
        if fill:
            source = source or open_source(config)
            days = (window.end_ms - window.start_ms) / DAY_MS
            # Fill only what the lake lacks; an unreachable exchange raises here, before anything is written.
            source.fill_lake(lake, list(symbols), tf, days, window.end_ms)
            _fill_funding(source, lake, symbols, days, window.end_ms)
        reader: CandleSource = lake
    else:
        reader = source or open_source(config)
    outcome = CandlesOutcome(window=window, source=(source or reader).describe())
    for symbol in symbols:
        try:
            frame = reader.fetch(symbol, tf, window.start_ms, window.end_ms)
            # Bars before a coin's first candle are not gaps; a hole after it (even at the window start) is.
            listed = reader.first_timestamp(symbol, tf) if frame.height else None
            result = check_candles(
                frame,
                symbol,
                tf,
                config.data.gates,
                window.start_ms,
                window.end_ms,
                first_candle_ms=listed,
            )
        except UnknownSymbolError as exc:
            outcome.failed[symbol] = str(exc)
            _notify(on_symbol, symbol, "failed", str(exc))
            continue
        except DataIntegrityError as exc:
            outcome.skipped[symbol] = str(exc)
            _notify(on_symbol, symbol, "skipped", str(exc))
            continue
        outcome.gate_stats[symbol] = result.stats
        if result.ok and result.frame is not None:
            outcome.candles[symbol] = result.frame
            _notify(on_symbol, symbol, "ok", None)
        else:
            reason = result.reason or "rejected by data gates"
            outcome.skipped[symbol] = reason
            _notify(on_symbol, symbol, "skipped", reason)
    return outcome


def _fill_funding(
    source: CandleSource, lake: LakeSource, symbols: Sequence[str], days: float, end_ms: int
) -> None:
    """Keep the lake's funding rates current with the candles (the funding engine reads them).

    Funding is an optional input: a failure here is a warning and the coins' engines then see what the lake
    already holds (or abstain), never a failed candle step."""
    from huracan_core.market.ccxt_source import CcxtSource
    from huracan_core.market.funding import fill_funding

    if not isinstance(source, CcxtSource):
        return
    try:
        fill_funding(source, lake, list(symbols), days, end_ms)
    except HuracanError as exc:
        log.warning("⚠️ funding rates not updated: %s", exc)


def _notify(
    callback: Callable[[str, str, str | None], None] | None, symbol: str, verdict: str, reason: str | None
) -> None:
    if callback is not None:
        callback(symbol, verdict, reason)
