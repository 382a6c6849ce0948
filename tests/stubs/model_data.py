"""Test builders for huracan_core.models: small feature frames with a planted (or no) predictable move."""

from __future__ import annotations

import numpy as np
import polars as pl

from huracan_core.models.encoder import EncoderConfig
from huracan_core.models.train import CoinSet, TrainConfig
from huracan_core.models.windows import Normaliser, make_windows

BAR_MS = 15 * 60_000
START_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC


def planted_frame(n: int, *, seed: int, n_features: int = 3, strength: float = 1.0, warmup: int = 5):
    """(feature frame, forward move bps [n]): the move after bar t is `strength` * 40 bps * f0[t] + noise.

    f0 "leads the return by one bar"; the other features are noise. strength=0 gives pure noise.
    Features of bar t are known at t; the move y[t] happens after t (the label, never an input).
    """
    rng = np.random.default_rng(seed)
    feats = rng.standard_normal((n, n_features))
    feats[:, 1:] = feats[:, 1:] * 3.0 + 1.5  # other scales/offsets, so normalisation matters
    y = strength * 40.0 * feats[:, 0] + rng.standard_normal(n) * 40.0
    y[-1] = np.nan  # the last bar's move is not known yet
    frame = pl.DataFrame(
        {
            "timestamp": np.arange(n, dtype=np.int64) * BAR_MS + START_MS,
            **{f"f{i}": feats[:, i] for i in range(n_features)},
            "warmup": np.arange(n) < warmup,
        }
    )
    return frame, y


def small_train_config(n_features: int = 3, window: int = 8, epochs: int = 4) -> TrainConfig:
    """A CPU-cheap config for tests (a few thousand windows train in well under a second)."""
    enc = EncoderConfig(
        n_features=n_features, window=window, hidden=16, embed_dim=8, dilations=(1, 2), head_hidden=8
    )
    return TrainConfig(encoder=enc, epochs=epochs, batch_size=128, patience=2, threads=1)


def split_sets(
    coins: dict[str, tuple[pl.DataFrame, np.ndarray]],
    window: int,
    train_share: float = 0.6,
    valid_share: float = 0.2,
) -> tuple[dict[str, CoinSet], dict[str, CoinSet], dict[str, CoinSet]]:
    """Chronological train / valid / test windows per coin, normaliser fitted on train rows only."""
    train, valid, test = {}, {}, {}
    for symbol, (frame, y) in coins.items():
        n = frame.height
        idx = np.arange(n)
        a, b = int(n * train_share), int(n * (train_share + valid_share))
        tr, va, te = idx < a, (idx >= a) & (idx < b), idx >= b
        norm = Normaliser.fit(frame, [c for c in frame.columns if c.startswith("f")], tr)
        for out, rows in ((train, tr), (valid, va), (test, te)):
            w = make_windows(frame, norm, window, rows=rows, targets=y)
            out[symbol] = (w.X, w.y)
    return train, valid, test


def random_walk_candles(n: int, *, seed: int, vol: float = 0.004) -> pl.DataFrame:
    """15m candles of a fat-tailed random walk (open = previous close), for feature-building tests."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.standard_t(4, n) * vol / np.sqrt(2.0)))
    open_ = np.concatenate([[100.0], close[:-1]])
    wick = np.abs(rng.normal(0.0, vol / 2, (2, n)))
    return pl.DataFrame(
        {
            "timestamp": np.arange(n, dtype=np.int64) * BAR_MS + START_MS,
            "open": open_,
            "high": np.maximum(open_, close) * np.exp(wick[0]),
            "low": np.minimum(open_, close) * np.exp(-wick[1]),
            "close": close,
            "volume": rng.lognormal(5.0, 0.5, n),
        }
    )
