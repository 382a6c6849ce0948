"""Funding rates of a coin's perpetual swap: stored in the lake, joined to bars point in time.

The lake holds funding/<SYMBOL>.parquet: `timestamp` (Int64 epoch ms, the funding time, when the rate was
settled and so known) and `funding_rate` (Float64, per funding period), sorted with unique times.
`funding_at_bars` is the one place a rate meets a bar: bar t gets the last rate settled at or before its
close (open + timeframe), the moment its decision is taken, and never a rate settled later. The funding
engine reads that column; a coin without a file gets no column and the engine abstains.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import polars as pl

from huracan_core.archive import paths
from huracan_core.exceptions import DataIntegrityError
from huracan_core.timeframe import DAY_MS, timeframe_ms

if TYPE_CHECKING:
    from huracan_core.config import HuracanConfig
    from huracan_core.market.ccxt_source import CcxtSource
    from huracan_core.market.lake import LakeSource

log = logging.getLogger(__name__)

FUNDING_COLUMN = "funding_rate"
FUNDING_SCHEMA: dict[str, pl.DataType] = {"timestamp": pl.Int64(), FUNDING_COLUMN: pl.Float64()}
# A rate older than this at a bar's close is not the coin's current funding (the file stopped being
# updated, or the perpetual was delisted): the bar gets null rather than a stale carry signal.
MAX_RATE_AGE_MS = DAY_MS

# Called after each symbol of a funding fill: (symbol, rates added, or None when it has no perpetual).
FundingProgress = Callable[[str, int | None], None]


def empty_funding() -> pl.DataFrame:
    return pl.DataFrame(schema=FUNDING_SCHEMA)


def normalise_funding(frame: pl.DataFrame, symbol: str) -> pl.DataFrame:
    """Cast, sort and drop exact repeats (pages overlap); refuse what cannot be repaired, naming `symbol`.

    A missing or non-finite rate, or two different rates at one funding time, raise DataIntegrityError:
    guessing which is right would put an invented carry into the research frames."""
    missing = [c for c in FUNDING_SCHEMA if c not in frame.columns]
    if missing:
        raise DataIntegrityError(f"{symbol}: funding frame lacks column(s) {missing}; has {frame.columns}")
    try:
        clean = frame.select(
            pl.col("timestamp").cast(pl.Int64, strict=True),
            pl.col(FUNDING_COLUMN).cast(pl.Float64, strict=True),
        )
    except pl.exceptions.PolarsError as exc:
        raise DataIntegrityError(f"{symbol}: funding columns have the wrong type: {exc}") from None
    if clean["timestamp"].null_count():
        raise DataIntegrityError(f"{symbol}: {clean['timestamp'].null_count()} funding rows have no time")
    bad = clean.filter(~pl.col(FUNDING_COLUMN).is_finite() | pl.col(FUNDING_COLUMN).is_null())
    if bad.height:
        raise DataIntegrityError(
            f"{symbol}: {bad.height} funding rate(s) are missing or not finite (first at {bad['timestamp'][0]})"
        )
    clean = clean.unique(maintain_order=True).sort("timestamp")
    repeated = clean.filter(pl.col("timestamp").is_duplicated())
    if repeated.height:
        raise DataIntegrityError(
            f"{symbol}: different funding rates for the same funding time {repeated['timestamp'][0]}"
        )
    return clean


def validate_funding(frame: pl.DataFrame, symbol: str) -> pl.DataFrame:
    """A stored funding frame as written: exact schema, sorted unique times, finite rates."""
    if dict(frame.schema) != FUNDING_SCHEMA:
        raise DataIntegrityError(f"{symbol}: funding schema is {dict(frame.schema)}, expected {FUNDING_SCHEMA}")
    ts = frame["timestamp"]
    if ts.len() > 1 and not bool((ts.diff().drop_nulls() > 0).all()):
        raise DataIntegrityError(f"{symbol}: funding times are not strictly increasing")
    if frame.height and not bool(frame[FUNDING_COLUMN].is_finite().all()):
        raise DataIntegrityError(f"{symbol}: funding rates contain NaN or infinity")
    return frame


# --- the lake ------------------------------------------------------------------------------------------
def read_funding(lake: LakeSource, symbol: str) -> pl.DataFrame | None:
    """The stored funding history of `symbol`, or None when the lake has none (the engine then abstains)."""
    key = paths.lake_funding(symbol)
    if not lake.storage.exists(key):
        return None
    frame = lake.storage.read_parquet(key)
    try:
        return validate_funding(frame, symbol)
    except DataIntegrityError as exc:
        raise DataIntegrityError(f"{lake.storage.url(key)}: {exc}") from None


def merge_funding(lake: LakeSource, symbol: str, frame: pl.DataFrame) -> int:
    """Add `frame`'s rates to the stored ones, atomically; return the rows added.

    Bad new data raises before anything is written; a stored file that cannot be read raises too and is
    left as it was. A stored rate is never replaced by a different one (a settled rate does not change)."""
    new = normalise_funding(frame, symbol)
    old = read_funding(lake, symbol)
    old = empty_funding() if old is None else old
    merged = normalise_funding(pl.concat([old, new]), symbol)
    added = merged.height - old.height
    if added:
        lake.storage.write_parquet(paths.lake_funding(symbol), merged)
    return added


def fill_funding(
    source: CcxtSource,
    lake: LakeSource,
    symbols: Sequence[str],
    days: float,
    now_ms: int,
    *,
    on_symbol: FundingProgress | None = None,
) -> dict[str, int | None]:
    """Bring each symbol's funding history up to `now_ms`: only rates after the last stored one are asked
    for; a symbol new to the lake gets `days` of history. A symbol without a linear perpetual is skipped
    with one log line. Returns rates added per symbol (None: no perpetual)."""
    out: dict[str, int | None] = {}
    for symbol in symbols:
        market = source.perpetual_symbol(symbol)
        if market is None:
            log.info("%s: no linear perpetual swap on %s, funding rates skipped", symbol, source.exchange_id)
            out[symbol] = None
        else:
            stored = read_funding(lake, symbol)
            if stored is not None and stored.height:
                start = int(stored["timestamp"][-1]) + 1
            else:
                start = now_ms - int(days * DAY_MS)
            added = merge_funding(lake, symbol, source.fetch_funding(symbol, start, now_ms))
            log.info("%s: %d funding rates added from %s (%s)", symbol, added, source.describe(), market)
            out[symbol] = added
        if on_symbol is not None:
            on_symbol(symbol, out[symbol])
    return out


def lake_funding(config: HuracanConfig, symbols: Sequence[str]) -> dict[str, pl.DataFrame]:
    """{symbol: funding history} of the coins whose candles come from the lake (data.source ccxt or lake)
    and that have a funding file; read once per coin. The synthetic market has no funding: nothing."""
    if config.data.source not in ("ccxt", "lake"):
        return {}
    from huracan_core.market.lake import LakeSource

    lake = LakeSource(config.data.lake_dir)
    out = {}
    for symbol in dict.fromkeys(symbols):
        frame = read_funding(lake, symbol)
        if frame is not None and frame.height:
            out[symbol] = frame
    return out


# --- point in time -------------------------------------------------------------------------------------
def funding_at_bars(
    candles: pl.DataFrame, funding: pl.DataFrame, timeframe: str, *, max_age_ms: int = MAX_RATE_AGE_MS
) -> pl.DataFrame:
    """(timestamp, funding_rate) per bar of `candles`: the last rate settled at or before the bar's close.

    Bar t is decided at its close (open + timeframe), so a rate settled at that instant is known and one
    settled a millisecond later is not (a backward as-of join on the settlement time). Bars before the first
    rate, or whose last rate is older than `max_age_ms`, get null."""
    tf = timeframe_ms(timeframe)
    bars = candles.select(pl.col("timestamp"), (pl.col("timestamp") + tf).alias("_decided_at"))
    known = funding.select(pl.col("timestamp").alias("_known_at"), pl.col(FUNDING_COLUMN)).sort("_known_at")
    joined = bars.sort("_decided_at").join_asof(
        known, left_on="_decided_at", right_on="_known_at", strategy="backward"
    )
    fresh = pl.col("_decided_at") - pl.col("_known_at") <= max_age_ms
    at_bars = joined.select(
        pl.col("timestamp"), pl.when(fresh).then(pl.col(FUNDING_COLUMN)).otherwise(None).alias(FUNDING_COLUMN)
    )
    return candles.select("timestamp").join(at_bars, on="timestamp", how="left", maintain_order="left")


def known_by(funding: pl.DataFrame | None, moment_ms: int) -> pl.DataFrame | None:
    """The rates settled at or before `moment_ms`: what could be known then (a cut of the lookahead check)."""
    return None if funding is None else funding.filter(pl.col("timestamp") <= moment_ms)
