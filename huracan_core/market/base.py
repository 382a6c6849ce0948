"""The candle source interface (ccxt, lake, synthetic): list symbols, fetch bars, rank by volume.

A source returns candle frames in the shared contract (see `candles.py`); ranges are half-open on the
bar OPEN time, [start_ms, end_ms). Time comes in as an argument (`now_ms`), never from the clock.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import polars as pl

from huracan_core.timeframe import DAY_MS, timeframe_ms

if TYPE_CHECKING:
    from huracan_core.market.lake import LakeSource

log = logging.getLogger(__name__)

# Called after each symbol of a fill: (symbol, bars added).
FillProgress = Callable[[str, int], None]


class CandleSource(ABC):
    """A place candles come from. Subclasses implement `list_symbols`, `fetch` and `quote_volumes`."""

    name: str = "source"

    @abstractmethod
    def list_symbols(self, timeframe: str | None = None) -> list[str]:
        """Every symbol (BTCUSDT form) this source can serve, sorted; `timeframe` narrows it where relevant."""

    @abstractmethod
    def fetch(
        self, symbol: str, timeframe: str, start_ms: int, end_ms: int, *, now_ms: int | None = None
    ) -> pl.DataFrame:
        """Bars whose open time is in [start_ms, end_ms), as a candle frame.

        With `now_ms`, a bar still open at that moment (open time + timeframe > now_ms) is dropped, so
        nothing downstream ever sees a candle whose close is not final. Unknown symbol:
        UnknownSymbolError naming it.
        """

    @abstractmethod
    def quote_volumes(
        self, symbols: Sequence[str], *, timeframe: str | None = None, as_of_ms: int | None = None
    ) -> dict[str, float]:
        """Recent traded value per symbol in the quote currency (24h for exchanges); used to rank a universe.

        `as_of_ms`: rank as of that moment, from bars that opened before it only (a backfill or a simulation
        must not pick its coins by volume traded after its as-of); None: the newest data."""

    def describe(self) -> str:
        """One line naming the source for logs and CLI output."""
        return self.name

    def first_timestamp(self, symbol: str, timeframe: str) -> int | None:
        """Open time of the first bar this source holds for the symbol (its listing, as far as the source
        knows), or None when it cannot tell cheaply; the data gates then take the first bar they are given."""
        return None

    def fill_lake(
        self,
        lake: LakeSource,
        symbols: Sequence[str],
        timeframe: str,
        days: float,
        now_ms: int,
        *,
        on_symbol: FillProgress | None = None,
    ) -> dict[str, int]:
        """Bring `lake` up to date for each symbol: fetch only bars the lake lacks, merge, write.

        Incremental: with a stored file, only bars after its last bar are fetched (plus older bars when
        `days` reaches further back than the file). An empty lake gets `days` of history. Only closed
        bars (open + timeframe <= now_ms) are stored. A failing fetch raises before anything is
        written for that symbol, so a file is either updated completely or left as it was.
        Returns bars added per symbol.
        """
        tf = timeframe_ms(timeframe)
        end = (now_ms // tf) * tf
        wanted_start = ((now_ms - int(days * DAY_MS)) // tf) * tf
        added: dict[str, int] = {}
        for symbol in symbols:
            ranges = _missing_ranges(lake, symbol, timeframe, wanted_start, end, tf)
            frames = [self.fetch(symbol, timeframe, a, b, now_ms=now_ms) for a, b in ranges]
            frames = [f for f in frames if f.height]
            n = lake.merge(symbol, timeframe, pl.concat(frames)) if frames else 0
            log.info("%s %s: %d bars added from %s", symbol, timeframe, n, self.describe())
            added[symbol] = n
            if on_symbol is not None:
                on_symbol(symbol, n)
        return added


def _missing_ranges(
    lake: LakeSource, symbol: str, timeframe: str, wanted_start: int, end: int, tf: int
) -> list[tuple[int, int]]:
    """The [start, end) ranges the lake lacks: before its first bar (if asked for) and after its last."""
    bounds = lake.bounds(symbol, timeframe)
    if bounds is None:
        return [(wanted_start, end)] if wanted_start < end else []
    first, last = bounds
    ranges = []
    if wanted_start < first:
        ranges.append((wanted_start, first))
    if last + tf < end:
        ranges.append((last + tf, end))
    return ranges
