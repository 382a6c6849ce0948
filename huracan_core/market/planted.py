"""A synthetic market with a planted, persistent and predictable structure, for the honesty tests.

On top of the no-edge random walk, prices rise by `drift_bps` per bar during two UTC hours of every day
and fall back by the same amount during two other hours, so the day nets to zero and no trend builds up.
A model that learns time of day can earn this after costs; anything else sees a random walk. The shift
depends only on the bar's time of day, so any range of bars is identical however it was asked for.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from huracan_core.market.base import CandleSource
from huracan_core.market.synthetic import SyntheticSource
from huracan_core.timeframe import DAY_MS, timeframe_ms

UP_HOURS = (8, 9)  # UTC hours whose bars drift up
DOWN_HOURS = (20, 21)  # UTC hours whose bars drift back down


def planted_log_shift(
    timestamps: np.ndarray,
    timeframe: str,
    drift_bps: float,
    up_hours: Sequence[int] = UP_HOURS,
    down_hours: Sequence[int] = DOWN_HOURS,
) -> np.ndarray:
    """Cumulative log shift at each bar's open: the sum of the drift of the bars before it that day."""
    tf = timeframe_ms(timeframe)
    per_day = DAY_MS // tf
    bar_hours = (np.arange(per_day) * tf // 3_600_000) % 24
    step = np.where(np.isin(bar_hours, up_hours), 1.0, np.where(np.isin(bar_hours, down_hours), -1.0, 0.0))
    # Shift at bar k of the day = drift of bars 0..k-1: the move happens between one open and the next.
    cumulative = np.concatenate([[0.0], np.cumsum(step)[:-1]]) * drift_bps / 1e4
    index = (timestamps % DAY_MS) // tf
    return cumulative[index]


class PlantedEdgeSource(CandleSource):
    """The no-edge synthetic market plus a time-of-day drift of `drift_bps` per bar (see module doc)."""

    name = "synthetic"

    def __init__(self, seed: int = 7, *, drift_bps: float = 15.0) -> None:
        self.base = SyntheticSource(seed, no_edge=True)
        self.drift_bps = float(drift_bps)

    def log_shift(self, timestamps: np.ndarray, timeframe: str) -> np.ndarray:
        """The planted structure's log price shift at each bar (subclasses may plant another one)."""
        return planted_log_shift(timestamps, timeframe, self.drift_bps)

    def describe(self) -> str:
        return f"synthetic market with a planted edge (seed {self.base.seed}, {self.drift_bps:g} bps per bar)"

    def list_symbols(self, timeframe: str | None = None) -> list[str]:
        return self.base.list_symbols(timeframe)

    def quote_volumes(
        self, symbols: Sequence[str], *, timeframe: str | None = None, as_of_ms: int | None = None
    ) -> dict[str, float]:
        return self.base.quote_volumes(symbols, timeframe=timeframe, as_of_ms=as_of_ms)

    def fetch(
        self, symbol: str, timeframe: str, start_ms: int, end_ms: int, *, now_ms: int | None = None
    ) -> pl.DataFrame:
        frame = self.base.fetch(symbol, timeframe, start_ms, end_ms, now_ms=now_ms)
        if frame.height == 0:
            return frame
        factor = np.exp(self.log_shift(frame["timestamp"].to_numpy(), timeframe))
        return frame.with_columns([(pl.col(c) * pl.Series(factor)).alias(c) for c in ("open", "high", "low", "close")])
