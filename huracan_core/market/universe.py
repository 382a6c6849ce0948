"""The trading universe: an explicit symbol list, "topN" (most traded USDT pairs), or "file:PATH"."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

from huracan_core.exceptions import ConfigError, ExchangeUnavailableError
from huracan_core.market.base import CandleSource
from huracan_core.market.lake import LakeSource
from huracan_core.market.symbols import (
    KNOWN_QUOTES,
    is_leveraged_token,
    is_plain_symbol,
    is_stable_pair,
    normalise_symbol,
    split_symbol,
    unknown_symbol,
)

log = logging.getLogger(__name__)
_TOPN = re.compile(r"^top([1-9][0-9]{0,3})$", re.IGNORECASE)


def resolve_universe(
    spec: str | Sequence[str],
    source: CandleSource,
    timeframe: str,
    lake: LakeSource | None = None,
    *,
    quote: str = "USDT",
    as_of_ms: int | None = None,
) -> list[str]:
    """The symbols a run works on, in BTCUSDT form; a "topN" is ranked as of `as_of_ms` (None: now).

    - a list (or "A,B"): passed through in order, each checked against `source.list_symbols()`
      (UnknownSymbolError naming the first unknown one and close matches);
    - "topN": the N most traded `quote` pairs, by `source.quote_volumes` (24h on an exchange, last
      seven days in the lake, nominal volume in the synthetic market), leveraged tokens and
      stablecoin pairs left out. When the exchange is unreachable and a `lake` is given, the lake's
      symbols are ranked instead (logged) — real data, never synthetic;
    - "file:PATH": one symbol a line, '#' starts a comment; then checked like a list.
    """
    if isinstance(spec, str):
        text = spec.strip()
        match = _TOPN.match(text)
        if match:
            return top_symbols(int(match.group(1)), source, timeframe, lake=lake, quote=quote, as_of_ms=as_of_ms)
        if text.startswith("file:"):
            return _validated(read_symbol_file(Path(text[len("file:") :])), source, timeframe)
        spec = [part for part in text.split(",") if part.strip()]
    return _validated([normalise_symbol(s) for s in spec], source, timeframe)


def read_symbol_file(path: Path) -> list[str]:
    """Symbols from a text file: one a line, blank lines and '#' comments ignored, duplicates dropped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise ConfigError(f"symbols file {path} does not exist") from None
    out: list[str] = []
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        sym = normalise_symbol(text)
        if not is_plain_symbol(sym):
            raise ConfigError(f"symbols file {path}, line {number}: {text!r} is not like BTCUSDT")
        if sym not in out:
            out.append(sym)
    if not out:
        raise ConfigError(f"symbols file {path} lists no symbols")
    return out


def top_symbols(
    n: int,
    source: CandleSource,
    timeframe: str,
    *,
    lake: LakeSource | None = None,
    quote: str = "USDT",
    as_of_ms: int | None = None,
) -> list[str]:
    """The `n` most traded tradable `quote` pairs of `source`, largest first (ties by name)."""
    try:
        return _rank(n, source, timeframe, quote, as_of_ms)
    except ExchangeUnavailableError as exc:
        if lake is None or lake is source or not lake.symbols(timeframe):
            raise
        log.warning("%s; ranking the lake's %s symbols by recent quote volume instead", exc, timeframe)
        return _rank(n, lake, timeframe, quote, as_of_ms)


def _rank(n: int, source: CandleSource, timeframe: str, quote: str, as_of_ms: int | None = None) -> list[str]:
    symbols = source.list_symbols(timeframe)
    bases = {_base(s) for s in symbols}
    candidates = [
        s
        for s in symbols
        if _quote(s, quote) == quote and not is_leveraged_token(s, bases) and not is_stable_pair(s)
    ]
    if not candidates:
        raise ConfigError(f"{source.describe()} has no {quote} pairs to pick the top {n} from")
    volumes = source.quote_volumes(candidates, timeframe=timeframe, as_of_ms=as_of_ms)
    if as_of_ms is not None:  # a coin with no bar before the as-of was not listed yet: it cannot be picked
        candidates = [s for s in candidates if volumes.get(s, 0.0) > 0.0]
    ranked = sorted(candidates, key=lambda s: (-volumes.get(s, 0.0), s))
    if len(ranked) < n:
        log.warning(
            "asked for the top %d but %s has only %d %s pairs", n, source.describe(), len(ranked), quote
        )
    return ranked[:n]


def _validated(symbols: list[str], source: CandleSource, timeframe: str) -> list[str]:
    known = set(source.list_symbols(timeframe))
    out: list[str] = []
    for sym in symbols:
        if sym not in known:
            raise unknown_symbol(sym, known, where=f"in {source.describe()}")
        if sym not in out:
            out.append(sym)
    if not out:
        raise ConfigError("the symbol list is empty")
    return out


def _base(symbol: str) -> str:
    try:
        return split_symbol(symbol)[0]
    except ValueError:
        return symbol


def _quote(symbol: str, quote: str) -> str | None:
    try:
        return split_symbol(symbol, (*KNOWN_QUOTES, quote))[1]
    except ValueError:
        return None
