"""Contiguous segments of a training frame, so labels and windows never span a hole in it.

A walk-forward fold trains on rows with holes (the embargo after each earlier test range). Stacked into one
frame, the row before a hole would take its forward move from a bar after the hole, and an encoder window
would join bars that were never neighbours. The fold marks each contiguous run of rows with its own id in
the column `segment`; label and window code checks it. Frames without the column are one segment.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

SEGMENT_COLUMN = "segment"  # UInt32 id of the contiguous run of rows a training row belongs to


def with_segments(frame: pl.DataFrame, ranges: Sequence[range]) -> pl.DataFrame:
    """The rows of `ranges` (ascending, non-overlapping) stacked, each range tagged with its own segment id."""
    index = np.concatenate([np.arange(r.start, r.stop, dtype=np.int64) for r in ranges]) if ranges else None
    if index is None:
        return frame.clear().with_columns(pl.lit(0, dtype=pl.UInt32).alias(SEGMENT_COLUMN))
    ids = np.concatenate([np.full(len(r), k, dtype=np.uint32) for k, r in enumerate(ranges)])
    return frame[index].with_columns(pl.Series(SEGMENT_COLUMN, ids, dtype=pl.UInt32))


def segment_ids(frame: pl.DataFrame) -> np.ndarray | None:
    """[n] segment id per row, or None when the frame is one contiguous run (no `segment` column)."""
    if SEGMENT_COLUMN not in frame.columns:
        return None
    return frame[SEGMENT_COLUMN].cast(pl.Int64).to_numpy()


def same_segment_expr(offset: int) -> pl.Expr:
    """True where the row `offset` rows ahead (negative: behind) is in this row's segment; null past the end."""
    return pl.col(SEGMENT_COLUMN).shift(-offset) == pl.col(SEGMENT_COLUMN)


def split_segments(frame: pl.DataFrame) -> list[pl.DataFrame]:
    """`frame` split into its segments (the whole frame when it has none), in order."""
    if SEGMENT_COLUMN not in frame.columns:
        return [frame]
    return frame.partition_by(SEGMENT_COLUMN, maintain_order=True)
