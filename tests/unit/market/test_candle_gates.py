"""Data gates: each rule, on a frame built to break it, and the reason a user reads."""

from __future__ import annotations

import polars as pl
import pytest

from huracan_core.config import DataGatesConfig
from huracan_core.exceptions import DataGateRejected, DataIntegrityError
from huracan_core.market.gates import apply_gates, check_candles
from tests.stubs.candles import START_MS, make_candles

GATES = DataGatesConfig(
    max_gap_pct=5.0, max_zero_volume_pct=20.0, min_median_quote_volume=10_000.0, min_history_days=3.0
)
FOUR_DAYS_5M = 4 * 288


def _bars(**kwargs: float) -> pl.DataFrame:
    return make_candles(FOUR_DAYS_5M, price=100.0, volume=1_000.0, **kwargs)  # type: ignore[arg-type]


def test_clean_candles_pass_with_their_numbers() -> None:
    result = check_candles(_bars(), "BTCUSDT", "5m", GATES)
    assert result.ok and result.reason is None
    assert result.stats["rows"] == FOUR_DAYS_5M
    assert result.stats["gaps"] == 0 and result.stats["gap_pct"] == 0.0
    assert result.stats["history_days"] == pytest.approx(4.0)
    assert result.stats["median_quote_volume"] == pytest.approx(100_000, rel=0.2)


def test_duplicate_timestamps_are_rejected_unless_repair_is_asked() -> None:
    bars = _bars()
    doubled = pl.concat([bars, bars.slice(100, 3).with_columns(pl.col("close") * 1.0001)])
    result = check_candles(doubled, "BTCUSDT", "5m", GATES)
    assert not result.ok and result.reason == "duplicate timestamps (3 rows)"
    with pytest.raises(DataGateRejected, match="BTCUSDT: duplicate timestamps"):
        apply_gates(doubled, "BTCUSDT", "5m", GATES)
    repaired = apply_gates(doubled, "BTCUSDT", "5m", GATES, repair=True)
    assert repaired.height == FOUR_DAYS_5M
    assert repaired["timestamp"].is_sorted()
    # The last of each duplicated timestamp is kept.
    assert repaired["close"][100] == pytest.approx(bars["close"][100] * 1.0001)


def test_out_of_order_rows_are_rejected_unless_repair_is_asked() -> None:
    shuffled = _bars().sample(fraction=1.0, shuffle=True, seed=3)
    assert check_candles(shuffled, "ETHUSDT", "5m", GATES).reason.startswith("timestamps out of order")  # type: ignore[union-attr]
    assert apply_gates(shuffled, "ETHUSDT", "5m", GATES, repair=True).equals(_bars())


def test_missing_or_non_positive_prices_are_counted_with_the_first_bad_bar() -> None:
    bars = _bars().with_columns(
        pl.when(pl.int_range(pl.len()).is_in([12, 40]))
        .then(float("nan"))
        .otherwise(pl.col("close"))
        .alias("close"),
        pl.when(pl.int_range(pl.len()) == 50).then(0.0).otherwise(pl.col("low")).alias("low"),
    )
    result = check_candles(bars, "SOLUSDT", "5m", GATES)
    assert result.reason == "3 bars with missing or non-positive prices (first at 2024-01-01 01:00 UTC)"


def test_high_below_low_is_inconsistent_ohlc() -> None:
    bars = _bars().with_columns(
        pl.when(pl.int_range(pl.len()) == 24)
        .then(pl.col("low") * 0.9)
        .otherwise(pl.col("high"))
        .alias("high")
    )
    result = check_candles(bars, "XRPUSDT", "5m", GATES)
    assert result.reason is not None
    assert result.reason.startswith("1 bars with inconsistent OHLC")
    assert "first at 2024-01-01 02:00 UTC" in result.reason


def test_gaps_above_the_limit_reject_and_below_it_are_reported() -> None:
    bars = _bars()
    few_holes = bars.filter(~pl.int_range(pl.len()).is_in(list(range(100, 110))))
    result = check_candles(few_holes, "ADAUSDT", "5m", GATES)
    assert result.ok and result.stats["missing_bars"] == 10 and result.stats["gaps"] == 1
    many_holes = bars.filter(pl.int_range(pl.len()) % 10 != 3)
    result = check_candles(many_holes, "ADAUSDT", "5m", GATES)
    assert not result.ok and result.reason is not None
    assert result.reason.startswith("too many gaps (115 of 1152 bars missing, 9.98% > 5%)")


def test_bars_missing_at_the_edges_of_the_asked_window_count_as_gaps() -> None:
    bars = _bars()
    end = START_MS + 2 * FOUR_DAYS_5M * 300_000  # asked for eight days, have four
    result = check_candles(bars, "DOTUSDT", "5m", GATES, expected_start_ms=START_MS, expected_end_ms=end)
    assert result.stats["missing_bars"] == FOUR_DAYS_5M
    assert result.reason is not None and result.reason.startswith("too many gaps")


def test_mostly_zero_volume_is_rejected() -> None:
    bars = _bars().with_columns(
        pl.when(pl.int_range(pl.len()) % 3 == 0).then(0.0).otherwise(pl.col("volume")).alias("volume")
    )
    result = check_candles(bars, "DOGEUSDT", "5m", GATES)
    assert result.reason == "too many zero-volume bars (33.33% > 20%)"


def test_low_median_quote_volume_is_skipped_in_the_seeds_words_with_the_numbers() -> None:
    thin = make_candles(FOUR_DAYS_5M, price=2.0, volume=1_000.0)  # ~2,000 quote per bar
    result = check_candles(thin, "ETHUSDT", "5m", GATES)
    assert result.reason == "Low volume. Skipped."
    assert result.stats["median_quote_volume"] == pytest.approx(2_000, rel=0.2)
    assert result.stats["min_median_quote_volume"] == 10_000.0
    with pytest.raises(DataGateRejected) as caught:
        apply_gates(thin, "ETHUSDT", "5m", GATES)
    assert caught.value.symbol == "ETHUSDT" and caught.value.reason == "Low volume. Skipped."


def test_too_little_history_is_rejected() -> None:
    short = make_candles(2 * 288)
    result = check_candles(short, "LINKUSDT", "5m", GATES)
    assert result.reason == "too little history (2.0 days < 3 required)"


def test_bars_off_the_timeframe_grid_are_rejected() -> None:
    bars = _bars().with_columns(pl.col("timestamp") + 1_000)
    result = check_candles(bars, "BTCUSDT", "5m", GATES)
    assert result.reason is not None and "not on the 5m grid" in result.reason


def test_a_wrong_schema_is_a_data_integrity_error_naming_the_symbol() -> None:
    with pytest.raises(DataIntegrityError, match=r"AVAXUSDT.*volume.*Int64"):
        check_candles(_bars().with_columns(pl.col("volume").cast(pl.Int64)), "AVAXUSDT", "5m", GATES)


def test_an_empty_frame_is_rejected() -> None:
    assert check_candles(_bars().head(0), "BTCUSDT", "5m", GATES).reason == "no candles"


# --- new listings: the window's bars before a coin's first candle never existed -------------------------
DAY_5M = 288
WINDOW_DAYS = 10


def _window() -> tuple[int, int]:
    return START_MS, START_MS + WINDOW_DAYS * DAY_5M * 300_000


def test_a_coin_listed_inside_the_window_is_judged_from_its_first_candle() -> None:
    start, end = _window()
    listed = start + 4 * DAY_5M * 300_000
    bars = make_candles(6 * DAY_5M, start_ms=listed, price=100.0, volume=1_000.0)
    result = check_candles(bars, "NEWUSDT", "5m", GATES, start, end, first_candle_ms=listed)
    assert result.ok, result.reason
    assert result.stats["new_listing"] and result.stats["listed_ms"] == listed
    assert result.stats["missing_bars"] == 0 and result.stats["expected_bars"] == 6 * DAY_5M
    assert result.stats["history_days"] == pytest.approx(6.0)


def test_a_coin_listed_fewer_than_min_history_days_before_the_as_of_is_skipped_with_its_age() -> None:
    start, end = START_MS, START_MS + 40 * DAY_5M * 300_000
    listed = end - 12 * DAY_5M * 300_000
    bars = make_candles(12 * DAY_5M, start_ms=listed, price=100.0, volume=1_000.0)
    gates = GATES.model_copy(update={"min_history_days": 30.0})
    result = check_candles(bars, "NEWUSDT", "5m", gates, start, end)
    assert result.reason == "listed 12 days before the as-of: fewer than data.gates.min_history_days 30"


def test_a_hole_at_the_window_start_of_an_older_coin_still_counts_as_gaps() -> None:
    start, end = _window()
    first_stored = start - DAY_5M * 300_000  # the source holds the coin from the day before the window
    bars = make_candles(6 * DAY_5M, start_ms=start + 4 * DAY_5M * 300_000, price=100.0, volume=1_000.0)
    result = check_candles(bars, "OLDUSDT", "5m", GATES, start, end, first_candle_ms=first_stored)
    assert not result.stats["new_listing"]
    assert result.reason is not None and result.reason.startswith("too many gaps (1152 of 2880 bars missing")


def test_a_coin_with_the_whole_lookback_passes_even_when_the_lookback_is_under_min_history_days() -> None:
    start, end = _window()
    bars = make_candles(WINDOW_DAYS * DAY_5M, price=100.0, volume=1_000.0)
    gates = GATES.model_copy(update={"min_history_days": 30.0})
    assert check_candles(bars, "BTCUSDT", "5m", gates, start, end).ok
    # ...while a coin listed inside that short window is still held to it.
    late = bars.slice(DAY_5M)
    assert check_candles(late, "NEWUSDT", "5m", gates, start, end).reason == (
        "listed 9 days before the as-of: fewer than data.gates.min_history_days 30"
    )
