"""The leakage guards catch engines that peek: deliberately leaky fixture engines must be flagged."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import polars as pl

from huracan_core.alphas import RuleEngine
from huracan_core.alphas.arrays import ramp, rolling_mean, sided
from tests.stubs.alpha_causality import causality_violations, last_row_mismatches


class PeeksAtNextClose(RuleEngine):
    """Leaky on purpose: the polars equivalent of `shift(-1)` - it reads the next bar's close."""

    name = "leaky_next_close"
    description = "Long when the NEXT close is higher (reads the future)."
    regimes = frozenset({"TREND"})
    inputs = ("close",)
    horizon_bars = 1
    lookback_bars = 2

    def rule(self, x: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        nxt = pl.Series(x["close"]).shift(-1).to_numpy()  # the leak
        move = nxt / x["close"] - 1.0
        return sided(move > 0, move < 0), np.ones_like(move)


class NormalisesOnTheWholeFrame(RuleEngine):
    """Leaky on purpose: a z-score against the mean of the WHOLE frame, later bars included."""

    name = "leaky_global_mean"
    description = "Fade distance from the full-sample mean (the mean knows the future)."
    regimes = frozenset({"RANGE"})
    inputs = ("close",)
    horizon_bars = 1
    lookback_bars = 1

    def rule(self, x: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        close = x["close"]
        z = (close - np.nanmean(close)) / np.nanstd(close)
        return sided(z < -0.5, z > 0.5), ramp(np.abs(z), 0.5, 2.0)


class UnderstatesItsLookback(RuleEngine):
    """Causal but declares lookback_bars=1 while using a 20-bar mean: the last-rows check must notice."""

    name = "short_lookback"
    description = "Close above its 20-bar mean, declared as needing one bar."
    regimes = frozenset({"TREND"})
    inputs = ("close",)
    horizon_bars = 1
    lookback_bars = 1
    defaults: ClassVar[Mapping[str, float]] = {"window": 20}

    def rule(self, x: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        gap = x["close"] - rolling_mean(x["close"], int(self.params["window"]))
        return sided(gap > 0, gap < 0), np.ones_like(gap)


def _fitted(engine: RuleEngine, market: pl.DataFrame) -> tuple[RuleEngine, dict]:
    engine = type(engine)(min_count=1)
    return engine, engine.fit(market)


def test_engine_reading_the_next_bar_is_caught_by_truncation_and_by_noise(market: pl.DataFrame) -> None:
    engine, state = _fitted(PeeksAtNextClose(), market)
    cuts = list(range(500, 520))
    problems = causality_violations(engine, market, state, cuts=cuts)
    assert all(any(f"truncated at {cut}:" in p for p in problems) for cut in cuts)
    # Noise flips the peeked direction about half the time: over 20 cuts it must show up.
    assert sum(f"noise after {cut}:" in p for cut in cuts for p in problems) >= 3


def test_engine_normalising_on_the_whole_frame_is_caught(market: pl.DataFrame) -> None:
    engine, state = _fitted(NormalisesOnTheWholeFrame(), market)
    assert causality_violations(engine, market, state, cuts=[800, 1600]) != []


def test_engine_understating_its_lookback_is_caught_by_the_last_rows_check(market: pl.DataFrame) -> None:
    engine, state = _fitted(UnderstatesItsLookback(), market)
    assert causality_violations(engine, market, state, cuts=[800]) == []  # causal, yet...
    assert last_row_mismatches(engine, market, state, ends=[800, 900, 1000]) != []
