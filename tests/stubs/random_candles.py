"""Seeded random-walk candles for feature tests (independent of the synthetic market module)."""

from __future__ import annotations

import numpy as np
import polars as pl

FIVE_MINUTES_MS = 300_000
START_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC, a Monday


def random_candles(
    n: int,
    seed: int = 0,
    *,
    start_price: float = 100.0,
    vol: float = 0.004,
    start_ms: int = START_MS,
    step_ms: int = FIVE_MINUTES_MS,
) -> pl.DataFrame:
    """`n` 5-minute OHLCV bars: log-normal random walk closes, open = previous close, wicks beyond the body,
    log-normal volume that rises with the size of the move."""
    rng = np.random.default_rng(seed)
    rets = rng.standard_t(4, n) * vol / np.sqrt(2.0)
    closes = start_price * np.exp(np.cumsum(rets))
    opens = np.concatenate([[start_price], closes])[:n]
    wicks = np.abs(rng.normal(0.0, vol / 2.0, (2, n)))
    highs = np.maximum(opens, closes) * np.exp(wicks[0])
    lows = np.minimum(opens, closes) * np.exp(-wicks[1])
    volume = rng.lognormal(8.0, 0.6, n) * (1.0 + 50.0 * np.abs(rets))
    return pl.DataFrame(
        {
            "timestamp": start_ms + step_ms * np.arange(n, dtype=np.int64),
            "open": opens,
            "high": highs,
            "low": lows,
            "close": closes,
            "volume": volume,
        }
    )
