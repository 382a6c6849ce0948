"""What Hamilton asks a broker for and what comes back: order intents, fills and rejections, as plain data.

An intent's client order id is deterministic per (symbol, decision bar, model, leg), so a retried or
resumed submission can never place the same order twice: the exchange (or the paper book) refuses a
duplicate id, and reconciliation finds the order by it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from huracan_core.exceptions import DataIntegrityError

Side = Literal["buy", "sell"]
Leg = Literal["open", "close", "resize"]


def client_order_id(symbol: str, bar_ms: int, model_id: str, leg: str) -> str:
    """`hm-<symbol>-<bar>-<digest>`: at most 36 characters (Binance's limit), the same on every retry."""
    digest = hashlib.blake2b(f"{symbol}|{bar_ms}|{model_id}|{leg}".encode(), digest_size=5).hexdigest()
    return f"hm{bar_ms // 60_000:x}{symbol[:10]}{digest}"[:36]


@dataclass(frozen=True)
class OrderIntent:
    """One market order Hamilton wants, decided at the close of bar `bar_ms`, to fill at the next open."""

    client_order_id: str
    symbol: str  # seed form, BTCUSDT
    side: Side
    quantity: float  # base-asset units, > 0
    bar_ms: int  # open time of the decision bar
    model_id: str
    leg: Leg
    reference_price: float  # the price the decision assumed (the decision bar's close)
    target_fraction: float  # signed target position, a fraction of the coin's allocation, after this order
    # The decision bar's per-side cost estimate (fee_bps, spread_bps, slippage_bps): what the paper book
    # charges at the next open, and what the backtest charges (`fill_costs`). A live broker ignores it.
    cost_bps: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OrderIntent:
        """The intent `to_dict` wrote (after a JSON round trip: lists become tuples); unknown fields refused."""
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise DataIntegrityError(f"order intent: unknown field(s) {', '.join(sorted(unknown))}")
        values = dict(data)
        values["cost_bps"] = tuple(float(c) for c in values.get("cost_bps", (0.0, 0.0, 0.0)))
        return cls(**values)


@dataclass(frozen=True)
class Fill:
    """What an order became: quantity at a price, with the fee paid in the quote currency."""

    client_order_id: str
    symbol: str
    side: Side
    quantity: float
    price: float  # average fill price, costs of spread and slippage included
    fee_quote: float  # fee in the quote currency
    filled_at_ms: int  # exchange (or paper) time of the fill
    exchange_order_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Rejection:
    """An order that was not placed or not filled, with the reason in words (logged, in the trade log)."""

    client_order_id: str
    symbol: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
