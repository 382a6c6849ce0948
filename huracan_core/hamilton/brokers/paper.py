"""The paper book: Hamilton's default broker, and the one replay uses. It fills at the next bar's open,
costed exactly as the backtest costs a fill, and its whole state is plain data so a crash loses nothing.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, Literal

from huracan_core.exceptions import ConfigError, DataIntegrityError
from huracan_core.hamilton.brokers.base import AccountSnapshot, Broker, MarketRules
from huracan_core.hamilton.orders import Fill, OrderIntent, Rejection

_BPS = 10_000.0
STATE_VERSION = 1


class PaperBroker(Broker):
    """A simulated account in one quote currency: `wallet` to start with, no positions.

    `rules` gives per-symbol market limits (lot size, minimums), `default_rules` those of any other symbol
    (none: any quantity is accepted). An intent is refused at `place` when its quantity, rounded down to the
    lot size, breaks the limits at the intent's reference price, when its client order id was already
    placed, or when its decision bar is already settled (it could only fill later than decided).

    Shorts are simulated: selling more than is held leaves a negative base position, with no margin and no
    borrow fee; fees, spread and slippage are charged on them as on longs. The book does not check cash:
    sizing is Hamilton's job (its guardrails), as it is the backtest's.
    """

    mode: Literal["paper", "live"] = "paper"

    def __init__(
        self,
        wallet: float,
        *,
        rules: Mapping[str, MarketRules] | None = None,
        default_rules: MarketRules | None = None,
    ) -> None:
        if not (math.isfinite(wallet) and wallet > 0):
            raise ConfigError(f"hamilton.paper_wallet: must be a positive amount (got {wallet!r})")
        self._rules = dict(rules or {})
        self._default_rules = default_rules
        self.quote = float(wallet)
        self.positions: dict[str, float] = {}
        self._pending: dict[str, OrderIntent] = {}  # client order id -> intent, in placement order
        # Ids placed, with their symbol and decision bar: pruned once that bar is settled (see `settle`).
        self._placed: dict[str, tuple[str, int]] = {}
        self._settled_bar: dict[str, int] = {}  # symbol -> newest bar_ms settled

    # --- Broker --------------------------------------------------------------------------------
    def rules(self, symbol: str) -> MarketRules:
        if symbol in self._rules:
            return self._rules[symbol]
        if self._default_rules is not None:
            return dataclasses.replace(self._default_rules, symbol=symbol)
        return MarketRules(symbol=symbol)

    def place(self, intent: OrderIntent) -> Rejection | None:
        """Keep `intent` for the next open, its quantity rounded down to the lot size; or say why not."""
        cid = intent.client_order_id
        if cid in self._placed:
            return Rejection(cid, intent.symbol, f"duplicate client order id {cid}: already placed")
        settled = self._settled_bar.get(intent.symbol)
        if settled is not None and intent.bar_ms < settled:
            return Rejection(
                cid,
                intent.symbol,
                f"decision bar {intent.bar_ms} is before the last settled open {settled}: too late to fill",
            )
        if intent.side not in ("buy", "sell"):
            return Rejection(cid, intent.symbol, f"unknown side {intent.side!r} (buy or sell)")
        rules = self.rules(intent.symbol)
        quantity = rules.round_quantity(intent.quantity)
        refusal = rules.refusal(quantity, intent.reference_price)
        if refusal is not None:
            return Rejection(cid, intent.symbol, refusal)
        self._pending[cid] = dataclasses.replace(intent, quantity=quantity)
        self._placed[cid] = (intent.symbol, intent.bar_ms)
        return None

    def settle(self, symbol: str, *, bar_ms: int, open_price: float) -> list[Fill | Rejection]:
        """Fill every pending intent of `symbol` decided before `bar_ms` at that bar's open, costed.

        A buy pays open * (1 + (spread_bps + slippage_bps) / 1e4), a sell receives open * (1 - ...), both
        from the intent's `cost_bps`; the fee is fee_bps / 1e4 of the filled notional, in the quote currency.
        """
        if not (math.isfinite(open_price) and open_price > 0):
            raise DataIntegrityError(
                f"{symbol}: open price {open_price!r} of bar {bar_ms} is not a usable price"
            )
        out: list[Fill | Rejection] = []
        for cid, intent in list(self._pending.items()):
            if intent.symbol != symbol or intent.bar_ms >= bar_ms:
                continue
            out.append(self._fill(intent, bar_ms, open_price))
            del self._pending[cid]
        self._settled_bar[symbol] = max(bar_ms, self._settled_bar.get(symbol, bar_ms))
        # An id of a settled decision bar can never be placed again (too late), so it need not be kept.
        for cid, (placed_symbol, placed_bar) in list(self._placed.items()):
            if placed_symbol == symbol and placed_bar < bar_ms and cid not in self._pending:
                del self._placed[cid]
        return out

    def snapshot(self) -> AccountSnapshot:
        return AccountSnapshot(
            quote=self.quote,
            positions=dict(self.positions),
            open_orders=[
                {
                    "client_order_id": i.client_order_id,
                    "symbol": i.symbol,
                    "side": i.side,
                    "quantity": i.quantity,
                    "bar_ms": i.bar_ms,
                    "status": "pending",
                }
                for i in self._pending.values()
            ],
        )

    # --- fills -------------------------------------------------------------------------------
    def _fill(self, intent: OrderIntent, bar_ms: int, open_price: float) -> Fill:
        fee_bps, spread_bps, slippage_bps = (float(c) for c in intent.cost_bps)
        move = (spread_bps + slippage_bps) / _BPS
        price = open_price * (1.0 + move) if intent.side == "buy" else open_price * (1.0 - move)
        notional = intent.quantity * price
        fee = fee_bps / _BPS * notional
        held = self.positions.get(intent.symbol, 0.0)
        if intent.side == "buy":
            self.quote -= notional + fee
            held += intent.quantity
        else:
            self.quote += notional - fee
            held -= intent.quantity
        # Float sums of lot-sized steps leave 1e-17 crumbs; a position that small is flat.
        if abs(held) < 1e-12:
            self.positions.pop(intent.symbol, None)
        else:
            self.positions[intent.symbol] = held
        return Fill(
            client_order_id=intent.client_order_id,
            symbol=intent.symbol,
            side=intent.side,
            quantity=intent.quantity,
            price=price,
            fee_quote=fee,
            filled_at_ms=bar_ms,
            exchange_order_id=None,
        )

    # --- state -------------------------------------------------------------------------------
    def pending(self) -> list[OrderIntent]:
        """Intents placed and not yet settled, in placement order."""
        return list(self._pending.values())

    def to_dict(self) -> dict[str, Any]:
        """The whole book as JSON-ready data: journal it every bar, resume with `from_dict`."""
        return {
            "version": STATE_VERSION,
            "mode": self.mode,
            "quote": self.quote,
            "positions": dict(self.positions),
            "pending": [i.to_dict() for i in self._pending.values()],
            "placed": [
                {"client_order_id": c, "symbol": s, "bar_ms": b} for c, (s, b) in self._placed.items()
            ],
            "settled_bar": dict(self._settled_bar),
        }

    def restore(self, data: Mapping[str, Any]) -> None:
        """Continue from a journaled book, keeping this book's market rules."""
        restored = PaperBroker.from_dict(data, rules=self._rules, default_rules=self._default_rules)
        self.__dict__.update(restored.__dict__)

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        rules: Mapping[str, MarketRules] | None = None,
        default_rules: MarketRules | None = None,
    ) -> PaperBroker:
        """The book `to_dict` described; market rules are configuration, passed again here."""
        if data.get("mode") != "paper" or data.get("version") != STATE_VERSION:
            raise DataIntegrityError(
                f"paper broker state: expected mode 'paper' version {STATE_VERSION}, "
                f"got mode {data.get('mode')!r} version {data.get('version')!r}"
            )
        book = cls(1.0, rules=rules, default_rules=default_rules)
        book.quote = float(data["quote"])
        book.positions = {str(s): float(q) for s, q in data["positions"].items()}
        for raw in data["pending"]:
            intent = OrderIntent.from_dict(raw)
            book._pending[intent.client_order_id] = intent
        book._placed = {
            str(p["client_order_id"]): (str(p["symbol"]), int(p["bar_ms"])) for p in data["placed"]
        }
        book._settled_bar = {str(s): int(b) for s, b in data["settled_bar"].items()}
        return book
