"""Batch feature builder: candles (+ reference coins) -> the recipe's feature columns as a polars frame.

Row t uses only rows <= t; warm-up rows are null (never back-filled) and flagged by `warmup`. The values are
computed by the one-pass kernels of `indicators` on the candle arrays; the incremental mode
(`incremental.build_latest`) runs this same code on the newest bars and keeps the last row.
"""

from __future__ import annotations

import logging
import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl

from huracan_core.features import indicators as ind
from huracan_core.features.checks import CANDLE_COLUMNS, history_message, validate_candles
from huracan_core.features.recipe import DEFAULT_RECIPE, FeatureRecipe

log = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]


def _shift_ratio_minus_one(x: np.ndarray) -> np.ndarray:
    """x_t / x_{t-1} - 1 (NaN on row 0): the 1-bar relative change."""
    out = np.full(x.size, np.nan)
    if x.size > 1:
        out[1:] = x[1:] / x[:-1] - 1.0
    return out


def _finite_emas(series: list[np.ndarray], alphas: list[float], recipe: FeatureRecipe) -> list[np.ndarray]:
    """Finite EMAs of each series with its smoothing factor, computed in one pass."""
    windows = [recipe.ema_window(a) for a in alphas]
    decay, norm = zip(*(ind.ema_constants(a, w) for a, w in zip(alphas, windows, strict=True)), strict=True)
    out = ind.finite_emas(
        np.stack(series), np.array(alphas), np.array(windows, dtype=np.int64), np.array(decay), np.array(norm)
    )
    return list(out)


def _candle_features(candles: dict[str, np.ndarray], log_close: np.ndarray, recipe: FeatureRecipe) -> Arrays:
    """Every single-coin feature (NaN where a window is not yet full, before the lookback mask)."""
    r = recipe
    h, l, c, v = (candles[n] for n in ("high", "low", "close", "volume"))  # noqa: E741
    n = c.size
    out: Arrays = {}

    ret1 = ind.log_return(log_close, 1)
    for k in r.return_windows:
        out[f"ret_{k}"] = ret1 if k == 1 else ind.log_return(log_close, k)
    for w in r.realized_vol_windows:
        out[f"rv_{w}"] = ind.rolling_std(ret1, w, 1, 1)

    # Stage 1 smoothing: EMAs of close, Wilder's true range, directional moves, gains and losses.
    tr, plus_dm, minus_dm, gain, loss, abs_change = ind.one_bar_blocks(h, l, c)
    spans = sorted({*r.ema_slope_spans, r.macd_fast, r.macd_slow})
    aa, xa, ra = 1.0 / r.atr_window, 1.0 / r.adx_window, 1.0 / r.rsi_window
    smoothed = _finite_emas(
        [*(c for _ in spans), tr, plus_dm, minus_dm, gain, loss],
        [*(2.0 / (s + 1.0) for s in spans), aa, xa, xa, ra, ra],
        r,
    )
    emas = dict(zip(spans, smoothed[: len(spans)], strict=True))
    tr_s, pdm_s, mdm_s, gain_s, loss_s = smoothed[len(spans) :]
    for span in r.ema_slope_spans:
        out[f"ema_slope_{span}"] = _shift_ratio_minus_one(emas[span])
    out[f"atr_{r.atr_window}"] = np.maximum(tr_s, 0.0) / c

    # DX = 100 |+DI - -DI| / (+DI + -DI); the smoothed true range cancels out of that ratio, leaving the
    # smoothed moves. 0 where the window has no directional move at all, and 0 while the smoothed moves do
    # not exist yet (ADX's recursive EMA starts from those zeros, as it always has).
    xw = r.ema_window(xa)
    directed = ind.any_positive_in_window(plus_dm + minus_dm, xw)
    with np.errstate(divide="ignore", invalid="ignore"):
        dx = np.where(directed, 100.0 * np.abs(pdm_s - mdm_s) / (pdm_s + mdm_s), 0.0)
    dx[: min(n, xw)] = 0.0

    # RSI: a window without any close change gives 50, not the ratio of two rounding residues.
    moved = ind.any_positive_in_window(abs_change, r.ema_window(ra))
    with np.errstate(divide="ignore", invalid="ignore"):
        out[f"rsi_{r.rsi_window}"] = np.where(moved, 100.0 * gain_s / (gain_s + loss_s), 50.0)

    # Stage 2 smoothing: MACD signal and ADX.
    line = emas[r.macd_fast] - emas[r.macd_slow]
    line[: min(n, max(r.ema_window(2.0 / (s + 1.0)) for s in (r.macd_fast, r.macd_slow)))] = 0.0
    signal, adx = _finite_emas([line, dx], [2.0 / (r.macd_signal + 1.0), xa], r)
    out[f"adx_{r.adx_window}"] = np.maximum(adx, 0.0)
    out["macd"] = line / c
    out["macd_signal"] = signal / c
    out["macd_hist"] = (line - signal) / c

    pw = r.parkinson_window
    hl2 = np.log(h / l) ** 2
    out[f"parkinson_{pw}"] = np.sqrt(ind.rolling_mean(hl2, pw, 0) / (4.0 * math.log(2.0)))

    bw = r.bollinger_window
    mid = ind.rolling_mean(c, bw, 0)
    sd = ind.rolling_std(c, bw, 0, 0)
    flat = ind.constant_in_window(c, bw)
    band = r.bollinger_k * sd
    out[f"bb_pos_{bw}"] = np.where(flat, 0.0, ind.safe_ratio(c - mid, band, 0.0))
    out[f"bb_width_{bw}"] = np.where(flat, 0.0, 2.0 * r.bollinger_k * sd / mid)

    rw = r.range_window
    low = ind.rolling_min(l, rw)
    out[f"range_pos_{rw}"] = ind.safe_ratio(c - low, ind.rolling_max(h, rw) - low, 0.5)

    vw = r.volume_window
    vol_mean = ind.rolling_mean(v, vw, 0)
    vol_std = ind.rolling_std(v, vw, 1, 0)
    out[f"vol_z_{vw}"] = np.where(
        ind.constant_in_window(v, vw), 0.0, ind.safe_ratio(v - vol_mean, vol_std, 0.0)
    )
    out[f"vol_ratio_{vw}"] = np.where(
        ind.any_positive_in_window(v, vw), ind.safe_ratio(v, vol_mean, 1.0), 1.0
    )

    ww = r.vwap_window
    typical = (h + l + c) / 3.0
    with np.errstate(divide="ignore", invalid="ignore"):
        vwap = np.where(
            ind.any_positive_in_window(v, ww),
            ind.rolling_sum(typical * v, ww, 0) / ind.rolling_sum(v, ww, 0),
            ind.rolling_mean(typical, ww, 0),  # no volume at all: plain mean of typical price
        )
    out[f"vwap_dist_{ww}"] = c / vwap - 1.0

    if r.time_features:
        out["tod_sin"], out["tod_cos"], out["dow_sin"], out["dow_cos"] = ind.time_features(candles["timestamp"])
    out["_ret1"] = ret1
    return out


def _cross_features(
    log_close: np.ndarray,
    ret1: np.ndarray,
    recipe: FeatureRecipe,
    symbol: str | None,
    ref_closes: dict[str, np.ndarray],
) -> Arrays:
    """beta / corr / rs against each reference coin (NaN where the reference lacks the bar)."""
    w = recipe.cross_window
    n = log_close.size
    out: Arrays = {}
    ret_w = ind.log_return(log_close, w)
    for ref_symbol, tag in recipe.reference_tags().items():
        names = (f"beta_{tag}_{w}", f"corr_{tag}_{w}", f"rs_{tag}_{w}")
        if symbol == ref_symbol:
            for name, value in zip(names, (1.0, 1.0, 0.0), strict=True):
                out[name] = np.full(n, value)
        elif ref_symbol in ref_closes:
            log_ref = np.log(ref_closes[ref_symbol])
            beta, corr = ind.beta_corr(ret1, ind.log_return(log_ref, 1), w, recipe.cross_min_pairs)
            missing = np.isnan(log_ref)
            beta[missing] = np.nan
            corr[missing] = np.nan
            out[names[0]], out[names[1]] = beta, corr
            out[names[2]] = ret_w - ind.log_return(log_ref, w)
        else:
            for name in names:
                out[name] = np.full(n, np.nan)
    return out


def feature_arrays(
    candles: dict[str, np.ndarray], recipe: FeatureRecipe, symbol: str | None, ref_closes: dict[str, np.ndarray]
) -> Arrays:
    """{feature column: float64 values}, NaN where the value is missing (warm-up rows included).

    `candles` holds the checked candle columns as numpy arrays; `ref_closes` maps reference symbols to their
    close aligned on the candles' timestamps (NaN where missing). The one computation behind both modes.
    """
    log_close = np.log(candles["close"])
    single = _candle_features(candles, log_close, recipe)
    ret1 = single.pop("_ret1")
    merged = single | _cross_features(log_close, ret1, recipe, symbol, ref_closes)
    out: Arrays = {}
    for name, lookback in recipe.lookbacks.items():
        values = merged[name]
        if lookback:
            values = values.copy() if values is ret1 else values
            values[: min(values.size, lookback)] = np.nan
        out[name] = values
    return out


def _aligned_close(ref: pl.DataFrame, timestamps: np.ndarray) -> np.ndarray:
    """The reference's close at each of `timestamps` (a left join on timestamp), NaN where it lacks the bar."""
    return ind.aligned(ref["timestamp"].to_numpy(), ref["close"].to_numpy(), timestamps)


def _prepare(
    candles: pl.DataFrame,
    recipe: FeatureRecipe,
    refs: dict[str, pl.DataFrame] | None,
    symbol: str | None,
) -> tuple[pl.DataFrame, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Checked candle frame, its columns as arrays, and the aligned reference closes."""
    frame = validate_candles(candles, symbol)
    message = history_message(frame.height, recipe, symbol)
    if message is not None and frame.height:
        log.info(message)
    arrays = {name: frame[name].to_numpy() for name in CANDLE_COLUMNS}
    ref_closes: dict[str, np.ndarray] = {}
    for ref_symbol in recipe.reference_symbols:
        if ref_symbol == symbol or not refs or ref_symbol not in refs:
            continue
        ref = validate_candles(refs[ref_symbol], ref_symbol, columns=("timestamp", "close"))
        ref_closes[ref_symbol] = _aligned_close(ref, arrays["timestamp"])
    return frame, arrays, ref_closes


def _to_frame(frame: pl.DataFrame, values: Arrays, recipe: FeatureRecipe, rows: slice) -> pl.DataFrame:
    """Candle columns + feature columns (NaN -> null) + `warmup`, for `rows` of the input."""
    candles = frame.select(CANDLE_COLUMNS)[rows]
    index = np.arange(frame.height)[rows]
    columns = [pl.Series(name, data[rows], dtype=pl.Float64, nan_to_null=True) for name, data in values.items()]
    columns.append(pl.Series("warmup", index < recipe.warmup_bars() - 1))
    return candles.hstack(columns)


def build_rows(
    candles: pl.DataFrame,
    recipe: FeatureRecipe,
    refs: dict[str, pl.DataFrame] | None,
    symbol: str | None,
    rows: slice,
) -> pl.DataFrame:
    """`build_features` output restricted to `rows` (the values do not depend on the slice)."""
    frame, arrays, ref_closes = _prepare(candles, recipe, refs, symbol)
    return _to_frame(frame, feature_arrays(arrays, recipe, symbol, ref_closes), recipe, rows)


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
    """`build_features` for many symbols, spread over the machine's cores (the kernels release the GIL)."""
    workers = min(len(candles_by_symbol), os.cpu_count() or 1)
    if workers <= 1:
        return {s: build_features(c, recipe, refs, symbol=s) for s, c in candles_by_symbol.items()}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {
            s: pool.submit(build_features, c, recipe, refs, symbol=s) for s, c in candles_by_symbol.items()
        }
        return {s: f.result() for s, f in futures.items()}
