"""Batch feature builder: candles (+ reference coins) -> the recipe's feature columns as a polars frame.

Row t uses only rows <= t; warm-up rows are null (never back-filled) and flagged by `warmup`. The values are
computed by the compiled kernels of `indicators` on the candle arrays into one features x bars block, which
the output frame then shares (no copy); the incremental mode (`incremental.build_latest`) runs this same code
on the newest bars and keeps the last row.
"""

from __future__ import annotations

import logging
import math
import os
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numpy as np
import polars as pl
import pyarrow as pa

from huracan_core.features import cross_coin
from huracan_core.features import indicators as ind
from huracan_core.features.checks import CANDLE_COLUMNS, history_message, validate_candles
from huracan_core.features.recipe import DEFAULT_RECIPE, FeatureRecipe

log = logging.getLogger(__name__)


@lru_cache(maxsize=64)
def _layout(recipe: FeatureRecipe) -> tuple[tuple[str, ...], dict[str, int], tuple, np.ndarray]:
    """(feature names in output order, {name: row of the output block}, arguments of
    `indicators.coin_features` after the candle arrays, first valid row of each feature); cached per
    recipe."""
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
    first_valid = as_ints([r.lookbacks[name] for name in names])
    return names, row, args, first_valid


def _pooled(rows: int, bars: int) -> np.ndarray:
    """A rows x bars float64 array (contents undefined) from Arrow's default memory pool, which keeps freed
    memory for the next arrays: fresh pages from the system cost page faults that, on a virtual machine, take
    longer than the arithmetic (and every call of `build_features_many` runs on new threads). The price: after
    a batch the process keeps about its peak memory for reuse (`pyarrow.default_memory_pool().release_unused()`
    hands it back)."""
    return np.frombuffer(pa.allocate_buffer(rows * bars * 8), dtype=np.float64).reshape(rows, bars)


def feature_block(
    candles: dict[str, np.ndarray],
    recipe: FeatureRecipe,
    symbol: str | None,
    refs: dict[str, dict[str, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    """Features x bars float64 block (rows in `recipe.columns()` order), NaN where a value is missing
    (warm-up rows included): the one computation behind both modes. Also the number of NaNs of each row
    after its warm-up (`indicators.late_nans`), for the output's validity bitmaps.

    `candles` holds the checked candle columns as numpy arrays; `refs` maps reference symbols to their
    checked "timestamp" and "close" arrays and the log of the closes (`_reference_arrays`).
    """
    names, row, args, first_valid = _layout(recipe)
    n = candles["close"].size
    ema1 = args[6]
    n_smoothed = ema1[0].size
    block = _pooled(len(names), n)  # the output: polars keeps its rows without a copy
    late = np.zeros(len(names), dtype=np.int64)
    work = _pooled(11 + n_smoothed + len(recipe.reference_symbols), n)  # logs, one-bar blocks, EMAs, refs
    log_close, log_hl, ret1, sd_close, sd_volume = work[:5]
    blocks, smoothed = work[5:11], work[11 : 11 + n_smoothed]
    ts, high, low, close, volume = (candles[c] for c in ("timestamp", "high", "low", "close", "volume"))
    np.log(close, out=log_close)
    np.divide(high, low, out=log_hl)
    np.log(log_hl, out=log_hl)
    ret1[:1] = np.nan
    np.subtract(log_close[1:], log_close[:-1], out=ret1[1:])
    for window in recipe.realized_vol_windows:
        into = row[f"rv_{window}"]
        ind.rolling_std(ret1, window, 1, 1, block[into])
        late[into] += ind.late_nans(block[into], 0, n, first_valid[into])
    ind.rolling_std(close, recipe.bollinger_window, 0, 0, sd_close)
    ind.rolling_std(volume, recipe.volume_window, 1, 0, sd_volume)
    ind.one_bar_blocks(high, low, close, blocks)
    ind.finite_emas(close, blocks, int(args[0][0]), *ema1, smoothed)
    ind.coin_features(
        ts, high, low, close, volume, log_close, log_hl, sd_close, sd_volume, blocks, smoothed, *args,
        first_valid, late, block,
    )  # fmt: skip
    _cross_features(ts, log_close, recipe, symbol, refs, work[11 + n_smoothed :], block, late)
    ind.fill_warmup(block, first_valid)
    return block, late


@lru_cache(maxsize=64)
def _cross_rows(recipe: FeatureRecipe) -> dict[str, np.ndarray]:
    """{reference symbol: output rows of its beta, correlation and relative strength}; cached per recipe."""
    row, w = _layout(recipe)[1], recipe.cross_window
    return {
        ref_symbol: np.array([row[f"{kind}_{tag}_{w}"] for kind in ("beta", "corr", "rs")], dtype=np.int64)
        for ref_symbol, tag in recipe.reference_tags().items()
    }


def _cross_features(
    ts: np.ndarray,
    log_close: np.ndarray,
    recipe: FeatureRecipe,
    symbol: str | None,
    refs: dict[str, dict[str, np.ndarray]],
    log_refs: np.ndarray,
    block: np.ndarray,
    late: np.ndarray,
) -> None:
    """Beta / correlation / relative strength against each reference into `block` (`log_refs`: one work row
    per reference). When no reference lacks one of the coin's bars (the usual case), all of them go through
    one pass that shares the coin's sums (`indicators.cross_features_gapless`)."""
    first_valid = _layout(recipe)[3]
    n, w = ts.size, recipe.cross_window
    present: list[np.ndarray] = []  # output rows of the references supplied
    gapless = True
    for ref_symbol, rows in _cross_rows(recipe).items():
        if symbol == ref_symbol:
            block[rows] = np.array([[1.0], [1.0], [0.0]])
        elif ref_symbol in refs:
            ref = refs[ref_symbol]
            into = log_refs[len(present)]
            if ref["timestamp"].size == n and np.array_equal(ref["timestamp"], ts):
                into[:] = ref["log_close"]  # same bars: no join
            else:
                gapless &= cross_coin.align(ts, ref["timestamp"], ref["log_close"], into) == 0
            present.append(rows)
        else:
            block[rows] = np.nan
            late[rows] += np.maximum(n - first_valid[rows], 0)
    if not present:
        return
    if gapless:
        cross_coin.cross_features_gapless(log_close, log_refs[: len(present)], w, recipe.cross_min_pairs, block,
                                   np.array(present), first_valid, late)  # fmt: skip
        return
    for i, rows in enumerate(present):
        cross_coin.cross_features(log_close, log_refs[i], w, recipe.cross_min_pairs, block, rows, first_valid, late)


RefArrays = dict[str, dict[str, np.ndarray]]


def _reference_arrays(recipe: FeatureRecipe, refs: dict[str, pl.DataFrame] | None) -> RefArrays:
    """{reference symbol: checked "timestamp", "close" and "log_close" arrays} for the recipe's references
    supplied."""
    out: RefArrays = {}
    for ref_symbol in recipe.reference_symbols:
        if refs and ref_symbol in refs:
            ref = validate_candles(refs[ref_symbol], ref_symbol, columns=("timestamp", "close"))
            arrays = {c: ref.get_column(c).to_numpy() for c in ("timestamp", "close")}
            arrays["log_close"] = np.log(arrays["close"])  # once per call, not once per coin
            out[ref_symbol] = arrays
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
    block, late = feature_block(arrays, recipe, symbol, ref_arrays)
    return _to_frame(frame, block, late, recipe, rows)


# Up to this many rows, the feature columns are built as one row-wise block (one polars call instead of one
# per column: the live path builds a single row). The values are the same arrays either way.
_ROWWISE_MAX_ROWS = 8


def _to_frame(
    frame: pl.DataFrame, block: np.ndarray, late: np.ndarray, recipe: FeatureRecipe, rows: slice
) -> pl.DataFrame:
    """Candle columns + feature columns (NaN -> null) + `warmup`, for `rows` of the input (`late`: see
    `feature_block`).

    Many rows: the feature columns are Arrow arrays over the block's own memory (no copy), so the columns of
    one frame share one allocation, freed when the last of them goes."""
    names = _layout(recipe)[0]
    candles = pl.DataFrame([frame.get_column(name)[rows] for name in CANDLE_COLUMNS])
    index = np.arange(frame.height)[rows]
    values = block[:, rows]
    if values.shape[1] <= _ROWWISE_MAX_ROWS and values.shape[1] and names:
        features = pl.DataFrame(
            [pl.Series(str(i), line, dtype=pl.Float64, nan_to_null=True) for i, line in enumerate(values.T)]
        ).transpose(column_names=list(names))
    else:
        if values.shape[1] != block.shape[1] or not values.flags.c_contiguous:
            # a part of the bars: `late` counts over all of them, so every row is read for its NaNs
            values, late = np.ascontiguousarray(values), np.full_like(late, -1)
        columns = _arrow_columns(values, _layout(recipe)[3], late)
        features = pl.DataFrame([pl.Series(name, array) for name, array in zip(names, columns, strict=True)])
    warmup = pl.DataFrame([pl.Series("warmup", index < recipe.warmup_bars() - 1)])
    return pl.concat([candles, features, warmup], how="horizontal")


def _arrow_columns(values: np.ndarray, first_valid: np.ndarray, late: np.ndarray) -> list[pa.Array]:
    """The rows of `values` (C-contiguous) as Arrow float64 arrays that share their memory (NaN -> null
    through validity bitmaps, see `indicators.validity`): no copy of the block, only its bitmaps are new."""
    k, n = values.shape
    row_bytes = (n + 7) // 8
    bitmaps = pa.allocate_buffer(k * row_bytes)  # from Arrow's pool: see `_pooled`
    nulls = ind.validity(
        values, first_valid, late, np.frombuffer(bitmaps, dtype=np.uint8).reshape(k, row_bytes)
    )
    return [
        pa.Array.from_buffers(
            pa.float64(),
            n,
            [bitmaps.slice(i * row_bytes, row_bytes) if nulls[i] else None, pa.py_buffer(values[i])],
            null_count=int(nulls[i]),
        )
        for i in range(k)
    ]


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
