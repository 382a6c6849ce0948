"""Engines that read the future on purpose: the lookahead analyses must catch them by name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from huracan_core.alphas import RuleEngine
from huracan_core.alphas.arrays import sided


class PeeksAhead(RuleEngine):
    """Leaky: goes long when the open `bars` ahead is above this bar's open (bars=1: the next bar)."""

    name = "leaky_future_open"
    description = "Reads a later bar's open (the future)."
    regimes: ClassVar[frozenset[str]] = frozenset({"TREND", "RANGE", "PANIC", "ILLIQUID"})
    inputs = ("open",)
    horizon_bars = 4
    lookback_bars = 1
    defaults: ClassVar[Mapping[str, float]] = {"bars": 1}  # how far ahead it reads

    def rule(self, x: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        opens, bars = x["open"], int(self.params["bars"])
        later = np.full_like(opens, np.nan)
        later[:-bars] = opens[bars:]
        move = later / opens - 1.0
        return sided(move > 0, move < 0), np.ones_like(move)


class PeeksAtReference(RuleEngine):
    """Leaky: goes long when BTC's close `bars` ahead is above its close now (reads a reference's future)."""

    name = "leaky_reference"
    description = "Reads a later close of the BTC reference (the future)."
    regimes: ClassVar[frozenset[str]] = frozenset({"TREND", "RANGE", "PANIC", "ILLIQUID"})
    inputs = ("btc_close",)
    horizon_bars = 4
    lookback_bars = 1
    defaults: ClassVar[Mapping[str, float]] = {"bars": 5}  # horizon + 1: the reference's move over the label

    def rule(self, x: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        closes, bars = x["btc_close"], int(self.params["bars"])
        later = np.full_like(closes, np.nan)
        later[:-bars] = closes[bars:]
        move = later / closes - 1.0
        return sided(move > 0, move < 0), np.ones_like(move)
