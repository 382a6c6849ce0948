"""Lookahead detection: does any output at row t change when bars after t are removed or replaced by noise?

Reusable for anything shaped `candles -> frame with one row per candle` (features, alpha engines).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

BuildFn = Callable[[pl.DataFrame], pl.DataFrame]


@dataclass(frozen=True)
class Leak:
    """Column `name` at or before the cut changed when the future changed: it reads bars after `cut`."""

    name: str
    cut: int  # timestamp (epoch ms) of the last bar kept
    first_diff: int  # timestamp of the first row <= cut whose value differs
    check: str  # "truncation" (bars after the cut removed) or "noise" (replaced by random bars)


def noise_after(candles: pl.DataFrame, cut: int, rng: np.random.Generator) -> pl.DataFrame:
    """Copy of `candles` whose bars after row `cut` are a random walk (valid OHLCV, same timestamps)."""
    n_after = candles.height - cut - 1
    if n_after <= 0:
        return candles
    start = float(candles.item(cut, "close"))
    closes = start * np.exp(np.cumsum(rng.normal(0.0, 0.02, n_after)))
    opens = np.concatenate([[start], closes[:-1]])
    wick = np.exp(np.abs(rng.normal(0.0, 0.01, (2, n_after))))
    noise = {
        "open": opens,
        "high": np.maximum(opens, closes) * wick[0],
        "low": np.minimum(opens, closes) / wick[1],
        "close": closes,
        "volume": rng.lognormal(3.0, 2.0, n_after),
    }
    cols = [pl.Series(k, np.concatenate([candles[k][: cut + 1].to_numpy(), val])) for k, val in noise.items()]
    return candles.with_columns([c for c in cols if c.name in candles.columns])


def first_differences(base: pl.DataFrame, other: pl.DataFrame, tolerance: float) -> dict[str, int]:
    """{column: first row index where values differ} for columns of `base` (nulls equal only to nulls)."""
    out: dict[str, int] = {}
    for name in base.columns:
        if name not in other.columns:
            out[name] = 0
            continue
        pair = pl.DataFrame({"a": base[name], "b": other[name]})
        a, b = pl.col("a"), pl.col("b")
        differ = a.is_null() != b.is_null()
        if pair.schema["a"].is_float() and pair.schema["b"].is_numeric():
            b = b.cast(pl.Float64)
            close_enough = (a - b).abs() <= tolerance * pl.max_horizontal(pl.lit(1.0), a.abs())
            differ = differ | (a.is_nan() != b.is_nan()) | (~close_enough & ~a.is_nan())
        else:
            differ = differ | (a != b)
        hits = pair.select(differ.fill_null(False).arg_true()).to_series()
        if len(hits):
            out[name] = int(hits[0])
    return out


def find_lookahead(
    build_fn: BuildFn,
    candles: pl.DataFrame,
    cuts: list[int],
    rng: np.random.Generator,
    *,
    tolerance: float = 1e-9,
) -> list[Leak]:
    """Every column of `build_fn(candles)` whose rows <= cut change when bars after `cut` are dropped
    (truncation) or replaced by random bars (noise), for each row index in `cuts`.

    `build_fn` must return one row per input row, in order. Differences within `tolerance` (relative above 1,
    absolute below) are rounding, not leaks. Returns [] for a causal function.
    """
    full = build_fn(candles)
    if full.height != candles.height:
        raise ValueError(
            f"build_fn returned {full.height} rows for {candles.height} candles; one per candle needed"
        )
    timestamps = candles["timestamp"]
    leaks: list[Leak] = []
    for cut in cuts:
        if not 0 <= cut < candles.height:
            raise ValueError(f"cut {cut} is outside the {candles.height} candles")
        expected = full.head(cut + 1)
        variants = {
            "truncation": build_fn(candles.head(cut + 1)),
            "noise": build_fn(noise_after(candles, cut, rng)).head(cut + 1),
        }
        for check, got in variants.items():
            if got.height != cut + 1:
                raise ValueError(f"build_fn returned {got.height} rows for {cut + 1} candles ({check} check)")
            for name, row in first_differences(expected, got, tolerance).items():
                leaks.append(Leak(name, int(timestamps[cut]), int(timestamps[row]), check))
    return leaks
