"""The candle lake: <root>/candles/<timeframe>/<SYMBOL>.parquet on a local folder or s3://bucket/prefix.

The engine reads candles from here; `fill_lake` (any source) keeps it up to date. Writes merge and go
through Storage.write_parquet, which is atomic, so a reader never sees half a file; a file that cannot
be read is reported (CorruptFileError naming it) and never overwritten.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from typing import Any

import polars as pl

from huracan_core.archive import Storage, paths
from huracan_core.config import DataGatesConfig
from huracan_core.exceptions import CorruptFileError, DataIntegrityError
from huracan_core.market.base import CandleSource
from huracan_core.market.candles import (
    empty_candles,
    format_ms,
    merge_candles,
    normalise_candles,
    validate_candles,
)
from huracan_core.market.gates import check_candles
from huracan_core.market.symbols import unknown_symbol
from huracan_core.timeframe import DAY_MS, TIMEFRAME_MS, timeframe_ms

# Window of recent bars used to rank symbols by traded value (seven days, as "recent" on an exchange).
RANKING_WINDOW_MS = 7 * DAY_MS


class LakeSource(CandleSource):
    """Candles stored in the lake; also the writer that sources fill."""

    name = "lake"

    def __init__(self, root: str | os.PathLike[str] | Storage) -> None:
        self.storage = root if isinstance(root, Storage) else Storage(root)

    def describe(self) -> str:
        return f"lake {self.storage.root}"

    def url(self, symbol: str, timeframe: str) -> str:
        """Where a symbol's candles live (what a user would `ls`)."""
        return self.storage.url(paths.lake_candles(timeframe, symbol))

    # --- reading -----------------------------------------------------------------------------
    def has(self, symbol: str, timeframe: str) -> bool:
        return self.storage.exists(paths.lake_candles(timeframe, symbol))

    def read(self, symbol: str, timeframe: str) -> pl.DataFrame:
        """The whole stored frame. Missing file: UnknownSymbolError; unreadable: CorruptFileError naming it."""
        timeframe_ms(timeframe)
        key = paths.lake_candles(timeframe, symbol)
        if not self.storage.exists(key):
            raise unknown_symbol(
                symbol,
                self.symbols(timeframe),
                where=f"in the lake ({self.storage.url(paths.lake_timeframe_dir(timeframe))})",
            )
        frame = self.storage.read_parquet(key)
        try:
            validate_candles(frame, symbol)
        except DataIntegrityError as exc:
            raise DataIntegrityError(f"{self.storage.url(key)}: {exc}") from None
        return frame

    def fetch(
        self, symbol: str, timeframe: str, start_ms: int, end_ms: int, *, now_ms: int | None = None
    ) -> pl.DataFrame:
        tf = timeframe_ms(timeframe)
        frame = self.read(symbol, timeframe).filter(
            (pl.col("timestamp") >= start_ms) & (pl.col("timestamp") < end_ms)
        )
        if now_ms is not None:
            frame = frame.filter(pl.col("timestamp") + tf <= now_ms)
        return frame

    def bounds(self, symbol: str, timeframe: str) -> tuple[int, int] | None:
        """(first, last) bar open times stored for the symbol, or None when it has no file or no rows."""
        key = paths.lake_candles(timeframe, symbol)
        if not self.storage.exists(key):
            return None
        data = self.storage.read_bytes(key)
        try:
            ts = pl.read_parquet(io.BytesIO(data), columns=["timestamp"])["timestamp"]
        except Exception as exc:
            raise CorruptFileError(f"{self.storage.url(key)} is not a readable parquet file: {exc}") from None
        if ts.len() == 0:
            return None
        return int(ts.min()), int(ts.max())  # type: ignore[arg-type]

    def first_timestamp(self, symbol: str, timeframe: str) -> int | None:
        """Open time of the oldest stored bar, or None when nothing is stored."""
        bounds = self.bounds(symbol, timeframe)
        return None if bounds is None else bounds[0]

    def last_timestamp(self, symbol: str, timeframe: str) -> int | None:
        """Open time of the newest stored bar, or None when nothing is stored."""
        bounds = self.bounds(symbol, timeframe)
        return None if bounds is None else bounds[1]

    def symbols(self, timeframe: str) -> list[str]:
        """Symbols with a file for `timeframe`, sorted."""
        out = []
        for key in self.storage.list(paths.lake_timeframe_dir(timeframe)):
            name = key.rsplit("/", 1)[-1]
            if name.endswith(".parquet"):
                out.append(name[: -len(".parquet")])
        return sorted(out)

    def timeframes(self) -> list[str]:
        """Timeframes that have a folder in the lake, shortest bar first."""
        present = {key.rsplit("/", 1)[-1] for key in self.storage.list("candles")}
        return [tf for tf in TIMEFRAME_MS if tf in present]

    def list_symbols(self, timeframe: str | None = None) -> list[str]:
        if timeframe is not None:
            return self.symbols(timeframe)
        return sorted({s for tf in self.timeframes() for s in self.symbols(tf)})

    def quote_volumes(
        self, symbols: Sequence[str], *, timeframe: str | None = None, as_of_ms: int | None = None
    ) -> dict[str, float]:
        """Sum of close * volume over the last seven days stored for each symbol (0.0 when absent), or over
        the seven days before `as_of_ms` from the bars closed by then (0.0 for a coin not listed yet).

        A coin whose file starts less than seven days before its last bar (a new listing) is ranked by
        its traded value since its first bar, scaled to seven days, not penalised for days it did not exist.
        """
        out: dict[str, float] = {}
        for symbol in symbols:
            tf = timeframe or next((t for t in self.timeframes() if self.has(symbol, t)), None)
            if tf is None or not self.has(symbol, tf):
                out[symbol] = 0.0
                continue
            frame = self.read(symbol, tf)
            if as_of_ms is not None:
                frame = frame.filter(pl.col("timestamp") + timeframe_ms(tf) <= as_of_ms)
            if frame.height == 0:
                out[symbol] = 0.0
                continue
            cutoff = int(frame["timestamp"].max()) - RANKING_WINDOW_MS  # type: ignore[arg-type]
            recent = frame.filter(pl.col("timestamp") > cutoff)
            total = float((recent["close"] * recent["volume"]).sum())
            span = int(frame["timestamp"].max()) + timeframe_ms(tf) - int(frame["timestamp"].min())  # type: ignore[arg-type]
            out[symbol] = total * RANKING_WINDOW_MS / span if span < RANKING_WINDOW_MS else total
        return out

    # --- writing -----------------------------------------------------------------------------
    def write(self, symbol: str, timeframe: str, frame: pl.DataFrame) -> None:
        """Replace the symbol's file with `frame` (normalised: cast, sorted, unique), atomically."""
        timeframe_ms(timeframe)
        clean = normalise_candles(frame, symbol)
        self.storage.write_parquet(paths.lake_candles(timeframe, symbol), clean)

    def merge(self, symbol: str, timeframe: str, frame: pl.DataFrame) -> int:
        """Add `frame`'s bars to the stored ones (new rows win on equal timestamps); return bars added.

        Reads the stored file first: if it is corrupt, CorruptFileError is raised and the file is left
        exactly as it was, for a human to look at.
        """
        old = self.read(symbol, timeframe) if self.has(symbol, timeframe) else empty_candles()
        merged = merge_candles(old, frame, symbol)
        added = merged.height - old.height
        if merged.height and (added or not merged.equals(old)):
            self.storage.write_parquet(paths.lake_candles(timeframe, symbol), merged)
        return added

    # --- reporting ---------------------------------------------------------------------------
    def summary(self, symbol: str, timeframe: str, gates: DataGatesConfig | None = None) -> dict[str, Any]:
        """What `huracan data show` prints: rows, first/last bar, gaps, median quote volume, gate verdict."""
        frame = self.read(symbol, timeframe)
        gates = gates or DataGatesConfig()
        result = check_candles(frame, symbol, timeframe, gates)
        stats = result.stats
        if "first_ms" not in stats and frame.height:
            # The verdict stands (e.g. duplicates); the numbers come from a repaired copy.
            stats = check_candles(frame, symbol, timeframe, gates, repair=True).stats
        return {
            "symbol": symbol,
            "timeframe": timeframe,
            "path": self.url(symbol, timeframe),
            "rows": frame.height,
            "first_ms": stats.get("first_ms"),
            "last_ms": stats.get("last_ms"),
            "first_bar": format_ms(stats.get("first_ms")),
            "last_bar": format_ms(stats.get("last_ms")),
            "history_days": stats.get("history_days", 0.0),
            "gaps": stats.get("gaps", 0),
            "missing_bars": stats.get("missing_bars", 0),
            "largest_gap_bars": stats.get("largest_gap_bars", 0),
            "gap_pct": stats.get("gap_pct", 0.0),
            "zero_volume_pct": stats.get("zero_volume_pct", 0.0),
            "median_quote_volume": stats.get("median_quote_volume", 0.0),
            "gate_ok": result.ok,
            "gate_reason": result.reason,
        }
