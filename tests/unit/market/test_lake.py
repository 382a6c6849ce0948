"""The candle lake: merge, read back, refuse corrupt files without touching them, summarise."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from huracan_core.config import DataGatesConfig
from huracan_core.exceptions import CorruptFileError, DataIntegrityError, UnknownSymbolError
from huracan_core.market.lake import LakeSource
from tests.stubs.candles import START_MS, make_candles
from tests.stubs.s3 import S3Bucket

FIVE_MIN = 300_000


def _file(lake: LakeSource, symbol: str, timeframe: str = "5m") -> Path:
    return Path(lake.url(symbol, timeframe))


def test_merge_appends_new_bars_sorted_and_unique(lake: LakeSource) -> None:
    bars = make_candles(300)
    assert lake.merge("BTCUSDT", "5m", bars.head(200)) == 200
    # Overlapping, out-of-order batch: only the 100 new bars count, the result is sorted and unique.
    assert lake.merge("BTCUSDT", "5m", bars.slice(150, 150).reverse()) == 100
    stored = lake.read("BTCUSDT", "5m")
    assert stored.equals(bars)
    assert lake.last_timestamp("BTCUSDT", "5m") == START_MS + 299 * FIVE_MIN
    assert lake.symbols("5m") == ["BTCUSDT"]


def test_a_revised_bar_replaces_the_stored_one(lake: LakeSource) -> None:
    bars = make_candles(10)
    lake.merge("ETHUSDT", "5m", bars)
    revised = bars.tail(1).with_columns(pl.col("volume") * 2)
    assert lake.merge("ETHUSDT", "5m", revised) == 0
    assert lake.read("ETHUSDT", "5m")["volume"][-1] == pytest.approx(bars["volume"][-1] * 2)


def test_a_missing_symbol_is_an_unknown_symbol_naming_it(lake: LakeSource) -> None:
    lake.merge("BTCUSDT", "5m", make_candles(5))
    with pytest.raises(UnknownSymbolError, match=r"BTCUSD .*lake.*BTCUSDT"):
        lake.read("BTCUSD", "5m")
    assert lake.last_timestamp("SOLUSDT", "5m") is None


def test_a_truncated_file_is_reported_by_name_and_never_overwritten(lake: LakeSource) -> None:
    lake.merge("XRPUSDT", "5m", make_candles(500))
    path = _file(lake, "XRPUSDT")
    path.write_bytes(path.read_bytes()[:-200])
    damaged = path.read_bytes()
    with pytest.raises(CorruptFileError, match=r"XRPUSDT\.parquet"):
        lake.read("XRPUSDT", "5m")
    with pytest.raises(CorruptFileError, match=r"XRPUSDT\.parquet"):
        lake.merge("XRPUSDT", "5m", make_candles(600))
    with pytest.raises(CorruptFileError, match=r"XRPUSDT\.parquet"):
        lake.last_timestamp("XRPUSDT", "5m")
    assert path.read_bytes() == damaged


def test_a_file_with_wrong_columns_is_a_data_integrity_error_naming_file_and_symbol(lake: LakeSource) -> None:
    path = _file(lake, "SOLUSDT")
    path.parent.mkdir(parents=True)
    make_candles(5).rename({"close": "last"}).write_parquet(path)
    with pytest.raises(DataIntegrityError, match=r"SOLUSDT\.parquet.*SOLUSDT.*close"):
        lake.read("SOLUSDT", "5m")


def test_fetch_returns_the_half_open_range_and_drops_bars_open_at_now(lake: LakeSource) -> None:
    lake.merge("BTCUSDT", "5m", make_candles(100))
    got = lake.fetch("BTCUSDT", "5m", START_MS + 10 * FIVE_MIN, START_MS + 20 * FIVE_MIN)
    assert got.height == 10
    got = lake.fetch(
        "BTCUSDT", "5m", START_MS, START_MS + 100 * FIVE_MIN, now_ms=START_MS + 50 * FIVE_MIN + 1
    )
    assert int(got["timestamp"][-1]) == START_MS + 49 * FIVE_MIN


def test_summary_reports_rows_gaps_volume_and_verdict(lake: LakeSource) -> None:
    bars = make_candles(2000, price=50.0, volume=1_000.0)
    holed = bars.filter(~pl.int_range(pl.len()).is_in([10, 11, 12, 500]))
    lake.write("ADAUSDT", "5m", holed)
    info = lake.summary("ADAUSDT", "5m", DataGatesConfig(min_history_days=1.0))
    assert info["rows"] == 1996
    assert info["gaps"] == 2 and info["missing_bars"] == 4 and info["largest_gap_bars"] == 3
    assert info["first_bar"] == "2024-01-01 00:00 UTC"
    assert info["median_quote_volume"] == pytest.approx(50_000, rel=0.2)
    assert info["gate_ok"] is True and info["gate_reason"] is None
    strict = lake.summary("ADAUSDT", "5m", DataGatesConfig(min_history_days=1.0, min_median_quote_volume=1e6))
    assert strict["gate_reason"] == "Low volume. Skipped."


@pytest.mark.s3
def test_the_lake_works_the_same_on_s3(s3_bucket: S3Bucket) -> None:
    lake = LakeSource(s3_bucket.url("lake"))
    bars = make_candles(50, timeframe="15m")
    assert lake.merge("BTCUSDT", "15m", bars.head(30)) == 30
    assert lake.merge("BTCUSDT", "15m", bars) == 20
    assert lake.read("BTCUSDT", "15m").equals(bars)
    assert lake.symbols("15m") == ["BTCUSDT"]
    stored_keys = s3_bucket.keys()
    assert "lake/candles/15m/BTCUSDT.parquet" in stored_keys
