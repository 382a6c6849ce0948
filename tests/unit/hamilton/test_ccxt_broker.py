"""CcxtBroker against a real ccxt.binance talking to a local fake of Binance's spot account endpoints."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest

from huracan_core.config import ExchangeCredentials
from huracan_core.exceptions import ConfigError, DataIntegrityError, ExchangeUnavailableError
from huracan_core.hamilton.brokers.base import MarketRules
from huracan_core.hamilton.brokers.ccxt_live import CcxtBroker, build_live_exchange
from huracan_core.hamilton.orders import Fill, OrderIntent, Rejection, client_order_id
from tests.stubs.exchange_account import API_KEY, API_SECRET, START_MS, FakeBinance, fake_binance_account
from tests.stubs.exchange_replay import binance_at, closed_port_url

__all__ = ["fake_binance_account"]  # the fixture, imported so pytest finds it

BAR = 900_000


def intent(
    side: str = "buy",
    quantity: float = 0.01,
    *,
    symbol: str = "BTCUSDT",
    bar_ms: int = START_MS,
    leg: str = "open",
    reference_price: float = 50_000.0,
    target_fraction: float = 0.05,
) -> OrderIntent:
    return OrderIntent(
        client_order_id=client_order_id(symbol, bar_ms, "m1", leg),
        symbol=symbol,
        side=side,  # type: ignore[arg-type]
        quantity=quantity,
        bar_ms=bar_ms,
        model_id="m1",
        leg=leg,  # type: ignore[arg-type]
        reference_price=reference_price,
        target_fraction=target_fraction,
    )


def broker(fake: FakeBinance, journal: list[OrderIntent] | None = None, **kwargs: object) -> CcxtBroker:
    """A live broker over a fresh ccxt.binance (a restart is a new one); retries do not sleep."""
    sink = journal if journal is not None else []
    options = {"attempts": 3, "sleep": lambda _s: None, **kwargs}
    return CcxtBroker(fake.ccxt(), journal_intent=sink.append, **options)  # type: ignore[arg-type]


def test_the_broker_refuses_to_start_without_api_keys(fake_binance_account: FakeBinance) -> None:
    with pytest.raises(ConfigError, match=r"from the environment.*never from the config file"):
        CcxtBroker(fake_binance_account.ccxt(api_key=None, secret=None), journal_intent=lambda _i: None)
    with pytest.raises(ConfigError, match="HURACAN_EXCHANGE_API_KEY"):
        build_live_exchange("binance", ExchangeCredentials())
    built = build_live_exchange("binance", ExchangeCredentials(api_key=API_KEY, api_secret=API_SECRET))
    assert (built.apiKey, built.secret) == (API_KEY, API_SECRET)


def test_market_rules_come_from_the_exchange_markets(fake_binance_account: FakeBinance) -> None:
    live = broker(fake_binance_account)
    assert live.rules("BTCUSDT") == MarketRules("BTCUSDT", 5.0, 0.00001, 0.00001, pytest.approx(10.0))
    assert live.rules("ETHUSDT").quantity_step == 0.0001


def test_a_buy_then_a_sell_fill_at_the_exchange_price_with_the_exchange_fee(
    fake_binance_account: FakeBinance,
) -> None:
    fake, journal = fake_binance_account, []
    live = broker(fake, journal)
    buy = intent("buy", 0.0123456)
    assert live.place(buy) is None
    assert [i.client_order_id for i in journal] == [buy.client_order_id]
    [create] = fake.creates(buy.client_order_id)
    assert (create.params["quantity"], create.params["type"], create.api_key) == (
        "0.01234",
        "MARKET",
        API_KEY,
    )
    [fill] = live.settle("BTCUSDT", bar_ms=START_MS + BAR, open_price=50_010.0)
    assert isinstance(fill, Fill)
    assert (fill.side, fill.quantity, fill.price) == ("buy", 0.01234, 50_000.0)
    assert fill.fee_quote == pytest.approx(0.617, abs=1e-9)  # 10 bps of 617 USDT
    assert fill.exchange_order_id == str(fake.orders_with(buy.client_order_id)[0].order_id)

    fake.prices["BTCUSDT"] = 51_000.0
    fake.now_ms = START_MS + 5 * BAR
    sell = intent("sell", 0.01234, bar_ms=START_MS + 4 * BAR, leg="close", target_fraction=0.0)
    assert live.place(sell) is None
    [fill] = live.settle("BTCUSDT", bar_ms=START_MS + 5 * BAR, open_price=51_000.0)
    assert isinstance(fill, Fill)
    assert (fill.side, fill.quantity, fill.price) == ("sell", 0.01234, 51_000.0)
    assert fill.fee_quote == pytest.approx(0.62934, abs=1e-9)
    assert fill.filled_at_ms == START_MS + 5 * BAR
    snap = live.snapshot()
    assert snap.quote == pytest.approx(10_000 - 617 - 0.617 + 629.34 - 0.62934, abs=1e-6)
    assert snap.positions == {} and snap.open_orders == []
    assert live.pending() == []


def test_a_lost_create_response_never_becomes_a_second_order(fake_binance_account: FakeBinance) -> None:
    fake = fake_binance_account
    live = broker(fake)
    buy = intent("buy", 0.01)
    fake.lose_creates(1)  # executed on the exchange, the answer never arrives
    assert live.place(buy) is None
    assert len(fake.creates(buy.client_order_id)) == 1  # the retry found it instead of sending again
    assert len(fake.orders_with(buy.client_order_id)) == 1
    outcomes = live.settle("BTCUSDT", bar_ms=START_MS + BAR, open_price=50_000.0)
    assert [type(o) for o in outcomes] == [Fill]
    assert fake.balances["BTC"] == pytest.approx(0.01)


def test_a_create_that_times_out_after_executing_is_not_sent_twice(fake_binance_account: FakeBinance) -> None:
    fake = fake_binance_account
    live = broker(fake)
    live.exchange.timeout = 300  # ms
    fake.stall(1, 1.0, only="POST /api/v3/order")
    assert live.place(intent("buy", 0.01)) is None
    assert len(fake.orders) == 1
    assert len(live.settle("BTCUSDT", bar_ms=START_MS + BAR, open_price=50_000.0)) == 1


def test_a_restart_without_state_adopts_the_order_already_on_the_exchange(
    fake_binance_account: FakeBinance,
) -> None:
    # Binance lets a client order id be reused once its order is filled, so the exchange would accept a
    # second order: only the broker's look-up before sending prevents it.
    fake = fake_binance_account
    buy = intent("buy", 0.01)
    assert broker(fake).place(buy) is None
    restarted = broker(fake)
    assert restarted.place(buy) is None
    assert len(fake.creates(buy.client_order_id)) == 1
    assert len(fake.orders_with(buy.client_order_id)) == 1
    assert len(restarted.settle("BTCUSDT", bar_ms=START_MS + BAR, open_price=50_000.0)) == 1


def test_a_duplicate_id_answer_is_resolved_by_looking_the_order_up(fake_binance_account: FakeBinance) -> None:
    fake = fake_binance_account
    fake.hold = True  # the first order stays open, so Binance refuses its id as a duplicate
    buy = intent("buy", 0.01)
    assert broker(fake).place(buy) is None
    restarted = broker(fake)
    fake.lookup_lag(1)  # the restart's first look-up does not see the order yet
    assert restarted.place(buy) is None
    assert len(fake.creates(buy.client_order_id)) == 2  # the second was refused: "Duplicate order sent."
    assert len(fake.orders_with(buy.client_order_id)) == 1
    fake.fill_held()
    assert [type(o) for o in restarted.settle("BTCUSDT", bar_ms=START_MS + BAR, open_price=50_000.0)] == [
        Fill
    ]


def test_a_restart_from_saved_state_settles_each_order_once(fake_binance_account: FakeBinance) -> None:
    fake = fake_binance_account
    first = broker(fake)
    buy = intent("buy", 0.01)
    first.place(buy)
    state = json.loads(json.dumps(first.to_dict()))
    resumed = CcxtBroker.from_dict(state, fake.ccxt(), journal_intent=lambda _i: None, sleep=lambda _s: None)
    assert resumed.pending() == [buy]
    assert resumed.place(buy) is None  # already sent: not sent again
    assert len(fake.creates()) == 1
    assert [type(o) for o in resumed.settle("BTCUSDT", bar_ms=START_MS + BAR, open_price=50_000.0)] == [Fill]
    assert resumed.settle("BTCUSDT", bar_ms=START_MS + 2 * BAR, open_price=50_000.0) == []
    with pytest.raises(DataIntegrityError, match="live"):
        CcxtBroker.from_dict({"mode": "paper", "version": 1}, fake.ccxt(), journal_intent=lambda _i: None)


def test_exchange_refusals_become_rejections_with_the_exchange_reason(
    fake_binance_account: FakeBinance,
) -> None:
    fake = fake_binance_account
    live = broker(fake)
    poor = live.place(intent("buy", 1.0))  # 50,000 USDT with 10,000 in the account
    assert isinstance(poor, Rejection)
    assert "Account has insufficient balance for requested action." in poor.reason
    # The decision assumed 200,000; the exchange fills at 50,000, where 0.00005 BTC is 2.50 USDT.
    small = live.place(intent("buy", 0.00005, leg="resize", reference_price=200_000.0))
    assert isinstance(small, Rejection) and "Filter failure: NOTIONAL" in small.reason
    assert live.pending() == []
    assert live.settle("BTCUSDT", bar_ms=START_MS + BAR, open_price=50_000.0) == []


@pytest.mark.parametrize(
    ("quantity", "words"),
    [(0.000004, "lot size 1e-05 is zero"), (0.00009, "notional 4.50 below the market's minimum 5")],
)
def test_orders_below_the_market_limits_are_refused_before_anything_is_sent(
    fake_binance_account: FakeBinance, quantity: float, words: str
) -> None:
    journal: list[OrderIntent] = []
    refused = broker(fake_binance_account, journal).place(intent("buy", quantity))
    assert isinstance(refused, Rejection) and words in refused.reason
    assert fake_binance_account.creates() == [] and journal == []


def test_a_short_on_spot_is_refused_with_its_reason_and_nothing_is_sent(
    fake_binance_account: FakeBinance,
) -> None:
    fake, journal = fake_binance_account, []
    live = broker(fake, journal)
    short = live.place(intent("sell", 0.01, target_fraction=-0.05))
    assert isinstance(short, Rejection)
    assert short.reason.startswith("spot account cannot sell short; the target position -0.0500")
    beyond = live.place(intent("sell", 0.01, leg="close", target_fraction=0.0))  # no BTC held
    assert isinstance(beyond, Rejection)
    assert beyond.reason.startswith("spot account cannot sell short; selling 0.01 BTCUSDT")
    assert fake.creates() == [] and journal == []


def test_a_failing_journal_means_no_order_is_sent(fake_binance_account: FakeBinance) -> None:
    def journal(_intent: OrderIntent) -> None:
        raise OSError("disk full")

    live = CcxtBroker(fake_binance_account.ccxt(), journal_intent=journal, sleep=lambda _s: None)
    with pytest.raises(OSError, match="disk full"):
        live.place(intent("buy", 0.01))
    assert fake_binance_account.creates() == []
    assert live.pending() == []


def test_an_order_still_open_at_settle_is_cancelled_and_reported_not_filled(
    fake_binance_account: FakeBinance,
) -> None:
    fake = fake_binance_account
    fake.hold = True
    live = broker(fake)
    live.place(intent("buy", 0.01))
    assert fake.locked["USDT"] == pytest.approx(500.0)
    [outcome] = live.settle("BTCUSDT", bar_ms=START_MS + BAR, open_price=50_000.0)
    assert isinstance(outcome, Rejection)
    assert outcome.reason == "not filled by 2024-03-01 00:15 UTC; cancelled (nothing executed)"
    assert fake.orders[0].status == "CANCELED"
    assert fake.balances["USDT"] == pytest.approx(10_000.0) and fake.locked["USDT"] == 0


def test_an_order_the_exchange_forgot_after_placing_it_is_an_error(fake_binance_account: FakeBinance) -> None:
    fake = fake_binance_account
    live = broker(fake)
    live.place(intent("buy", 0.01))
    fake.orders.clear()
    with pytest.raises(DataIntegrityError, match="no longer knows it"):
        live.settle("BTCUSDT", bar_ms=START_MS + BAR, open_price=50_000.0)
    assert len(live.pending()) == 1  # nothing forgotten: the next settle asks again


def test_an_unanswered_placement_is_remembered_and_settled_from_the_exchange(
    fake_binance_account: FakeBinance,
) -> None:
    fake = fake_binance_account
    live = broker(fake)
    live.rules("BTCUSDT")  # markets loaded while the exchange was up
    fake.fail(503, times=3)  # every attempt (its look-up) fails: nothing reaches the order book
    with pytest.raises(ExchangeUnavailableError, match="may exist, settle will look it up"):
        live.place(intent("buy", 0.01))
    assert len(live.pending()) == 1
    [outcome] = live.settle("BTCUSDT", bar_ms=START_MS + BAR, open_price=50_000.0)
    assert isinstance(outcome, Rejection) and "it was never placed" in outcome.reason

    fake.lose_creates(1)
    live2 = broker(fake, attempts=1)  # the lost answer is the last attempt: the order does exist
    other = intent("buy", 0.01, bar_ms=START_MS + BAR)
    with pytest.raises(ExchangeUnavailableError):
        live2.place(other)
    assert [type(o) for o in live2.settle("BTCUSDT", bar_ms=START_MS + 2 * BAR, open_price=50_000.0)] == [
        Fill
    ]


def test_fees_paid_in_the_base_asset_are_converted_at_the_fill_price(
    fake_binance_account: FakeBinance,
) -> None:
    fake = fake_binance_account
    fake.commission = "received"  # Binance without BNB: a buy pays its fee in BTC
    live = broker(fake)
    live.place(intent("buy", 0.01))
    [fill] = live.settle("BTCUSDT", bar_ms=START_MS + BAR, open_price=50_000.0)
    assert isinstance(fill, Fill)
    assert fill.fee_quote == pytest.approx(0.5, abs=1e-9)  # 0.00001 BTC at 50,000
    assert live.snapshot().positions == {"BTCUSDT": pytest.approx(0.00999)}


def test_the_snapshot_reports_balances_positions_and_every_open_order(
    fake_binance_account: FakeBinance,
) -> None:
    fake = fake_binance_account
    fake.balances.update({"ETH": 0.5, "BTC": 0.02})
    fake.place_by_hand("ETHUSDT", "SELL", 0.1, client_order_id="web_abc")
    snap = broker(fake).snapshot()
    assert snap.quote == pytest.approx(10_000.0)
    assert snap.positions == {"BTCUSDT": pytest.approx(0.02), "ETHUSDT": pytest.approx(0.5)}  # free + locked
    [order] = snap.open_orders
    assert (order["client_order_id"], order["symbol"], order["side"], order["quantity"]) == (
        "web_abc", "ETHUSDT", "sell", 0.1,
    )  # fmt: skip


@pytest.mark.parametrize("failure", ["all", "open_orders", "closed_port"])
def test_an_exchange_that_does_not_answer_raises_instead_of_an_empty_snapshot(
    fake_binance_account: FakeBinance, failure: str
) -> None:
    fake = fake_binance_account
    live = broker(fake)
    live.rules("BTCUSDT")  # markets loaded while the exchange was up
    if failure == "all":
        fake.fail(503)
    elif failure == "open_orders":
        fake.fail(503, times=None)
        original = fake.handle

        def only_open_orders(method: str, path: str, params: dict[str, str], key: str | None) -> object:
            if path == "/api/v3/account":
                saved, fake.fail_status = fake.fail_status, None
                try:
                    return original(method, path, params, key)
                finally:
                    fake.fail_status = saved
            return original(method, path, params, key)

        fake.handle = only_open_orders  # type: ignore[method-assign]
    else:
        dead = binance_at(closed_port_url(), api_key=API_KEY, secret=API_SECRET)
        dead.markets = live.exchange.markets
        live = CcxtBroker(dead, journal_intent=lambda _i: None, attempts=2, sleep=lambda _s: None)
    with pytest.raises(ExchangeUnavailableError, match="unreachable"):
        live.snapshot()


def test_no_key_or_secret_reaches_the_logs_even_on_errors(
    fake_binance_account: FakeBinance, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake = fake_binance_account
    live = broker(fake)
    errors: list[str] = []

    def attempt(fn: Callable[[], object]) -> None:
        try:
            fn()
        except Exception as exc:  # the text of every error is checked below
            errors.append(repr(exc) + str(exc.__cause__))

    attempt(lambda: live.place(intent("buy", 0.01)))
    fake.lose_creates(1)
    attempt(lambda: live.place(intent("buy", 0.01, leg="resize")))
    attempt(lambda: live.place(intent("buy", 5.0, leg="close")))  # insufficient balance
    fake.api_key = "another key"  # the exchange now refuses ours
    attempt(lambda: live.snapshot())
    fake.api_key = API_KEY
    fake.fail(503)
    attempt(lambda: live.snapshot())
    attempt(lambda: live.settle("BTCUSDT", bar_ms=START_MS + BAR, open_price=50_000.0))
    assert len(errors) == 3
    # ccxt did log its requests (headers included), so the masking was exercised, not bypassed.
    assert "X-MBX-APIKEY" in caplog.text and "***" in caplog.text
    for secret in (API_KEY, API_SECRET):
        assert secret not in caplog.text
        assert all(secret not in e for e in errors)
