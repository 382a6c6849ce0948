"""`huracan data resample`: coarse bars from fine ones, checked against the exchange's own coarse candles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from huracan_core.exceptions import ConfigError
from huracan_core.market.ccxt_source import CcxtSource
from huracan_core.market.lake import LakeSource
from huracan_core.market.resample import resample_candles, resample_factor
from tests.stubs.candles import START_MS, make_candles, real_candles_dir
from tests.stubs.exchange_replay import ReplayMarket, exchange_replay
from tests.stubs.random_candles import random_candles

runner = CliRunner()
MINUTE_MS = 60_000
FIVE_MS = 5 * MINUTE_MS
FIFTEEN_MS = 15 * MINUTE_MS



def _aggregate(minutes: pl.DataFrame, per: int) -> pl.DataFrame:
    """What an exchange reports for bars of `per` minutes, built from the same one-minute trades with numpy
    (independently of the resampler's polars code)."""
    n = minutes.height // per
    arr = {c: minutes[c].to_numpy()[: n * per].reshape(n, per) for c in minutes.columns}
    return pl.DataFrame(
        {
            "timestamp": arr["timestamp"][:, 0],
            "open": arr["open"][:, 0],
            "high": arr["high"].max(axis=1),
            "low": arr["low"].min(axis=1),
            "close": arr["close"][:, -1],
            "volume": arr["volume"].sum(axis=1),
        }
    )


def test_resampled_5m_equals_the_exchanges_15m_except_where_a_5m_bar_is_missing(
    app: typer.Typer, tmp_path: Path
) -> None:
    minutes = random_candles(2 * 1440, seed=5, step_ms=MINUTE_MS)  # two days of one-minute trades
    five, fifteen = _aggregate(minutes, 5), _aggregate(minutes, 15)
    hole = START_MS + 300 * FIVE_MS + FIVE_MS  # the exchange's 5m history lacks this bar (a real outage)
    five_served = five.filter(pl.col("timestamp") != hole)
    now_ms = START_MS + 2 * 86_400_000 - 2 * MINUTE_MS  # inside the last 15m bucket: it is still forming
    candles = {("BTCUSDT", "5m"): five_served, ("BTCUSDT", "15m"): fifteen}
    fine_lake, coarse_lake = LakeSource(tmp_path / "lake"), LakeSource(tmp_path / "exchange15m")
    with exchange_replay([ReplayMarket("BTCUSDT", "BTC", "USDT")], candles) as replay:
        source = CcxtSource(replay.binance(), attempts=1, sleep=lambda _s: None)
        source.fill_lake(fine_lake, ["BTCUSDT"], "5m", 3, now_ms)
        source.fill_lake(coarse_lake, ["BTCUSDT"], "15m", 3, now_ms)

    result = runner.invoke(
        app, ["data", "resample", "--from", "5m", "--to", "15m", "--lake", str(tmp_path / "lake")]
    )
    assert result.exit_code == 0, result.output
    assert "BTCUSDT: 190 15m bars from 574 5m bars, 190 added, 1 buckets skipped for gaps" in result.output

    ours = fine_lake.read("BTCUSDT", "15m")
    exchange = coarse_lake.read("BTCUSDT", "15m")
    assert ours["timestamp"].is_sorted() and ours["timestamp"].n_unique() == ours.height
    gap_bucket = hole - hole % FIFTEEN_MS
    # The exchange has 191 closed 15m bars; ours lacks only the bucket with the missing 5m bar.
    assert exchange.height == 191
    assert exchange.filter(pl.col("timestamp") != gap_bucket)["timestamp"].equals(ours["timestamp"])
    same = exchange.filter(pl.col("timestamp") != gap_bucket)
    for column in ("open", "high", "low", "close"):
        assert same[column].equals(ours[column]), column  # prices exactly equal
    np.testing.assert_allclose(ours["volume"].to_numpy(), same["volume"].to_numpy(), rtol=0, atol=1e-7)
    # The still-forming bucket is in neither.
    assert int(ours["timestamp"][-1]) + FIFTEEN_MS <= now_ms


def test_gaps_partial_edges_and_a_whole_missing_bucket_are_counted_never_filled() -> None:
    five = make_candles(60, start_ms=START_MS + FIVE_MS)  # starts inside the 00:00 bucket
    drop = {
        START_MS + 10 * FIVE_MS,
        *(START_MS + k * FIVE_MS for k in (21, 22, 23)),
    }  # one bar; one whole bucket
    five = five.filter(~pl.col("timestamp").is_in(list(drop)))
    result = resample_candles(five, "ETHUSDT", "5m", "15m")
    assert result.partial_first and result.partial_last  # 00:00 has 2 of 3 bars; the last has 1 of 3
    assert result.gap_buckets == 2 and result.skipped_buckets == 1 and result.missing_source_bars == 4
    assert result.first_skipped_ms == START_MS + 9 * FIVE_MS
    stamps = result.frame["timestamp"].to_list()
    assert START_MS + 9 * FIVE_MS not in stamps and START_MS + 21 * FIVE_MS not in stamps
    assert all(t % FIFTEEN_MS == 0 for t in stamps) and len(stamps) == 17
    first = five.filter(pl.col("timestamp").is_between(stamps[0], stamps[0] + FIFTEEN_MS - 1))
    assert result.frame.row(0) == (
        stamps[0], first["open"][0], first["high"].max(), first["low"].min(), first["close"][-1],
        pytest.approx(first["volume"].sum()),
    )  # fmt: skip
    assert result.frame.schema == five.schema


@pytest.mark.parametrize(
    ("source", "target", "message"),
    [
        ("15m", "5m", "5m is finer than 15m: a 15m bar cannot be split"),
        ("7m", "15m", "--from 7m is not a supported timeframe"),
        ("3m", "5m", "5m is not a whole multiple of 3m (1.67 3m bars per 5m bar); pick a target such as 15m"),
        ("5m", "5m", "5m is the timeframe the candles already have"),
        ("1h", "5h", "--to 5h is not a supported timeframe"),
    ],
)
def test_a_target_that_is_not_a_coarser_whole_multiple_is_refused_by_name(
    source: str, target: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        resample_factor(source, target)
    assert str(caught.value).startswith(f"cannot resample {source} to {target}: ")
    assert message in str(caught.value)


def test_the_cli_refuses_a_finer_target_with_exit_code_2(app: typer.Typer, tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "resample", "--from", "15m", "--to", "5m", "--lake", str(tmp_path)])
    assert result.exit_code == 2 and "finer than 15m" in result.output


@pytest.mark.skipif(real_candles_dir() is None, reason="real development candles not on this machine")
def test_real_2018_5m_candles_resample_to_15m_with_their_gaps_skipped() -> None:
    folder = real_candles_dir()
    assert folder is not None
    trx = resample_candles(pl.read_parquet(folder / "TRXBTC.parquet"), "TRXBTC", "5m", "15m")
    # 2018-01-10 04:55 to 2018-01-30 04:50: the 04:45 bucket at each end is incomplete and left out.
    assert trx.partial_first and trx.partial_last
    assert (trx.bars, trx.gap_buckets, trx.skipped_buckets, trx.missing_source_bars) == (1913, 6, 6, 6)
    assert trx.bars + trx.gap_buckets == 1919  # every 15m step from 05:00 to 04:30 accounted for
    ada = resample_candles(pl.read_parquet(folder / "ADABTC.parquet"), "ADABTC", "5m", "15m")
    # 40 missing 5m bars: 4 buckets lose one or two bars, 12 lose all three; none is filled in.
    assert (ada.bars, ada.gap_buckets, ada.skipped_buckets, ada.missing_source_bars) == (1903, 16, 4, 40)
