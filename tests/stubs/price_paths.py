"""Candle builders with known properties (spread, trend, crash, thin volume) for cost and regime tests."""

from __future__ import annotations

import numpy as np
import polars as pl

FIVE_MIN_MS = 300_000
START_MS = 1_700_000_000_000 - (1_700_000_000_000 % 86_400_000)  # a UTC midnight


def candles_from_log_mid(
    log_close: np.ndarray, volume: np.ndarray, *, bar_ms: int = FIVE_MIN_MS, seed: int = 0
) -> pl.DataFrame:
    """Candles whose closes follow `log_close`; open = previous close, high/low a little outside."""
    rng = np.random.default_rng(seed)
    close = np.exp(log_close)
    open_ = np.concatenate([[close[0]], close[:-1]])
    wick = np.abs(rng.normal(0.0, 2e-4, size=(2, close.size)))
    high = np.maximum(open_, close) * (1.0 + wick[0])
    low = np.minimum(open_, close) * (1.0 - wick[1])
    return _frame(open_, high, low, close, volume, bar_ms)


def _frame(
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray, bar_ms: int
) -> pl.DataFrame:
    n = close.size
    return pl.DataFrame(
        {
            "timestamp": START_MS + np.arange(n, dtype=np.int64) * bar_ms,
            "open": open_.astype(np.float64),
            "high": high.astype(np.float64),
            "low": low.astype(np.float64),
            "close": close.astype(np.float64),
            "volume": np.asarray(volume, dtype=np.float64),
        }
    )


def seasonal_volume(n: int, seed: int, *, bar_ms: int = FIVE_MIN_MS, level: float = 100.0) -> np.ndarray:
    """Base-asset volume: log-normal noise around a daily cycle, never zero."""
    rng = np.random.default_rng(seed)
    hours = (np.arange(n) * bar_ms / 3_600_000) % 24
    cycle = 1.0 + 0.5 * np.sin(2 * np.pi * hours / 24)
    return level * cycle * rng.lognormal(0.0, 0.5, n)


def random_walk(n: int, seed: int, *, vol: float = 1e-3, drift: float = 0.0) -> pl.DataFrame:
    """5m candles of a driftless (or drifting) Gaussian random walk with seasonal volume."""
    rng = np.random.default_rng(seed)
    log_close = np.log(100.0) + np.cumsum(rng.normal(drift, vol, n))
    return candles_from_log_mid(log_close, seasonal_volume(n, seed + 1), seed=seed + 2)


def flat_noise(n: int, seed: int, *, noise: float = 2e-3) -> pl.DataFrame:
    """5m candles that jitter around a fixed price: noisy but going nowhere."""
    rng = np.random.default_rng(seed)
    log_close = np.log(100.0) + rng.normal(0.0, noise, n)
    return candles_from_log_mid(log_close, seasonal_volume(n, seed + 1), seed=seed + 2)


def bid_ask_bounce(
    n: int, seed: int, *, spread: float, tick_vol: float = 4e-4, ticks: int = 30, volume: float = 1_000.0
) -> pl.DataFrame:
    """5m candles built from trades at bid or ask around a random-walk mid: full spread `spread`."""
    rng = np.random.default_rng(seed)
    mid = np.cumsum(rng.normal(0.0, tick_vol, n * ticks)).reshape(n, ticks) + np.log(100.0)
    side = rng.choice([-1.0, 1.0], size=(n, ticks))
    trades = np.exp(mid + side * spread / 2.0)
    return _frame(
        trades[:, 0], trades.max(axis=1), trades.min(axis=1), trades[:, -1], np.full(n, volume), FIVE_MIN_MS
    )


def resample(candles: pl.DataFrame, every: str) -> pl.DataFrame:
    """Aggregate candles to a longer timeframe (open first, high max, low min, close last, volume sum)."""
    return (
        candles.with_columns(pl.from_epoch("timestamp", time_unit="ms").alias("_t"))
        .group_by_dynamic("_t", every=every)
        .agg(
            pl.col("timestamp").first(),
            pl.col("open").first(),
            pl.col("high").max(),
            pl.col("low").min(),
            pl.col("close").last(),
            pl.col("volume").sum(),
        )
        .drop("_t")
    )
