"""A planted-edge market whose edge moves to other hours at a given moment: an old champion's edge vanishes.

Before `switch_ms` prices drift up during UTC hours 8-9 and back down during 20-21 (the planted market);
from then on they drift up during 14-15 and down during 2-3. Each day nets to zero under both patterns, and
at midnight both shifts are zero, so a switch at a UTC midnight leaves no jump in prices.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from huracan_core.market.base import CandleSource
from huracan_core.market.synthetic import SyntheticSource
from huracan_core.timeframe import DAY_MS, timeframe_ms

OLD_HOURS = ((8, 9), (20, 21))
NEW_HOURS = ((14, 15), (2, 3))


def _log_shift(
    timestamps: np.ndarray, timeframe: str, drift_bps: float, up: tuple, down: tuple
) -> np.ndarray:
    tf = timeframe_ms(timeframe)
    per_day = DAY_MS // tf
    hours = (np.arange(per_day) * tf // 3_600_000) % 24
    step = np.where(np.isin(hours, up), 1.0, np.where(np.isin(hours, down), -1.0, 0.0))
    cumulative = np.concatenate([[0.0], np.cumsum(step)[:-1]]) * drift_bps / 1e4
    return cumulative[(timestamps % DAY_MS) // tf]


class ShiftingEdgeSource(CandleSource):
    """The no-edge synthetic market plus a time-of-day drift whose hours change at `switch_ms`."""

    name = "synthetic"

    def __init__(self, switch_ms: int, *, seed: int = 11, drift_bps: float = 20.0) -> None:
        if switch_ms % DAY_MS:
            raise ValueError("switch at a UTC midnight, where both patterns' shifts are zero")
        self.base = SyntheticSource(seed, no_edge=True)
        self.switch_ms = switch_ms
        self.drift_bps = drift_bps

    def describe(self) -> str:
        return f"planted edge moving from hours 8-9 to 14-15 at {self.switch_ms}"

    def list_symbols(self, timeframe: str | None = None) -> list[str]:
        return self.base.list_symbols(timeframe)

    def quote_volumes(self, symbols: Sequence[str], *, timeframe: str | None = None) -> dict[str, float]:
        return self.base.quote_volumes(symbols, timeframe=timeframe)

    def fetch(
        self, symbol: str, timeframe: str, start_ms: int, end_ms: int, *, now_ms: int | None = None
    ) -> pl.DataFrame:
        frame = self.base.fetch(symbol, timeframe, start_ms, end_ms, now_ms=now_ms)
        ts = frame["timestamp"].to_numpy()
        old = _log_shift(ts, timeframe, self.drift_bps, *OLD_HOURS)
        new = _log_shift(ts, timeframe, self.drift_bps, *NEW_HOURS)
        factor = np.exp(np.where(ts < self.switch_ms, old, new))
        return frame.with_columns(
            [(pl.col(c) * pl.Series(factor)).alias(c) for c in ("open", "high", "low", "close")]
        )
