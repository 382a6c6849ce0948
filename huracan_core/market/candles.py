"""The candle frame contract (schema, validation) and the helpers that bring any source's rows into it.

Every source returns the same shape: timestamp (Int64, epoch ms UTC, bar OPEN time), open, high, low,
close, volume (Float64, base-asset units), sorted ascending with unique timestamps.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import polars as pl

from huracan_core.exceptions import DataIntegrityError

CANDLE_COLUMNS: tuple[str, ...] = ("timestamp", "open", "high", "low", "close", "volume")
CANDLE_SCHEMA: dict[str, pl.DataType] = {
    "timestamp": pl.Int64(),
    "open": pl.Float64(),
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    "volume": pl.Float64(),
}


def empty_candles() -> pl.DataFrame:
    """A candle frame with no rows (what a source returns for a range without bars)."""
    return pl.DataFrame(schema=CANDLE_SCHEMA)


def validate_candles(frame: pl.DataFrame, symbol: str) -> pl.DataFrame:
    """Check columns and dtypes exactly; raise DataIntegrityError naming the symbol and the problem.

    Order and uniqueness are the gates' business (they can repair them); a wrong schema cannot be
    repaired safely, so it is refused here.
    """
    missing = [c for c in CANDLE_COLUMNS if c not in frame.columns]
    if missing:
        raise DataIntegrityError(
            f"{symbol}: candles lack column(s) {', '.join(missing)} (have {frame.columns})"
        )
    extra = [c for c in frame.columns if c not in CANDLE_SCHEMA]
    if extra:
        raise DataIntegrityError(f"{symbol}: candles have unexpected column(s) {', '.join(extra)}")
    for name, dtype in CANDLE_SCHEMA.items():
        if frame.schema[name] != dtype:
            raise DataIntegrityError(
                f"{symbol}: candle column {name!r} has dtype {frame.schema[name]}, expected {dtype}"
            )
    if frame["timestamp"].null_count():
        raise DataIntegrityError(f"{symbol}: {frame['timestamp'].null_count()} candles have no timestamp")
    return frame


def normalise_candles(frame: pl.DataFrame, symbol: str) -> pl.DataFrame:
    """Cast to the schema, keep only candle columns, sort by time and drop duplicate timestamps (last wins).

    Used on frames coming from sources and user files: a Datetime timestamp becomes epoch ms UTC,
    integer prices become floats. Anything that cannot be cast raises DataIntegrityError.
    """
    missing = [c for c in CANDLE_COLUMNS if c not in frame.columns]
    if missing:
        raise DataIntegrityError(
            f"{symbol}: candles lack column(s) {', '.join(missing)} (have {frame.columns})"
        )
    ts = pl.col("timestamp")
    if isinstance(frame.schema["timestamp"], pl.Datetime):
        dt = frame.schema["timestamp"]
        ts = ts.dt.replace_time_zone("UTC") if dt.time_zone is None else ts.dt.convert_time_zone("UTC")  # type: ignore[union-attr]
        ts = ts.dt.epoch("ms")
    try:
        out = frame.select(
            ts.cast(pl.Int64).alias("timestamp"),
            *[pl.col(c).cast(pl.Float64) for c in CANDLE_COLUMNS[1:]],
        )
    except (pl.exceptions.ComputeError, pl.exceptions.InvalidOperationError) as exc:
        raise DataIntegrityError(f"{symbol}: candles cannot be cast to the candle schema: {exc}") from None
    out = out.filter(pl.col("timestamp").is_not_null())
    return out.unique(subset="timestamp", keep="last", maintain_order=True).sort("timestamp")


def candles_from_rows(rows: Sequence[Sequence[float | int | None]], symbol: str) -> pl.DataFrame:
    """Rows of [timestamp, open, high, low, close, volume] (ccxt's OHLCV lists) as a candle frame."""
    if not rows:
        return empty_candles()
    bad = [r for r in rows if len(r) < 6]
    if bad:
        raise DataIntegrityError(f"{symbol}: OHLCV row {list(bad[0])!r} has fewer than 6 fields")
    frame = pl.DataFrame(
        {name: [r[i] for r in rows] for i, name in enumerate(CANDLE_COLUMNS)},
        schema={"timestamp": pl.Int64, **{c: pl.Float64 for c in CANDLE_COLUMNS[1:]}},
        strict=False,
    )
    return normalise_candles(frame, symbol)


def merge_candles(old: pl.DataFrame, new: pl.DataFrame, symbol: str) -> pl.DataFrame:
    """Union of two candle frames, newer rows winning on equal timestamps; sorted and unique."""
    both = pl.concat([normalise_candles(old, symbol), normalise_candles(new, symbol)], how="vertical")
    return both.unique(subset="timestamp", keep="last", maintain_order=True).sort("timestamp")


def format_ms(ms: int | None) -> str:
    """Epoch milliseconds as 'YYYY-MM-DD HH:MM UTC' for messages ('-' when absent)."""
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
