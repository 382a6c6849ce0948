"""Live Hamilton keeps its coins' funding rates current: a long-running service that only read the lake at start
would hold a day-old rate after a day, and the funding engine would go silent (or trade stale carry)."""

from __future__ import annotations

import polars as pl

from huracan_core.config import CostsConfig
from huracan_core.hamilton.live_feed import FUNDING_CHECK_MS, LiveFeed
from huracan_core.market.ccxt_source import CcxtSource
from huracan_core.market.funding import funding_at_bars
from huracan_core.market.synthetic import SyntheticSource
from huracan_core.timeframe import DAY_MS, timeframe_ms
from tests.stubs.exchange_replay import ReplayMarket, exchange_replay
from tests.stubs.hamilton_world import SimulatedClock

TF = timeframe_ms("15m")
H8 = 8 * 3_600_000
SETTLED = 1_750_000_000_000 // H8 * H8  # a funding settlement
START = SETTLED + 30 * 60_000  # the service starts 30 minutes after it


def _rates(first_ms: int, last_ms: int) -> pl.DataFrame:
    times = list(range(first_ms, last_ms + 1, H8))
    return pl.DataFrame({"timestamp": times, "funding_rate": [1e-4 * (1 + k % 3) for k in range(len(times))]})


def test_the_live_feed_tops_up_funding_from_the_exchange_and_the_new_rate_reaches_the_next_bars() -> None:
    candles = {("BTCUSDT", "15m"): SyntheticSource(7).fetch("BTCUSDT", "15m", START - 3 * DAY_MS, START + DAY_MS)}
    settled = _rates(SETTLED - 3 * DAY_MS, START + DAY_MS)
    at_start = settled.filter(pl.col("timestamp") <= START)  # what the lake held when the service started
    with exchange_replay(
        [ReplayMarket("BTCUSDT", "BTC", "USDT", 1e9)], candles, perpetuals=["BTCUSDT"], funding={"BTCUSDT": settled}
    ) as exchange:
        source = CcxtSource(exchange.binance(), attempts=2, sleep=lambda _s: None)
        clock = SimulatedClock(START)
        feed = LiveFeed(source, ["BTCUSDT"], "15m", clock, cost_config=CostsConfig(), funding={"BTCUSDT": at_start},
                        max_bars=40)  # fmt: skip
        served = list(feed.bars(None))
        asked = [r.params for r in exchange.requests if r.path.endswith("/fundingRate")]
    assert len(served) == 40  # ten hours of bars: one settlement (SETTLED + 8 h) happened meanwhile
    new_rate_ms = SETTLED + H8
    held = feed.funding["BTCUSDT"]
    assert new_rate_ms in held["timestamp"].to_list()
    assert held["timestamp"].to_list() == sorted(set(held["timestamp"].to_list()))
    # Only what is new is asked for (after the newest rate held), and no more than once an hour of wall time.
    assert asked and int(asked[0]["startTime"]) == int(at_start["timestamp"][-1]) + 1
    assert len(asked) <= 40 * TF // FUNDING_CHECK_MS + 1
    # The bar closing right at the settlement carries the new rate; before the top-up it would have carried none
    # a day later (a rate over a day old is null at the join).
    bars = candles[("BTCUSDT", "15m")].filter(pl.col("timestamp") == new_rate_ms - TF)
    joined = funding_at_bars(bars, held, "15m")["funding_rate"].to_list()
    expected = settled.filter(pl.col("timestamp") == new_rate_ms)["funding_rate"].to_list()
    assert joined == expected


def test_a_funding_outage_is_a_warning_and_the_rates_held_stay() -> None:
    candles = {("BTCUSDT", "15m"): SyntheticSource(7).fetch("BTCUSDT", "15m", START - 3 * DAY_MS, START + DAY_MS)}
    at_start = _rates(SETTLED - 3 * DAY_MS, START)
    with exchange_replay([ReplayMarket("BTCUSDT", "BTC", "USDT", 1e9)], candles) as exchange:  # no perpetual
        source = CcxtSource(exchange.binance(), attempts=1, sleep=lambda _s: None)
        feed = LiveFeed(source, ["BTCUSDT"], "15m", SimulatedClock(START), cost_config=CostsConfig(),
                        funding={"BTCUSDT": at_start}, max_bars=8)  # fmt: skip
        assert len(list(feed.bars(None))) == 8  # the bars still come
    assert feed.funding["BTCUSDT"].equals(at_start)
    assert any("funding rates could not be fetched" in e for e in feed.errors)
