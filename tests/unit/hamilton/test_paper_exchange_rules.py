"""On the live clock the paper book knows the exchange's lot sizes and minimums, and skips what it refuses."""

from __future__ import annotations

from huracan_core.hamilton.brokers.paper import PaperBroker
from huracan_core.hamilton.orders import OrderIntent
from huracan_core.hamilton.run import _exchange_rules
from huracan_core.market.ccxt_source import CcxtSource
from tests.stubs.exchange_account import fake_binance


def test_paper_orders_below_the_exchanges_minimum_notional_are_skipped_with_the_reason() -> None:
    with fake_binance() as fake:
        rules = _exchange_rules(CcxtSource(fake.ccxt(), attempts=1, sleep=lambda _s: None), ["BTCUSDT"])
    assert rules["BTCUSDT"].min_notional == 5.0 and rules["BTCUSDT"].quantity_step == 0.00001
    book = PaperBroker(10_000.0, rules=rules)
    tiny = OrderIntent("hm-a", "BTCUSDT", "buy", 0.00005, 1_000, "m", "open", 50_000.0, 0.05)
    refused = book.place(tiny)
    assert refused is not None and "notional" in refused.reason
    assert book.place(OrderIntent("hm-b", "BTCUSDT", "buy", 0.001234567, 1_000, "m", "open", 50_000.0, 0.5)) is None
    fill = book.settle("BTCUSDT", bar_ms=2_000, open_price=50_000.0)[0]
    assert fill.quantity == 0.00123  # rounded down to the lot size
