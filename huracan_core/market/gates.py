"""Data gates: decide whether a symbol's candles are fit to train or trade on, with a reason when not.

Rules (in order): schema, order and duplicates, prices, OHLC consistency, history length, gaps,
zero-volume share, median quote volume. A rejected symbol is skipped with its reason logged; the
low-volume reason is the seed's own words, "Low volume. Skipped." A coin listed inside the window is
judged from its first candle on: the bars before it never existed, so they are not gaps.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from huracan_core.config import DataGatesConfig
from huracan_core.exceptions import DataGateRejected
from huracan_core.market.candles import format_ms, validate_candles
from huracan_core.timeframe import DAY_MS, timeframe_ms

log = logging.getLogger(__name__)

LOW_VOLUME = "Low volume. Skipped."
TOO_LITTLE_HISTORY = "too little history"
DUPLICATES = "duplicate timestamps"
OUT_OF_ORDER = "timestamps out of order"


@dataclass(frozen=True)
class GateResult:
    """Verdict on one symbol's candles: ok, the reason when not, and the numbers behind it."""

    ok: bool
    reason: str | None
    stats: dict[str, Any] = field(default_factory=dict)
    # The frame the stats describe (sorted and deduplicated when repair was asked for).
    frame: pl.DataFrame | None = None


def check_candles(
    frame: pl.DataFrame,
    symbol: str,
    timeframe: str,
    gates: DataGatesConfig,
    expected_start_ms: int | None = None,
    expected_end_ms: int | None = None,
    *,
    repair: bool = False,
    first_candle_ms: int | None = None,
) -> GateResult:
    """Run every gate on `frame`; the first failing rule gives the reason.

    `expected_start_ms`/`expected_end_ms` bound the window the caller asked for, [start, end): bars
    missing inside it count as gaps, except before the coin's first candle (its listing):
    `first_candle_ms` is the first candle its source holds at all (the frame's first bar when None or
    later). A coin listed after the window start is judged on the bars since its listing and needs at
    least `min_history_days` of them (or the whole window, when that is shorter) up to the window end.
    Without a window it is the frame's own first to last bar. `repair=True` sorts and drops duplicate
    timestamps (keeping the last) instead of rejecting.
    """
    validate_candles(frame, symbol)
    tf = timeframe_ms(timeframe)
    stats: dict[str, Any] = {"symbol": symbol, "timeframe": timeframe, "rows_in": frame.height}

    def reject(reason: str, current: pl.DataFrame) -> GateResult:
        log.info("%s %s rejected by data gates: %s", symbol, timeframe, reason)
        return GateResult(False, reason, stats, current)

    if frame.height == 0:
        return reject("no candles", frame)

    ts = frame["timestamp"]
    n_dupes = frame.height - ts.n_unique()
    n_backwards = int((ts.diff().drop_nulls() < 0).sum())
    stats.update(duplicates=n_dupes, out_of_order=n_backwards, repaired=False)
    if n_dupes or n_backwards:
        if not repair:
            what = DUPLICATES if n_dupes else OUT_OF_ORDER
            count = n_dupes if n_dupes else n_backwards
            return reject(f"{what} ({count} rows)", frame)
        frame = frame.unique(subset="timestamp", keep="last", maintain_order=True).sort("timestamp")
        stats["repaired"] = True
        log.warning(
            "%s %s: repaired candles (%d duplicate, %d out-of-order rows); kept the last of each timestamp",
            symbol,
            timeframe,
            n_dupes,
            n_backwards,
        )

    off_grid = frame.filter(pl.col("timestamp") % tf != 0)
    if off_grid.height:
        first = int(off_grid["timestamp"][0])
        return reject(
            f"{off_grid.height} bars not on the {timeframe} grid (first at {format_ms(first)})", frame
        )

    prices = ["open", "high", "low", "close"]
    bad_price = frame.filter(
        pl.any_horizontal([pl.col(c).is_nan() | (pl.col(c) <= 0) | pl.col(c).is_null() for c in prices])
    )
    if bad_price.height:
        first = int(bad_price["timestamp"][0])
        return reject(
            f"{bad_price.height} bars with missing or non-positive prices (first at {format_ms(first)})",
            frame,
        )
    bad_volume = frame.filter(pl.col("volume").is_nan() | pl.col("volume").is_null() | (pl.col("volume") < 0))
    if bad_volume.height:
        first = int(bad_volume["timestamp"][0])
        return reject(
            f"{bad_volume.height} bars with missing or negative volume (first at {format_ms(first)})", frame
        )

    eps = 1e-9
    inconsistent = frame.filter(
        (pl.col("high") < pl.col("low"))
        | (pl.col("high") * (1 + eps) < pl.max_horizontal("open", "close"))
        | (pl.col("low") * (1 - eps) > pl.min_horizontal("open", "close"))
    )
    if inconsistent.height:
        first = int(inconsistent["timestamp"][0])
        return reject(
            f"{inconsistent.height} bars with inconsistent OHLC (high below low, or open/close outside "
            f"high-low; first at {format_ms(first)})",
            frame,
        )

    stats.update(_coverage(frame, tf, expected_start_ms, expected_end_ms, first_candle_ms))
    stats.update(_volume_stats(frame))

    required = gates.min_history_days
    if expected_start_ms is not None and expected_end_ms is not None:
        # A coin with the whole window always has enough: the lookback is the user's own choice.
        required = min(required, (expected_end_ms - expected_start_ms) / DAY_MS)
    if stats["history_days"] < required:
        if stats["new_listing"] and expected_end_ms is not None:
            return reject(
                f"listed {round(stats['history_days'], 1):g} days before the as-of: fewer than "
                f"data.gates.min_history_days {gates.min_history_days:g}",
                frame,
            )
        return reject(
            f"{TOO_LITTLE_HISTORY} ({stats['history_days']:.1f} days < {required:g} required)",
            frame,
        )
    if stats["gap_pct"] > gates.max_gap_pct:
        return reject(
            f"too many gaps ({stats['missing_bars']} of {stats['expected_bars']} bars missing, "
            f"{stats['gap_pct']:.2f}% > {gates.max_gap_pct:g}%)",
            frame,
        )
    if stats["zero_volume_pct"] > gates.max_zero_volume_pct:
        return reject(
            f"too many zero-volume bars ({stats['zero_volume_pct']:.2f}% > {gates.max_zero_volume_pct:g}%)",
            frame,
        )
    stats["min_median_quote_volume"] = gates.min_median_quote_volume
    if stats["median_quote_volume"] < gates.min_median_quote_volume:
        return reject(LOW_VOLUME, frame)
    return GateResult(True, None, stats, frame)


def apply_gates(
    frame: pl.DataFrame,
    symbol: str,
    timeframe: str,
    gates: DataGatesConfig,
    expected_start_ms: int | None = None,
    expected_end_ms: int | None = None,
    *,
    repair: bool = False,
) -> pl.DataFrame:
    """The candles, cleaned when `repair` is set, or DataGateRejected(symbol, reason) when a gate refuses."""
    result = check_candles(frame, symbol, timeframe, gates, expected_start_ms, expected_end_ms, repair=repair)
    if not result.ok:
        raise DataGateRejected(symbol, result.reason or "rejected")
    assert result.frame is not None
    return result.frame


def _coverage(
    frame: pl.DataFrame, tf: int, start: int | None, end: int | None, first_candle: int | None
) -> dict[str, Any]:
    """Bars expected in the window from the coin's listing on, bars missing, gap runs and the longest run
    (frame sorted, unique), and the days of history up to the window end."""
    first, last = int(frame["timestamp"][0]), int(frame["timestamp"][-1])
    listed = first if first_candle is None else min(first_candle, first)
    lo = first if start is None else -(-start // tf) * tf
    # Listed inside the window: the bars before its first candle never existed; they are not gaps.
    new_listing = start is not None and listed > lo
    lo = max(lo, listed) if start is not None else lo
    hi = last + tf if end is None else end
    inside = frame.filter((pl.col("timestamp") >= lo) & (pl.col("timestamp") < hi))["timestamp"]
    expected = max(0, -(-(hi - lo) // tf))
    missing = max(0, expected - inside.len())
    # Runs of missing bars: jumps between consecutive bars plus the window edges.
    edges = [lo - tf, *inside.to_list(), hi] if inside.len() else [lo - tf, hi]
    steps = pl.Series(edges).diff().drop_nulls() // tf - 1
    runs = steps.filter(steps > 0)
    return {
        "rows": frame.height,
        "first_ms": first,
        "last_ms": last,
        "first_bar": format_ms(first),
        "last_bar": format_ms(last),
        "expected_bars": expected,
        "missing_bars": missing,
        "gaps": runs.len(),
        "largest_gap_bars": int(runs.max()) if runs.len() else 0,  # type: ignore[arg-type]
        "gap_pct": 100.0 * missing / expected if expected else 0.0,
        # With a window end: days from the listing (or the window start) to it; trailing holes are gaps.
        "history_days": ((hi if end is not None else last + tf) - lo) / DAY_MS,
        "new_listing": new_listing,
        "listed_ms": listed if new_listing else None,
    }


def _volume_stats(frame: pl.DataFrame) -> dict[str, Any]:
    qv = frame["close"] * frame["volume"]
    zero = int((frame["volume"] == 0).sum())
    return {
        "median_quote_volume": float(qv.median() or 0.0),  # type: ignore[arg-type]
        "zero_volume_bars": zero,
        "zero_volume_pct": 100.0 * zero / frame.height,
    }
