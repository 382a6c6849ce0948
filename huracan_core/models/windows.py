"""Per-coin feature frames -> float32 windows [n, W, F] for the encoder, with a train-only normaliser.

A window ending at bar t holds bars t-W+1..t (nothing after t). Bars in warm-up or with a missing
feature make every window that contains them unusable: such windows are skipped, never filled. In a
walk-forward training frame with holes, a window never spans two segments (`huracan_core.segments`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import torch

from huracan_core.segments import SEGMENT_COLUMN, segment_ids

# Columns of a feature frame that are not model inputs (candles, flags, labels, costs, helper references).
NON_FEATURE_COLUMNS: frozenset[str] = frozenset(
    {
        "timestamp",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "warmup",
        "regime",
        "btc_close",
        "eth_close",
        "funding_rate",
        "forward_move_bps",
        "cost_bps",
        SEGMENT_COLUMN,
    }
)
CLIP_SIGMAS = 8.0  # normalised values are clipped to +-8 std: one wild bar must not dominate a minibatch


def feature_columns(frame: pl.DataFrame) -> list[str]:
    """Numeric columns of `frame` that are features (everything but candles, flags and helpers)."""
    return [
        name for name, dtype in frame.schema.items() if name not in NON_FEATURE_COLUMNS and dtype.is_numeric()
    ]


def feature_matrix(frame: pl.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """[n, F] float64, nulls as NaN; a missing column is an error naming it."""
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise KeyError(f"feature frame lacks column(s) {absent}")
    if not columns:
        raise ValueError("no feature columns given")
    return frame.select([pl.col(c).cast(pl.Float64) for c in columns]).to_numpy().astype(np.float64)


def usable_rows(frame: pl.DataFrame, columns: Sequence[str], values: np.ndarray | None = None) -> np.ndarray:
    """[n] bool: the bar is out of warm-up and every feature in `columns` is finite.

    `values` is `feature_matrix(frame, columns)` when the caller has it already (it is the costly part).
    """
    raw = feature_matrix(frame, columns) if values is None else values
    ok = np.isfinite(raw).all(axis=1)
    if "warmup" in frame.columns:
        ok &= ~frame["warmup"].fill_null(True).to_numpy().astype(bool)
    return ok


@dataclass(frozen=True)
class Normaliser:
    """Per-feature mean and std of ONE coin, learned on its training rows only (STYLE rule 5)."""

    columns: tuple[str, ...]
    mean: np.ndarray  # [F] float32
    std: np.ndarray  # [F] float32, never 0

    @classmethod
    def fit(cls, frame: pl.DataFrame, columns: Sequence[str], rows: np.ndarray | None = None) -> Normaliser:
        """Fit on the usable rows of `frame` (restricted to the boolean mask `rows` when given).

        Pass only the training window (or its mask): valid and test rows must not shape the scaling.
        """
        raw = feature_matrix(frame, columns)
        usable = usable_rows(frame, columns, raw)
        if rows is not None:
            if rows.shape != usable.shape:
                raise ValueError(f"rows mask has {rows.shape[0]} entries for {usable.shape[0]} frame rows")
            usable &= rows
        if usable.sum() < 2:
            raise ValueError(f"normaliser needs >= 2 usable training rows, got {int(usable.sum())}")
        values = raw[usable]
        mean = values.mean(axis=0)
        std = values.std(axis=0)
        std = np.where(std > 1e-12, std, 1.0)  # a constant feature is centred, not blown up
        return cls(tuple(columns), mean.astype(np.float32), std.astype(np.float32))

    def apply(self, values: np.ndarray) -> np.ndarray:
        """[..., F] raw values -> [..., F] float32 z-scores clipped to +-CLIP_SIGMAS (NaN stays NaN)."""
        z = (values.astype(np.float32) - self.mean) / self.std
        return np.clip(z, -CLIP_SIGMAS, CLIP_SIGMAS)

    def to_tensors(self, prefix: str = "normaliser") -> dict[str, torch.Tensor]:
        """For the bundle's model.bin; the column names go into config.json."""
        return {
            f"{prefix}.mean": torch.from_numpy(self.mean.copy()),
            f"{prefix}.std": torch.from_numpy(self.std.copy()),
        }

    @classmethod
    def from_tensors(
        cls,
        tensors: Mapping[str, torch.Tensor | np.ndarray],
        columns: Sequence[str],
        prefix: str = "normaliser",
    ) -> Normaliser:
        mean = np.asarray(tensors[f"{prefix}.mean"], dtype=np.float32)
        std = np.asarray(tensors[f"{prefix}.std"], dtype=np.float32)
        if mean.shape != (len(columns),) or std.shape != (len(columns),):
            raise ValueError(f"normaliser has {mean.shape[0]} features but {len(columns)} columns were named")
        return cls(tuple(columns), mean, std)


@dataclass(frozen=True)
class CoinWindows:
    """Windows of one coin: X [n, W, F] float32, rows [n] (index t of each window's LAST bar), y [n] or None."""

    X: np.ndarray
    rows: np.ndarray
    y: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.rows.shape[0])


def window_end_mask(usable: np.ndarray, window: int, segments: np.ndarray | None = None) -> np.ndarray:
    """[n] bool: bars t-window+1..t all usable (and t >= window-1), and all in one segment when given."""
    if window < 1:
        raise ValueError(f"window must be >= 1 bar, got {window}")
    bad = np.concatenate([[0], np.cumsum(~usable)])  # bad[i] = unusable bars among rows < i
    ends = np.arange(usable.shape[0])
    starts = ends - window + 1
    ok = starts >= 0
    ok[ok] = (bad[ends[ok] + 1] - bad[starts[ok]]) == 0
    if segments is not None:  # segment ids never decrease, so equal ends mean one segment throughout
        ok[ok] = segments[ends[ok]] == segments[starts[ok]]
    return ok


def make_windows(
    frame: pl.DataFrame,
    normaliser: Normaliser,
    window: int,
    *,
    rows: np.ndarray | None = None,
    targets: np.ndarray | None = None,
) -> CoinWindows:
    """Normalised windows ending at every usable bar t (restricted to the boolean mask `rows`).

    Bars before a window's end may lie outside `rows` (the past is always allowed); with `targets`
    ([n] float, NaN = unknown) windows whose target is not finite are dropped and y is returned.
    """
    columns = normaliser.columns
    raw = feature_matrix(frame, columns)
    z = normaliser.apply(raw)  # [n, F]
    ends = window_end_mask(usable_rows(frame, columns, raw), window, segment_ids(frame))
    if rows is not None:
        ends &= rows
    if targets is not None:
        targets = np.asarray(targets, dtype=np.float64)
        if targets.shape != (frame.height,):
            raise ValueError(f"targets has shape {targets.shape}, expected ({frame.height},)")
        ends &= np.isfinite(targets)
    idx = np.flatnonzero(ends)
    if idx.size == 0:
        empty = np.zeros((0, window, len(columns)), dtype=np.float32)
        return CoinWindows(empty, idx.astype(np.int64), None if targets is None else np.zeros(0, np.float32))
    X = windows_ending_at(z, idx, window)
    y = None if targets is None else targets[idx].astype(np.float32)
    return CoinWindows(X, idx.astype(np.int64), y)


def windows_ending_at(z: np.ndarray, ends: np.ndarray, window: int) -> np.ndarray:
    """[m, W, F] float32 windows of the normalised rows `z` [n, F] ending at the rows `ends` (each >= W-1)."""
    view = np.lib.stride_tricks.sliding_window_view(z, window, axis=0)  # [n-W+1, F, W]
    return np.ascontiguousarray(view[ends - window + 1].transpose(0, 2, 1), dtype=np.float32)
