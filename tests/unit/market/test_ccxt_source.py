"""CcxtSource against a real ccxt.binance talking to a local replay of Binance's REST API."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from huracan_core.archive import paths
from huracan_core.exceptions import ExchangeUnavailableError, UnknownSymbolError
from huracan_core.market.ccxt_source import CcxtSource
from huracan_core.market.lake import LakeSource
from huracan_core.timeframe import DAY_MS
from tests.stubs.exchange_replay import ExchangeReplay, binance_at, closed_port_url

FIVE_MIN = 300_000


def test_fetch_pages_through_more_than_one_response_and_returns_every_bar_once(
    source: CcxtSource, replay: ExchangeReplay, fixture_candles: dict[tuple[str, str], pl.DataFrame]
) -> None:
    expected = fixture_candles[("BTCUSDT", "5m")]
    start, end = int(expected["timestamp"][0]), int(expected["timestamp"][-1]) + FIVE_MIN
    got = source.fetch("BTCUSDT", "5m", start, end)
    assert got.height == expected.height > 2000
    assert got["timestamp"].to_list() == expected["timestamp"].to_list()
    assert got["close"].to_list() == pytest.approx(expected["close"].to_list(), rel=1e-7)
    pages = replay.kline_requests("BTCUSDT")
    assert len(pages) == 3  # 2304 bars: 1000 + 1000 + 304
    starts = [int(p.params["startTime"]) for p in pages]
    assert starts == [start, start + 1000 * FIVE_MIN, start + 2000 * FIVE_MIN]


def test_fetch_keeps_bars_inside_the_half_open_range(
    source: CcxtSource, fixture_candles: dict[tuple[str, str], pl.DataFrame]
) -> None:
    first = int(fixture_candles[("ETHUSDT", "5m")]["timestamp"][0])
    got = source.fetch("ETHUSDT", "5m", first + 10 * FIVE_MIN, first + 20 * FIVE_MIN)
    assert got["timestamp"].to_list() == [first + i * FIVE_MIN for i in range(10, 20)]


def test_the_still_open_candle_is_dropped(
    source: CcxtSource, fixture_candles: dict[tuple[str, str], pl.DataFrame]
) -> None:
    frame = fixture_candles[("SOLUSDT", "5m")]
    last = int(frame["timestamp"][-1])
    # Two minutes into the last bar: the exchange serves it, but its close is not final yet.
    got = source.fetch("SOLUSDT", "5m", last - 5 * FIVE_MIN, last + 10 * FIVE_MIN, now_ms=last + 120_000)
    assert got["timestamp"].to_list() == [last - i * FIVE_MIN for i in range(5, 0, -1)]


def test_unknown_symbol_is_named_with_close_matches(source: CcxtSource) -> None:
    with pytest.raises(UnknownSymbolError, match=r"BTCUSDX.*BTCUSDT"):
        source.fetch("BTCUSDX", "5m", 0, FIVE_MIN)


def test_fill_lake_on_an_empty_lake_stores_the_asked_days_of_closed_bars(
    source: CcxtSource, lake: LakeSource, fixture_candles: dict[tuple[str, str], pl.DataFrame]
) -> None:
    frame = fixture_candles[("BTCUSDT", "5m")]
    now_ms = int(frame["timestamp"][-1]) + 60_000  # the last served bar is still open
    added = source.fill_lake(lake, ["BTCUSDT"], "5m", 2, now_ms)
    stored = lake.read("BTCUSDT", "5m")
    assert added == {"BTCUSDT": 2 * 288}
    assert stored.height == 2 * 288
    assert int(stored["timestamp"][-1]) == int(frame["timestamp"][-2])


def test_fill_lake_fetches_only_bars_after_the_lakes_last_bar(
    source: CcxtSource,
    replay: ExchangeReplay,
    lake: LakeSource,
    fixture_candles: dict[tuple[str, str], pl.DataFrame],
) -> None:
    frame = fixture_candles[("ETHUSDT", "5m")]
    lake.write("ETHUSDT", "5m", frame.head(2000))
    last_stored = int(frame["timestamp"][1999])
    now_ms = int(frame["timestamp"][-1]) + FIVE_MIN
    added = source.fill_lake(lake, ["ETHUSDT"], "5m", 3, now_ms)
    assert added == {"ETHUSDT": frame.height - 2000}
    pages = replay.kline_requests("ETHUSDT")
    assert [int(p.params["startTime"]) for p in pages] == [last_stored + FIVE_MIN]
    assert lake.read("ETHUSDT", "5m")["timestamp"].to_list() == frame["timestamp"].to_list()
    # Nothing new on the exchange: a second fill asks nothing.
    replay.requests.clear()
    assert source.fill_lake(lake, ["ETHUSDT"], "5m", 3, now_ms) == {"ETHUSDT": 0}
    assert replay.kline_requests() == []


def test_transient_503s_are_retried_and_the_fetch_succeeds(
    source: CcxtSource, replay: ExchangeReplay, fixture_candles: dict[tuple[str, str], pl.DataFrame]
) -> None:
    first = int(fixture_candles[("BTCUSDT", "5m")]["timestamp"][0])
    source.ccxt_symbol("BTCUSDT")  # markets loaded before the outage
    replay.fail(503, times=2)
    got = source.fetch("BTCUSDT", "5m", first, first + 10 * FIVE_MIN)
    assert got.height == 10
    assert len(replay.kline_requests("BTCUSDT")) == 3


def test_a_persistent_503_gives_exchange_unavailable_and_leaves_the_lake_byte_identical(
    source: CcxtSource,
    replay: ExchangeReplay,
    lake: LakeSource,
    fixture_candles: dict[tuple[str, str], pl.DataFrame],
) -> None:
    frame = fixture_candles[("BTCUSDT", "5m")]
    lake.write("BTCUSDT", "5m", frame.head(100))
    path = Path(lake.storage.root) / paths.lake_candles("5m", "BTCUSDT")
    before = path.read_bytes()
    source.ccxt_symbol("BTCUSDT")
    replay.fail(503)
    with pytest.raises(ExchangeUnavailableError, match=r"exchange binance unreachable.*after 3 attempts"):
        source.fill_lake(lake, ["BTCUSDT", "ETHUSDT"], "5m", 5, int(frame["timestamp"][-1]))
    assert path.read_bytes() == before
    assert lake.symbols("5m") == ["BTCUSDT"]  # nothing else written, synthetic or otherwise
    assert len(replay.kline_requests()) == 3


def test_a_closed_port_gives_exchange_unavailable_naming_the_exchange(lake: LakeSource) -> None:
    dead = CcxtSource(binance_at(closed_port_url()), attempts=2, sleep=lambda _s: None)
    with pytest.raises(ExchangeUnavailableError, match="binance unreachable while loading markets"):
        dead.fill_lake(lake, ["BTCUSDT"], "5m", 1, 1_709_251_200_000 + DAY_MS)
    assert lake.symbols("5m") == []


def test_the_exchange_can_be_named_by_id_from_config() -> None:
    source = CcxtSource("kraken")
    assert source.exchange_id == "kraken"
    assert source.exchange.enableRateLimit is True


def test_a_symbol_the_exchange_rejects_after_loading_markets_is_unknown_not_retried(
    source: CcxtSource, replay: ExchangeReplay
) -> None:
    source.ccxt_symbol("SOLUSDT")
    replay.markets = [
        m for m in replay.markets if m.symbol != "SOLUSDT"
    ]  # delisted since markets were loaded
    with pytest.raises(UnknownSymbolError, match=r"binance does not know the symbol.*SOLUSDT"):
        source.fetch("SOLUSDT", "5m", 1_709_251_200_000, 1_709_251_200_000 + DAY_MS)
    assert len(replay.kline_requests("SOLUSDT")) == 1
