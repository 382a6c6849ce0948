"""Trend-following rule engines: trend, momentum, breakout, volatility_expansion, volume_flow.

They bet that a move already under way continues; the calibrated edge says whether it did in training.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from huracan_core.alphas.arrays import lag, prior_max, prior_min, ramp, rolling_sum, safe_div, sided
from huracan_core.alphas.rule import RuleEngine

Arrays = Mapping[str, np.ndarray]


class TrendEngine(RuleEngine):
    name = "trend"
    description = "Both EMA slopes (12, 48) point the same way and ADX says the trend is strong: follow it."
    regimes = frozenset({"TREND"})
    inputs = ("ema_slope_12", "ema_slope_48", "adx_14", "rv_16")
    horizon_bars = 16
    lookback_bars = 1
    defaults: ClassVar[Mapping[str, float]] = {
        "adx_min": 20.0,  # ADX below this = no trend worth following (Wilder's classic threshold)
        "adx_full": 45.0,  # ADX at which the ADX half of the strength saturates
        "slope_full": 0.5,  # EMA-12 slope per bar, in units of 1-bar volatility, for full strength
    }

    def rule(self, x: Arrays) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        fast, slow, adx = x["ema_slope_12"], x["ema_slope_48"], x["adx_14"]
        strong = adx >= p["adx_min"]
        direction = sided(strong & (fast > 0) & (slow > 0), strong & (fast < 0) & (slow < 0))
        steepness = safe_div(np.abs(fast), x["rv_16"])
        strength = 0.5 * ramp(adx, p["adx_min"], p["adx_full"]) + 0.5 * ramp(steepness, 0.0, p["slope_full"])
        return direction, strength


class MomentumEngine(RuleEngine):
    name = "momentum"
    description = "16-bar return beyond 1 sigma, agreeing with the 96-bar return and the MACD histogram."
    regimes = frozenset({"TREND"})
    inputs = ("ret_16", "ret_96", "rv_16", "macd_hist")
    horizon_bars = 16
    lookback_bars = 1
    defaults: ClassVar[Mapping[str, float]] = {
        "z_min": 1.0,  # 16-bar return in 16-bar sigmas (rv_16 * sqrt(16)) needed to call it momentum
        "z_full": 3.0,  # z at which strength is 1
    }

    def rule(self, x: Arrays) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        z = safe_div(x["ret_16"], x["rv_16"] * 4.0)  # sqrt(16) = 4
        long_96, hist = x["ret_96"], x["macd_hist"]
        direction = sided(
            (z >= p["z_min"]) & (long_96 > 0) & (hist > 0),
            (z <= -p["z_min"]) & (long_96 < 0) & (hist < 0),
        )
        return direction, ramp(np.abs(z), p["z_min"], p["z_full"])


class BreakoutEngine(RuleEngine):
    name = "breakout"
    description = "Close beyond the prior 48-bar high/low on at least 1.5x normal volume: follow the break."
    regimes = frozenset({"TREND", "RANGE"})
    inputs = ("high", "low", "close", "atr_14", "vol_ratio_48")
    horizon_bars = 16
    lookback_bars = 49  # prior 48-bar extremes exclude the current bar
    defaults: ClassVar[Mapping[str, float]] = {
        "window": 48,  # bars of prior highs/lows that define the range being broken
        "vol_ratio_min": 1.5,  # volume / 48-bar mean volume needed to trust the break
        "vol_ratio_full": 4.0,  # volume ratio at which the volume half of strength saturates
        "distance_full_atr": 1.0,  # close beyond the level, in ATRs, for full distance strength
    }

    def rule(self, x: Arrays) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        window = int(p["window"])
        close, vol_ratio = x["close"], x["vol_ratio_48"]
        level_hi, level_lo = prior_max(x["high"], window), prior_min(x["low"], window)
        loud = vol_ratio >= p["vol_ratio_min"]
        up, down = loud & (close > level_hi), loud & (close < level_lo)
        beyond = np.where(up, close - level_hi, level_lo - close)
        distance = safe_div(beyond, x["atr_14"] * close)
        strength = 0.5 * ramp(distance, 0.0, p["distance_full_atr"]) + 0.5 * ramp(
            vol_ratio, p["vol_ratio_min"], p["vol_ratio_full"]
        )
        return sided(up, down), strength


class VolatilityExpansionEngine(RuleEngine):
    name = "volatility_expansion"
    description = "Bollinger squeeze (width low in its 96-bar range) then a widening close outside a band."
    regimes = frozenset({"RANGE", "TREND"})
    inputs = ("bb_width_20", "bb_pos_20")
    horizon_bars = 8
    lookback_bars = 97  # squeeze range over the 96 bars before the current one
    defaults: ClassVar[Mapping[str, float]] = {
        "squeeze_window": 96,  # bars over which 'narrow' is judged
        "squeeze_share": 0.2,  # recent min width within this share of the 96-bar min..max range = squeeze
        "recent": 8,  # the squeeze must have happened within the last `recent` bars
        "expand_ratio": 1.3,  # current width / recent minimum width that counts as expansion
        "expand_full": 2.5,  # width ratio at which strength is 1
        "band": 1.0,  # |bb_pos_20| at or beyond this = close outside the band
    }

    def rule(self, x: Arrays) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        width, pos, window = x["bb_width_20"], x["bb_pos_20"], int(p["squeeze_window"])
        # A min..max range rather than a rolling quantile: the same idea at a fraction of the cost.
        low, high = prior_min(width, window), prior_max(width, window)
        recent_min = prior_min(width, int(p["recent"]))
        ratio = safe_div(width, recent_min)
        fired = (recent_min <= low + p["squeeze_share"] * (high - low)) & (ratio >= p["expand_ratio"])
        direction = sided(fired & (pos >= p["band"]), fired & (pos <= -p["band"]))
        return direction, ramp(ratio, p["expand_ratio"], p["expand_full"])


class VolumeFlowEngine(RuleEngine):
    name = "volume_flow"
    description = "Volume on up closes dominates volume on down closes over 16 bars (OBV slope): follow it."
    regimes = frozenset({"TREND"})
    inputs = ("close", "volume", "vol_ratio_48")
    horizon_bars = 8
    lookback_bars = 17  # 16 close-to-close changes
    defaults: ClassVar[Mapping[str, float]] = {
        "window": 16,  # bars of signed volume summed
        "flow_min": 0.3,  # net signed volume / total volume needed (-1..1)
        "flow_full": 0.7,  # flow at which strength is 1
        "vol_ratio_min": 1.0,  # current volume at least its 48-bar mean: the flow is still active
    }

    def rule(self, x: Arrays) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        window = int(p["window"])
        close, volume = x["close"], x["volume"]
        signed = np.sign(close - lag(close)) * volume
        flow = safe_div(rolling_sum(signed, window), rolling_sum(volume, window))
        active = x["vol_ratio_48"] >= p["vol_ratio_min"]
        direction = sided(active & (flow >= p["flow_min"]), active & (flow <= -p["flow_min"]))
        return direction, ramp(np.abs(flow), p["flow_min"], p["flow_full"])
