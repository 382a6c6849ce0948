"""Leakage guards for alpha engines: truncation, noise-after-cut and last-rows-only comparisons.

Independent of the feature package's own lookahead finder on purpose: alphas must be checkable alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import polars as pl

from huracan_core.alphas.base import SIGNAL_COLUMNS, AlphaEngine

KEEP = ("timestamp", "regime")  # timestamps must stay sorted; regime is categorical


def noise_after(frame: pl.DataFrame, cut: int, *, seed: int = 0) -> pl.DataFrame:
    """`frame` with every numeric value after row `cut` replaced by noise drawn from the same column."""
    rng = np.random.default_rng(seed)
    rows = frame.height - cut - 1
    if rows <= 0:
        return frame
    replaced = []
    for name, dtype in frame.schema.items():
        if name in KEEP or not dtype.is_numeric():
            continue
        values = frame[name].to_numpy().astype(np.float64)
        pool = values[np.isfinite(values)]
        if pool.size == 0:
            continue
        noise = rng.choice(pool, rows) * rng.lognormal(0.0, 0.3, rows)
        replaced.append(pl.Series(name, np.concatenate([values[: cut + 1], noise])).cast(dtype))
    return frame.with_columns(replaced)


def _differences(a: pl.DataFrame, b: pl.DataFrame, label: str) -> list[str]:
    out = []
    for column in SIGNAL_COLUMNS:
        x, y = a[column].to_numpy(), b[column].to_numpy()
        same = np.isclose(x, y, rtol=1e-9, atol=1e-12) if x.dtype.kind == "f" else x == y
        if not same.all():
            rows = np.flatnonzero(~same)
            out.append(f"{label}: {column} differs at rows {rows[:5].tolist()}")
    return out


def causality_violations(
    engine: AlphaEngine, frame: pl.DataFrame, state: Mapping[str, Any], cuts: Iterable[int], *, seed: int = 0
) -> list[str]:
    """For each cut: signals at rows <= cut must not change when later rows are dropped or replaced by
    noise. Returns human-readable differences (empty = causal on these cuts)."""
    full = engine.signal(frame, state)
    problems: list[str] = []
    for cut in cuts:
        head = full[: cut + 1]
        problems += _differences(head, engine.signal(frame[: cut + 1], state), f"truncated at {cut}")
        noisy = engine.signal(noise_after(frame, cut, seed=seed + cut), state)[: cut + 1]
        problems += _differences(head, noisy, f"noise after {cut}")
    return problems


def last_row_mismatches(
    engine: AlphaEngine, frame: pl.DataFrame, state: Mapping[str, Any], ends: Iterable[int]
) -> list[str]:
    """For each end row: the signal computed on only the newest `lookback_bars` rows must equal, on its
    last row, the signal computed on the whole history."""
    full = engine.signal(frame, state)
    problems: list[str] = []
    for end in ends:
        start = end + 1 - engine.lookback_bars
        if start < 0:
            continue
        tail = engine.signal(frame[start : end + 1], state)[-1:]
        problems += _differences(full[end : end + 1], tail, f"last {engine.lookback_bars} rows ending {end}")
    return problems
