"""The universe: lists validated, topN ranked by traded value on each source, symbol files read."""

from __future__ import annotations

from pathlib import Path

import pytest

from huracan_core.exceptions import ConfigError, UnknownSymbolError
from huracan_core.market.ccxt_source import CcxtSource
from huracan_core.market.lake import LakeSource
from huracan_core.market.synthetic import COINS, SyntheticSource
from huracan_core.market.universe import resolve_universe
from tests.stubs.candles import START_MS, make_candles
from tests.stubs.exchange_replay import binance_at, closed_port_url


def test_top_n_on_the_synthetic_market_follows_its_volume_order() -> None:
    market = SyntheticSource(seed=7)
    assert resolve_universe("top20", market, "15m") == [c.symbol for c in COINS[:20]]
    assert resolve_universe("top3", market, "15m") == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]


def test_top_n_on_the_exchange_ranks_24h_quote_volume_without_leveraged_or_stable_pairs(
    source: CcxtSource,
) -> None:
    # The replay's BTCUPUSDT and USDCUSDT trade the most, and ETHBTC is not a USDT pair.
    assert resolve_universe("top4", source, "5m") == ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]
    assert resolve_universe("top10", source, "5m") == ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "JUPUSDT"]


def test_top_n_in_the_lake_ranks_the_last_seven_days_of_quote_volume(lake: LakeSource) -> None:
    lake.write("BTCUSDT", "5m", make_candles(3000, price=100.0, volume=50.0))
    lake.write("ETHUSDT", "5m", make_candles(3000, price=100.0, volume=500.0))
    # Busy long ago, quiet in the last week: ranked by recent activity.
    old_busy = make_candles(5000, price=100.0, volume=1e6)
    lake.write(
        "SOLUSDT",
        "5m",
        old_busy.head(2900).vstack(
            make_candles(2100, price=100.0, volume=1.0, start_ms=int(old_busy["timestamp"][2900]))
        ),
    )
    lake.write("USDCUSDT", "5m", make_candles(3000, price=1.0, volume=1e9))
    assert resolve_universe("top2", lake, "5m") == ["ETHUSDT", "BTCUSDT"]
    assert resolve_universe("top5", lake, "5m") == ["ETHUSDT", "BTCUSDT", "SOLUSDT"]


def test_top_n_falls_back_to_the_lake_only_when_the_exchange_is_unreachable(lake: LakeSource) -> None:
    lake.write("XRPUSDT", "5m", make_candles(100))
    dead = CcxtSource(binance_at(closed_port_url()), attempts=1, sleep=lambda _s: None)
    assert resolve_universe("top5", dead, "5m", lake=lake) == ["XRPUSDT"]


def test_an_explicit_list_passes_through_in_order_and_unknown_symbols_are_named() -> None:
    market = SyntheticSource()
    assert resolve_universe(["ETHUSDT", "BTCUSDT"], market, "15m") == ["ETHUSDT", "BTCUSDT"]
    assert resolve_universe("sol/usdt,BTCUSDT", market, "15m") == ["SOLUSDT", "BTCUSDT"]
    with pytest.raises(UnknownSymbolError, match=r"unknown symbol SOLUSTD .*SOLUSDT"):
        resolve_universe(["BTCUSDT", "SOLUSTD"], market, "15m")


def test_an_explicit_list_is_checked_against_the_exchange(source: CcxtSource) -> None:
    assert resolve_universe(["JUPUSDT"], source, "5m") == ["JUPUSDT"]
    with pytest.raises(UnknownSymbolError, match="DOGEUSDT"):
        resolve_universe(["DOGEUSDT"], source, "5m")


def test_a_symbol_file_lists_one_a_line_with_comments(tmp_path: Path) -> None:
    path = tmp_path / "coins.txt"
    path.write_text("# majors\nBTCUSDT\n\nethusdt   # second\nBTCUSDT\n")
    assert resolve_universe(f"file:{path}", SyntheticSource(), "15m") == ["BTCUSDT", "ETHUSDT"]
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_universe(f"file:{tmp_path / 'none.txt'}", SyntheticSource(), "15m")
    bad = tmp_path / "bad.txt"
    bad.write_text("BTCUSDT\nnot a symbol!\n")
    with pytest.raises(ConfigError, match="line 2"):
        resolve_universe(f"file:{bad}", SyntheticSource(), "15m")


def test_a_coin_listed_two_days_ago_is_ranked_by_its_traded_value_per_day_not_penalised(
    lake: LakeSource,
) -> None:
    day = 288
    lake.write("OLDUSDT", "5m", make_candles(10 * day, price=100.0, volume=100.0))
    # Listed two days before the others' last bar, trading 1.5x as much per bar.
    lake.write(
        "NEWUSDT",
        "5m",
        make_candles(2 * day, start_ms=START_MS + 8 * day * 300_000, price=100.0, volume=150.0),
    )
    volumes = lake.quote_volumes(["OLDUSDT", "NEWUSDT"])
    assert volumes["NEWUSDT"] / volumes["OLDUSDT"] == pytest.approx(1.5, rel=0.1)
    assert resolve_universe("top1", lake, "5m") == ["NEWUSDT"]


def test_a_past_as_of_ranks_the_lake_by_the_volume_before_it_never_after(lake: LakeSource) -> None:
    day = 288  # 5m bars
    # BUSY trades a lot in its first ten days, then little; LATER the other way round; NEWER lists on day 15.
    busy_then_quiet = make_candles(10 * day, price=100.0, volume=1_000.0).vstack(
        make_candles(10 * day, start_ms=START_MS + 10 * day * 300_000, price=100.0, volume=1.0)
    )
    lake.write("BUSYUSDT", "5m", busy_then_quiet)
    lake.write("LATERUSDT", "5m", make_candles(20 * day, price=100.0, volume=10.0))
    lake.write("NEWERUSDT", "5m", make_candles(5 * day, start_ms=START_MS + 15 * day * 300_000, price=100.0,
                                               volume=1e6))  # fmt: skip
    day_ten = START_MS + 10 * day * 300_000
    assert resolve_universe("top1", lake, "5m") == ["NEWERUSDT"]  # now
    assert resolve_universe("top1", lake, "5m", as_of_ms=day_ten) == ["BUSYUSDT"]  # as it was on day ten
    # NEWER did not exist on day ten: it cannot be picked, even to fill a topN larger than what was listed.
    assert resolve_universe("top3", lake, "5m", as_of_ms=day_ten) == ["BUSYUSDT", "LATERUSDT"]
    # The bar that opened 5 minutes before the as-of closed at it: known then, and counted.
    first_close = START_MS + 300_000
    assert lake.quote_volumes(["BUSYUSDT"], as_of_ms=first_close)["BUSYUSDT"] > 0
    assert lake.quote_volumes(["BUSYUSDT"], as_of_ms=first_close - 1)["BUSYUSDT"] == 0.0


def test_the_exchange_refuses_to_rank_a_past_as_of_by_todays_tickers(source: CcxtSource) -> None:
    long_ago = 1_600_000_000_000  # 2020-09-13
    with pytest.raises(ConfigError, match="cannot be ranked from the exchange's 24h tickers"):
        resolve_universe("top4", source, "5m", as_of_ms=long_ago)
