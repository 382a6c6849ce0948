"""Batch feature builder: candles (+ reference coins) -> the recipe's feature columns, in one polars query.

Row t uses only rows <= t; warm-up rows are null (never back-filled) and flagged by `warmup`. The incremental
mode (`incremental.build_latest`) runs this same code on the newest bars.
"""

from __future__ import annotations

import logging
import math
from functools import lru_cache

import numpy as np
import polars as pl

from huracan_core.features import indicators as ind
from huracan_core.features.checks import CANDLE_COLUMNS, history_message, validate_candles
from huracan_core.features.recipe import DEFAULT_RECIPE, FeatureRecipe

log = logging.getLogger(__name__)

_ROW = "_row"
# Query optimisation pays off on long histories (common sub-expressions) but costs more than it saves on the
# few hundred rows of the incremental mode. Polars' streaming engine is slower for this wide window query.
_OPTIMISE_FROM_ROWS = 5_000
_ENGINE = "in-memory"


def _optimizations(rows: int) -> pl.QueryOptFlags:
    return pl.QueryOptFlags() if rows >= _OPTIMISE_FROM_ROWS else pl.QueryOptFlags.none()


def _ref_close(tag: str) -> str:
    return f"_ref_close_{tag}"


def _stages(recipe: FeatureRecipe, symbol: str | None, present: frozenset[str]) -> list[dict[str, pl.Expr]]:
    """Column definitions in dependency order: each stage reads only candle columns and earlier stages.

    Staging keeps every expression shallow: a nested polars expression re-evaluates shared sub-trees, and the
    ADX chain nested inline costs hundreds of times more than materialising each step once.
    """
    h, l, c, v = (pl.col(n) for n in ("high", "low", "close", "volume"))  # noqa: E741
    col = pl.col
    r = recipe
    s1: dict[str, pl.Expr] = {}
    s2: dict[str, pl.Expr] = {}
    s3: dict[str, pl.Expr] = {}
    s4: dict[str, pl.Expr] = {}
    s5: dict[str, pl.Expr] = {}

    # --- stage 1: one-bar building blocks and features that read candles only ------------------------
    s1["_ret1"] = ind.log_return(c, 1)
    s1["_tr"] = ind.true_range(h, l, c).fill_null(0.0)
    s1["_pdm"], s1["_mdm"] = ind.directional_moves(h, l)
    diff = c - c.shift(1)
    s1["_gain"] = diff.clip(lower_bound=0.0).fill_null(0.0)
    s1["_loss"] = (-diff).clip(lower_bound=0.0).fill_null(0.0)
    s1["_moved"] = ind.any_positive_in_window(diff.abs(), r.ema_window(1.0 / r.rsi_window))
    for k in r.return_windows:
        s1[f"ret_{k}"] = ind.log_return(c, k)
    hl2 = (h / l).log() ** 2
    s1[f"parkinson_{r.parkinson_window}"] = (
        hl2.rolling_mean(r.parkinson_window) / (4.0 * math.log(2.0))
    ).sqrt()

    bw = r.bollinger_window
    s1["_bb_mid"] = c.rolling_mean(bw)
    s1["_bb_sd"] = c.rolling_std(bw, ddof=0)
    s1["_bb_flat"] = ind.constant_in_window(c, bw)
    rw = r.range_window
    s1["_range_high"] = h.rolling_max(rw)
    s1["_range_low"] = l.rolling_min(rw)
    vw = r.volume_window
    s1["_vol_mean"] = v.rolling_mean(vw)
    s1["_vol_std"] = v.rolling_std(vw)
    s1["_vol_flat"] = ind.constant_in_window(v, vw)
    s1["_vol_any"] = ind.any_positive_in_window(v, vw)
    ww = r.vwap_window
    typical = (h + l + c) / 3.0
    s1["_vwap"] = (
        pl.when(ind.any_positive_in_window(v, ww))
        .then((typical * v).rolling_sum(ww) / v.rolling_sum(ww))
        .otherwise(typical.rolling_mean(ww))  # no volume at all: plain mean of typical price
    )
    if r.time_features:
        ts = col("timestamp")
        s1["tod_sin"], s1["tod_cos"] = ind.cyclical(ind.time_of_day_minutes(ts), 1440.0)
        s1["dow_sin"], s1["dow_cos"] = ind.cyclical(ind.day_of_week(ts), 7.0)

    # --- stage 2: finite EMAs of stage-1 columns, realised volatility, simple ratios ----------------
    for n in r.realized_vol_windows:
        s2[f"rv_{n}"] = col("_ret1").rolling_std(n)
    close_spans = sorted({*r.ema_slope_spans, r.macd_fast, r.macd_slow})
    for span in close_spans:
        a = 2.0 / (span + 1.0)
        s2[f"_ema_{span}"] = ind.finite_ema(c, a, r.ema_window(a))
    aa = 1.0 / r.atr_window
    s2["_tr_s"] = ind.finite_ema(col("_tr"), aa, r.ema_window(aa))
    xa = 1.0 / r.adx_window
    s2["_directed"] = ind.any_positive_in_window(col("_pdm") + col("_mdm"), r.ema_window(xa))
    s2["_pdm_s"] = ind.finite_ema(col("_pdm"), xa, r.ema_window(xa))
    s2["_mdm_s"] = ind.finite_ema(col("_mdm"), xa, r.ema_window(xa))
    ra = 1.0 / r.rsi_window
    s2["_gain_s"] = ind.finite_ema(col("_gain"), ra, r.ema_window(ra))
    s2["_loss_s"] = ind.finite_ema(col("_loss"), ra, r.ema_window(ra))
    mid, sd, flat = col("_bb_mid"), col("_bb_sd"), col("_bb_flat")
    s2[f"bb_pos_{bw}"] = pl.when(flat).then(0.0).otherwise(ind.safe_ratio(c - mid, r.bollinger_k * sd, 0.0))
    s2[f"bb_width_{bw}"] = pl.when(flat).then(0.0).otherwise(2.0 * r.bollinger_k * sd / mid)
    s2[f"vol_z_{vw}"] = (
        pl.when(col("_vol_flat"))
        .then(0.0)
        .otherwise(ind.safe_ratio(v - col("_vol_mean"), col("_vol_std"), 0.0))
    )
    s2[f"vol_ratio_{vw}"] = (
        pl.when(col("_vol_any")).then(ind.safe_ratio(v, col("_vol_mean"), 1.0)).otherwise(1.0)
    )
    s2[f"vwap_dist_{ww}"] = c / col("_vwap") - 1.0
    low = col("_range_low")
    s2[f"range_pos_{rw}"] = ind.safe_ratio(c - low, col("_range_high") - low, 0.5)

    # --- stage 3: indicators from the smoothed series ---------------------------------------------
    for span in r.ema_slope_spans:
        ema = col(f"_ema_{span}")
        s3[f"ema_slope_{span}"] = ema / ema.shift(1) - 1.0
    s3[f"atr_{r.atr_window}"] = col("_tr_s").clip(lower_bound=0.0) / c
    gain, loss = col("_gain_s"), col("_loss_s")
    # A flat window gives 50, not the ratio of two rounding residues.
    s3[f"rsi_{r.rsi_window}"] = pl.when(col("_moved")).then(100.0 * gain / (gain + loss)).otherwise(50.0)
    s3["_macd_line"] = (col(f"_ema_{r.macd_fast}") - col(f"_ema_{r.macd_slow}")).fill_null(0.0)
    # DX = 100 |+DI - -DI| / (+DI + -DI); the smoothed true range cancels out of that ratio, leaving the
    # smoothed moves. 0 where the window has no directional move at all.
    pdm, mdm = col("_pdm_s"), col("_mdm_s")
    s3["_dx"] = (
        pl.when(col("_directed")).then(100.0 * (pdm - mdm).abs() / (pdm + mdm)).otherwise(0.0).fill_null(0.0)
    )

    # --- stage 4: second-level smoothing (MACD signal, ADX) ---------------------------------------
    ga = 2.0 / (r.macd_signal + 1.0)
    s4["_macd_signal"] = ind.finite_ema(col("_macd_line"), ga, r.ema_window(ga))
    s5["macd"] = col("_macd_line") / c
    s5["macd_signal"] = col("_macd_signal") / c
    s5["macd_hist"] = (col("_macd_line") - col("_macd_signal")) / c
    s4[f"adx_{r.adx_window}"] = ind.finite_ema(col("_dx"), xa, r.ema_window(xa)).clip(lower_bound=0.0)

    # --- cross-coin features ---------------------------------------------------------------------
    w = r.cross_window
    for ref_symbol, tag in r.reference_tags().items():
        names = (f"beta_{tag}_{w}", f"corr_{tag}_{w}", f"rs_{tag}_{w}")
        if symbol == ref_symbol:
            for name, value in zip(names, (1.0, 1.0, 0.0), strict=True):
                s1[name] = pl.lit(value, dtype=pl.Float64)
        elif ref_symbol in present:
            rc = col(_ref_close(tag))
            x, y, pair = f"_x_{tag}", f"_y_{tag}", f"_pair_{tag}"
            s1[f"_ref_ret1_{tag}"] = ind.log_return(rc, 1)
            s1[names[2]] = ind.log_return(c, w) - ind.log_return(rc, w)
            # Pairs where both 1-bar returns exist; absent pairs count as zeros and are not counted in n.
            valid = col("_ret1").is_not_null() & col(f"_ref_ret1_{tag}").is_not_null()
            s2[pair] = valid.cast(pl.Float64)
            s2[x] = pl.when(valid).then(col("_ret1")).otherwise(0.0)
            s2[y] = pl.when(valid).then(col(f"_ref_ret1_{tag}")).otherwise(0.0)
            sums = {"n": col(pair), "sx": col(x), "sy": col(y)}
            sums |= {"sxx": col(x) * col(x), "syy": col(y) * col(y), "sxy": col(x) * col(y)}
            for key, expr in sums.items():
                s3[f"_{key}_{tag}"] = expr.rolling_sum(w)
            cov, vx, vy = ind.covariances_from_sums(*(col(f"_{k}_{tag}") for k in sums))
            s4[f"_cov_{tag}"], s4[f"_vx_{tag}"], s4[f"_vy_{tag}"] = cov, vx, vy
            s4[f"_use_{tag}"] = rc.is_not_null() & (col(f"_n_{tag}") >= r.cross_min_pairs)
            beta, corr = ind.beta_corr(col(f"_cov_{tag}"), col(f"_vx_{tag}"), col(f"_vy_{tag}"))
            s5[names[0]] = pl.when(col(f"_use_{tag}")).then(beta)
            s5[names[1]] = pl.when(col(f"_use_{tag}")).then(corr)
        else:
            for name in names:
                s1[name] = pl.lit(None, dtype=pl.Float64)
    return [s1, s2, s3, s4, s5]


@lru_cache(maxsize=64)
def _plan(
    recipe: FeatureRecipe, symbol: str | None, present: frozenset[str]
) -> tuple[tuple[tuple[pl.Expr, ...], ...], tuple[pl.Expr, ...]]:
    """(stages of with_columns expressions, final masked select); cached because building them costs
    more than running them on a few hundred rows."""
    stages = _stages(recipe, symbol, present)
    lookbacks = recipe.lookbacks
    row = pl.col(_ROW)
    final = [pl.col(name) for name in CANDLE_COLUMNS]
    for name in recipe.columns():
        value = pl.col(name).cast(pl.Float64)
        final.append(
            value if lookbacks[name] == 0 else pl.when(row >= lookbacks[name]).then(value).alias(name)
        )
    final.append((row < recipe.warmup_bars() - 1).alias("warmup"))
    staged = tuple(tuple(expr.alias(name) for name, expr in stage.items()) for stage in stages)
    return staged, tuple(final)


def _aligned_close(ref: pl.DataFrame, timestamps: np.ndarray, name: str) -> pl.Series:
    """The reference's close at each of `timestamps` (a left join on timestamp), null where it lacks the bar.

    Done with a binary search over the (checked, sorted) reference timestamps: same result as a polars left
    join, without a join's fixed cost on the few hundred rows of the incremental mode.
    """
    ref_ts = ref["timestamp"].to_numpy()
    ref_close = ref["close"].to_numpy()
    if ref_ts.size == 0:
        return pl.Series(name, [None] * len(timestamps), dtype=pl.Float64)
    idx = np.minimum(np.searchsorted(ref_ts, timestamps), ref_ts.size - 1)
    found = ref_ts[idx] == timestamps
    return pl.Series(name, np.where(found, ref_close[idx], np.nan), dtype=pl.Float64, nan_to_null=True)


def features_lazy(
    candles: pl.DataFrame,
    recipe: FeatureRecipe = DEFAULT_RECIPE,
    refs: dict[str, pl.DataFrame] | None = None,
    *,
    symbol: str | None = None,
) -> pl.LazyFrame:
    """The feature query as a LazyFrame (inputs are checked here, eagerly), to run many symbols at once."""
    frame = validate_candles(candles, symbol)
    message = history_message(frame.height, recipe, symbol)
    if message is not None and frame.height:
        log.info(message)
    present: set[str] = set()
    aligned: list[pl.Series] = []
    for ref_symbol, tag in recipe.reference_tags().items():
        if ref_symbol == symbol or not refs or ref_symbol not in refs:
            continue
        ref = validate_candles(refs[ref_symbol], ref_symbol, columns=("timestamp", "close"))
        aligned.append(_aligned_close(ref, frame["timestamp"].to_numpy(), _ref_close(tag)))
        present.add(ref_symbol)
    clashing = [s.name for s in aligned if s.name in frame.columns]
    if clashing:  # only if the caller passed such columns in (eager ops cost ~1 ms on the incremental path)
        frame = frame.drop(clashing)
    lf = (frame.hstack(aligned) if aligned else frame).lazy().with_row_index(_ROW)
    stages, final = _plan(recipe, symbol, frozenset(present))
    for stage in stages:
        lf = lf.with_columns(stage)
    return lf.select(final)


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
    query = features_lazy(candles, recipe, refs, symbol=symbol)
    return query.collect(engine=_ENGINE, optimizations=_optimizations(candles.height))


def build_features_many(
    candles_by_symbol: dict[str, pl.DataFrame],
    recipe: FeatureRecipe = DEFAULT_RECIPE,
    refs: dict[str, pl.DataFrame] | None = None,
) -> dict[str, pl.DataFrame]:
    """`build_features` for many symbols, run as one batch of queries on polars' thread pool."""
    queries = [features_lazy(c, recipe, refs, symbol=s) for s, c in candles_by_symbol.items()]
    rows = max((c.height for c in candles_by_symbol.values()), default=0)
    frames = pl.collect_all(queries, engine=_ENGINE, optimizations=_optimizations(rows))
    return dict(zip(candles_by_symbol, frames, strict=True))
