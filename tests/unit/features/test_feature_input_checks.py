"""Broken candles raise DataIntegrityError naming symbol, column and first bad timestamp; short history is flagged."""

from __future__ import annotations

import polars as pl
import pytest

from huracan_core.exceptions import DataIntegrityError
from huracan_core.features import (
    DEFAULT_RECIPE,
    InsufficientHistoryError,
    build_features,
    build_latest,
    require_history,
)
from tests.stubs.random_candles import random_candles


@pytest.fixture
def candles() -> pl.DataFrame:
    return random_candles(300, seed=3)


def _set(candles: pl.DataFrame, row: int, column: str, value: object) -> pl.DataFrame:
    return candles.with_columns(
        pl.when(pl.int_range(pl.len()) == row).then(pl.lit(value)).otherwise(pl.col(column)).alias(column)
    )


def test_missing_column_is_named(candles: pl.DataFrame) -> None:
    with pytest.raises(DataIntegrityError, match=r"SOLUSDT: missing column\(s\) \['volume'\]"):
        build_features(candles.drop("volume"), symbol="SOLUSDT")


@pytest.mark.parametrize(
    ("column", "value", "text"),
    [("close", float("nan"), "null or NaN"), ("low", 0.0, "not a positive price"), ("open", -1.0, "not a positive"),
     ("high", None, "null or NaN"), ("volume", -5.0, "negative"), ("close", float("inf"), "infinite")],
)  # fmt: skip
def test_bad_value_names_symbol_column_and_first_bad_timestamp(
    candles: pl.DataFrame, column: str, value: object, text: str
) -> None:
    broken = _set(_set(candles, 123, column, value), 200, column, value)
    ts = candles["timestamp"][123]
    with pytest.raises(DataIntegrityError, match=rf"SOLUSDT: column '{column}'.*{text}.*timestamp {ts}"):
        build_features(broken, symbol="SOLUSDT")


def test_high_below_low_is_rejected(candles: pl.DataFrame) -> None:
    broken = _set(candles, 50, "high", float(candles["low"][50]) * 0.5)
    with pytest.raises(DataIntegrityError, match="'high' is below 'low'"):
        build_features(broken, symbol="SOLUSDT")


def test_unsorted_timestamps_are_rejected_at_the_first_step_back(candles: pl.DataFrame) -> None:
    swapped = pl.concat([candles[:100], candles[101:102], candles[100:101], candles[102:]])
    with pytest.raises(DataIntegrityError, match=rf"not sorted.*timestamp {candles['timestamp'][100]}"):
        build_features(swapped, symbol="SOLUSDT")


def test_duplicate_timestamps_are_rejected(candles: pl.DataFrame) -> None:
    duplicated = pl.concat([candles[:51], candles[50:]])
    with pytest.raises(DataIntegrityError, match=rf"duplicated.*timestamp {candles['timestamp'][50]}"):
        build_features(duplicated, symbol="SOLUSDT")


def test_a_broken_reference_is_named_by_its_symbol(candles: pl.DataFrame) -> None:
    ref = _set(random_candles(300, seed=4), 10, "close", -1.0)
    with pytest.raises(DataIntegrityError, match="BTCUSDT: column 'close'"):
        build_features(candles, refs={"BTCUSDT": ref}, symbol="SOLUSDT")


def test_too_little_history_flags_every_row_as_warmup(candles: pl.DataFrame) -> None:
    short = candles.head(DEFAULT_RECIPE.warmup_bars() - 1)
    out = build_features(short)
    assert out.height == short.height
    assert out["warmup"].all()
    assert out["adx_14"].null_count() == short.height


def test_require_history_explains_how_many_bars_are_needed(candles: pl.DataFrame) -> None:
    need = DEFAULT_RECIPE.warmup_bars()
    with pytest.raises(InsufficientHistoryError, match=rf"SOLUSDT: 100 bars given.*at least {need} bars"):
        require_history(candles.head(100), DEFAULT_RECIPE, "SOLUSDT")
    require_history(candles.head(need), DEFAULT_RECIPE, "SOLUSDT")


def test_incremental_mode_refuses_short_history(candles: pl.DataFrame) -> None:
    with pytest.raises(InsufficientHistoryError):
        build_latest(candles.head(10), symbol="SOLUSDT")


def test_empty_candles_give_an_empty_frame_with_all_columns() -> None:
    out = build_features(random_candles(0))
    assert out.height == 0
    assert out.columns[-1] == "warmup"
    assert set(DEFAULT_RECIPE.columns()) <= set(out.columns)
