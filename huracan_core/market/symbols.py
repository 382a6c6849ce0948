"""Symbol spelling: users write BTCUSDT everywhere; ccxt's BTC/USDT lives only inside the ccxt adapter."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from huracan_core.exceptions import UnknownSymbolError

# Longest first, so FDUSD is not read as ...FD + USD, and BTCUSDT ends in USDT rather than ...T.
KNOWN_QUOTES: tuple[str, ...] = ("FDUSD", "USDT", "USDC", "BUSD", "BTC", "ETH")
# Stablecoins and fiat: a pair of one against USDT carries no trading edge worth modelling.
STABLE_BASES = frozenset(
    {
        "USDC",
        "BUSD",
        "TUSD",
        "FDUSD",
        "USDP",
        "DAI",
        "PAX",
        "USDD",
        "PYUSD",
        "USD1",
        "EUR",
        "EURI",
        "AEUR",
        "GBP",
        "UST",
    }
)
# Binance leveraged tokens are BASE + one of these (BTCUP, ETHDOWN, BNBBULL).
LEVERAGED_SUFFIXES: tuple[str, ...] = ("UP", "DOWN", "BULL", "BEAR")
_PLAIN = re.compile(r"^[A-Z0-9]{2,20}$")


def normalise_symbol(text: str) -> str:
    """'btc/usdt', 'BTC-USDT' or 'BTC/USDT:USDT' -> 'BTCUSDT'."""
    sym = text.strip().upper()
    sym = sym.split(":", 1)[0]
    return sym.replace("/", "").replace("-", "").replace("_", "")


def split_symbol(symbol: str, quotes: Iterable[str] = KNOWN_QUOTES) -> tuple[str, str]:
    """'BTCUSDT' -> ('BTC', 'USDT') using the known quote currencies; ValueError when none matches."""
    sym = normalise_symbol(symbol)
    for quote in sorted(quotes, key=len, reverse=True):
        if sym.endswith(quote) and len(sym) > len(quote):
            return sym[: -len(quote)], quote
    raise ValueError(f"symbol {symbol!r} does not end in a known quote currency ({', '.join(KNOWN_QUOTES)})")


def from_ccxt(ccxt_symbol: str) -> str:
    """'BTC/USDT' (or 'BTC/USDT:USDT' for swaps) -> 'BTCUSDT'."""
    return normalise_symbol(ccxt_symbol)


def to_ccxt(symbol: str, markets: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """'BTCUSDT' -> 'BTC/USDT'. With the exchange's markets, the spot market of that name is used.

    Without markets the split relies on KNOWN_QUOTES. With markets an unknown symbol raises
    UnknownSymbolError naming close matches.
    """
    sym = normalise_symbol(symbol)
    if markets is not None:
        table = spot_symbol_table(markets)
        if sym in table:
            return table[sym]
        raise unknown_symbol(sym, table, where="on the exchange")
    base, quote = split_symbol(sym)
    return f"{base}/{quote}"


def spot_symbol_table(markets: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """{'BTCUSDT': 'BTC/USDT', ...} for every active spot market of a ccxt exchange."""
    table: dict[str, str] = {}
    for unified, market in markets.items():
        if not market.get("spot", False) or market.get("active") is False:
            continue
        base, quote = market.get("base"), market.get("quote")
        plain = f"{base}{quote}".upper() if base and quote else from_ccxt(unified)
        table.setdefault(plain, unified)
    return table


def is_leveraged_token(symbol: str, known_bases: Iterable[str] = ()) -> bool:
    """BTCUPUSDT, ETHDOWNUSDT, BNBBULLUSDT: leveraged tokens. JUPUSDT is not (J is not a coin we know)."""
    try:
        base, _ = split_symbol(symbol)
    except ValueError:
        return False
    bases = set(known_bases) | {"BTC", "ETH", "BNB", "XRP", "ADA", "DOT", "LINK", "LTC", "TRX", "EOS", "XTZ"}
    return any(base.endswith(suffix) and base[: -len(suffix)] in bases for suffix in LEVERAGED_SUFFIXES)


def is_stable_pair(symbol: str) -> bool:
    """USDCUSDT, FDUSDUSDT, EURUSDT: a stablecoin or fiat against the quote."""
    try:
        base, _ = split_symbol(symbol)
    except ValueError:
        return False
    return base in STABLE_BASES


def is_plain_symbol(symbol: str) -> bool:
    return bool(_PLAIN.match(symbol))


def unknown_symbol(symbol: str, known: Iterable[str], *, where: str) -> UnknownSymbolError:
    """An UnknownSymbolError naming the symbol, where it was looked for, and up to three close matches."""
    close = difflib.get_close_matches(symbol, list(known), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return UnknownSymbolError(f"unknown symbol {symbol} {where}{hint}")
