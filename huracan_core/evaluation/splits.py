"""Walk-forward splits with purge and embargo (Lopez de Prado), so no training label sees a test bar.

Conventions (row t = bar t; its label is the move from bar t+1's open to bar t+1+horizon's open):
- PURGE: a training row is dropped when its label window t+1 .. t+1+horizon overlaps an evaluation
  range (valid or test). For a row before a range that starts at s, this drops t >= s - horizon - 1.
- EMBARGO: the `embargo` rows right after every test range are never used for training by a later
  fold (their features and labels are serially correlated with the test bars whose out-of-sample
  predictions are what we judge and what the gate table learns from).
Test ranges tile the tail of the data: the last fold's test range ends at the last row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from huracan_core.exceptions import ConfigError

WindowMode = Literal["expanding", "rolling"]


@dataclass(frozen=True)
class Split:
    """One fold: training segments (purged and embargoed), optional validation range, test range."""

    fold: int
    train: tuple[range, ...]
    test: range
    valid: range | None = None

    def train_index(self) -> np.ndarray:
        """All training row indices, ascending, as one int64 array."""
        if not self.train:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate([np.arange(r.start, r.stop, dtype=np.int64) for r in self.train])

    @property
    def n_train(self) -> int:
        return sum(len(r) for r in self.train)

    def to_dict(self) -> dict[str, Any]:
        """JSON form: half-open [start, stop) pairs."""
        return {
            "fold": self.fold,
            "train": [[r.start, r.stop] for r in self.train],
            "valid": None if self.valid is None else [self.valid.start, self.valid.stop],
            "test": [self.test.start, self.test.stop],
        }


def _check(name: str, value: int, minimum: int) -> None:
    if int(value) != value or value < minimum:
        raise ConfigError(f"split setting {name}={value!r} must be an integer >= {minimum}")


def _mask_to_ranges(mask: np.ndarray, offset: int = 0) -> tuple[range, ...]:
    """Contiguous True runs of a boolean mask as ranges (shifted by `offset`)."""
    if not mask.any():
        return ()
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return tuple(
        range(int(a) + offset, int(b) + offset) for a, b in zip(edges[::2], edges[1::2], strict=True)
    )


def purge_before(stop: int, horizon: int) -> int:
    """Exclusive end of the training rows allowed before an evaluation range starting at `stop`."""
    return max(0, stop - horizon - 1)


def walk_forward_splits(
    n_rows: int,
    n_folds: int,
    train_min: int,
    test_size: int | None = None,
    horizon: int = 0,
    embargo: int = 0,
    *,
    valid_size: int = 0,
    mode: WindowMode = "expanding",
    train_size: int | None = None,
) -> list[Split]:
    """Walk-forward folds whose test ranges tile the last rows; each fold trains only on the past.

    `train_min` is the least number of (purged) training rows the first fold must have. `test_size`
    defaults to an even share of what is left after the first training window; test ranges are equal,
    contiguous, and the last one ends exactly at `n_rows` (any remainder goes to training). `mode="rolling"` keeps only the latest `train_size` rows (default
    `train_min`) of the training window; "expanding" keeps everything from row 0. With `valid_size`,
    the last `valid_size` rows before the test purge form a validation range (purged against test;
    training is purged against it).
    """
    _check("n_rows", n_rows, 1)
    _check("n_folds", n_folds, 1)
    _check("train_min", train_min, 1)
    _check("horizon", horizon, 0)
    _check("embargo", embargo, 0)
    _check("valid_size", valid_size, 0)
    if mode not in ("expanding", "rolling"):
        raise ConfigError(f"split setting mode={mode!r} must be 'expanding' or 'rolling'")
    purge = horizon + 1
    head = train_min + purge + (valid_size + purge if valid_size else 0)
    if test_size is None:
        test_size = (n_rows - head) // n_folds
    _check("test_size", test_size, 1)
    first_test = n_rows - n_folds * test_size
    if first_test < head:
        raise ConfigError(
            f"{n_rows} rows are too few for {n_folds} folds of {test_size} test rows with train_min={train_min},"
            f" horizon={horizon}, valid_size={valid_size}: need at least {head + n_folds * test_size}"
        )
    window = train_min if train_size is None else train_size
    _check("train_size", window, 1)

    starts = [first_test + k * test_size for k in range(n_folds)]
    splits: list[Split] = []
    for k, start in enumerate(starts):
        test = range(start, start + test_size)
        valid: range | None = None
        train_stop = purge_before(start, horizon)
        if valid_size:
            valid = range(train_stop - valid_size, train_stop)
            train_stop = purge_before(valid.start, horizon)
        train_start = 0 if mode == "expanding" else max(0, train_stop - window)
        keep = np.ones(max(0, train_stop - train_start), dtype=bool)
        for earlier in range(k):  # embargo after each earlier test range
            e_start = starts[earlier] + test_size
            lo, hi = max(e_start, train_start), min(e_start + embargo, train_stop)
            if hi > lo:
                keep[lo - train_start : hi - train_start] = False
        splits.append(Split(fold=k, train=_mask_to_ranges(keep, train_start), test=test, valid=valid))
    return splits


def train_valid_test(
    n_rows: int, valid_frac: float, test_frac: float, horizon: int = 0, embargo: int = 0
) -> Split:
    """One forward split train | purge | valid | purge | test, for a quick fit and an honest final test.

    Nothing trains after the evaluation ranges in a forward split, so the embargo only widens the gap
    before each evaluation range beyond the purge (`gap = horizon + 1 + embargo`), as a margin against
    serially correlated features; set it to 0 to get the plain purge.
    """
    _check("n_rows", n_rows, 1)
    _check("horizon", horizon, 0)
    _check("embargo", embargo, 0)
    if not (0.0 <= valid_frac < 1.0 and 0.0 < test_frac < 1.0 and valid_frac + test_frac < 1.0):
        raise ConfigError(
            f"split fractions valid_frac={valid_frac!r}, test_frac={test_frac!r} must be in [0,1) and sum below 1"
        )
    gap = horizon + 1 + embargo
    n_test = max(1, round(n_rows * test_frac))
    n_valid = round(n_rows * valid_frac)
    test = range(n_rows - n_test, n_rows)
    valid = None
    train_stop = max(0, test.start - gap)
    if n_valid:
        valid = range(max(0, train_stop - n_valid), train_stop)
        train_stop = max(0, valid.start - gap)
    if train_stop < 1:
        raise ConfigError(
            f"{n_rows} rows leave no training rows with valid_frac={valid_frac}, test_frac={test_frac},"
            f" horizon={horizon}, embargo={embargo}"
        )
    return Split(fold=0, train=(range(0, train_stop),), test=test, valid=valid)
