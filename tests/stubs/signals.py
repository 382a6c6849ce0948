"""Small builders for meta, decision and backtest tests: candles from opens, engine signal frames."""

from __future__ import annotations

import numpy as np
import polars as pl

START_MS = 1_700_006_400_000  # a UTC midnight
FIVE_MIN_MS = 300_000


def candles_from_opens(opens: np.ndarray | list[float], *, bar_ms: int = FIVE_MIN_MS) -> pl.DataFrame:
    """Candle frame whose opens are `opens`; close = next open (last close = last open)."""
    o = np.asarray(opens, dtype=np.float64)
    close = np.concatenate([o[1:], o[-1:]])
    return pl.DataFrame(
        {
            "timestamp": pl.Series(START_MS + bar_ms * np.arange(o.size), dtype=pl.Int64),
            "open": o,
            "high": np.maximum(o, close) * 1.001,
            "low": np.minimum(o, close) * 0.999,
            "close": close,
            "volume": np.full(o.size, 100.0),
        }
    )


def random_walk_opens(n: int, *, seed: int = 0, vol: float = 0.002, start: float = 100.0) -> np.ndarray:
    """Positive prices following a log random walk (deterministic per seed)."""
    rng = np.random.default_rng(seed)
    return start * np.exp(np.cumsum(rng.normal(0.0, vol, n)))


def signal_frame(
    direction: np.ndarray, edge_bps: np.ndarray | float, confidence: np.ndarray | float = 1.0
) -> pl.DataFrame:
    """An engine's signal frame in the contract shape (direction Int8, edge_bps, confidence, horizon_bars).

    `edge_bps` is a magnitude; the frame carries it signed by each row's direction, as engines report it.
    """
    d = np.asarray(direction, dtype=np.int8)
    n = d.size
    magnitude = np.abs(np.broadcast_to(np.asarray(edge_bps, dtype=np.float64), (n,)))
    return pl.DataFrame(
        {
            "direction": pl.Series(d, dtype=pl.Int8),
            "edge_bps": np.sign(d) * magnitude,
            "confidence": np.broadcast_to(np.asarray(confidence, dtype=np.float64), (n,)).copy(),
            "horizon_bars": pl.Series(np.ones(n, dtype=np.int32), dtype=pl.Int32),
        }
    )


def oracle_directions(forward_moves: np.ndarray) -> np.ndarray:
    """Directions that know the forward move (a perfect engine, for track-record tests only)."""
    return np.sign(np.nan_to_num(forward_moves)).astype(np.int8)


def random_directions(n: int, *, seed: int = 0, p_signal: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    d = rng.choice(np.array([-1, 1], dtype=np.int8), size=n)
    return np.where(rng.random(n) < p_signal, d, 0).astype(np.int8)
