"""Reconciliation: the journal against the account, on plain data and on a fake Binance through ccxt."""

from __future__ import annotations

import pytest

from huracan_core.exceptions import ExchangeUnavailableError
from huracan_core.hamilton.brokers.base import AccountSnapshot
from huracan_core.hamilton.brokers.ccxt_live import CcxtBroker
from huracan_core.hamilton.brokers.paper import PaperBroker
from huracan_core.hamilton.orders import Fill, OrderIntent, client_order_id
from huracan_core.hamilton.reconcile import ExpectedAccount, Tolerance, reconcile
from tests.stubs.exchange_account import START_MS, FakeBinance, fake_binance_account

__all__ = ["fake_binance_account"]  # the fixture, imported so pytest finds it

BAR = 900_000


def intent(
    side: str = "buy", quantity: float = 0.01, *, bar_ms: int = START_MS, leg: str = "open"
) -> OrderIntent:
    return OrderIntent(
        client_order_id=client_order_id("BTCUSDT", bar_ms, "m1", leg),
        symbol="BTCUSDT",
        side=side,  # type: ignore[arg-type]
        quantity=quantity,
        bar_ms=bar_ms,
        model_id="m1",
        leg=leg,  # type: ignore[arg-type]
        reference_price=50_000.0,
        target_fraction=0.05,
    )


def live(fake: FakeBinance, journal: list[OrderIntent], **kwargs: object) -> CcxtBroker:
    options = {"attempts": 3, "sleep": lambda _s: None, **kwargs}
    return CcxtBroker(fake.ccxt(), journal_intent=journal.append, **options)  # type: ignore[arg-type]


def expected_after(
    fills: list[Fill], *, wallet: float = 10_000.0, open_ids: tuple[str, ...] = ()
) -> ExpectedAccount:
    """What a journal holding these fills says the account is."""
    quote, positions = wallet, {}
    for f in fills:
        sign = 1.0 if f.side == "buy" else -1.0
        quote -= sign * f.quantity * f.price + f.fee_quote
        positions[f.symbol] = positions.get(f.symbol, 0.0) + sign * f.quantity
    return ExpectedAccount(
        quote=quote,
        positions={s: q for s, q in positions.items() if q},
        open_order_ids=open_ids,
        journaled_fill_ids=[f.client_order_id for f in fills],
    )


# --- plain data ------------------------------------------------------------------------------------
def test_equal_accounts_within_the_tolerance_have_no_differences() -> None:
    expected = ExpectedAccount(quote=1_000.0, positions={"BTCUSDT": 0.01}, open_order_ids=["a"])
    actual = AccountSnapshot(
        quote=1_000.004,  # fee rounding
        positions={"BTCUSDT": 0.010000004},
        open_orders=[{"client_order_id": "a", "symbol": "BTCUSDT"}],
    )
    assert reconcile(expected, actual) == []


def test_each_kind_of_difference_is_listed_in_words_with_both_sides() -> None:
    expected = ExpectedAccount(quote=1_000.0, positions={"BTCUSDT": 0.01}, open_order_ids=["mine"])
    actual = AccountSnapshot(
        quote=990.0,
        positions={"BTCUSDT": 0.02, "ETHUSDT": 0.5},
        open_orders=[{"client_order_id": "web_1", "symbol": "ETHUSDT", "side": "sell", "quantity": 0.1}],
    )
    fill = Fill("hm1", "BTCUSDT", "buy", 0.01, 50_000.0, 0.5, START_MS)
    diffs = reconcile(expected, actual, recent_fills=[fill])
    by_kind = {d.kind: d for d in diffs}
    assert sorted(by_kind) == sorted(
        ["quote_balance", "position", "unknown_open_order", "missing_open_order", "unjournaled_fill"]
    )
    positions = [(d.subject, d.expected, d.actual) for d in diffs if d.kind == "position"]
    assert positions == [("BTCUSDT", 0.01, 0.02), ("ETHUSDT", 0.0, 0.5)]
    assert (
        by_kind["quote_balance"].message == "USDT balance is 990 on the account but 1000 in the journal (-10)"
    )
    assert (
        "open order web_1 on the account (sell 0.1 ETHUSDT) is not in the journal"
        in by_kind["unknown_open_order"].message
    )
    assert by_kind["missing_open_order"].subject == "mine"
    assert by_kind["unjournaled_fill"].actual == fill.to_dict()
    assert all(isinstance(d.to_dict()["message"], str) for d in diffs)


def test_dust_below_the_lot_size_can_be_tolerated_per_symbol_and_other_coins_ignored() -> None:
    expected = ExpectedAccount(quote=500.0, positions={})
    actual = AccountSnapshot(quote=500.0, positions={"BTCUSDT": 0.000004, "BNBUSDT": 0.02})
    assert [d.subject for d in reconcile(expected, actual, symbols=["BTCUSDT"])] == ["BTCUSDT"]
    tolerant = Tolerance(dust={"BTCUSDT": 0.00001})
    assert reconcile(expected, actual, tolerance=tolerant, symbols=["BTCUSDT"]) == []


def test_a_paper_book_reconciles_with_the_journal_of_its_own_fills() -> None:
    paper = PaperBroker(10_000.0)
    paper.place(intent("buy", 0.1))
    fills = [
        f for f in paper.settle("BTCUSDT", bar_ms=START_MS + BAR, open_price=50_000.0) if isinstance(f, Fill)
    ]
    assert reconcile(expected_after(fills), paper.snapshot()) == []


# --- against the fake exchange --------------------------------------------------------------------
def test_a_clean_live_account_has_no_differences(fake_binance_account: FakeBinance) -> None:
    journal: list[OrderIntent] = []
    broker = live(fake_binance_account, journal)
    broker.place(intent("buy", 0.01))
    fills = [
        f for f in broker.settle("BTCUSDT", bar_ms=START_MS + BAR, open_price=50_000.0) if isinstance(f, Fill)
    ]
    assert reconcile(expected_after(fills), broker.snapshot()) == []


def test_an_order_placed_by_hand_on_the_exchange_is_listed(fake_binance_account: FakeBinance) -> None:
    fake = fake_binance_account
    fake.place_by_hand("BTCUSDT", "BUY", 0.001, client_order_id="web_by_hand_7")
    diffs = reconcile(expected_after([]), live(fake, []).snapshot())
    unknown = [d for d in diffs if d.kind == "unknown_open_order"]
    assert [d.subject for d in unknown] == ["web_by_hand_7"]
    # Its reserved 50 USDT is 'used', still part of the quote balance: no balance difference yet.
    assert [d.kind for d in diffs] == ["unknown_open_order"]


def test_a_journaled_open_order_the_exchange_does_not_have_is_listed(
    fake_binance_account: FakeBinance,
) -> None:
    diffs = reconcile(expected_after([], open_ids=("hm-gone",)), live(fake_binance_account, []).snapshot())
    assert [(d.kind, d.subject) for d in diffs] == [("missing_open_order", "hm-gone")]


def test_a_lost_create_response_then_a_restart_lists_the_unjournaled_fill(
    fake_binance_account: FakeBinance,
) -> None:
    fake = fake_binance_account
    journal: list[OrderIntent] = []
    buy = intent("buy", 0.01)
    fake.lose_creates(1)
    # The order is executed, its answer lost, and the process dies before any retry.
    with pytest.raises(ExchangeUnavailableError):
        live(fake, journal, attempts=1).place(buy)
    assert [i.client_order_id for i in journal] == [buy.client_order_id]  # the intent was journaled first
    restarted = live(fake, [])
    unsettled = [i.client_order_id for i in journal]  # journaled intents without an outcome
    found = restarted.fills_for("BTCUSDT", [*unsettled, "hm-never-sent"])
    assert [(f.client_order_id, f.quantity, f.price) for f in found] == [
        (buy.client_order_id, 0.01, 50_000.0)
    ]
    diffs = reconcile(expected_after([]), restarted.snapshot(), recent_fills=found)
    assert {d.kind for d in diffs} == {"unjournaled_fill", "quote_balance", "position"}
    [missing] = [d for d in diffs if d.kind == "unjournaled_fill"]
    assert missing.subject == buy.client_order_id
    # Once the journal records that fill, the account and the journal agree again.
    assert reconcile(expected_after(found), restarted.snapshot(), recent_fills=found) == []
    assert len(fake.orders) == 1


def test_an_exchange_that_does_not_answer_raises_never_an_empty_list(
    fake_binance_account: FakeBinance,
) -> None:
    fake = fake_binance_account
    broker = live(fake, [])
    broker.rules("BTCUSDT")
    fake.fail(503)
    with pytest.raises(ExchangeUnavailableError):
        reconcile(expected_after([]), broker.snapshot())
    with pytest.raises(ExchangeUnavailableError):
        broker.fills_for("BTCUSDT", ["hm-anything"])
