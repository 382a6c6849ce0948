"""Engines that make walk-forward leakage visible: one memorises its training rows, one reports whether
the row it signals was in its training window.

Both keep the training window's timestamps in their JSON state, which a real engine would never do; they
exist only so tests can see what each fold's gate and combiner were fed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import polars as pl

from huracan_core.alphas.base import ALL_REGIMES, AlphaEngine, signal_frame
from huracan_core.alphas.calibration import forward_move_bps


class MemorisingEngine(AlphaEngine):
    """Perfect on its training rows (it stored the sign of each one's forward move), a coin toss elsewhere.

    An honest gate never allows it on a market without edge: out of sample it is noise paying costs.
    """

    name = "memoriser"
    description = "Replays the forward moves it saw in training; guesses elsewhere."
    regimes: ClassVar[frozenset[str]] = ALL_REGIMES
    inputs = ("timestamp", "open")
    horizon_bars = 4
    lookback_bars = 1

    def fit(self, frame: pl.DataFrame) -> dict[str, Any]:
        state = self.base_state(frame)
        move = forward_move_bps(frame, self.horizon_bars).to_numpy()
        known = np.isfinite(move) & (move != 0)
        state["seen"] = {
            str(int(t)): int(np.sign(m))
            for t, m in zip(frame["timestamp"].to_numpy()[known], move[known], strict=True)
        }
        return state

    def signal(self, frame: pl.DataFrame, state: Mapping[str, Any]) -> pl.DataFrame:
        ts = frame["timestamp"].to_numpy()
        seen = state["seen"]
        coin = np.where((ts // 60_000 * 2_654_435_761) % 1_000 < 500, 1, -1)  # fixed pseudo-random sides
        direction = np.array([seen.get(str(int(t)), c) for t, c in zip(ts, coin, strict=True)], dtype=np.int8)
        edge = direction * 50.0
        return signal_frame(direction, edge, np.full(ts.size, 0.5), self.horizon_bars)


class ProbeEngine(AlphaEngine):
    """Signals +1 on rows outside its training window and -1 on rows inside it, on every bar.

    Whatever a fold's gate or combiner receives from it says, row by row, whether that signal was made
    out of sample.
    """

    name = "probe"
    description = "+1 out of sample, -1 in sample."
    regimes: ClassVar[frozenset[str]] = ALL_REGIMES
    inputs = ("timestamp",)
    horizon_bars = 4
    lookback_bars = 1

    def fit(self, frame: pl.DataFrame) -> dict[str, Any]:
        state = self.base_state(frame)
        state["trained_on"] = [int(t) for t in frame["timestamp"].to_numpy()]
        return state

    def signal(self, frame: pl.DataFrame, state: Mapping[str, Any]) -> pl.DataFrame:
        inside = np.isin(frame["timestamp"].to_numpy(), np.asarray(state["trained_on"], dtype=np.int64))
        direction = np.where(inside, -1, 1).astype(np.int8)
        return signal_frame(direction, direction * 10.0, np.full(frame.height, 0.5), self.horizon_bars)
