"""Walk-forward splits never let a training label see a test bar, and their test ranges tile the tail."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from huracan_core.evaluation.splits import train_valid_test, walk_forward_splits
from huracan_core.exceptions import ConfigError

split_args = st.fixed_dictionaries(
    {
        "n_folds": st.integers(1, 6),
        "train_min": st.integers(1, 80),
        "test_size": st.integers(1, 60),
        "horizon": st.integers(0, 12),
        "embargo": st.integers(0, 20),
        "valid_size": st.integers(0, 30),
        "mode": st.sampled_from(["expanding", "rolling"]),
        "extra": st.integers(0, 200),
    }
)


def _make(args: dict) -> tuple[int, list]:
    a = dict(args)
    extra = a.pop("extra")
    purge = a["horizon"] + 1
    head = a["train_min"] + purge + (a["valid_size"] + purge if a["valid_size"] else 0)
    n_rows = head + a["n_folds"] * a["test_size"] + extra
    return n_rows, walk_forward_splits(n_rows, **a)


@settings(max_examples=150, deadline=None)
@given(split_args)
def test_no_training_or_validation_label_reaches_into_the_test_range(args: dict) -> None:
    _, splits = _make(args)
    h = args["horizon"]
    for s in splits:
        for t in s.train_index():
            assert t + 1 + h < s.test.start  # label window t+1 .. t+1+h ends before the test
            if s.valid is not None:
                assert t + 1 + h < s.valid.start
        if s.valid is not None:
            assert s.valid.stop - 1 + 1 + h < s.test.start


@settings(max_examples=150, deadline=None)
@given(split_args)
def test_no_fold_trains_within_the_embargo_after_an_earlier_test_range(args: dict) -> None:
    _, splits = _make(args)
    for s in splits:
        train = set(s.train_index().tolist())
        for earlier in splits[: s.fold]:
            embargoed = set(range(earlier.test.stop, earlier.test.stop + args["embargo"]))
            assert not (train & embargoed)


@settings(max_examples=150, deadline=None)
@given(split_args)
def test_test_ranges_are_contiguous_equal_and_end_at_the_last_row(args: dict) -> None:
    n_rows, splits = _make(args)
    assert len(splits) == args["n_folds"]
    assert splits[-1].test.stop == n_rows
    for a, b in pairwise(splits):
        assert a.test.stop == b.test.start
    assert {len(s.test) for s in splits} == {args["test_size"]}
    assert splits[0].n_train >= args["train_min"]


@settings(max_examples=60, deadline=None)
@given(split_args)
def test_splits_are_deterministic(args: dict) -> None:
    assert _make(args) == _make(args)


def test_rolling_window_keeps_only_the_latest_rows() -> None:
    splits = walk_forward_splits(1000, 4, train_min=200, test_size=100, horizon=5, mode="rolling")
    for s in splits:
        idx = s.train_index()
        assert idx.size == 200
        assert idx[-1] == s.test.start - 5 - 2


def test_expanding_window_starts_at_row_zero_and_grows() -> None:
    splits = walk_forward_splits(1000, 4, train_min=200, test_size=100, horizon=5)
    assert all(s.train[0].start == 0 for s in splits)
    assert [s.n_train for s in splits] == [594, 694, 794, 894]


def test_too_few_rows_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="too few"):
        walk_forward_splits(100, 5, train_min=80, test_size=10, horizon=3)


def test_split_serialises_to_plain_pairs() -> None:
    s = walk_forward_splits(100, 1, 20, 10, horizon=2, embargo=0, valid_size=5)[0]
    assert s.to_dict() == {"fold": 0, "train": [[0, 79]], "valid": [82, 87], "test": [90, 100]}


def test_single_split_orders_train_valid_test_with_purge_and_embargo_gaps() -> None:
    s = train_valid_test(1000, valid_frac=0.2, test_frac=0.1, horizon=4, embargo=3)
    assert s.test == range(900, 1000)
    assert s.valid == range(692, 892)  # gap before test: horizon + 1 + embargo = 8
    assert s.train == (range(0, 684),)
    assert train_valid_test(1000, 0.2, 0.1, 4, 3) == s


def test_single_split_rejects_fractions_that_leave_no_training() -> None:
    with pytest.raises(ConfigError, match="fractions"):
        train_valid_test(100, valid_frac=0.6, test_frac=0.5)
