"""Markets whose only edge pays at one holding period: a short one (a 2-hour swing) or a long one (drifts
that last days), for the horizon choice's tests."""

from __future__ import annotations

import numpy as np
import polars as pl

FIFTEEN_MINUTES_MS = 900_000
START_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC


def candles_from_log_path(log_path: np.ndarray, seed: int, *, start_ms: int = START_MS) -> pl.DataFrame:
    """15m OHLCV bars whose closes follow `log_path` (open = previous close), wicks and volume at random."""
    rng = np.random.default_rng(seed)
    n = log_path.size
    closes = 100.0 * np.exp(log_path)
    opens = np.concatenate([[100.0], closes[:-1]])
    wicks = np.abs(rng.normal(0.0, 0.001, (2, n)))
    return pl.DataFrame(
        {
            "timestamp": start_ms + FIFTEEN_MINUTES_MS * np.arange(n, dtype=np.int64),
            "open": opens,
            "high": np.maximum(opens, closes) * np.exp(wicks[0]),
            "low": np.minimum(opens, closes) * np.exp(-wicks[1]),
            "close": closes,
            "volume": rng.lognormal(10.0, 0.3, n),
        }
    )


def swing_market(n: int, seed: int = 0, *, amplitude_bps: float = 80.0, period_bars: int = 8) -> pl.DataFrame:
    """A random walk plus a regular swing of `period_bars` bars: buying its trough pays after half a period
    (a short horizon); any hold of a whole number of periods earns nothing from it."""
    rng = np.random.default_rng(seed)
    noise = np.cumsum(rng.normal(0.0, 0.0015, n))
    swing = amplitude_bps / 1e4 * np.sin(2 * np.pi * np.arange(n) / period_bars)
    return candles_from_log_path(noise + swing, seed)


def drift_market(n: int, seed: int = 0, *, drift_bps: float = 1.5, leg_bars: int = 384) -> pl.DataFrame:
    """A random walk plus drifts of `drift_bps` per bar that alternate in sign every `leg_bars` bars (4
    days at 15m): four hours of drift (24 bps) are about a round trip, a day of it (144 bps) far more."""
    rng = np.random.default_rng(seed)
    noise = np.cumsum(rng.normal(0.0, 0.0015, n))
    sign = np.where((np.arange(n) // leg_bars) % 2 == 0, 1.0, -1.0)
    drift = np.cumsum(sign * drift_bps / 1e4)
    return candles_from_log_path(noise + drift, seed)
