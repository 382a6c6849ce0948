"""Batch feature builder: candles (+ reference coins) -> the recipe's feature columns as a polars frame.

Row t uses only rows <= t; warm-up rows are null (never back-filled) and flagged by `warmup`. The values are
computed by the one-pass kernels of `indicators` on the candle arrays; the incremental mode
(`incremental.build_latest`) runs this same code on the newest bars and keeps the last row.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np
import polars as pl

from huracan_core.features import indicators as ind
from huracan_core.features.checks import CANDLE_COLUMNS, history_message, validate_candles
from huracan_core.features.recipe import DEFAULT_RECIPE, FeatureRecipe

log = logging.getLogger(__name__)


@lru_cache(maxsize=64)
def _layout(recipe: FeatureRecipe) -> tuple[tuple[str, ...], dict[str, int], tuple]:
    """(feature names in output order, {name: row of the output block}, arguments of
    `indicators.coin_features` after the candle arrays); cached per recipe."""
    r = recipe
    names = tuple(r.columns())
    row = {name: i for i, name in enumerate(names)}
    spans = sorted({*r.ema_slope_spans, r.macd_fast, r.macd_slow})
    span_alpha = {s: 2.0 / (s + 1.0) for s in spans}
    aa, xa, ra = 1.0 / r.atr_window, 1.0 / r.adx_window, 1.0 / r.rsi_window
    alphas1 = [*(span_alpha[s] for s in spans), aa, xa, xa, ra, ra]  # close EMAs, TR, +DM, -DM, gain, loss
    alphas2 = [2.0 / (r.macd_signal + 1.0), xa]  # MACD signal, ADX
    ema1 = ind.ema_window_constants(alphas1, [r.ema_window(a) for a in alphas1])
    ema2 = ind.ema_window_constants(alphas2, [r.ema_window(a) for a in alphas2])
    ints = np.array(
        [
            len(spans), spans.index(r.macd_fast), spans.index(r.macd_slow),
            row[f"atr_{r.atr_window}"], row[f"adx_{r.adx_window}"], row[f"rsi_{r.rsi_window}"],
            row["macd"], row["macd_signal"], row["macd_hist"], row[f"parkinson_{r.parkinson_window}"],
            row[f"bb_pos_{r.bollinger_window}"], row[f"bb_width_{r.bollinger_window}"],
            row[f"range_pos_{r.range_window}"], row[f"vol_z_{r.volume_window}"],
            row[f"vol_ratio_{r.volume_window}"], row[f"vwap_dist_{r.vwap_window}"],
            row["tod_sin"] if r.time_features else -1,
            r.parkinson_window, r.bollinger_window, r.range_window, r.volume_window, r.vwap_window,
            r.ema_window(xa), r.ema_window(ra),
            max(r.ema_window(span_alpha[r.macd_fast]), r.ema_window(span_alpha[r.macd_slow])),
        ],
        dtype=np.int64,
    )  # fmt: skip
    floats = np.array([r.bollinger_k, 4.0 * math.log(2.0)])
    as_ints = lambda values: np.array(values, dtype=np.int64)  # noqa: E731
    args = (
        ints,
        floats,
        as_ints(r.return_windows),
        as_ints([row[f"ret_{k}"] for k in r.return_windows]),
        as_ints([spans.index(s) for s in r.ema_slope_spans]),
        as_ints([row[f"ema_slope_{s}"] for s in r.ema_slope_spans]),
        ema1,
        ema2,
    )
    return names, row, args


# Scratch rows (logs, one-bar blocks, smoothed series) are reused per thread up to this many bars: touching
# fresh memory costs page faults that, on a virtual machine, take longer than the arithmetic.
_SCRATCH_MAX_BARS = 250_000
_local = threading.local()


def _scratch(rows: int, bars: int) -> np.ndarray:
    """A rows x bars float64 work array, reused by later calls on this thread (contents undefined)."""
    if bars > _SCRATCH_MAX_BARS:
        return np.empty((rows, bars))
    cached = getattr(_local, "scratch", None)
    if cached is None or cached.shape != (rows, bars):
        cached = _local.scratch = np.empty((rows, bars))
    return cached


def feature_block(
    candles: dict[str, np.ndarray],
    recipe: FeatureRecipe,
    symbol: str | None,
    refs: dict[str, dict[str, np.ndarray]],
) -> np.ndarray:
    """Features x bars float64 block (rows in `recipe.columns()` order), NaN where a value is missing
    (warm-up rows included): the one computation behind both modes.

    `candles` holds the checked candle columns as numpy arrays; `refs` maps reference symbols to their
    checked "timestamp" and "close" arrays.
    """
    names, row, args = _layout(recipe)
    n = candles["close"].size
    present = [s for s in recipe.reference_symbols if s in refs and s != symbol]
    n_smoothed = args[-2][0].size
    block = np.empty((len(names), n))  # the output: polars keeps these rows (zero-copy)
    work = _scratch(11 + n_smoothed + len(recipe.reference_symbols), n)
    log_close, log_hl, ret1, sd_close, sd_volume = work[:5]
    blocks, smoothed = work[5:11], work[11 : 11 + n_smoothed]
    ts, high, low, close, volume = (candles[c] for c in ("timestamp", "high", "low", "close", "volume"))
    np.log(close, out=log_close)
    np.divide(high, low, out=log_hl)
    np.log(log_hl, out=log_hl)
    ret1[:1] = np.nan
    np.subtract(log_close[1:], log_close[:-1], out=ret1[1:])
    for window in recipe.realized_vol_windows:
        ind.rolling_std(ret1, window, 1, 1, block[row[f"rv_{window}"]])
    ind.rolling_std(close, recipe.bollinger_window, 0, 0, sd_close)
    ind.rolling_std(volume, recipe.volume_window, 1, 0, sd_volume)
    ind.one_bar_blocks(high, low, close, blocks)
    ind.finite_emas(close, blocks, int(args[0][0]), *args[-2], smoothed)
    ind.coin_features(
        ts, high, low, close, volume, log_close, log_hl, sd_close, sd_volume, blocks, smoothed, *args, block
    )
    w = recipe.cross_window
    for ref_symbol, tag in recipe.reference_tags().items():
        rows = np.array(
            [row[f"beta_{tag}_{w}"], row[f"corr_{tag}_{w}"], row[f"rs_{tag}_{w}"]], dtype=np.int64
        )
        if symbol == ref_symbol:
            block[rows] = np.array([[1.0], [1.0], [0.0]])
        elif ref_symbol in present:
            log_ref = work[11 + n_smoothed + present.index(ref_symbol)]
            ind.align(ts, refs[ref_symbol]["timestamp"], refs[ref_symbol]["close"], log_ref)
            np.log(log_ref, out=log_ref)
            ind.cross_features(log_close, log_ref, w, recipe.cross_min_pairs, block, rows)
        else:
            block[rows] = np.nan
    for name, lookback in recipe.lookbacks.items():
        if lookback:
            block[row[name], :lookback] = np.nan
    return block


RefArrays = dict[str, dict[str, np.ndarray]]


def _reference_arrays(recipe: FeatureRecipe, refs: dict[str, pl.DataFrame] | None) -> RefArrays:
    """{reference symbol: checked "timestamp" and "close" arrays} for the recipe's references supplied."""
    out: RefArrays = {}
    for ref_symbol in recipe.reference_symbols:
        if refs and ref_symbol in refs:
            ref = validate_candles(refs[ref_symbol], ref_symbol, columns=("timestamp", "close"))
            out[ref_symbol] = {c: ref.get_column(c).to_numpy() for c in ("timestamp", "close")}
    return out


def _build(
    candles: pl.DataFrame, recipe: FeatureRecipe, ref_arrays: RefArrays, symbol: str | None, rows: slice
) -> pl.DataFrame:
    """Check the candles, compute the feature block, return `rows` of the output frame."""
    frame = validate_candles(candles, symbol)
    message = history_message(frame.height, recipe, symbol)
    if message is not None and frame.height:
        log.info(message)
    arrays = {name: frame.get_column(name).to_numpy() for name in CANDLE_COLUMNS}
    block = feature_block(arrays, recipe, symbol, ref_arrays)
    return _to_frame(frame, block, recipe, rows)


# Up to this many rows, the feature columns are built as one row-wise block (one polars call instead of one
# per column: the live path builds a single row). The values are the same arrays either way.
_ROWWISE_MAX_ROWS = 8


def _to_frame(frame: pl.DataFrame, block: np.ndarray, recipe: FeatureRecipe, rows: slice) -> pl.DataFrame:
    """Candle columns + feature columns (NaN -> null) + `warmup`, for `rows` of the input."""
    names = _layout(recipe)[0]
    candles = pl.DataFrame([frame.get_column(name)[rows] for name in CANDLE_COLUMNS])
    index = np.arange(frame.height)[rows]
    values = block[:, rows]
    if values.shape[1] <= _ROWWISE_MAX_ROWS and values.shape[1] and names:
        features = pl.DataFrame(
            [pl.Series(str(i), line, dtype=pl.Float64, nan_to_null=True) for i, line in enumerate(values.T)]
        ).transpose(column_names=list(names))
    else:
        features = pl.DataFrame(
            [pl.Series(name, values[i], dtype=pl.Float64, nan_to_null=True) for i, name in enumerate(names)]
        )
    warmup = pl.DataFrame([pl.Series("warmup", index < recipe.warmup_bars() - 1)])
    return pl.concat([candles, features, warmup], how="horizontal")


def build_rows(
    candles: pl.DataFrame,
    recipe: FeatureRecipe,
    refs: dict[str, pl.DataFrame] | None,
    symbol: str | None,
    rows: slice,
) -> pl.DataFrame:
    """`build_features` output restricted to `rows` (the values do not depend on the slice)."""
    return _build(candles, recipe, _reference_arrays(recipe, refs), symbol, rows)


def build_features(
    candles: pl.DataFrame,
    recipe: FeatureRecipe = DEFAULT_RECIPE,
    refs: dict[str, pl.DataFrame] | None = None,
    *,
    symbol: str | None = None,
) -> pl.DataFrame:
    """Candle columns + the recipe's feature columns + `warmup`, one row per candle.

    `refs` maps reference symbols ("BTCUSDT", "ETHUSDT") to their candles (timestamp + close are used), joined
    on timestamp; cross-coin features are null where a reference lacks the bar and all null when it is not
    supplied. `symbol` names the coin in errors and makes a reference coin get beta 1 / corr 1 / rs 0.
    Raises DataIntegrityError on broken candles. Fewer rows than `recipe.warmup_bars()` give all-warm-up output.
    """
    return build_rows(candles, recipe, refs, symbol, slice(None))


def features_lazy(
    candles: pl.DataFrame,
    recipe: FeatureRecipe = DEFAULT_RECIPE,
    refs: dict[str, pl.DataFrame] | None = None,
    *,
    symbol: str | None = None,
) -> pl.LazyFrame:
    """`build_features` as a LazyFrame, for callers composing further lazy steps (inputs checked eagerly)."""
    return build_features(candles, recipe, refs, symbol=symbol).lazy()


def build_features_many(
    candles_by_symbol: dict[str, pl.DataFrame],
    recipe: FeatureRecipe = DEFAULT_RECIPE,
    refs: dict[str, pl.DataFrame] | None = None,
) -> dict[str, pl.DataFrame]:
    """`build_features` for many symbols, spread over the machine's cores (the kernels release the GIL);
    the references are checked once."""
    ref_arrays = _reference_arrays(recipe, refs)
    everything = slice(None)
    workers = min(len(candles_by_symbol), os.cpu_count() or 1)
    if workers <= 1:
        return {s: _build(c, recipe, ref_arrays, s, everything) for s, c in candles_by_symbol.items()}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {
            s: pool.submit(_build, c, recipe, ref_arrays, s, everything) for s, c in candles_by_symbol.items()
        }
        return {s: f.result() for s, f in futures.items()}
