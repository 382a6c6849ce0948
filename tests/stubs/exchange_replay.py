"""A local Binance: an http.server on 127.0.0.1 answering /api/v3/klines, /ticker/24hr and /exchangeInfo
in Binance's exact JSON, from candle frames given by the test; and the USD-M futures /fapi/v1/exchangeInfo
(a linear perpetual for each id in `perpetuals`) and /fapi/v1/fundingRate (from `funding` frames). A real `ccxt.binance()` is pointed at it by
rewriting its API urls, so ccxt's own request building, parsing and error mapping all run.

The server records every request (method, path and parameters) so tests can assert what was fetched, and
can be told to fail (HTTP status) for the next N requests or for all of them. `exchange_account.py` beside
this file extends it with Binance's signed spot account and order endpoints.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlparse

import ccxt
import polars as pl

from huracan_core.timeframe import TIMEFRAME_MS

REAL_HOSTS = (
    "https://api.binance.com",
    "https://fapi.binance.com",
    "https://dapi.binance.com",
    "https://eapi.binance.com",
    "https://papi.binance.com",
)
SERVER_TIME_MS = 1_800_000_000_000


@dataclass
class Request:
    path: str
    params: dict[str, str]
    method: str = "GET"
    api_key: str | None = None  # the X-MBX-APIKEY header, when sent


@dataclass
class ReplayMarket:
    """A spot market of the replayed exchange: Binance id, base, quote, its 24h quote volume, and the
    exchangeInfo filters ccxt turns into limits and precision (LOT_SIZE, NOTIONAL, PRICE_FILTER)."""

    symbol: str
    base: str
    quote: str
    quote_volume: float = 1_000_000.0
    min_qty: float = 0.00001  # LOT_SIZE minQty, base units
    step_size: float = 0.00001  # LOT_SIZE stepSize, base units
    min_notional: float = 5.0  # NOTIONAL minNotional, quote currency
    tick_size: float = 0.00000001  # PRICE_FILTER tickSize, quote currency


# What a handler returns to close the connection without answering (a response lost on the way back).
DROP = object()


@dataclass
class ExchangeReplay:
    """The replay server's state: markets, candles per (Binance id, interval), recorded requests."""

    markets: list[ReplayMarket]
    candles: dict[tuple[str, str], pl.DataFrame] = field(default_factory=dict)
    # Binance ids of the spot markets that also have a USDT-margined perpetual (BTCUSDT -> BTC/USDT:USDT).
    perpetuals: list[str] = field(default_factory=list)
    # Per perpetual id: (timestamp = fundingTime in epoch ms, funding_rate), what /fapi/v1/fundingRate serves.
    funding: dict[str, pl.DataFrame] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    fail_status: int | None = None
    # Requests still to fail with fail_status (None: every request fails while fail_status is set).
    fail_remaining: int | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kline_requests(self, symbol: str | None = None) -> list[Request]:
        return [
            r
            for r in self.requests
            if r.path.endswith("/klines") and (symbol is None or r.params.get("symbol") == symbol)
        ]

    def funding_requests(self, symbol: str | None = None) -> list[Request]:
        return [
            r
            for r in self.requests
            if r.path == "/fapi/v1/fundingRate" and (symbol is None or r.params.get("symbol") == symbol)
        ]

    def fail(self, status: int, times: int | None = None) -> None:
        self.fail_status, self.fail_remaining = status, times

    def binance(self) -> ccxt.binance:
        """A real ccxt.binance whose every API url points at this server (spot markets only)."""
        return binance_at(self.url)

    # --- responses -------------------------------------------------------------------------
    def handle(
        self, method: str, path: str, params: dict[str, str], api_key: str | None
    ) -> tuple[int, Any] | object:
        """One HTTP request: (status, JSON body or HTML text), or DROP. The replay serves GET only."""
        if method != "GET":
            self.requests.append(Request(path, params, method, api_key))
            return 405, {"code": -1, "msg": f"{method} {path} is not served by the replay"}
        return self.respond(path, params)

    def respond(self, path: str, params: dict[str, str]) -> tuple[int, Any]:
        self.requests.append(Request(path, params))
        if self.fail_status is not None and (self.fail_remaining is None or self.fail_remaining > 0):
            if self.fail_remaining is not None:
                self.fail_remaining -= 1
            # What a CDN in front of the exchange sends: an HTML error page, not the API's JSON.
            return self.fail_status, _HTML_ERROR
        if path == "/api/v3/exchangeInfo":
            return 200, self._exchange_info()
        if path == "/api/v3/ticker/24hr":
            if "symbol" in params:
                one = next((m for m in self.markets if m.symbol == params["symbol"]), None)
                return (200, self._ticker(one)) if one else (400, {"code": -1121, "msg": "Invalid symbol."})
            return 200, [self._ticker(m) for m in self.markets]
        if path == "/api/v3/klines":
            return self._klines(params)
        if path == "/fapi/v1/exchangeInfo":
            return 200, self._futures_exchange_info()
        if path == "/fapi/v1/fundingRate":
            return self._funding_rate(params)
        if path == "/api/v3/time":
            return 200, {"serverTime": SERVER_TIME_MS}
        return 404, {"code": -1, "msg": f"unknown path {path} (replay)"}

    def _exchange_info(self) -> dict[str, Any]:
        return {
            "timezone": "UTC",
            "serverTime": SERVER_TIME_MS,
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000}
            ],
            "exchangeFilters": [],
            "symbols": [_symbol_info(m) for m in self.markets],
        }

    def _futures_exchange_info(self) -> dict[str, Any]:
        perps = [m for m in self.markets if m.symbol in self.perpetuals]
        return {
            "timezone": "UTC",
            "serverTime": SERVER_TIME_MS,
            "futuresType": "U_MARGINED",
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400}
            ],
            "exchangeFilters": [],
            "assets": [],
            "symbols": [_perpetual_info(m) for m in perps],
        }

    def _funding_rate(self, params: dict[str, str]) -> tuple[int, Any]:
        """Binance's semantics: startTime/endTime inclusive on fundingTime, limit default 100 and at most
        1000, the first `limit` from startTime (the newest `limit` without it), ascending."""
        symbol = params.get("symbol", "")
        if symbol not in self.perpetuals:
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        limit = min(int(params.get("limit", 100)), 1000)
        frame = self.funding.get(symbol)
        if frame is None:
            return 200, []
        frame = frame.sort("timestamp")
        if "startTime" in params:
            frame = frame.filter(pl.col("timestamp") >= int(params["startTime"]))
        if "endTime" in params:
            frame = frame.filter(pl.col("timestamp") <= int(params["endTime"]))
        frame = frame.head(limit) if "startTime" in params else frame.tail(limit)
        rows = [
            {"symbol": symbol, "fundingTime": int(ts), "fundingRate": None if rate is None or rate != rate else f"{rate:.8f}",
             "markPrice": "100.00000000"}
            for ts, rate in frame.select("timestamp", "funding_rate").iter_rows()
        ]  # fmt: skip
        return 200, rows

    def _ticker(self, m: ReplayMarket) -> dict[str, Any]:
        frame = next((f for (sym, _), f in self.candles.items() if sym == m.symbol and f.height), None)
        last = float(frame["close"][-1]) if frame is not None else 1.0
        return {
            "symbol": m.symbol, "priceChange": "0.00000000", "priceChangePercent": "0.000",
            "weightedAvgPrice": str(last), "prevClosePrice": str(last), "lastPrice": str(last),
            "lastQty": "1.00000000", "bidPrice": str(last), "bidQty": "1.00000000", "askPrice": str(last),
            "askQty": "1.00000000", "openPrice": str(last), "highPrice": str(last), "lowPrice": str(last),
            "volume": str(m.quote_volume / last), "quoteVolume": str(m.quote_volume),
            "openTime": SERVER_TIME_MS - 86_400_000, "closeTime": SERVER_TIME_MS, "firstId": 1, "lastId": 2, "count": 2,
        }  # fmt: skip

    def _klines(self, params: dict[str, str]) -> tuple[int, Any]:
        symbol, interval = params.get("symbol", ""), params.get("interval", "")
        if symbol not in {m.symbol for m in self.markets}:
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        if interval not in TIMEFRAME_MS:
            return 400, {"code": -1120, "msg": "Invalid interval."}
        limit = min(int(params.get("limit", 500)), 1000)
        frame = self.candles.get((symbol, interval))
        if frame is None:
            return 200, []
        if "startTime" in params:
            frame = frame.filter(pl.col("timestamp") >= int(params["startTime"]))
        if "endTime" in params:
            frame = frame.filter(pl.col("timestamp") <= int(params["endTime"]))
        frame = frame.head(limit) if "startTime" in params else frame.tail(limit)
        tf = TIMEFRAME_MS[interval]
        rows = []
        for ts, o, h, low, c, v in frame.iter_rows():
            rows.append([ts, f"{o:.8f}", f"{h:.8f}", f"{low:.8f}", f"{c:.8f}", f"{v:.8f}", ts + tf - 1,
                         f"{v * c:.8f}", 100, f"{v / 2:.8f}", f"{v * c / 2:.8f}", "0"])  # fmt: skip
        return 200, rows


_HTML_ERROR = "<html><head><title>503 Service Temporarily Unavailable</title></head><body></body></html>"


def _symbol_info(m: ReplayMarket) -> dict[str, Any]:
    return {
        "symbol": m.symbol, "status": "TRADING", "baseAsset": m.base, "baseAssetPrecision": 8,
        "quoteAsset": m.quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True, "ocoAllowed": True, "otoAllowed": True, "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True, "cancelReplaceAllowed": True, "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": f"{m.tick_size:.8f}", "maxPrice": "1000000.00000000", "tickSize": f"{m.tick_size:.8f}"},
            {"filterType": "LOT_SIZE", "minQty": f"{m.min_qty:.8f}", "maxQty": "9000.00000000", "stepSize": f"{m.step_size:.8f}"},
            {"filterType": "NOTIONAL", "minNotional": f"{m.min_notional:.8f}", "applyMinToMarket": True,
             "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
        ],
        "permissions": [], "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }  # fmt: skip


def _perpetual_info(m: ReplayMarket) -> dict[str, Any]:
    return {
        "symbol": m.symbol, "pair": m.symbol, "contractType": "PERPETUAL", "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000, "status": "TRADING", "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000", "baseAsset": m.base, "quoteAsset": m.quote, "marginAsset": m.quote,
        "pricePrecision": 2, "quantityPrecision": 3, "baseAssetPrecision": 8, "quotePrecision": 8,
        "underlyingType": "COIN", "underlyingSubType": [], "settlePlan": 0, "triggerProtect": "0.0500",
        "liquidationFee": "0.012500", "marketTakeBound": "0.05",
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.10", "maxPrice": "4529764", "tickSize": "0.10"},
            {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "1000", "stepSize": "0.001"},
            {"filterType": "MARKET_LOT_SIZE", "minQty": "0.001", "maxQty": "120", "stepSize": "0.001"},
            {"filterType": "MIN_NOTIONAL", "notional": "100"},
        ],
        "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
    }  # fmt: skip


def binance_at(base_url: str, *, api_key: str | None = None, secret: str | None = None) -> ccxt.binance:
    """A real ccxt.binance (spot only) with every API url rewritten to `base_url`, with API keys if given."""
    config: dict[str, Any] = {
        "enableRateLimit": True,
        "timeout": 3_000,
        "options": {"fetchMarkets": {"types": ["spot"]}},
    }
    if api_key is not None:
        config["apiKey"] = api_key
    if secret is not None:
        config["secret"] = secret
    exchange = ccxt.binance(config)
    # The replay answers at once; ccxt's throttle still runs, just with a short interval.
    exchange.rateLimit = 1
    api = exchange.urls["api"]
    for key, value in list(api.items()):
        if isinstance(value, str):
            for host in REAL_HOSTS:
                value = value.replace(host, base_url)
            api[key] = value
    return exchange


def _handler(state: ExchangeReplay) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def _serve(self, method: str) -> None:
            parsed = urlparse(self.path)
            params = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                # Signed POSTs carry their parameters form-encoded in the body.
                body_params = parse_qs(self.rfile.read(length).decode())
                params.update({k: v[-1] for k, v in body_params.items()})
            answer = state.handle(method, parsed.path, params, self.headers.get("X-MBX-APIKEY"))
            if answer is DROP:
                self.close_connection = True
                return
            status, body = answer  # type: ignore[misc]
            html = isinstance(body, str)
            data = body.encode() if html else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html" if html else "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@contextmanager
def exchange_replay(
    markets: list[ReplayMarket],
    candles: dict[tuple[str, str], pl.DataFrame] | None = None,
    *,
    perpetuals: list[str] | None = None,
    funding: dict[str, pl.DataFrame] | None = None,
) -> Iterator[ExchangeReplay]:
    """Run the replay server in a thread on a free loopback port for the duration of the block."""
    state = ExchangeReplay(
        markets=markets, candles=dict(candles or {}), perpetuals=list(perpetuals or []), funding=dict(funding or {})
    )
    with serve(state) as state:
        yield state


S = TypeVar("S", bound=ExchangeReplay)


@contextmanager
def serve(state: S) -> Iterator[S]:
    """Serve `state` (a replay or a subclass) on a free loopback port for the duration of the block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="exchange-replay", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def closed_port_url() -> str:
    """A loopback url on which nothing listens (the port was free a moment ago): connection refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
