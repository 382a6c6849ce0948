"""A local Binance spot account: the replay server plus Binance's signed order and account endpoints, for
a real `ccxt.binance()` with fake API keys. Knobs on `FakeBinance`; use `fake_binance(...)` or the
`fake_binance_account` fixture.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import ccxt
import pytest

from tests.stubs.exchange_replay import DROP, ExchangeReplay, ReplayMarket, Request, binance_at, serve

# Fake credentials: long and distinctive, so a test can grep captured logs for them.
API_KEY = "fake-api-key-0123456789-MUST-NOT-APPEAR-IN-LOGS"
API_SECRET = "fake-api-secret-9876543210-MUST-NOT-APPEAR-IN-LOGS"
START_MS = 1_709_251_200_000  # 2024-03-01 00:00 UTC: the fake clock starts here

FAKE_MARKETS = [
    ReplayMarket("BTCUSDT", "BTC", "USDT", 9.0e8, min_qty=0.00001, step_size=0.00001, min_notional=5.0),
    ReplayMarket("ETHUSDT", "ETH", "USDT", 5.0e8, min_qty=0.0001, step_size=0.0001, min_notional=5.0),
    ReplayMarket("BNBUSDT", "BNB", "USDT", 1.0e8, min_qty=0.001, step_size=0.001, min_notional=5.0),
]

_OPEN = ("NEW", "PARTIALLY_FILLED")


def _num(value: float) -> str:
    """Binance's decimal strings: 8 places."""
    return f"{value:.8f}"


@dataclass
class FakeTrade:
    trade_id: int
    order_id: int
    symbol: str
    is_buyer: bool
    price: float
    qty: float
    commission: float
    commission_asset: str
    time_ms: int

    def to_binance(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol, "id": self.trade_id, "orderId": self.order_id, "orderListId": -1,
            "price": _num(self.price), "qty": _num(self.qty), "quoteQty": _num(self.price * self.qty),
            "commission": _num(self.commission), "commissionAsset": self.commission_asset,
            "time": self.time_ms, "isBuyer": self.is_buyer, "isMaker": False, "isBestMatch": True,
        }  # fmt: skip


@dataclass
class FakeOrder:
    order_id: int
    client_order_id: str
    symbol: str
    side: str  # BUY / SELL
    quantity: float
    status: str  # NEW, PARTIALLY_FILLED, FILLED, CANCELED
    time_ms: int
    update_ms: int
    executed: float = 0.0
    quote_qty: float = 0.0
    trades: list[FakeTrade] = field(default_factory=list)
    reserved: tuple[str, float] | None = None  # (asset, amount) locked while the order is open

    def to_binance(self, *, with_fills: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "symbol": self.symbol, "orderId": self.order_id, "orderListId": -1,
            "clientOrderId": self.client_order_id, "price": "0.00000000", "origQty": _num(self.quantity),
            "executedQty": _num(self.executed), "cummulativeQuoteQty": _num(self.quote_qty),
            "status": self.status, "timeInForce": "GTC", "type": "MARKET", "side": self.side,
            "stopPrice": "0.00000000", "icebergQty": "0.00000000", "time": self.time_ms,
            "updateTime": self.update_ms, "isWorking": True, "workingTime": self.time_ms,
            "origQuoteOrderQty": "0.00000000", "selfTradePreventionMode": "EXPIRE_MAKER",
        }  # fmt: skip
        if with_fills:
            # The FULL answer to a new order: transactTime and the fills with their commission.
            out["transactTime"] = self.update_ms
            out["fills"] = [
                {"price": _num(t.price), "qty": _num(t.qty), "commission": _num(t.commission),
                 "commissionAsset": t.commission_asset, "tradeId": t.trade_id}
                for t in self.trades
            ]  # fmt: skip
        return out


@dataclass
class FakeBinance(ExchangeReplay):
    """The account's state, and knobs that make it misbehave as the real one can.

    Market orders fill at once at `prices[symbol]` (set by the test), with a taker commission in the quote
    asset (`commission="received"`: in the asset received, like Binance without BNB); balances move as on
    Binance; LOT_SIZE and NOTIONAL filters and balances are enforced with Binance's error codes. Signed
    endpoints require the API-key header and never check the signature.

    Knobs, counted in requests: `fail(status, times)` (inherited: an HTML 5xx before anything happens),
    `lose_creates(n)` (the order IS executed, then the connection drops: the classic duplicate-order trap),
    `stall(n, seconds, only=...)` (executed, answered after the client's timeout), `lookup_lag(n)` (order
    queries do not see any order yet), `hold = True` (new orders stay open until `fill_held()`),
    `unique_ids` ("open", as Binance: a client order id is unique among OPEN orders only; "all": never reused).
    """

    balances: dict[str, float] = field(default_factory=dict)  # free, per asset
    locked: dict[str, float] = field(default_factory=dict)
    prices: dict[str, float] = field(default_factory=dict)  # Binance id -> where the next market order fills
    taker_fee: float = 0.001  # 10 bps, Binance's default spot taker rate
    commission: Literal["quote", "received"] = "quote"
    api_key: str = API_KEY
    now_ms: int = START_MS  # the exchange's clock: stamps orders and trades
    hold: bool = False  # new orders stay open (NEW) until fill_held()
    unique_ids: Literal["open", "all"] = "open"
    orders: list[FakeOrder] = field(default_factory=list)
    lost_creates: int = 0
    stalled: int = 0
    stall_seconds: float = 0.0
    stall_only: str | None = None  # "POST /api/v3/order": stall only those requests
    lagging_lookups: int = 0
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    # --- knobs -----------------------------------------------------------------------------
    def lose_creates(self, times: int = 1) -> None:
        """Execute the next `times` new orders, then drop the connection instead of answering."""
        self.lost_creates = times

    def stall(self, times: int, seconds: float, *, only: str | None = None) -> None:
        """Handle the next `times` signed requests (those matching `only`, "METHOD /path") at once, but answer
        only after `seconds`: past the client's timeout, it sees a time-out for a request that was executed."""
        self.stalled, self.stall_seconds, self.stall_only = times, seconds, only

    def lookup_lag(self, times: int = 1) -> None:
        """The next `times` single-order queries answer 'Order does not exist.' (the order is not visible yet)."""
        self.lagging_lookups = times

    # --- what tests look at ----------------------------------------------------------------
    def creates(self, client_order_id: str | None = None) -> list[Request]:
        """Every POST /api/v3/order received (executed or not), optionally for one client order id."""
        return [
            r
            for r in self.requests
            if r.method == "POST"
            and r.path == "/api/v3/order"
            and (client_order_id is None or r.params.get("newClientOrderId") == client_order_id)
        ]

    def orders_with(self, client_order_id: str) -> list[FakeOrder]:
        return [o for o in self.orders if o.client_order_id == client_order_id]

    def trades(self) -> list[FakeTrade]:
        return [t for o in self.orders for t in o.trades]

    def ccxt(self, *, api_key: str | None = API_KEY, secret: str | None = API_SECRET) -> ccxt.binance:
        """A real ccxt.binance with the fake keys (or none), every url pointing at this server."""
        return binance_at(self.url, api_key=api_key, secret=secret)

    # --- acting on the book from the test side ----------------------------------------------
    def place_by_hand(self, symbol: str, side: str, quantity: float, *, client_order_id: str = "web_by_hand_1",
                      hold: bool = True) -> FakeOrder:  # fmt: skip
        """An order someone placed on the website, open unless `hold` is False."""
        with self._lock:
            status, body = self._new_order(
                {"symbol": symbol, "side": side.upper(), "type": "MARKET",
                 "quantity": str(quantity), "newClientOrderId": client_order_id},
                hold=hold,
            )  # fmt: skip
            if status != 200:
                raise AssertionError(f"place_by_hand refused: {body}")
            return self.orders[-1]

    def fill_held(self, symbol: str | None = None, price: float | None = None) -> None:
        """Fill every open order (of `symbol`) now, at `price` or the symbol's current price."""
        with self._lock:
            for order in self.orders:
                if order.status in _OPEN and (symbol is None or order.symbol == symbol):
                    self._unlock(order)
                    self._execute(order, price if price is not None else self.prices[order.symbol])

    # --- HTTP ------------------------------------------------------------------------------
    def handle(
        self, method: str, path: str, params: dict[str, str], api_key: str | None
    ) -> tuple[int, Any] | object:
        if not path.startswith(("/api/v3/order", "/api/v3/openOrders", "/api/v3/myTrades",
                                "/api/v3/account", "/sapi/")):  # fmt: skip
            return super().handle(method, path, params, api_key)
        with self._lock:
            self.requests.append(Request(path, params, method, api_key))
            if self.fail_status is not None and (self.fail_remaining is None or self.fail_remaining > 0):
                if self.fail_remaining is not None:
                    self.fail_remaining -= 1
                return self.fail_status, "<html><head><title>503 Service Unavailable</title></head></html>"
            if not api_key:
                return 401, {"code": -2014, "msg": "API-key format invalid."}
            if api_key != self.api_key:
                return 401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}
            answer = self._private(method, path, params)
            lose = method == "POST" and path == "/api/v3/order" and self.lost_creates > 0 and answer[0] == 200
            if lose:
                self.lost_creates -= 1
            delay = 0.0
            if self.stalled > 0 and self.stall_only in (None, f"{method} {path}"):
                self.stalled -= 1
                delay = self.stall_seconds
        if delay:
            time.sleep(delay)
        return DROP if lose else answer

    def _private(self, method: str, path: str, params: dict[str, str]) -> tuple[int, Any]:
        if path == "/api/v3/order" and method == "POST":
            return self._new_order(params, hold=self.hold)
        if path == "/api/v3/order" and method == "GET":
            return self._query_order(params)
        if path == "/api/v3/order" and method == "DELETE":
            return self._cancel(params)
        if path == "/api/v3/openOrders" and method == "GET":
            sym = params.get("symbol")
            return 200, [o.to_binance() for o in self.orders if o.status in _OPEN and sym in (None, o.symbol)]
        if path == "/api/v3/myTrades" and method == "GET":
            return self._my_trades(params)
        if path == "/api/v3/account" and method == "GET":
            return 200, self._account()
        if path in ("/sapi/v1/margin/allPairs", "/sapi/v1/margin/isolated/allPairs"):
            return 200, []
        if path == "/sapi/v1/capital/config/getall":
            return 200, self._coins()
        return 404, {"code": -1, "msg": f"unknown path {method} {path} (fake account)"}

    # --- endpoints -------------------------------------------------------------------------
    def _market(self, symbol: str) -> ReplayMarket | None:
        return next((m for m in self.markets if m.symbol == symbol), None)

    def _new_order(self, params: dict[str, str], *, hold: bool) -> tuple[int, Any]:
        market = self._market(params.get("symbol", ""))
        if market is None:
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        if params.get("type") != "MARKET":
            return 400, {"code": -1116, "msg": "Invalid orderType."}
        if "quantity" not in params:
            return 400, {
                "code": -1102,
                "msg": "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.",
            }
        side = params.get("side", "")
        qty = float(params["quantity"])
        cid = params.get("newClientOrderId") or f"fake_auto_{len(self.orders) + 1}"
        clash = [o for o in self.orders_with(cid) if self.unique_ids == "all" or o.status in _OPEN]
        if clash:
            return 400, {"code": -2010, "msg": "Duplicate order sent."}
        steps = Decimal(params["quantity"]) / Decimal(_num(market.step_size))
        if qty < market.min_qty or steps != steps.to_integral_value():
            return 400, {"code": -1013, "msg": "Filter failure: LOT_SIZE"}
        price = self.prices.get(market.symbol)
        if price is None:
            return 400, {"code": -2010, "msg": "Market is closed."}
        if qty * price < market.min_notional:
            return 400, {"code": -1013, "msg": "Filter failure: NOTIONAL"}
        cost = qty * price
        fee_in_quote = self.commission == "quote"
        if side == "BUY" and self.balances.get(market.quote, 0.0) < cost * (
            1 + self.taker_fee * fee_in_quote
        ):
            return 400, {"code": -2010, "msg": "Account has insufficient balance for requested action."}
        if side == "SELL" and self.balances.get(market.base, 0.0) < qty:
            return 400, {"code": -2010, "msg": "Account has insufficient balance for requested action."}
        order = FakeOrder(
            len(self.orders) + 1001, cid, market.symbol, side, qty, "NEW", self.now_ms, self.now_ms
        )
        self.orders.append(order)
        if hold:
            self._lock_funds(order, price)
        else:
            self._execute(order, price)
        return 200, order.to_binance(with_fills=True)

    def _execute(self, order: FakeOrder, price: float) -> None:
        market = self._market(order.symbol)
        assert market is not None
        qty, cost = order.quantity - order.executed, (order.quantity - order.executed) * price
        buy = order.side == "BUY"
        if self.commission == "quote":
            asset, commission = market.quote, cost * self.taker_fee
        else:
            asset = market.base if buy else market.quote
            commission = (qty if buy else cost) * self.taker_fee
        b = self.balances
        if buy:
            b[market.quote] = b.get(market.quote, 0.0) - cost
            b[market.base] = b.get(market.base, 0.0) + qty
        else:
            b[market.base] = b.get(market.base, 0.0) - qty
            b[market.quote] = b.get(market.quote, 0.0) + cost
        b[asset] -= commission
        trade_id = sum(len(o.trades) for o in self.orders) + 5001
        order.trades.append(FakeTrade(trade_id, order.order_id, order.symbol, buy, price, qty, commission,
                                      asset, self.now_ms))  # fmt: skip
        order.executed += qty
        order.quote_qty += cost
        order.status = "FILLED"
        order.update_ms = self.now_ms

    def _lock_funds(self, order: FakeOrder, price: float) -> None:
        """An open order reserves what it may spend: quote for a buy, base for a sell (Binance's 'locked')."""
        market = self._market(order.symbol)
        assert market is not None
        asset, amount = (
            (market.quote, order.quantity * price) if order.side == "BUY" else (market.base, order.quantity)
        )
        self.balances[asset] = self.balances.get(asset, 0.0) - amount
        self.locked[asset] = self.locked.get(asset, 0.0) + amount
        order.reserved = (asset, amount)

    def _unlock(self, order: FakeOrder) -> None:
        if order.reserved is None:
            return
        asset, amount = order.reserved
        self.locked[asset] = self.locked.get(asset, 0.0) - amount
        self.balances[asset] = self.balances.get(asset, 0.0) + amount
        order.reserved = None

    def _find(self, params: dict[str, str]) -> FakeOrder | None:
        symbol = params.get("symbol")
        if "orderId" in params:
            hits = [o for o in self.orders if str(o.order_id) == params["orderId"]]
        else:
            hits = self.orders_with(params.get("origClientOrderId", ""))
        hits = [o for o in hits if o.symbol == symbol]
        return hits[-1] if hits else None  # the newest of a reused client order id

    def _query_order(self, params: dict[str, str]) -> tuple[int, Any]:
        if "orderId" not in params and "origClientOrderId" not in params:
            return 400, {
                "code": -1102,
                "msg": "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            }
        order = self._find(params)
        if self.lagging_lookups > 0:
            self.lagging_lookups -= 1
            order = None
        if order is None:
            return 400, {"code": -2013, "msg": "Order does not exist."}
        return 200, order.to_binance()

    def _cancel(self, params: dict[str, str]) -> tuple[int, Any]:
        order = self._find(params)
        if order is None or order.status not in _OPEN:
            return 400, {"code": -2011, "msg": "Unknown order sent."}
        self._unlock(order)
        order.status = "CANCELED"
        order.update_ms = self.now_ms
        body = order.to_binance()
        body["origClientOrderId"] = order.client_order_id
        return 200, body

    def _my_trades(self, params: dict[str, str]) -> tuple[int, Any]:
        symbol = params.get("symbol")
        if self._market(symbol or "") is None:
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        rows = [t for t in self.trades() if t.symbol == symbol]
        if "orderId" in params:
            rows = [t for t in rows if str(t.order_id) == params["orderId"]]
        if "startTime" in params:
            rows = [t for t in rows if t.time_ms >= int(params["startTime"])]
        if "endTime" in params:
            rows = [t for t in rows if t.time_ms <= int(params["endTime"])]
        if "fromId" in params:
            rows = [t for t in rows if t.trade_id >= int(params["fromId"])]
        return 200, [t.to_binance() for t in rows[: int(params.get("limit", 500))]]

    def _account(self) -> dict[str, Any]:
        assets = sorted(set(self.balances) | set(self.locked))
        rate = _num(self.taker_fee)
        return {
            "makerCommission": 10, "takerCommission": 10, "buyerCommission": 0, "sellerCommission": 0,
            "commissionRates": {"maker": rate, "taker": rate, "buyer": "0.00000000", "seller": "0.00000000"},
            "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
            "requireSelfTradePrevention": False, "preventSor": False, "updateTime": self.now_ms,
            "accountType": "SPOT", "permissions": ["SPOT"], "uid": 354937868,
            "balances": [
                {"asset": a, "free": _num(self.balances.get(a, 0.0)), "locked": _num(self.locked.get(a, 0.0))}
                for a in assets
            ],
        }  # fmt: skip

    def _coins(self) -> list[dict[str, Any]]:
        assets = sorted({m.base for m in self.markets} | {m.quote for m in self.markets})
        return [
            {"coin": a, "name": a, "depositAllEnable": True, "withdrawAllEnable": True, "free": "0", "locked": "0",
             "freeze": "0", "withdrawing": "0", "ipoing": "0", "ipoable": "0", "storage": "0", "isLegalMoney": False,
             "trading": True, "networkList": []}
            for a in assets
        ]  # fmt: skip


@contextmanager
def fake_binance(
    markets: list[ReplayMarket] | None = None,
    *,
    balances: dict[str, float] | None = None,
    prices: dict[str, float] | None = None,
) -> Iterator[FakeBinance]:
    """Run a fake Binance spot account on a free loopback port for the duration of the block."""
    state = FakeBinance(
        markets=list(markets or FAKE_MARKETS),
        balances=dict(balances if balances is not None else {"USDT": 10_000.0}),
        prices=dict(prices or {"BTCUSDT": 50_000.0, "ETHUSDT": 3_000.0, "BNBUSDT": 400.0}),
    )
    with serve(state) as running:
        yield running


@pytest.fixture
def fake_binance_account() -> Iterator[FakeBinance]:
    """A fresh fake Binance account (10,000 USDT; BTC at 50,000, ETH at 3,000, BNB at 400) per test."""
    with fake_binance() as state:
        yield state
