"""Rule engines that look beyond the coin's own candles: leader, correlation, funding, cross_sectional.

They need reference closes (BTC, ETH), the funding rate or the universe rank; without them they abstain.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from huracan_core.alphas.arrays import lag, ramp, safe_div, sided
from huracan_core.alphas.rule import RuleEngine

Arrays = Mapping[str, np.ndarray]


class LeaderEngine(RuleEngine):
    name = "leader"
    description = (
        "Coin outperforms BTC over 96 bars by more than 1 sigma and is still rising: ride the leader."
    )
    regimes = frozenset({"TREND"})
    inputs = ("rs_btc_96", "rv_96", "ret_16")
    horizon_bars = 16
    lookback_bars = 1
    defaults: ClassVar[Mapping[str, float]] = {
        "z_min": 1.0,  # relative strength in 96-bar sigmas of the coin (rv_96 * sqrt(96))
        "z_full": 3.0,  # z at which strength is 1
    }

    def rule(self, x: Arrays) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        z = safe_div(x["rs_btc_96"], x["rv_96"] * math.sqrt(96))
        recent = x["ret_16"]
        direction = sided((z >= p["z_min"]) & (recent > 0), (z <= -p["z_min"]) & (recent < 0))
        return direction, ramp(np.abs(z), p["z_min"], p["z_full"])


RESIDUAL_BARS = 16  # the spread is measured over the bars of `ret_16`


class CorrelationEngine(RuleEngine):
    name = "correlation"
    description = (
        "16-bar return minus beta x the most correlated reference's (BTC or ETH) beyond 2 sigma: fade."
    )
    regimes = frozenset({"RANGE", "TREND"})
    inputs = ("ret_16", "rv_96", "btc_close", "beta_btc_96", "corr_btc_96")
    optional_inputs: ClassVar[tuple[str, ...]] = ("eth_close", "beta_eth_96", "corr_eth_96")
    horizon_bars = 8
    lookback_bars = RESIDUAL_BARS + 1
    defaults: ClassVar[Mapping[str, float]] = {
        "corr_min": 0.6,  # a weaker link makes the spread meaningless
        "z_min": 2.0,  # residual return in residual sigmas needed
        "z_full": 4.0,  # z at which strength is 1
        "unexplained_floor": 0.1,  # floor of 1 - corr^2 so a near-perfect correlation cannot blow up z
    }

    def _spread_z(self, x: Arrays, ref: str) -> np.ndarray:
        """Residual 16-bar log return vs `ref`, in residual sigmas (coin sigma x sqrt(1 - corr^2))."""
        close, beta, corr = x[f"{ref}_close"], x[f"beta_{ref}_96"], x[f"corr_{ref}_96"]
        ref_ret = np.log(safe_div(close, lag(close, RESIDUAL_BARS)))
        residual = x["ret_16"] - beta * ref_ret
        unexplained = np.maximum(1.0 - corr * corr, self.params["unexplained_floor"])
        sigma = x["rv_96"] * math.sqrt(RESIDUAL_BARS) * np.sqrt(unexplained)
        return safe_div(residual, sigma)

    def rule(self, x: Arrays) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        z, corr = self._spread_z(x, "btc"), x["corr_btc_96"]
        if all(c in x for c in self.optional_inputs):
            # Trade the spread against whichever reference is more correlated at that bar.
            corr_eth = x["corr_eth_96"]
            use_eth = np.nan_to_num(corr_eth, nan=-2.0) > np.nan_to_num(corr, nan=-2.0)
            z = np.where(use_eth, self._spread_z(x, "eth"), z)
            corr = np.where(use_eth, corr_eth, corr)
        linked = corr >= p["corr_min"]
        direction = sided(linked & (z <= -p["z_min"]), linked & (z >= p["z_min"]))
        return direction, ramp(np.abs(z), p["z_min"], p["z_full"])


class FundingEngine(RuleEngine):
    name = "funding"
    description = "Carry: positive funding (longs pay shorts) -> short, negative -> long; needs funding_rate."
    regimes = frozenset({"TREND", "RANGE"})
    inputs = ("funding_rate",)
    horizon_bars = 16
    lookback_bars = 1
    defaults: ClassVar[Mapping[str, float]] = {
        "rate_min": 5e-5,  # |funding per period| (0.005 %) below which there is no carry worth taking
        "rate_full": 5e-4,  # |funding| (0.05 %) at which strength is 1
    }

    def rule(self, x: Arrays) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        rate = x["funding_rate"]
        # The side that RECEIVES funding: shorts when the rate is positive, longs when negative.
        direction = sided(rate <= -p["rate_min"], rate >= p["rate_min"])
        return direction, ramp(np.abs(rate), 0.0, p["rate_full"])


class CrossSectionalEngine(RuleEngine):
    name = "cross_sectional"
    description = "Coin ranks in the top (bottom) 20% of the universe by 16-bar return: follow the rank."
    regimes = frozenset({"TREND", "RANGE"})
    inputs = ("xs_rank_ret_16",)
    horizon_bars = 16
    lookback_bars = 1
    defaults: ClassVar[Mapping[str, float]] = {
        "rank_min": 0.6,  # rank in -1..1; 0.6 = the top fifth of the universe
    }

    def rule(self, x: Arrays) -> tuple[np.ndarray, np.ndarray]:
        p = self.params
        rank = x["xs_rank_ret_16"]
        direction = sided(rank >= p["rank_min"], rank <= -p["rank_min"])
        return direction, ramp(np.abs(rank), p["rank_min"], 1.0)
