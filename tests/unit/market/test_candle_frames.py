"""Candle frames and symbol spelling: what every source hands over, and BTCUSDT <-> BTC/USDT."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from huracan_core.config import load_config
from huracan_core.exceptions import DataIntegrityError, UnknownSymbolError
from huracan_core.market import (
    CANDLE_COLUMNS,
    LakeSource,
    SyntheticSource,
    candles_from_rows,
    from_ccxt,
    normalise_candles,
    open_source,
    split_symbol,
    to_ccxt,
    validate_candles,
)
from huracan_core.market.ccxt_source import CcxtSource
from huracan_core.market.symbols import is_leveraged_token, is_stable_pair


def test_ccxt_rows_become_a_sorted_unique_candle_frame() -> None:
    rows = [[2000, 2, 3, 1, 2.5, 10], [1000, 1, 2, 0.5, 1.5, 5], [2000, 2, 3, 1, 2.6, 11]]
    frame = candles_from_rows(rows, "BTCUSDT")
    assert tuple(frame.columns) == CANDLE_COLUMNS
    assert frame["timestamp"].to_list() == [1000, 2000]
    assert frame["close"].to_list() == [1.5, 2.6]  # the later row wins
    validate_candles(frame, "BTCUSDT")


def test_a_datetime_timestamp_is_normalised_to_epoch_ms_utc() -> None:
    frame = pl.DataFrame(
        {
            "timestamp": [datetime(2024, 1, 1, tzinfo=UTC)],
            "open": [1],
            "high": [2],
            "low": [1],
            "close": [2],
            "volume": [3],
            "extra": ["x"],
        }
    )
    out = normalise_candles(frame, "BTCUSDT")
    assert out["timestamp"].to_list() == [1_704_067_200_000]
    assert out.schema["open"] == pl.Float64 and "extra" not in out.columns


def test_validation_names_the_symbol_and_the_missing_column() -> None:
    with pytest.raises(DataIntegrityError, match=r"ETHUSDT: candles lack column\(s\) volume"):
        validate_candles(
            pl.DataFrame({"timestamp": [1], "open": [1.0], "high": [1.0], "low": [1.0], "close": [1.0]}),
            "ETHUSDT",
        )


def test_symbols_convert_between_user_and_ccxt_spelling() -> None:
    assert to_ccxt("BTCUSDT") == "BTC/USDT"
    assert to_ccxt("ETHBTC") == "ETH/BTC"
    assert to_ccxt("SOLFDUSD") == "SOL/FDUSD"
    assert from_ccxt("BTC/USDT") == "BTCUSDT"
    assert from_ccxt("BTC/USDT:USDT") == "BTCUSDT"
    assert split_symbol("DOGEUSDC") == ("DOGE", "USDC")
    markets = {"1000SATS/USDT": {"spot": True, "base": "1000SATS", "quote": "USDT"}}
    assert to_ccxt("1000SATSUSDT", markets) == "1000SATS/USDT"
    with pytest.raises(UnknownSymbolError, match="1000SATUSDT"):
        to_ccxt("1000SATUSDT", markets)


def test_leveraged_tokens_and_stablecoin_pairs_are_recognised() -> None:
    assert is_leveraged_token("BTCUPUSDT") and is_leveraged_token("ETHDOWNUSDT")
    assert not is_leveraged_token("JUPUSDT") and not is_leveraged_token("BTCUSDT")
    assert is_stable_pair("USDCUSDT") and is_stable_pair("FDUSDUSDT")
    assert not is_stable_pair("ETHUSDT")


def test_open_source_gives_exactly_the_source_the_config_names(tmp_path: object) -> None:
    assert isinstance(
        open_source(load_config(overrides={"data.source": "synthetic"}, env={})), SyntheticSource
    )
    lake = open_source(load_config(overrides={"data.source": "lake", "data.lake_dir": str(tmp_path)}, env={}))
    assert isinstance(lake, LakeSource) and lake.storage.root == str(tmp_path)
    ccxt_source = open_source(load_config(overrides={"data.source": "ccxt", "data.exchange": "okx"}, env={}))
    assert isinstance(ccxt_source, CcxtSource) and ccxt_source.exchange_id == "okx"
