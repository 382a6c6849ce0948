"""Candles from a real exchange through ccxt: paginated, rate-limited, retried, never faked.

The exchange id comes from config (data.exchange); tests inject an already-built ccxt exchange whose
API urls point at a local replay server. Symbols are BTCUSDT outside this module, BTC/USDT inside.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import ccxt
import polars as pl

from huracan_core.exceptions import ConfigError, ExchangeUnavailableError, HuracanError, UnknownSymbolError
from huracan_core.market.base import CandleSource
from huracan_core.market.candles import candles_from_rows, empty_candles
from huracan_core.market.symbols import from_ccxt, normalise_symbol, spot_symbol_table, unknown_symbol
from huracan_core.retry import retry
from huracan_core.timeframe import timeframe_ms

log = logging.getLogger(__name__)
T = TypeVar("T")

# Failures that may pass: retried with backoff, then reported as ExchangeUnavailableError. ccxt's
# OperationFailed is the family of "not your fault, try again": NetworkError (RequestTimeout,
# ExchangeNotAvailable, DDoSProtection, RateLimitExceeded) plus garbled or empty responses and the
# exchange's own "unknown error, retry" codes (Binance -1000/-1001).
RETRYABLE: tuple[type[BaseException], ...] = (
    ccxt.OperationFailed,
    ccxt.NetworkError,
    ccxt.RequestTimeout,
    ccxt.ExchangeNotAvailable,
    ccxt.DDoSProtection,
)
# Bars asked for per request; exchanges that allow fewer return fewer and the loop just goes on.
DEFAULT_PAGE_LIMIT = 1000


def build_exchange(exchange_id: str, *, timeout_ms: int = 15_000) -> ccxt.Exchange:
    """A public (no credentials) ccxt exchange for market data, rate limiting on, spot markets only."""
    cls = getattr(ccxt, exchange_id, None)
    if cls is None or not isinstance(cls, type):
        raise ConfigError(
            f"data.exchange: {exchange_id!r} is not a ccxt exchange id (e.g. binance, kraken, okx)"
        )
    options: dict[str, Any] = {"defaultType": "spot"}
    if exchange_id == "binance":
        # Only spot markets: skips two futures exchangeInfo calls on every load_markets.
        options["fetchMarkets"] = {"types": ["spot"]}
    return cls({"enableRateLimit": True, "timeout": timeout_ms, "options": options})


class ExchangeRequestError(HuracanError):
    """The exchange answered but refused the request (not a network problem): retrying will not help."""


class CcxtSource(CandleSource):
    """A ccxt exchange as a candle source."""

    name = "ccxt"

    def __init__(
        self,
        exchange: str | ccxt.Exchange = "binance",
        *,
        page_limit: int = DEFAULT_PAGE_LIMIT,
        attempts: int = 4,
        base_delay_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.exchange = build_exchange(exchange) if isinstance(exchange, str) else exchange
        # Rate limits are honoured by ccxt's own throttle; never turn it off.
        self.exchange.enableRateLimit = True
        self.page_limit = page_limit
        self.attempts = attempts
        self.base_delay_s = base_delay_s
        self.sleep = sleep
        self._table: dict[str, str] | None = None
        self._linear_loaded = False

    @property
    def exchange_id(self) -> str:
        return str(self.exchange.id)

    def describe(self) -> str:
        return f"ccxt {self.exchange_id}"

    # --- calls to the exchange ---------------------------------------------------------------
    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one API call with retries; a persistent network failure becomes ExchangeUnavailableError."""
        try:
            return retry(
                fn,
                what=f"{self.exchange_id} {what}",
                retry_on=RETRYABLE,
                attempts=self.attempts,
                base_delay_s=self.base_delay_s,
                sleep=self.sleep,
            )
        except RETRYABLE as exc:
            raise ExchangeUnavailableError(
                f"exchange {self.exchange_id} unreachable while {what} "
                f"(gave up after {self.attempts} attempts): {type(exc).__name__}: {_short(exc)}"
            ) from exc
        except ccxt.BadSymbol as exc:
            raise UnknownSymbolError(
                f"{self.exchange_id} does not know the symbol while {what}: {_short(exc)}"
            ) from exc
        except ccxt.BaseError as exc:
            raise ExchangeRequestError(
                f"exchange {self.exchange_id} refused the request while {what}: {type(exc).__name__}: {_short(exc)}"
            ) from exc

    def _symbol_table(self) -> dict[str, str]:
        if self._table is None:
            if not self.exchange.markets:
                self._call("loading markets", self.exchange.load_markets)
            self._table = spot_symbol_table(self.exchange.markets or {})
        return self._table

    def ccxt_symbol(self, symbol: str) -> str:
        """'BTCUSDT' -> the exchange's unified spot symbol; UnknownSymbolError with close matches."""
        table = self._symbol_table()
        sym = normalise_symbol(symbol)
        if sym not in table:
            raise unknown_symbol(sym, table, where=f"on {self.exchange_id} (spot)")
        return table[sym]

    # --- funding rates of the coin's perpetual ------------------------------------------------------
    def perpetual_symbol(self, symbol: str) -> str | None:
        """'BTCUSDT' -> the linear perpetual swap on the same pair ('BTC/USDT:USDT'), None when there is none.

        Loads the exchange's linear (USD-margined) markets once when only spot markets were loaded
        (`build_exchange` loads spot only, to keep candle fetches cheap)."""
        unified = self.ccxt_symbol(symbol)  # loads the spot markets
        spot = (self.exchange.markets or {}).get(unified) or {}
        self._load_linear_markets()
        for market in (self.exchange.markets or {}).values():
            if (
                market.get("swap")
                and market.get("linear")
                and market.get("active") is not False
                and market.get("base") == spot.get("base")
                and market.get("quote") == spot.get("quote")
                and market.get("settle") == spot.get("quote")
            ):
                return str(market["symbol"])
        return None

    def _load_linear_markets(self) -> None:
        if self._linear_loaded:
            return
        options = self.exchange.options.get("fetchMarkets")
        if isinstance(options, dict) and "linear" not in (options.get("types") or ["linear"]):
            self.exchange.options["fetchMarkets"] = {**options, "types": [*options["types"], "linear"]}
            self._call("loading perpetual markets", lambda: self.exchange.load_markets(reload=True))
        self._linear_loaded = True

    def fetch_funding(self, symbol: str, start_ms: int, end_ms: int) -> pl.DataFrame:
        """Funding rates settled in [start_ms, end_ms] of the coin's perpetual, paged with since/limit.

        (timestamp = funding time in epoch ms, funding_rate per period); rows as the exchange sent them
        (the lake's writer sorts, dedupes and checks them). UnknownSymbolError when there is no perpetual."""
        market = self.perpetual_symbol(symbol)
        if market is None:
            raise UnknownSymbolError(f"{symbol}: {self.exchange_id} lists no linear perpetual swap for it")
        rows: list[tuple[int, float]] = []
        cursor = start_ms
        while cursor <= end_ms:
            since = cursor
            page = self._call(
                f"fetching {symbol} funding rates from {since}",
                lambda since=since: self.exchange.fetch_funding_rate_history(
                    market, since=since, limit=self.page_limit, params={"until": end_ms}
                ),
            )
            got = [
                (int(r["timestamp"]), _rate(r.get("fundingRate")))
                for r in page
                if r.get("timestamp") is not None and since <= int(r["timestamp"]) <= end_ms
            ]
            if not got:
                break
            rows.extend(got)
            cursor = max(ts for ts, _ in got) + 1
        return pl.DataFrame(
            {"timestamp": [t for t, _ in rows], "funding_rate": [r for _, r in rows]},
            schema={"timestamp": pl.Int64, "funding_rate": pl.Float64},
        )

    # --- CandleSource --------------------------------------------------------------------------
    def list_symbols(self, timeframe: str | None = None) -> list[str]:
        return sorted(self._symbol_table())

    def fetch(
        self, symbol: str, timeframe: str, start_ms: int, end_ms: int, *, now_ms: int | None = None
    ) -> pl.DataFrame:
        """Page through fetch_ohlcv from start_ms, `page_limit` bars a call, until end_ms or no more bars."""
        tf = timeframe_ms(timeframe)
        market = self.ccxt_symbol(symbol)
        if timeframe not in (self.exchange.timeframes or {}):
            raise ConfigError(f"timeframe {timeframe!r} is not offered by {self.exchange_id}")
        limit = self._page_limit()
        rows: list[list[Any]] = []
        cursor = start_ms
        while cursor < end_ms:
            since = cursor
            page = self._call(
                f"fetching {symbol} {timeframe} candles from {since}",
                lambda since=since: self.exchange.fetch_ohlcv(
                    market, timeframe, since=since, limit=limit, params={"until": end_ms - 1}
                ),
            )
            page = [row for row in page if row and since <= int(row[0]) < end_ms]
            if not page:
                break
            rows.extend(page)
            last = max(int(row[0]) for row in page)
            if last + tf <= cursor:
                break
            cursor = last + tf
        frame = candles_from_rows(rows, symbol) if rows else empty_candles()
        if now_ms is not None:
            # The newest bar is still forming until its close; storing it would freeze a partial candle.
            frame = frame.filter(pl.col("timestamp") + tf <= now_ms)
        return frame

    def _page_limit(self) -> int:
        """Bars per request: ours, capped by what ccxt knows the exchange serves (okx 300, kraken 720)."""
        features = (getattr(self.exchange, "features", None) or {}).get("spot") or {}
        known = (features.get("fetchOHLCV") or {}).get("limit")
        return min(self.page_limit, int(known)) if known else self.page_limit

    def quote_volumes(
        self, symbols: Sequence[str], *, timeframe: str | None = None, as_of_ms: int | None = None
    ) -> dict[str, float]:
        """24h quote volume per symbol from one fetch_tickers call (0.0 for symbols without a ticker).

        The exchange only knows today's 24h volume: with an `as_of_ms` more than a day in the past that would
        rank by the future, so it is refused (rank from the lake, which keeps the history)."""
        if as_of_ms is not None and as_of_ms < int(time.time() * 1000) - 86_400_000:
            raise ConfigError(
                "a topN universe as of a past date cannot be ranked from the exchange's 24h tickers (they are "
                "today's volumes): use data.source lake (huracan data fetch fills it) or a list of symbols"
            )
        table = self._symbol_table()
        tickers = self._call("fetching 24h tickers", self.exchange.fetch_tickers)
        by_plain: dict[str, float] = {}
        for unified, ticker in tickers.items():
            market = (self.exchange.markets or {}).get(unified)
            if market is not None and not market.get("spot", False):
                continue
            qv = ticker.get("quoteVolume")
            if qv is None and ticker.get("baseVolume") is not None and ticker.get("last") is not None:
                qv = float(ticker["baseVolume"]) * float(ticker["last"])
            by_plain[from_ccxt(unified)] = float(qv or 0.0)
        return {
            s: by_plain.get(normalise_symbol(s), 0.0) if normalise_symbol(s) in table else 0.0
            for s in symbols
        }


def _rate(value: Any) -> float:
    """A funding rate as float; a missing one becomes NaN, which the lake's writer refuses by name."""
    return float("nan") if value is None else float(value)


def _short(exc: BaseException, limit: int = 200) -> str:
    text = str(exc).replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "..."
