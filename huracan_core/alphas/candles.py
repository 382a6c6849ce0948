"""Candle-shape rule engines: tape (buy/sell pressure), pattern (classic candles), sweep (stop-hunt fade).

They read the open/high/low/close of each bar directly: where the close sits in the bar, wick sizes,
and how a bar relates to the one before it or to recent extremes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from huracan_core.alphas.arrays import lag, prior_max, prior_min, ramp, rolling_sum, safe_div, sided
from huracan_core.alphas.rule import RuleEngine

Arrays = Mapping[str, np.ndarray]


class TapeEngine(RuleEngine):
    name = "tape"
    description = "Volume-weighted close location in the bar over 8 bars (buyers close near highs): follow."
    regimes = frozenset({"TREND", "RANGE"})
    inputs = ("high", "low", "close", "volume")
    horizon_bars = 4
    lookback_bars = 8
    defaults: ClassVar[Mapping[str, float]] = {
        "window": 8,  # bars of pressure summed
        "pressure_min": 0.35,  # volume-weighted close location (-1 at lows .. +1 at highs) needed
        "pressure_full": 0.75,  # pressure at which strength is 1
    }

    def rule(self, x: Arrays) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        window = int(p["window"])
        high, low, close, volume = x["high"], x["low"], x["close"], x["volume"]
        # Close location value: +1 close at the high, -1 at the low; a bar without range has no pressure.
        location = safe_div(2.0 * close - high - low, high - low)
        location = np.where(np.isnan(location) & np.isfinite(high - low), 0.0, location)
        pressure = safe_div(rolling_sum(location * volume, window), rolling_sum(volume, window))
        direction = sided(pressure >= p["pressure_min"], pressure <= -p["pressure_min"])
        return direction, ramp(np.abs(pressure), p["pressure_min"], p["pressure_full"])


class PatternEngine(RuleEngine):
    name = "pattern"
    description = "Engulfing bars and hammers / shooting stars after a 4-bar move the other way: reversal."
    regimes = frozenset({"RANGE", "TREND"})
    inputs = ("open", "high", "low", "close", "ret_4")
    horizon_bars = 4
    lookback_bars = 2  # engulfing compares with the previous bar; context is the previous bar's ret_4
    defaults: ClassVar[Mapping[str, float]] = {
        "wick_to_body": 2.0,  # hammer: long wick at least this many bodies
        "other_wick_to_body": 1.0,  # hammer: the opposite wick at most this many bodies
        "engulf_weight": 0.6,  # strength contributed by an engulfing bar
        "wick_weight": 0.4,  # strength contributed by a hammer / shooting star
    }

    def rule(self, x: Arrays) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        o, h, lo, c = x["open"], x["high"], x["low"], x["close"]
        po, pc = lag(o), lag(c)
        context = lag(x["ret_4"])  # the 4-bar move BEFORE the pattern bar
        body = np.abs(c - o)
        upper = h - np.maximum(o, c)
        lower = np.minimum(o, c) - lo
        bigger = body > np.abs(pc - po)
        bull_engulf = (pc < po) & (c > o) & (c >= po) & (o <= pc) & bigger
        bear_engulf = (pc > po) & (c < o) & (c <= po) & (o >= pc) & bigger
        long_wick, short_wick = p["wick_to_body"] * body, p["other_wick_to_body"] * body
        hammer = (body > 0) & (lower >= long_wick) & (upper <= short_wick)
        star = (body > 0) & (upper >= long_wick) & (lower <= short_wick)
        bull_score = p["engulf_weight"] * bull_engulf + p["wick_weight"] * hammer
        bear_score = p["engulf_weight"] * bear_engulf + p["wick_weight"] * star
        bull = (context < 0) & (bull_score > 0)
        bear = (context > 0) & (bear_score > 0)
        return sided(bull, bear), np.where(bull, bull_score, bear_score)


class SweepEngine(RuleEngine):
    name = "sweep"
    description = "Wick pierces the prior 48-bar low (high), the bar closes back inside: fade the stop hunt."
    regimes = frozenset({"RANGE", "TREND"})
    inputs = ("open", "high", "low", "close", "atr_14")
    horizon_bars = 8
    lookback_bars = 49
    defaults: ClassVar[Mapping[str, float]] = {
        "window": 48,  # bars whose extreme holds the stops being hunted (excluding the current bar)
        "wick_min": 0.5,  # the hunting wick must be at least this share of the bar's range
        "depth_full_atr": 1.0,  # pierce depth, in ATRs, at which the depth half of strength is 1
    }

    def rule(self, x: Arrays) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        window = int(p["window"])
        o, h, lo, c = x["open"], x["high"], x["low"], x["close"]
        support, resistance = prior_min(lo, window), prior_max(h, window)
        lower_share = safe_div(np.minimum(o, c) - lo, h - lo)
        upper_share = safe_div(h - np.maximum(o, c), h - lo)
        hunt_down = (lo < support) & (c > support) & (lower_share >= p["wick_min"])
        hunt_up = (h > resistance) & (c < resistance) & (upper_share >= p["wick_min"])
        atr = x["atr_14"] * c
        depth = np.where(hunt_down, safe_div(support - lo, atr), safe_div(h - resistance, atr))
        share = np.where(hunt_down, lower_share, upper_share)
        strength = 0.5 * ramp(depth, 0.0, p["depth_full_atr"]) + 0.5 * ramp(share, p["wick_min"], 1.0)
        return sided(hunt_down, hunt_up), strength
