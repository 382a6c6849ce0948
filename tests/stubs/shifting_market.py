"""A planted-edge market whose edge moves to other hours at a given moment: an old champion's edge vanishes.

Before `switch_ms` prices drift up during UTC hours 8-9 and back down during 20-21 (the planted market);
from then on they drift up during 14-15 and down during 2-3. Each day nets to zero under both patterns, and
at midnight both shifts are zero, so a switch at a UTC midnight leaves no jump in prices.
"""

from __future__ import annotations

import numpy as np

from huracan_core.market.planted import DOWN_HOURS, UP_HOURS, PlantedEdgeSource, planted_log_shift
from huracan_core.timeframe import DAY_MS

NEW_UP_HOURS = (14, 15)
NEW_DOWN_HOURS = (2, 3)


class ShiftingEdgeSource(PlantedEdgeSource):
    """The planted-edge market whose drifting hours change at `switch_ms` (a UTC midnight)."""

    def __init__(self, switch_ms: int, *, seed: int = 11, drift_bps: float = 20.0) -> None:
        if switch_ms % DAY_MS:
            raise ValueError("switch at a UTC midnight, where both patterns' shifts are zero")
        super().__init__(seed, drift_bps=drift_bps)
        self.switch_ms = switch_ms

    def log_shift(self, timestamps: np.ndarray, timeframe: str) -> np.ndarray:
        old = planted_log_shift(timestamps, timeframe, self.drift_bps, UP_HOURS, DOWN_HOURS)
        new = planted_log_shift(timestamps, timeframe, self.drift_bps, NEW_UP_HOURS, NEW_DOWN_HOURS)
        return np.where(timestamps < self.switch_ms, old, new)
