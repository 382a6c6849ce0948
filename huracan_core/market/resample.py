"""Resample lake candles to a coarser timeframe (5m -> 15m, 1h -> 4h, ...) without inventing a bar.

A coarse bar is written only when every fine bar of its bucket is present; a bucket with a missing fine
bar is skipped and counted as a gap. Buckets are aligned to the UTC epoch, as exchanges label them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl

from huracan_core.exceptions import ConfigError, DataIntegrityError
from huracan_core.market.candles import empty_candles, format_ms, validate_candles
from huracan_core.market.lake import LakeSource
from huracan_core.timeframe import TIMEFRAME_MS

_DURATION = re.compile(r"^(\d+)([mhd])$")
_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000}


@dataclass(frozen=True)
class ResampleResult:
    """One symbol's resampling: the coarse bars and what was left out, and why."""

    symbol: str
    source_timeframe: str
    target_timeframe: str
    frame: pl.DataFrame  # the complete coarse bars, lake format
    source_bars: int
    # Buckets between the first and the last complete one that got no bar: a fine bar was missing
    # (skipped_buckets counts those that had some fine bars, whose bars were left unused) or all were.
    gap_buckets: int
    skipped_buckets: int
    missing_source_bars: int  # fine bars missing inside those gap buckets
    # An incomplete first bucket (the data starts inside it) and an incomplete last one (still forming,
    # or the data ends inside it): dropped, not gaps; a later run writes the last one once it is complete.
    partial_first: bool
    partial_last: bool
    first_skipped_ms: int | None  # open time of the first gap bucket, for the report

    @property
    def bars(self) -> int:
        return self.frame.height


def resample_factor(source: str, target: str) -> int:
    """How many `source` bars make one `target` bar; ConfigError naming the problem when they cannot."""
    problems = []
    for flag, tf in (("--from", source), ("--to", target)):
        if tf not in TIMEFRAME_MS:
            problems.append(f"{flag} {tf} is not a supported timeframe (allowed: {', '.join(TIMEFRAME_MS)})")
    src_ms, dst_ms = _duration_ms(source), _duration_ms(target)
    if src_ms is not None and dst_ms is not None:
        if dst_ms == src_ms:
            problems.append(f"{target} is the timeframe the candles already have: nothing to resample")
        elif dst_ms < src_ms:
            problems.append(
                f"{target} is finer than {source}: a {source} bar cannot be split into {target} bars "
                "without inventing prices; fetch the finer candles instead"
            )
        elif dst_ms % src_ms:
            problems.append(
                f"{target} is not a whole multiple of {source} ({dst_ms / src_ms:.2f} {source} bars per "
                f"{target} bar); pick a target such as {_multiples(source)}"
            )
    if problems:
        raise ConfigError(f"cannot resample {source} to {target}: " + "; ".join(problems))
    return dst_ms // src_ms  # type: ignore[operator]


def resample_candles(frame: pl.DataFrame, symbol: str, source: str, target: str) -> ResampleResult:
    """The complete `target` bars of a `source` lake frame (sorted, unique, on the `source` grid).

    open = first open, high = max, low = min, close = last close, volume = sum, labelled by the bucket's
    open time (epoch-aligned: a 15m bucket opens at :00, :15, :30, :45 UTC; a 1d bucket at 00:00 UTC).
    """
    factor = resample_factor(source, target)
    validate_candles(frame, symbol)
    src_ms, dst_ms = TIMEFRAME_MS[source], TIMEFRAME_MS[target]
    ts = frame["timestamp"]
    if frame.height and (not ts.is_sorted() or ts.n_unique() != frame.height):
        raise DataIntegrityError(f"{symbol} {source}: candles must be sorted and unique before resampling")
    off_grid = frame.filter(pl.col("timestamp") % src_ms != 0)
    if off_grid.height:
        raise DataIntegrityError(
            f"{symbol} {source}: {off_grid.height} bars are not on the {source} grid "
            f"(first at {format_ms(int(off_grid['timestamp'][0]))})"
        )
    if frame.height == 0:
        return ResampleResult(symbol, source, target, empty_candles(), 0, 0, 0, 0, False, False, None)
    buckets = (
        frame.group_by_dynamic(
            "timestamp", every=f"{dst_ms}i", closed="left", label="left", start_by="window"
        )
        .agg(
            pl.col("open").first(),
            pl.col("high").max(),
            pl.col("low").min(),
            pl.col("close").last(),
            pl.col("volume").sum(),
            pl.len().alias("bars"),
        )
        .sort("timestamp")
    )
    complete = buckets.filter(pl.col("bars") == factor)
    first_bucket, last_bucket = int(buckets["timestamp"][0]), int(buckets["timestamp"][-1])
    partial_first = int(buckets["bars"][0]) < factor
    partial_last = int(buckets["bars"][-1]) < factor and (last_bucket != first_bucket or not partial_first)
    # The buckets that should all have a bar: from the first to the last, the incomplete edges left out.
    lo = first_bucket + (dst_ms if partial_first else 0)
    hi = last_bucket - (dst_ms if partial_last else 0)
    inner = buckets.filter(pl.col("timestamp").is_between(lo, hi))
    expected = max((hi - lo) // dst_ms + 1, 0)
    missing = expected * factor - int(inner["bars"].sum())
    skipped = inner.filter(pl.col("bars") < factor)
    first_gap = None
    if expected > complete.height:
        grid = pl.DataFrame({"timestamp": pl.int_range(lo, hi + 1, dst_ms, eager=True, dtype=pl.Int64)})
        first_gap = int(grid.join(complete.select("timestamp"), on="timestamp", how="anti")["timestamp"][0])
    out = complete.drop("bars").select("timestamp", "open", "high", "low", "close", "volume")
    return ResampleResult(
        symbol=symbol,
        source_timeframe=source,
        target_timeframe=target,
        frame=out.with_columns(pl.col("timestamp").cast(pl.Int64)),
        source_bars=frame.height,
        gap_buckets=expected - complete.height,
        skipped_buckets=skipped.height,
        missing_source_bars=missing,
        partial_first=partial_first,
        partial_last=partial_last,
        first_skipped_ms=first_gap,
    )


def resample_lake(
    lake: LakeSource,
    source: str,
    target: str,
    symbols: Sequence[str] | None = None,
    *,
    on_symbol: Callable[[ResampleResult, int], None] | None = None,
) -> list[tuple[ResampleResult, int]]:
    """Resample `candles/<source>/<SYMBOL>.parquet` into `candles/<target>/`, for `symbols` (default: all).

    The coarse bars are merged into what the target file holds (a resampled bar replaces a stored one with
    the same open time; stored bars the fine candles cannot rebuild are kept), written atomically. Returns
    each symbol's result with the number of bars added.
    """
    resample_factor(source, target)
    names = list(symbols) if symbols is not None else lake.symbols(source)
    out = []
    for symbol in names:
        result = resample_candles(lake.read(symbol, source), symbol, source, target)
        added = lake.merge(symbol, target, result.frame) if result.bars else 0
        out.append((result, added))
        if on_symbol is not None:
            on_symbol(result, added)
    return out


def _duration_ms(timeframe: str) -> int | None:
    if timeframe in TIMEFRAME_MS:
        return TIMEFRAME_MS[timeframe]
    match = _DURATION.match(timeframe.strip())
    return int(match.group(1)) * _UNIT_MS[match.group(2)] if match else None


def _multiples(source: str) -> str:
    src = TIMEFRAME_MS.get(source)
    if src is None:
        return "one of the supported timeframes"
    fits = [tf for tf, ms in TIMEFRAME_MS.items() if ms > src and ms % src == 0]
    return ", ".join(fits) if fits else "none: nothing supported is a multiple of it"
