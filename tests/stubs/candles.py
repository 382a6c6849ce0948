"""Candle frames for tests: small consistent random walks, and where the real development candles live."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from huracan_core.market.candles import CANDLE_SCHEMA
from huracan_core.timeframe import timeframe_ms

# 2024-01-01 00:00 UTC: a round, recent start for test frames.
START_MS = 1_704_067_200_000
REPO = Path(__file__).resolve().parents[2]
# Real Binance candles kept beside the repository for development (absent in CI: tests skip).
REAL_CANDLES_5M = REPO.parent / "shared" / "data" / "candles" / "5m"


def make_candles(
    n: int,
    *,
    timeframe: str = "5m",
    start_ms: int = START_MS,
    price: float = 100.0,
    volume: float = 1_000.0,
    seed: int = 0,
) -> pl.DataFrame:
    """`n` consecutive, consistent bars (high >= open/close >= low) of a gentle random walk."""
    rng = np.random.default_rng(seed)
    tf = timeframe_ms(timeframe)
    close = price * np.exp(np.cumsum(rng.normal(0.0, 0.002, n)))
    open_ = np.concatenate([[price], close[:-1]])
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0.0, 0.001, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0.0, 0.001, n)))
    vol = volume * np.exp(rng.normal(0.0, 0.3, n))
    return pl.DataFrame(
        {
            "timestamp": start_ms + np.arange(n, dtype=np.int64) * tf,
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": vol,
        },
        schema=CANDLE_SCHEMA,
    )


def real_candles_dir() -> Path | None:
    """The folder of real 5m candles when this machine has it, else None."""
    return REAL_CANDLES_5M if REAL_CANDLES_5M.is_dir() else None
