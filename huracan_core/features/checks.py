"""Input checks for the feature builder: broken candles raise, never turn into silently wrong numbers.

Errors name the symbol, the column and the first bad timestamp, so the user can find the bar in the lake.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import numpy as np
import polars as pl

from huracan_core.exceptions import DataIntegrityError
from huracan_core.features.recipe import FeatureRecipe

log = logging.getLogger(__name__)

CANDLE_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
PRICE_COLUMNS = ("open", "high", "low", "close")


class InsufficientHistoryError(DataIntegrityError):
    """Fewer bars than the recipe needs before its newest bar has every feature."""


def _when(ts: int | None) -> str:
    if ts is None:
        return "timestamp null"
    text = datetime.fromtimestamp(ts / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"timestamp {ts} ({text})"


def _problems(columns: tuple[str, ...]) -> dict[str, tuple[str, pl.Expr]]:
    """{problem key: (description, per-row Boolean expression that is True on a bad row)}."""
    out: dict[str, tuple[str, pl.Expr]] = {}
    ts = pl.col("timestamp")
    out["timestamp_null"] = ("timestamp is null", ts.is_null())
    out["timestamp_unsorted"] = ("timestamps are not sorted ascending", ts.diff() < 0)
    out["timestamp_duplicate"] = ("timestamp is duplicated", ts.diff() == 0)
    for col in columns:
        if col == "timestamp":
            continue
        c = pl.col(col)
        out[f"{col}_missing"] = (f"column {col!r} is null or NaN", c.is_null() | c.is_nan())
        out[f"{col}_infinite"] = (f"column {col!r} is infinite", c.is_infinite())
        if col in PRICE_COLUMNS:
            out[f"{col}_nonpositive"] = (f"column {col!r} is not a positive price", c <= 0)
        else:
            out[f"{col}_negative"] = (f"column {col!r} is negative", c < 0)
    if "high" in columns and "low" in columns:
        out["high_below_low"] = ("column 'high' is below 'low'", pl.col("high") < pl.col("low"))
    return out


def validate_candles(
    candles: pl.DataFrame, symbol: str | None = None, columns: tuple[str, ...] = CANDLE_COLUMNS
) -> pl.DataFrame:
    """Check and normalise a candle frame (Int64 timestamps, Float64 values); other columns pass untouched.

    Raises DataIntegrityError on a missing column, a null / NaN / infinite / non-positive price, a negative
    volume, high < low, or unsorted or duplicate timestamps, naming the first bad timestamp.
    """
    who = symbol or "candles"
    missing = [c for c in columns if c not in candles.columns]
    if missing:
        raise DataIntegrityError(f"{who}: missing column(s) {missing}; candle frames need {list(columns)}")
    schema = candles.schema  # built on every access: read it once
    ts_dtype = schema["timestamp"]
    if not ts_dtype.is_integer():
        raise DataIntegrityError(f"{who}: column 'timestamp' must be integer epoch ms, got {ts_dtype}")
    casts = [pl.col("timestamp").cast(pl.Int64)]
    for col in columns[1:]:
        dtype = schema[col]
        if not dtype.is_numeric():
            raise DataIntegrityError(f"{who}: column {col!r} must be numeric, got {dtype}")
        casts.append(pl.col(col).cast(pl.Float64))
    needs_cast = any(schema[c] != (pl.Int64 if c == "timestamp" else pl.Float64) for c in columns)
    frame = candles.with_columns(casts) if needs_cast else candles  # no copy in the usual case
    if _looks_clean(frame, columns):
        return frame
    problems = _problems(columns)
    flags = frame.select([expr.any().alias(key) for key, (_, expr) in problems.items()]).row(0, named=True)
    bad = [key for key, hit in flags.items() if hit]
    if not bad:  # numpy and polars disagree: impossible unless a check is missing here
        raise DataIntegrityError(f"{who}: candles failed an integrity check that could not be located")
    key = bad[0]
    text, expr = problems[key]
    row = frame.with_row_index("_row").filter(expr.fill_null(False)).head(1).row(0, named=True)
    raise DataIntegrityError(
        f"{who}: {text} at {_when(row['timestamp'])} (row {row['_row']}); "
        f"fix or re-download these candles ({len(bad)} kind(s) of problem: {', '.join(bad)})"
    )


def _looks_clean(frame: pl.DataFrame, columns: tuple[str, ...]) -> bool:
    """Fast all-clear in numpy (the incremental mode runs this on every bar); False sends the caller to the
    slower search for the first bad row."""
    if any(frame[c].null_count() for c in columns):
        return False
    ts = frame["timestamp"].to_numpy()
    if ts.size > 1 and not bool(np.all(ts[1:] > ts[:-1])):
        return False
    values = {c: frame[c].to_numpy() for c in columns if c != "timestamp"}
    for col, arr in values.items():
        if col in PRICE_COLUMNS:
            if not bool(np.all(arr > 0)) or not bool(np.all(np.isfinite(arr))):
                return False
        elif not bool(np.all(arr >= 0)) or not bool(np.all(np.isfinite(arr))):
            return False
    return not ("high" in values and "low" in values and bool(np.any(values["high"] < values["low"])))


def history_message(n_rows: int, recipe: FeatureRecipe, symbol: str | None = None) -> str | None:
    """Why `n_rows` bars are too few for `recipe`, or None when they are enough."""
    need = recipe.warmup_bars()
    if n_rows >= need:
        return None
    return (
        f"{symbol or 'candles'}: {n_rows} bars given, feature recipe v{recipe.version} "
        f"(hash {recipe.hash()[:12]}) needs at least {need} bars before every feature is valid; "
        f"all rows are warm-up"
    )


def require_history(candles: pl.DataFrame, recipe: FeatureRecipe, symbol: str | None = None) -> None:
    """Raise InsufficientHistoryError when `candles` is shorter than `recipe.warmup_bars()`."""
    message = history_message(candles.height, recipe, symbol)
    if message is not None:
        raise InsufficientHistoryError(message)
