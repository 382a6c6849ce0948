"""The broker interface: where Hamilton's orders go. Paper and live differ only in what is injected here.

A broker never decides anything: it receives intents, answers with fills or rejections, and reports what
the account holds. Live brokers must never infer "flat" from a missing answer: an unanswered question is an
error (`ExchangeUnavailableError`), and the caller fails closed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from huracan_core.hamilton.orders import Fill, OrderIntent, Rejection


@dataclass(frozen=True)
class MarketRules:
    """The exchange's limits for one market: an order below them is skipped with a reason, never sent."""

    symbol: str
    min_notional: float = 0.0  # quote currency
    min_quantity: float = 0.0  # base units
    quantity_step: float = 0.0  # lot size; 0 = any quantity
    taker_fee_bps: float | None = None

    def round_quantity(self, quantity: float) -> float:
        """`quantity` rounded down to the lot size (never up: never more than decided)."""
        if self.quantity_step <= 0:
            return quantity
        steps = int(quantity / self.quantity_step + 1e-9)
        return round(steps * self.quantity_step, 12)

    def refusal(self, quantity: float, price: float) -> str | None:
        """Why an order of `quantity` at `price` breaks the market's limits, or None."""
        if quantity <= 0:
            return f"quantity {quantity:g} after rounding to the lot size {self.quantity_step:g} is zero"
        if quantity < self.min_quantity:
            return f"quantity {quantity:g} below the market's minimum {self.min_quantity:g}"
        if quantity * price < self.min_notional:
            return f"notional {quantity * price:.2f} below the market's minimum {self.min_notional:g}"
        return None


@dataclass(frozen=True)
class AccountSnapshot:
    """What the account holds right now: quote balance, base quantity per symbol, open orders by client id."""

    quote: float
    positions: Mapping[str, float] = field(default_factory=dict)  # base units, signed (short < 0)
    open_orders: Sequence[Mapping[str, Any]] = ()


class Broker(ABC):
    """Where orders go. `mode` is written on every trade and status line.

    The loop calls `place` at a decision bar's close and `settle` once the next bar is known: the paper
    book fills then, at that bar's open; a live broker sent the order at `place` and collects its fills.
    """

    mode: Literal["paper", "live"]
    can_short: bool = True  # False for a spot account: the loop then keeps short targets flat

    @abstractmethod
    def rules(self, symbol: str) -> MarketRules:
        """The market's order limits (ccxt markets for live; the same or defaults for paper)."""

    @abstractmethod
    def place(self, intent: OrderIntent) -> Rejection | None:
        """Accept `intent` for the next bar's open (None) or refuse it now with the reason."""

    @abstractmethod
    def settle(self, symbol: str, *, bar_ms: int, open_price: float) -> list[Fill | Rejection]:
        """The outcome of every order of `symbol` placed for the open of bar `bar_ms` (its price: `open_price`).

        Paper: fills at `open_price` moved against the order by half the spread and the slippage of the
        intent's `cost_bps`, and charges its fee. Live: what the exchange reports for those client order ids.
        """

    @abstractmethod
    def snapshot(self) -> AccountSnapshot:
        """Balances, positions and open orders as the broker knows them."""
