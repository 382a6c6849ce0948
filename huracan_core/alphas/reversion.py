"""Mean-reversion rule engines: range, mean_reversion_zscore, vwap_reversion, support_resistance,
scalper, momentum_reversal, divergence.

They bet that a stretched price comes back; the calibrated edge says whether it did in training.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from huracan_core.alphas.arrays import (
    lag,
    prior_max,
    prior_min,
    ramp,
    rolling_mean,
    rolling_std,
    safe_div,
    sided,
    unit,
)
from huracan_core.alphas.rule import RuleEngine

Arrays = Mapping[str, np.ndarray]


class RangeEngine(RuleEngine):
    name = "range"
    description = (
        "No trend (ADX low) and price at the top/bottom of its 48-bar range and Bollinger band: fade."
    )
    regimes = frozenset({"RANGE"})
    inputs = ("range_pos_48", "bb_pos_20", "adx_14")
    horizon_bars = 8
    lookback_bars = 1
    defaults: ClassVar[Mapping[str, float]] = {
        "adx_max": 25.0,  # ADX at or above this = trending; range rules stay quiet
        "edge_zone": 0.15,  # range_pos within this distance of 0 or 1 = at the range edge
        "bb_extreme": 0.8,  # |bb_pos_20| needed as well (0.8 = 1.6 standard deviations from the mean)
    }

    def rule(self, x: Arrays) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        pos, bb, zone = x["range_pos_48"], x["bb_pos_20"], p["edge_zone"]
        quiet = x["adx_14"] < p["adx_max"]
        top = quiet & (pos >= 1.0 - zone) & (bb >= p["bb_extreme"])
        bottom = quiet & (pos <= zone) & (bb <= -p["bb_extreme"])
        depth = np.maximum(pos - (1.0 - zone), zone - pos) / zone
        strength = 0.5 * unit(depth) + 0.5 * ramp(np.abs(bb), p["bb_extreme"], 1.5)
        return sided(bottom, top), strength


class MeanReversionZscoreEngine(RuleEngine):
    name = "mean_reversion_zscore"
    description = "Close more than 2 standard deviations from its 48-bar mean: bet on the way back."
    regimes = frozenset({"RANGE"})
    inputs = ("close",)
    horizon_bars = 8
    lookback_bars = 48
    defaults: ClassVar[Mapping[str, float]] = {
        "window": 48,  # bars of the rolling mean / standard deviation of close
        "z_min": 2.0,  # |z| needed to call the price stretched
        "z_full": 4.0,  # |z| at which strength is 1
    }

    def rule(self, x: Arrays) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        window, close = int(p["window"]), x["close"]
        z = safe_div(close - rolling_mean(close, window), rolling_std(close, window))
        return sided(z <= -p["z_min"], z >= p["z_min"]), ramp(np.abs(z), p["z_min"], p["z_full"])


class VwapReversionEngine(RuleEngine):
    name = "vwap_reversion"
    description = "Close more than 2 ATRs away from the 48-bar VWAP without a strong trend: revert to VWAP."
    regimes = frozenset({"RANGE"})
    inputs = ("vwap_dist_48", "atr_14", "adx_14")
    horizon_bars = 8
    lookback_bars = 1
    defaults: ClassVar[Mapping[str, float]] = {
        "z_min": 2.0,  # distance to VWAP in ATRs needed
        "z_full": 4.0,  # distance at which strength is 1
        "adx_max": 25.0,  # stronger trends drag VWAP along; stay out
    }

    def rule(self, x: Arrays) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        z = safe_div(x["vwap_dist_48"], x["atr_14"])  # both are relative to close
        quiet = x["adx_14"] < p["adx_max"]
        direction = sided(quiet & (z <= -p["z_min"]), quiet & (z >= p["z_min"]))
        return direction, ramp(np.abs(z), p["z_min"], p["z_full"])


class SupportResistanceEngine(RuleEngine):
    name = "support_resistance"
    description = "Bar tests the 96-bar support (resistance) within half an ATR, holds it and turns: bounce."
    regimes = frozenset({"RANGE"})
    inputs = ("open", "high", "low", "close", "atr_14")
    horizon_bars = 8
    lookback_bars = 97
    defaults: ClassVar[Mapping[str, float]] = {
        "window": 96,  # bars whose extremes define support and resistance (excluding the current bar)
        "near_atr": 0.5,  # the bar's low (high) must come this close to the level, in ATRs
        "min_width_atr": 3.0,  # the range must be at least this wide, or it is a squeeze, not a range
    }

    def rule(self, x: Arrays) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        window, near = int(p["window"]), p["near_atr"]
        open_, high, low, close = x["open"], x["high"], x["low"], x["close"]
        atr = x["atr_14"] * close
        support, resistance = prior_min(low, window), prior_max(high, window)
        wide = safe_div(resistance - support, atr) >= p["min_width_atr"]
        gap_low = safe_div(low - support, atr)  # >= 0 while support holds
        gap_high = safe_div(resistance - high, atr)  # >= 0 while resistance holds
        bounce_up = wide & (gap_low >= 0) & (gap_low <= near) & (close > open_)
        bounce_down = wide & (gap_high >= 0) & (gap_high <= near) & (close < open_)
        closeness = np.where(bounce_up, gap_low, gap_high)
        return sided(bounce_up, bounce_down), 1.0 - closeness / near


class ScalperEngine(RuleEngine):
    name = "scalper"
    description = "One bar moves more than 3 sigma (1-bar volatility over 96 bars): a short reversal bet."
    regimes = frozenset({"RANGE", "PANIC"})
    inputs = ("ret_1", "rv_96")
    horizon_bars = 2
    lookback_bars = 1
    defaults: ClassVar[Mapping[str, float]] = {
        "z_min": 3.0,  # |1-bar return| in sigmas that counts as extreme
        "z_full": 6.0,  # sigmas at which strength is 1
    }

    def rule(self, x: Arrays) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        z = safe_div(x["ret_1"], x["rv_96"])
        return sided(z <= -p["z_min"], z >= p["z_min"]), ramp(np.abs(z), p["z_min"], p["z_full"])


class MomentumReversalEngine(RuleEngine):
    name = "momentum_reversal"
    description = "Exhausted move: 16-bar return beyond 2.5 sigma, RSI extreme, MACD histogram turning: fade."
    regimes = frozenset({"TREND", "PANIC"})
    inputs = ("ret_16", "rv_16", "rsi_14", "macd_hist")
    horizon_bars = 8
    lookback_bars = 2  # histogram compared with the previous bar
    defaults: ClassVar[Mapping[str, float]] = {
        "z_min": 2.5,  # 16-bar return in 16-bar sigmas for an overextended move
        "rsi_high": 75.0,  # RSI at or above = overbought (RSI <= 100 - rsi_high = oversold)
    }

    def rule(self, x: Arrays) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        z = safe_div(x["ret_16"], x["rv_16"] * 4.0)  # sqrt(16) = 4
        rsi, hist = x["rsi_14"], x["macd_hist"]
        turn = hist - lag(hist)
        hi, lo = p["rsi_high"], 100.0 - p["rsi_high"]
        short = (z >= p["z_min"]) & (rsi >= hi) & (turn < 0)
        long_ = (z <= -p["z_min"]) & (rsi <= lo) & (turn > 0)
        rsi_excess = np.maximum(rsi - hi, lo - rsi)
        strength = 0.5 * ramp(np.abs(z), p["z_min"], 2 * p["z_min"]) + 0.5 * ramp(rsi_excess, 0.0, 20.0)
        return sided(long_, short), strength


class DivergenceEngine(RuleEngine):
    name = "divergence"
    description = (
        "Price makes a new 24-bar extreme that RSI does not confirm (thin volume adds weight): fade."
    )
    regimes = frozenset({"RANGE", "TREND"})
    inputs = ("close", "rsi_14", "vol_ratio_48")
    horizon_bars = 8
    lookback_bars = 25
    defaults: ClassVar[Mapping[str, float]] = {
        "window": 24,  # bars of prior closes / RSI the new extreme is compared with
        "rsi_gap": 5.0,  # RSI must stay this many points below its prior high (above its prior low)
        "rsi_gap_full": 20.0,  # gap at which the RSI half of strength is 1
        "thin_volume": 0.8,  # volume / mean below this on the new extreme = volume divergence too
    }

    def rule(self, x: Arrays) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        window = int(p["window"])
        close, rsi = x["close"], x["rsi_14"]
        gap_bear = prior_max(rsi, window) - rsi  # RSI shortfall vs its prior high
        gap_bull = rsi - prior_min(rsi, window)
        bear = (close >= prior_max(close, window)) & (gap_bear >= p["rsi_gap"])
        bull = (close <= prior_min(close, window)) & (gap_bull >= p["rsi_gap"])
        gap = np.where(bear, gap_bear, gap_bull)
        thin = (x["vol_ratio_48"] < p["thin_volume"]).astype(np.float64)
        strength = 0.5 * ramp(gap, p["rsi_gap"], p["rsi_gap_full"]) + 0.5 * thin
        return sided(bull, bear), strength
