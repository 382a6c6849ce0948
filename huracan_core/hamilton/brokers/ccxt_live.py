"""The live broker: market orders on a real spot exchange through ccxt, idempotent by client order id.
Built only when Hamilton's mode is "live"; tested against Binance spot through a local fake of its REST API.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import ccxt

from huracan_core.config import ExchangeCredentials
from huracan_core.exceptions import ConfigError, DataIntegrityError, ExchangeUnavailableError
from huracan_core.hamilton.brokers.base import AccountSnapshot, Broker, MarketRules
from huracan_core.hamilton.orders import Fill, OrderIntent, Rejection
from huracan_core.market.ccxt_source import RETRYABLE, build_exchange
from huracan_core.market.symbols import from_ccxt, normalise_symbol, spot_symbol_table, unknown_symbol
from huracan_core.retry import retry

log = logging.getLogger(__name__)
T = TypeVar("T")

_BPS = 10_000.0
STATE_VERSION = 1
# Binance answers a reused client order id of an OPEN order with -2010 "Duplicate order sent."; other
# exchanges map theirs to ccxt.DuplicateOrderId.
_DUPLICATE_TEXT = "Duplicate order sent"
_OPEN_STATUSES = ("open", "canceling")
# Credentials and signed-request authenticity: config problems, never retried, never "rejections".
_CREDENTIAL_ERRORS = (ccxt.AuthenticationError, ccxt.PermissionDenied, ccxt.AccountSuspended)


class _NotVisibleYet(ccxt.OperationFailed):
    """The exchange says the client order id exists but does not show the order yet: ask again."""


_RETRY_ON = (*RETRYABLE, _NotVisibleYet)


def build_live_exchange(
    exchange_id: str, credentials: ExchangeCredentials, *, timeout_ms: int = 15_000
) -> ccxt.Exchange:
    """A ccxt exchange with the API keys of `credentials` (which come from the environment only)."""
    key = credentials.api_key.get_secret_value() if credentials.api_key else ""
    secret = credentials.api_secret.get_secret_value() if credentials.api_secret else ""
    if not key or not secret:
        raise ConfigError(_NO_CREDENTIALS)
    exchange = build_exchange(exchange_id, timeout_ms=timeout_ms)
    exchange.apiKey, exchange.secret = key, secret
    return exchange


def market_rules(exchange: ccxt.Exchange, ccxt_symbol: str, symbol: str) -> MarketRules:
    """A market's order limits from ccxt (markets loaded): limits.amount.min, limits.cost.min, the lot size.

    The paper book uses them too on the live clock, so a paper order the exchange would refuse is skipped.
    """
    market = exchange.market(ccxt_symbol)
    limits = market.get("limits") or {}
    step = (market.get("precision") or {}).get("amount")
    if step is not None and exchange.precisionMode != ccxt.TICK_SIZE:
        step = 10.0 ** -float(step)  # DECIMAL_PLACES: precision is a count of decimals
    taker = market.get("taker")
    return MarketRules(
        symbol=symbol,
        min_notional=float((limits.get("cost") or {}).get("min") or 0.0),
        min_quantity=float((limits.get("amount") or {}).get("min") or 0.0),
        quantity_step=float(step or 0.0),
        taker_fee_bps=float(taker) * _BPS if taker is not None else None,
    )


_NO_CREDENTIALS = (
    "exchange_credentials: live mode needs an API key and secret, taken from the environment "
    "(HURACAN_EXCHANGE_API_KEY, HURACAN_EXCHANGE_API_SECRET), never from the config file; "
    "set them, or run hamilton in paper mode"
)


@dataclass
class _Order:
    """What the broker remembers of one order it sent, until `settle` reports its outcome."""

    intent: OrderIntent  # quantity as sent (rounded to the lot size)
    status: Literal["sending", "placed", "unknown"]
    exchange_order_id: str | None = None
    note: str = ""  # why the status is "unknown"

    def to_dict(self) -> dict[str, Any]:
        return {
            "intent": self.intent.to_dict(),
            "status": self.status,
            "exchange_order_id": self.exchange_order_id,
            "note": self.note,
        }


class CcxtBroker(Broker):
    """Market orders on `exchange` (a ccxt exchange with API keys), sent at `place`, collected at `settle`.

    Every order carries the intent's deterministic client order id, and the broker looks that id up on
    the exchange before sending (and again after any lost answer or "duplicate" refusal), so a retry, a
    restart or a duplicate never places a second order. It does not guess: an unanswered question raises
    ExchangeUnavailableError, an order that vanished after being placed raises DataIntegrityError.

    Spot accounts cannot be short, though Hamilton's decisions can be (side -1): an intent whose target
    position is below zero, or a sell larger than the free base the account holds, is refused with the
    reason "spot account cannot sell short; ...". A sell that only reduces or closes a held long goes.

    `journal_intent` is called with each intent before anything is sent: if it raises, nothing is sent and
    the error propagates. `quote` is the account's quote currency (positions are reported for its pairs).
    Network failures are retried `attempts` times with backoff from `base_delay_s` (`sleep` is injectable).

    An order still open at `settle` is cancelled there: what had filled becomes a Fill, an order with
    nothing filled becomes a Rejection "not filled by <time of the bar>; cancelled". Every order placed for
    an open is therefore resolved when that open is settled; none lingers to fill unseen later.
    """

    mode: Literal["paper", "live"] = "live"

    def __init__(
        self,
        exchange: ccxt.Exchange,
        *,
        journal_intent: Callable[[OrderIntent], None],
        quote: str = "USDT",
        attempts: int = 4,
        base_delay_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not getattr(exchange, "apiKey", None) or not getattr(exchange, "secret", None):
            raise ConfigError(_NO_CREDENTIALS)
        self.exchange = exchange
        self.journal_intent = journal_intent
        self.quote = quote.upper()
        self.attempts = attempts
        self.base_delay_s = base_delay_s
        self.sleep = sleep
        self._secrets = (str(exchange.apiKey), str(exchange.secret))
        # ccxt logs every request's headers (the API key among them) at DEBUG; its `verbose` mode prints
        # them. Route its log through a filter that masks the credentials, and keep verbose off.
        exchange.verbose = False
        exchange.logger = _MaskingLogger(
            exchange.logger or logging.getLogger("ccxt.base.exchange"), self._secrets
        )
        # Open orders of every symbol at once (an order placed by hand must be seen); ccxt asks for consent.
        options = exchange.options.setdefault("fetchOpenOrders", {})
        if isinstance(options, dict):
            options["warnWithoutSymbol"] = False
        self._orders: dict[str, _Order] = {}
        self._rules: dict[str, MarketRules] = {}
        self._table: dict[str, str] | None = None

    # --- Broker --------------------------------------------------------------------------------
    def rules(self, symbol: str) -> MarketRules:
        """Limits from the exchange's markets: limits.amount.min, limits.cost.min, precision.amount, taker."""
        sym = normalise_symbol(symbol)
        if sym not in self._rules:
            self._rules[sym] = market_rules(self.exchange, self._ccxt_symbol(sym), sym)
        return self._rules[sym]

    def place(self, intent: OrderIntent) -> Rejection | None:
        """Send `intent` as a market order now (None), or refuse it with the reason (nothing sent).

        Order of events: the spot and market-limit checks; `journal_intent` of the intent as it will be
        sent (symbol as BTCUSDT, quantity rounded down to the lot size); a look-up of the
        client order id on the exchange (an order already there is adopted, not sent again); the order.
        Network failures are retried, each retry starting with that look-up. Exchange refusals
        (insufficient balance, filters) come back as a Rejection with the exchange's words; when the
        outcome stays unknown after every retry the order is remembered as "unknown" (settle finds out)
        and ExchangeUnavailableError is raised.
        """
        cid, sym = intent.client_order_id, normalise_symbol(intent.symbol)
        if cid in self._orders:
            log.warning("order %s (%s) was already sent; not sending it again", cid, sym)
            return None
        if intent.side not in ("buy", "sell"):
            return Rejection(cid, sym, f"unknown side {intent.side!r} (buy or sell)")
        if intent.target_fraction < 0:
            return Rejection(
                cid,
                sym,
                f"spot account cannot sell short; the target position {intent.target_fraction:+.4f} of "
                "equity is below zero (only a sell that reduces a held long is possible on spot)",
            )
        rules = self.rules(sym)
        quantity = rules.round_quantity(intent.quantity)
        refusal = rules.refusal(quantity, intent.reference_price)
        if refusal is not None:
            return Rejection(cid, sym, refusal)
        market = self._ccxt_symbol(sym)
        if intent.side == "sell":
            held = self._free(self.exchange.market(market)["base"])
            if quantity > held * (1 + 1e-9):
                return Rejection(
                    cid,
                    sym,
                    f"spot account cannot sell short; selling {quantity:g} {sym} but the account holds "
                    f"{held:g} free",
                )
        sent = dataclasses.replace(intent, symbol=sym, quantity=quantity)
        self.journal_intent(sent)
        record = _Order(sent, "sending")
        self._orders[cid] = record
        try:
            order = retry(
                lambda: self._send(sent, market),
                what=f"{self.exchange.id} placing {cid} ({intent.side} {quantity:g} {sym})",
                retry_on=_RETRY_ON,
                attempts=self.attempts,
                base_delay_s=self.base_delay_s,
                sleep=self.sleep,
            )
        except _RETRY_ON as exc:
            record.status, record.note = "unknown", f"{type(exc).__name__}: {self._scrub(str(exc))}"
            raise ExchangeUnavailableError(
                f"exchange {self.exchange.id} did not answer while placing {cid} "
                f"(gave up after {self.attempts} attempts; the order may exist, settle will look it up): "
                f"{record.note}"
            ) from exc
        except _CREDENTIAL_ERRORS as exc:
            del self._orders[cid]
            raise ConfigError(
                f"exchange_credentials: {self.exchange.id} refused the API key while placing {cid}: "
                f"{type(exc).__name__}: {self._reason(exc)}"
            ) from exc
        except ccxt.BaseError as exc:
            del self._orders[cid]
            reason = f"the exchange refused the order: {self._reason(exc)} ({type(exc).__name__})"
            log.warning("%s %s: %s", sym, cid, reason)
            return Rejection(cid, sym, reason)
        record.status, record.exchange_order_id = "placed", str(order["id"])
        log.info("placed %s: %s %g %s (exchange order %s)", cid, intent.side, quantity, sym, order["id"])
        return None

    def settle(self, symbol: str, *, bar_ms: int, open_price: float) -> list[Fill | Rejection]:
        """The outcome of every order of `symbol` decided before `bar_ms`, as the exchange reports it.

        A filled order is one Fill (average price, total quantity, total fee in the quote currency). An
        order still open is cancelled first (see the class docstring). Nothing is forgotten until every
        order of the call has an answer, so a failed settle can simply be called again.
        """
        sym = normalise_symbol(symbol)
        due = [o for o in self._orders.values() if o.intent.symbol == sym and o.intent.bar_ms < bar_ms]
        outcomes: list[Fill | Rejection] = [self._outcome(o, bar_ms, open_price) for o in due]
        for order in due:
            del self._orders[order.intent.client_order_id]
        return outcomes

    def snapshot(self) -> AccountSnapshot:
        """Balances (quote free + used; base per symbol of the quote currency) and every open order.

        Any failure to answer raises ExchangeUnavailableError: never an empty snapshot.
        """
        balance = self._ask("fetching the balance", self.exchange.fetch_balance)
        open_orders = self._ask("fetching open orders", lambda: self.exchange.fetch_open_orders())
        totals = balance.get("total") if isinstance(balance, Mapping) else None
        if not isinstance(totals, Mapping) or not isinstance(open_orders, list):
            raise ExchangeUnavailableError(
                f"exchange {self.exchange.id} answered the balance or open orders in an unexpected shape"
            )
        table = self._symbol_table()
        positions: dict[str, float] = {}
        for code, amount in totals.items():
            plain = f"{normalise_symbol(str(code))}{self.quote}"
            if code != self.quote and amount and plain in table:
                positions[plain] = float(amount)
        return AccountSnapshot(
            quote=float(totals.get(self.quote) or 0.0),
            positions=positions,
            open_orders=[_open_order(o) for o in open_orders],
        )

    # --- beyond the interface ---------------------------------------------------------------------
    def pending(self) -> list[OrderIntent]:
        """Intents sent (or whose sending is unknown) and not yet settled."""
        return [o.intent for o in self._orders.values()]

    def fills_for(self, symbol: str, client_order_ids: Iterable[str]) -> list[Fill]:
        """Fills the exchange holds for these client order ids (ids it does not know are skipped).

        For reconciliation after a restart: the journal's intents without an outcome are looked up here,
        and what comes back is compared with the journal's fills. Open orders are not touched.
        """
        sym = normalise_symbol(symbol)
        market = self._ccxt_symbol(sym)
        fills: list[Fill] = []
        for cid in client_order_ids:
            order = self._ask(f"looking up {cid}", lambda cid=cid: self._lookup(market, cid))
            if order is not None and float(order.get("filled") or 0.0) > 0:
                fills.append(self._fill(sym, cid, order))
        return fills

    def to_dict(self) -> dict[str, Any]:
        """What must survive a restart: the orders sent and not yet settled."""
        return {
            "version": STATE_VERSION,
            "mode": self.mode,
            "exchange": str(self.exchange.id),
            "quote": self.quote,
            "orders": [o.to_dict() for o in self._orders.values()],
        }

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        exchange: ccxt.Exchange,
        *,
        journal_intent: Callable[[OrderIntent], None],
        **kwargs: Any,
    ) -> CcxtBroker:
        """A broker over `exchange` that remembers the orders of `data` (from `to_dict`)."""
        if data.get("mode") != "live" or data.get("version") != STATE_VERSION:
            raise DataIntegrityError(
                f"live broker state: expected mode 'live' version {STATE_VERSION}, "
                f"got mode {data.get('mode')!r} version {data.get('version')!r}"
            )
        if data.get("exchange") != exchange.id:
            raise DataIntegrityError(
                f"live broker state was written for exchange {data.get('exchange')!r}, not {exchange.id!r}"
            )
        broker = cls(exchange, journal_intent=journal_intent, quote=str(data["quote"]), **kwargs)
        for raw in data["orders"]:
            intent = OrderIntent.from_dict(raw["intent"])
            status = raw["status"]
            # An order caught mid-send by a crash may or may not exist: settle looks it up.
            broker._orders[intent.client_order_id] = _Order(
                intent,
                "placed" if status == "placed" else "unknown",
                raw.get("exchange_order_id"),
                str(raw.get("note") or ("interrupted while sending" if status == "sending" else "")),
            )
        return broker

    can_short = False  # a spot account holds what it bought; short targets are flat here

    def restore(self, data: Mapping[str, Any]) -> None:
        """Continue from a journaled state: the orders sent and not yet settled (settle looks them up)."""
        restored = CcxtBroker.from_dict(
            data, self.exchange, journal_intent=self.journal_intent, attempts=self.attempts,
            base_delay_s=self.base_delay_s, sleep=self.sleep,
        )  # fmt: skip
        self._orders = restored._orders

    # --- placing ----------------------------------------------------------------------------------
    def _send(self, intent: OrderIntent, market: str) -> dict[str, Any]:
        """One attempt: adopt the order if the exchange already has this client order id, else create it."""
        cid = intent.client_order_id
        found = self._lookup(market, cid)
        if found is not None:
            log.warning(
                "order %s is already on the exchange (order %s); not sending it again", cid, found["id"]
            )
            return found
        try:
            return self.exchange.create_order(
                market, "market", intent.side, intent.quantity, None, {"clientOrderId": cid}
            )
        except ccxt.ExchangeError as exc:
            if not (isinstance(exc, ccxt.DuplicateOrderId) or _DUPLICATE_TEXT in str(exc)):
                raise
            found = self._lookup(market, cid)
            if found is None:
                raise _NotVisibleYet(
                    f"the exchange reports {cid} as a duplicate but does not show it"
                ) from exc
            log.warning("order %s was a duplicate of order %s on the exchange; adopted it", cid, found["id"])
            return found

    def _lookup(self, market: str, cid: str) -> dict[str, Any] | None:
        """The exchange's order with client order id `cid`, or None when it has none."""
        try:
            return self.exchange.fetch_order(None, market, {"clientOrderId": cid})
        except ccxt.OrderNotFound:
            return None

    def _free(self, code: str) -> float:
        balance = self._ask("fetching the balance", self.exchange.fetch_balance)
        free = balance.get("free") if isinstance(balance, Mapping) else None
        if not isinstance(free, Mapping):
            raise ExchangeUnavailableError(
                f"exchange {self.exchange.id} answered the balance in an unexpected shape"
            )
        return float(free.get(code) or 0.0)

    # --- settling ---------------------------------------------------------------------------------
    def _outcome(self, record: _Order, bar_ms: int, open_price: float) -> Fill | Rejection:
        intent = record.intent
        cid, sym = intent.client_order_id, intent.symbol
        market = self._ccxt_symbol(sym)
        order = self._ask(f"looking up {cid}", lambda: self._lookup(market, cid))
        if order is None:
            if record.status != "placed":  # the send never got an answer: it may never have arrived
                return Rejection(
                    cid, sym, f"the exchange has no order {cid}: it was never placed ({record.note})"
                )
            raise DataIntegrityError(
                f"{sym}: order {cid} (exchange order {record.exchange_order_id}) was placed but the exchange "
                "no longer knows it; trading must stop until the account is reconciled"
            )
        if order.get("status") in _OPEN_STATUSES:
            order = self._cancel(market, cid, order)
        filled = float(order.get("filled") or 0.0)
        when = datetime.fromtimestamp(bar_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
        if filled <= 0:
            status = order.get("status")
            reason = (
                f"not filled by {when}; cancelled" if status == "canceled" else f"the exchange {status} it"
            )
            return Rejection(cid, sym, f"{reason} (nothing executed)")
        fill = self._fill(sym, cid, order)
        if filled < intent.quantity * (1 - 1e-9):
            log.warning(
                "%s %s: only %g of %g filled by %s; the rest cancelled",
                sym,
                cid,
                filled,
                intent.quantity,
                when,
            )
        log.info(
            "%s %s: filled %g at %.8g (open %.8g, %+.1f bps), fee %.8g %s",
            sym, cid, fill.quantity, fill.price, open_price,
            (fill.price / open_price - 1) * _BPS if open_price else 0.0, fill.fee_quote, self.quote,
        )  # fmt: skip
        return fill

    def _cancel(self, market: str, cid: str, order: dict[str, Any]) -> dict[str, Any]:
        """Cancel an order still open at settle; its final state (it may have filled meanwhile)."""
        # Not found: filled or cancelled between the look-up and the cancel; the re-read below says which.
        with contextlib.suppress(ccxt.OrderNotFound):
            self._ask(f"cancelling {cid}", lambda: self.exchange.cancel_order(order["id"], market))
        final = self._ask(f"looking up {cid}", lambda: self._lookup(market, cid))
        if final is None or final.get("status") in _OPEN_STATUSES:
            raise ExchangeUnavailableError(f"order {cid} could not be cancelled; settle again")
        return final

    def _fill(self, sym: str, cid: str, order: Mapping[str, Any]) -> Fill:
        market = self._ccxt_symbol(sym)
        filled = float(order["filled"])
        cost = float(order.get("cost") or 0.0)
        price = cost / filled if cost > 0 else float(order.get("average") or 0.0)
        trades = self._ask(
            f"fetching the trades of {cid}", lambda: self.exchange.fetch_order_trades(order["id"], market)
        )
        traded = sum(float(t.get("amount") or 0.0) for t in trades)
        if abs(traded - filled) > 1e-9 * max(filled, 1.0):
            # The fee lives on the trades: without all of them the fill's cost is not known yet.
            raise ExchangeUnavailableError(
                f"order {cid}: the exchange shows {traded:g} traded of {filled:g} filled; settle again"
            )
        fee = sum(self._fee_in_quote(t, market) for t in trades)
        stamps = [int(t["timestamp"]) for t in trades if t.get("timestamp")]
        when = max(stamps) if stamps else int(order.get("lastTradeTimestamp") or order.get("timestamp") or 0)
        return Fill(
            client_order_id=cid,
            symbol=sym,
            side=str(order["side"]),  # type: ignore[arg-type]
            quantity=filled,
            price=price,
            fee_quote=fee,
            filled_at_ms=when,
            exchange_order_id=str(order["id"]),
        )

    def _fee_in_quote(self, trade: Mapping[str, Any], market: str) -> float:
        """A trade's fees in the quote currency: base fees at the trade's price, others at their last price."""
        base = self.exchange.market(market)["base"]
        fees = trade.get("fees") or ([trade["fee"]] if trade.get("fee") else [])
        total = 0.0
        for fee in fees:
            cost, code = float(fee.get("cost") or 0.0), fee.get("currency")
            if cost == 0 or code == self.quote:
                total += cost
            elif code == base:
                total += cost * float(trade["price"])
            else:  # e.g. BNB on Binance: its price in the quote currency now
                pair = self._ccxt_symbol(f"{code}{self.quote}")
                ticker = self._ask(
                    f"pricing the {code} fee", lambda pair=pair: self.exchange.fetch_ticker(pair)
                )
                last = ticker.get("last") or ticker.get("close")
                if not last:
                    raise ExchangeUnavailableError(f"no price for {pair} to convert a {code} fee")
                total += cost * float(last)
        return total

    # --- plumbing ---------------------------------------------------------------------------------
    def _ask(self, what: str, fn: Callable[[], T]) -> T:
        """A read with retries; a persistent network failure becomes ExchangeUnavailableError.

        ccxt's own refusals (order not found, invalid request) propagate for the caller to judge, except
        credential refusals (ConfigError) and answers that make no sense (BadResponse, retried).
        """
        try:
            return retry(
                fn,
                what=f"{self.exchange.id} {what}",
                retry_on=RETRYABLE,
                attempts=self.attempts,
                base_delay_s=self.base_delay_s,
                sleep=self.sleep,
            )
        except RETRYABLE as exc:
            raise ExchangeUnavailableError(
                f"exchange {self.exchange.id} unreachable while {what} (gave up after {self.attempts} "
                f"attempts): {type(exc).__name__}: {self._scrub(str(exc))}"
            ) from exc
        except _CREDENTIAL_ERRORS as exc:
            raise ConfigError(
                f"exchange_credentials: {self.exchange.id} refused the API key while {what}: {self._reason(exc)}"
            ) from exc
        except (ccxt.OrderNotFound, ccxt.InvalidOrder):
            raise
        except ccxt.BaseError as exc:
            raise ExchangeUnavailableError(
                f"exchange {self.exchange.id} could not answer while {what}: "
                f"{type(exc).__name__}: {self._reason(exc)}"
            ) from exc

    def _symbol_table(self) -> dict[str, str]:
        if self._table is None:
            if not self.exchange.markets:
                self._ask("loading markets", self.exchange.load_markets)
            self._table = spot_symbol_table(self.exchange.markets or {})
        return self._table

    def _ccxt_symbol(self, symbol: str) -> str:
        table = self._symbol_table()
        sym = normalise_symbol(symbol)
        if sym not in table:
            raise unknown_symbol(sym, table, where=f"on {self.exchange.id} (spot)")
        return table[sym]

    def _scrub(self, text: str) -> str:
        return _mask(text, self._secrets)

    def _reason(self, exc: BaseException) -> str:
        """The exchange's own words (Binance: the "msg" of its JSON error), secrets masked."""
        text = self._scrub(str(exc))
        found = re.search(r'"msg"\s*:\s*"([^"]*)"', text)
        if found:
            return found.group(1)
        return text.removeprefix(f"{self.exchange.id} ").strip()[:300]


def _open_order(order: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "client_order_id": order.get("clientOrderId"),
        "symbol": from_ccxt(str(order.get("symbol") or "")),
        "side": order.get("side"),
        "quantity": float(order.get("amount") or 0.0),
        "filled": float(order.get("filled") or 0.0),
        "status": order.get("status"),
        "exchange_order_id": str(order.get("id")),
        "timestamp": order.get("timestamp"),
    }


def _mask(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    # A request signature is not the secret, but there is no reason to print one either.
    return re.sub(r"signature=[0-9A-Za-z%+/=_-]+", "signature=***", text)


class _MaskingLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger that formats each message and masks the credentials in it before it is emitted."""

    def __init__(self, logger: logging.Logger | logging.LoggerAdapter, secrets: Iterable[str]) -> None:  # type: ignore[type-arg]
        inner = logger.logger if isinstance(logger, logging.LoggerAdapter) else logger
        super().__init__(inner, {})
        self._secrets = tuple(s for s in secrets if s)

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        try:
            text = str(msg) % args if args else str(msg)
        except (TypeError, ValueError):
            text = " ".join(str(part) for part in (msg, *args))
        self.logger.log(level, "%s", _mask(text, self._secrets), **kwargs)
