"""The paper book: next-open fills costed like the backtest, market-limit refusals, and a lossless state."""

from __future__ import annotations

import json
import random

import pytest

from huracan_core.exceptions import ConfigError, DataIntegrityError
from huracan_core.hamilton.brokers.base import MarketRules
from huracan_core.hamilton.brokers.paper import PaperBroker
from huracan_core.hamilton.orders import Fill, OrderIntent, Rejection, client_order_id

BAR = 900_000  # 15m
T0 = 1_709_251_200_000
BTC_RULES = MarketRules("BTCUSDT", min_notional=5.0, min_quantity=0.00001, quantity_step=0.00001)
COSTS = (10.0, 2.5, 1.5)  # fee, half spread, slippage: bps per side


def intent(
    side: str = "buy",
    quantity: float = 0.1,
    *,
    symbol: str = "BTCUSDT",
    bar_ms: int = T0,
    leg: str = "open",
    reference_price: float = 50_000.0,
    target_fraction: float = 0.5,
    cost_bps: tuple[float, float, float] = COSTS,
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
        cost_bps=cost_bps,
    )


def book(wallet: float = 10_000.0) -> PaperBroker:
    return PaperBroker(wallet, rules={"BTCUSDT": BTC_RULES})


def test_a_buy_fills_at_the_next_open_moved_up_by_spread_and_slippage_and_pays_its_fee() -> None:
    paper = book()
    assert paper.place(intent("buy", 0.1)) is None
    assert paper.settle("BTCUSDT", bar_ms=T0, open_price=50_000.0) == []  # not before the next bar
    [fill] = paper.settle("BTCUSDT", bar_ms=T0 + BAR, open_price=50_000.0)
    assert isinstance(fill, Fill)
    assert fill.price == pytest.approx(50_020.0, abs=1e-9)  # 50,000 * (1 + 4 bps)
    assert fill.fee_quote == pytest.approx(5.002, abs=1e-9)  # 10 bps of 0.1 * 50,020
    assert (fill.quantity, fill.side, fill.filled_at_ms) == (0.1, "buy", T0 + BAR)
    snap = paper.snapshot()
    assert snap.quote == pytest.approx(10_000 - 5_002 - 5.002, abs=1e-9)  # 4,992.998
    assert snap.positions == {"BTCUSDT": pytest.approx(0.1)}
    assert snap.open_orders == []


def test_a_sell_fills_below_the_open_and_a_round_trip_is_exact_to_the_cent() -> None:
    paper = book()
    paper.place(intent("buy", 0.1))
    paper.settle("BTCUSDT", bar_ms=T0 + BAR, open_price=50_000.0)
    paper.place(intent("sell", 0.1, bar_ms=T0 + 4 * BAR, leg="close", target_fraction=0.0))
    [fill] = paper.settle("BTCUSDT", bar_ms=T0 + 5 * BAR, open_price=51_000.0)
    assert isinstance(fill, Fill)
    assert fill.price == pytest.approx(50_979.6, abs=1e-9)  # 51,000 * (1 - 4 bps)
    assert fill.fee_quote == pytest.approx(5.09796, abs=1e-9)
    # 10,000 - 5,002 - 5.002 + 5,097.96 - 5.09796
    assert round(paper.snapshot().quote, 2) == 10_085.86
    assert paper.snapshot().quote == pytest.approx(10_085.86004, abs=1e-9)
    assert paper.snapshot().positions == {}


def test_the_cost_of_a_fill_in_bps_of_notional_is_fee_plus_spread_plus_slippage() -> None:
    paper = book()
    paper.place(intent("buy", 0.2, cost_bps=(7.5, 3.0, 4.0)))
    [fill] = paper.settle("BTCUSDT", bar_ms=T0 + BAR, open_price=40_000.0)
    assert isinstance(fill, Fill)
    notional_at_open = 0.2 * 40_000.0
    paid = fill.quantity * fill.price + fill.fee_quote - notional_at_open
    # Spread and slippage move the price (7 bps of the open notional); the fee is 7.5 bps of the filled
    # notional, i.e. 7.5 * (1 + 7 bps) of the open notional: 14.50525 bps in all.
    assert paid / notional_at_open * 1e4 == pytest.approx(7.0 + 7.5 * 1.0007, abs=1e-9)


def test_a_short_is_a_negative_position_charged_like_a_long() -> None:
    paper = book()
    paper.place(intent("sell", 0.1, target_fraction=-0.5))
    [fill] = paper.settle("BTCUSDT", bar_ms=T0 + BAR, open_price=50_000.0)
    assert isinstance(fill, Fill)
    assert fill.price == pytest.approx(49_980.0, abs=1e-9)
    assert fill.fee_quote == pytest.approx(4.998, abs=1e-9)
    snap = paper.snapshot()
    assert snap.positions == {"BTCUSDT": pytest.approx(-0.1)}
    assert snap.quote == pytest.approx(10_000 + 4_998 - 4.998, abs=1e-9)
    paper.place(intent("buy", 0.1, bar_ms=T0 + 2 * BAR, leg="close", target_fraction=0.0))
    paper.settle("BTCUSDT", bar_ms=T0 + 3 * BAR, open_price=49_000.0)
    assert paper.snapshot().positions == {}
    # Sold at 49,980, bought back at 49,019.6: 96.04 gained, less 4.998 + 4.90196 of fees.
    assert paper.snapshot().quote == pytest.approx(10_000 + 96.04 - 4.998 - 4.90196, abs=1e-9)


def test_quantity_is_rounded_down_to_the_lot_size_never_up() -> None:
    paper = book()
    assert paper.place(intent("buy", 0.123456789)) is None
    [pending] = paper.pending()
    assert pending.quantity == 0.12345
    [fill] = paper.settle("BTCUSDT", bar_ms=T0 + BAR, open_price=50_000.0)
    assert isinstance(fill, Fill) and fill.quantity == 0.12345


@pytest.mark.parametrize(
    ("quantity", "price", "words"),
    [
        (0.000004, 50_000.0, "after rounding to the lot size 1e-05 is zero"),
        (0.00009, 50_000.0, "notional 4.50 below the market's minimum 5"),
    ],
)
def test_orders_below_the_market_limits_are_refused_with_the_reason(
    quantity: float, price: float, words: str
) -> None:
    paper = book()
    refused = paper.place(intent("buy", quantity, reference_price=price))
    assert isinstance(refused, Rejection)
    assert words in refused.reason
    assert paper.pending() == []


def test_a_minimum_quantity_is_enforced_for_symbols_without_their_own_rules() -> None:
    paper = PaperBroker(1_000.0, default_rules=MarketRules("*", min_quantity=1.0, quantity_step=0.1))
    refused = paper.place(intent("buy", 0.5, symbol="XRPUSDT", reference_price=0.6))
    assert isinstance(refused, Rejection) and "below the market's minimum 1" in refused.reason
    assert paper.rules("XRPUSDT").symbol == "XRPUSDT"
    assert paper.place(intent("buy", 10.0, symbol="XRPUSDT", reference_price=0.6)) is None


def test_a_duplicate_client_order_id_is_refused_pending_or_settled() -> None:
    paper = book()
    first = intent("buy", 0.1)
    assert paper.place(first) is None
    again = paper.place(first)
    assert isinstance(again, Rejection) and "duplicate client order id" in again.reason
    assert len(paper.pending()) == 1
    paper.settle("BTCUSDT", bar_ms=T0 + BAR, open_price=50_000.0)
    late = paper.place(first)
    assert isinstance(late, Rejection) and "too late" in late.reason
    assert paper.snapshot().positions == {"BTCUSDT": pytest.approx(0.1)}  # filled once


def test_settle_fills_only_its_symbol_and_only_intents_decided_before_the_bar() -> None:
    paper = PaperBroker(10_000.0)
    paper.place(intent("buy", 0.1))
    paper.place(intent("buy", 1.0, symbol="ETHUSDT", reference_price=3_000.0))
    paper.place(intent("buy", 0.1, bar_ms=T0 + BAR, leg="resize"))
    out = paper.settle("BTCUSDT", bar_ms=T0 + BAR, open_price=50_000.0)
    assert [f.client_order_id for f in out] == [client_order_id("BTCUSDT", T0, "m1", "open")]
    assert {o["symbol"] for o in paper.snapshot().open_orders} == {"ETHUSDT", "BTCUSDT"}
    assert len(paper.snapshot().open_orders) == 2


def test_an_unusable_open_price_is_an_error_not_a_fill() -> None:
    paper = book()
    paper.place(intent("buy", 0.1))
    with pytest.raises(DataIntegrityError, match="open price"):
        paper.settle("BTCUSDT", bar_ms=T0 + BAR, open_price=float("nan"))
    assert len(paper.pending()) == 1


def test_the_wallet_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="paper_wallet"):
        PaperBroker(0.0)


def _stream(seed: int) -> list[tuple[int, list[OrderIntent], dict[str, float]]]:
    """Bars of (bar_ms, intents decided at that bar's close, opens of that bar) for two symbols."""
    rng = random.Random(seed)
    prices = {"BTCUSDT": 50_000.0, "ETHUSDT": 3_000.0}
    out = []
    for i in range(60):
        bar = T0 + i * BAR
        opens = {s: p * (1 + rng.gauss(0, 0.002)) for s, p in prices.items()}
        prices = opens
        intents = []
        for sym, price in opens.items():
            if rng.random() < 0.5:
                side = rng.choice(["buy", "sell"])
                qty = round(rng.uniform(0.0001, 0.05) * 50_000 / price, 6)
                costs = (10.0, rng.uniform(0.5, 5), rng.uniform(0.1, 8))
                intents.append(
                    intent(
                        side,
                        qty,
                        symbol=sym,
                        bar_ms=bar,
                        reference_price=price,
                        target_fraction=rng.uniform(-1, 1),
                        cost_bps=costs,
                    )
                )
        out.append((bar, intents, opens))
    return out


def _run(
    stream: list[tuple[int, list[OrderIntent], dict[str, float]]], *, restart_every: int | None
) -> tuple:
    paper = PaperBroker(10_000.0, rules={"BTCUSDT": BTC_RULES})
    outcomes: list = []
    for i, (bar, intents, opens) in enumerate(stream):
        for sym, price in opens.items():
            outcomes.extend(paper.settle(sym, bar_ms=bar, open_price=price))
        for it in intents:
            outcomes.append(paper.place(it))
        # A crash after placing and before the next settle: the journal holds the JSON of the book.
        if restart_every and i % restart_every == 0:
            state = json.loads(json.dumps(paper.to_dict()))
            paper = PaperBroker.from_dict(state, rules={"BTCUSDT": BTC_RULES})
            # A resumed loop re-places this bar's intents: each must be refused as a duplicate.
            assert all(isinstance(paper.place(it), Rejection) for it in intents)
    snap = paper.snapshot()
    return outcomes, snap.quote, dict(snap.positions), [dict(o) for o in snap.open_orders]


def test_a_state_round_trip_mid_stream_gives_the_same_results_as_an_uninterrupted_run() -> None:
    stream = _stream(seed=7)
    straight = _run(stream, restart_every=None)
    resumed = _run(stream, restart_every=3)
    assert resumed == straight  # exact: same fills, same balances, nothing lost or duplicated
    fills = [o for o in straight[0] if isinstance(o, Fill)]
    assert len(fills) > 20 and straight[3]  # the stream did trade, and ends with intents pending


def test_state_of_another_mode_is_refused_and_intents_survive_json() -> None:
    with pytest.raises(DataIntegrityError, match="paper"):
        PaperBroker.from_dict({"mode": "live", "version": 1})
    it = intent("sell", 0.3)
    assert OrderIntent.from_dict(json.loads(json.dumps(it.to_dict()))) == it
    with pytest.raises(DataIntegrityError, match="unknown field"):
        OrderIntent.from_dict({**it.to_dict(), "price": 1.0})
