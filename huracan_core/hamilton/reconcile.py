"""Reconciliation: what Hamilton's journal says the account holds against what the broker reports. Hamilton
trades only while the list of differences is empty; an unanswered question raises before it (never []).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from huracan_core.hamilton.brokers.base import AccountSnapshot
from huracan_core.hamilton.orders import Fill

DifferenceKind = Literal[
    "quote_balance", "position", "unknown_open_order", "missing_open_order", "unjournaled_fill"
]


@dataclass(frozen=True)
class ExpectedAccount:
    """The account as Hamilton's database has it."""

    quote: float  # quote currency, free + in orders
    positions: Mapping[str, float] = field(default_factory=dict)  # symbol -> base units, signed
    open_order_ids: Collection[str] = ()  # client order ids the journal believes are open
    journaled_fill_ids: Collection[str] = ()  # client order ids whose fill is already in the journal
    quote_currency: str = "USDT"  # named in the differences' words


@dataclass(frozen=True)
class Tolerance:
    """How far apart two amounts may be and still count as equal: dust and fee rounding, nothing more."""

    quote: float = 0.01  # quote currency: a cent of fee rounding
    quote_relative: float = 1e-6  # share of the larger balance (float noise on big wallets)
    base: float = 1e-8  # base units, any symbol (one satoshi)
    base_relative: float = 1e-6  # share of the larger position
    # Per symbol: dust the exchange leaves below its lot size (e.g. a sell rounded down), base units.
    dust: Mapping[str, float] = field(default_factory=dict)

    def quote_equal(self, a: float, b: float) -> bool:
        return abs(a - b) <= max(self.quote, self.quote_relative * max(abs(a), abs(b)))

    def base_equal(self, symbol: str, a: float, b: float) -> bool:
        limit = max(self.base, self.dust.get(symbol, 0.0), self.base_relative * max(abs(a), abs(b)))
        return abs(a - b) <= limit


@dataclass(frozen=True)
class Difference:
    """One way the account differs from the journal, in words, with both sides."""

    kind: DifferenceKind
    subject: str  # the quote currency, a symbol or a client order id
    expected: Any
    actual: Any
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "expected": self.expected,
            "actual": self.actual,
            "message": self.message,
        }


def reconcile(
    expected: ExpectedAccount,
    actual: AccountSnapshot,
    *,
    recent_fills: Sequence[Fill] = (),
    tolerance: Tolerance | None = None,
    symbols: Collection[str] | None = None,
) -> list[Difference]:
    """Every difference between `expected` (the journal) and `actual` (the broker's snapshot); [] if none.

    The comparison is pure: the questions to the exchange are asked before it (`broker.snapshot()`,
    `CcxtBroker.fills_for`) and raise when unanswered, so [] always means "checked and equal".

    Compared: the quote balance; the base position of each symbol (those in `symbols`, or every symbol on
    either side when None - pass the traded symbols when the account holds other coins too); open orders
    in both directions, by client order id; and `recent_fills` (what the exchange reports for the journal's
    unsettled intents) against the journal's fills. `actual` must come from a snapshot that answered: a
    broker raises instead of returning an empty one.
    """
    tol = tolerance or Tolerance()
    out: list[Difference] = []
    quote_currency = expected.quote_currency
    if not _finite(actual.quote):
        raise ValueError(f"snapshot quote balance {actual.quote!r} is not a number")
    if not tol.quote_equal(expected.quote, actual.quote):
        out.append(
            Difference(
                "quote_balance",
                quote_currency,
                expected.quote,
                actual.quote,
                f"{quote_currency} balance is {actual.quote:.8g} on the account but {expected.quote:.8g} in the "
                f"journal ({actual.quote - expected.quote:+.8g})",
            )
        )
    scope = set(expected.positions) | set(actual.positions) if symbols is None else set(symbols)
    for symbol in sorted(scope):
        want, have = float(expected.positions.get(symbol, 0.0)), float(actual.positions.get(symbol, 0.0))
        if not tol.base_equal(symbol, want, have):
            out.append(
                Difference(
                    "position",
                    symbol,
                    want,
                    have,
                    f"{symbol} position is {have:.10g} on the account but {want:.10g} in the journal "
                    f"({have - want:+.10g})",
                )
            )
    journal_open = set(expected.open_order_ids)
    seen_open: set[str] = set()
    for order in actual.open_orders:
        cid = str(order.get("client_order_id") or "")
        symbol = str(order.get("symbol") or "")
        if symbols is not None and symbol not in symbols and cid not in journal_open:
            continue
        seen_open.add(cid)
        if cid not in journal_open:
            out.append(
                Difference(
                    "unknown_open_order",
                    cid or "(no client order id)",
                    None,
                    dict(order),
                    f"open order {cid or '(no client order id)'} on the account "
                    f"({order.get('side')} {order.get('quantity')} {symbol}) is not in the journal",
                )
            )
    for cid in sorted(journal_open - seen_open):
        out.append(
            Difference(
                "missing_open_order",
                cid,
                "open",
                None,
                f"the journal has order {cid} open but the account has no such open order",
            )
        )
    journaled = set(expected.journaled_fill_ids)
    for fill in recent_fills:
        if fill.client_order_id not in journaled:
            out.append(
                Difference(
                    "unjournaled_fill",
                    fill.client_order_id,
                    None,
                    fill.to_dict(),
                    f"fill of {fill.client_order_id} ({fill.side} {fill.quantity:g} {fill.symbol} at "
                    f"{fill.price:.8g}, fee {fill.fee_quote:.8g}) is on the account but not in the journal",
                )
            )
    return out


def _finite(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)
