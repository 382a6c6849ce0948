"""Market regime per bar (TREND / RANGE / PANIC / ILLIQUID) from trend strength, volatility and liquidity.

Windows are set in hours and days and converted to bars for the timeframe, and every threshold compares
a quantity with its own causal history, so 5m and 1h candles of one market get comparable shares.
Row t uses bars <= t only.
"""

from __future__ import annotations

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from huracan_core.exceptions import DataIntegrityError
from huracan_core.timeframe import bars_per_day

REGIMES = ("TREND", "RANGE", "PANIC", "ILLIQUID")
REGIME_DTYPE = pl.Enum(list(REGIMES))


class RegimeParams(BaseModel):
    """Windows (hours/days) and thresholds of the regime rules; defaults give plausible shares on 5m-1h."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Horizon (hours) of the move that counts as a trend, and its strength as a z-score: |log move| over
    # the horizon / (baseline vol * sqrt(horizon)). A random walk gives |z| >= 1.0 about 32% of the time;
    # real 2018-2021 crypto candles 15-30% (their short horizons mean-revert).
    trend_hours: float = Field(default=6.0, gt=0)
    trend_z: float = Field(default=1.0, gt=0)
    # Days of returns behind the baseline vol that normalises moves.
    baseline_vol_days: float = Field(default=2.0, gt=0)
    # Returns over this many hours are the unit of the baseline vol (scaled back to one bar), so bid-ask
    # bounce in 1m-15m bars does not inflate the vol and deflate every z; also what makes 5m and 1h agree.
    vol_unit_hours: float = Field(default=1.0, gt=0)
    # Hours of 1-bar returns behind the short realised vol that is ranked for the volatility percentile.
    vol_hours: float = Field(default=6.0, gt=0)
    # Days of history a percentile or median (volatility, liquidity) is taken over; expanding until full.
    percentile_days: float = Field(default=30.0, gt=0)
    # Days of history needed before a percentile exists; before that PANIC and ILLIQUID-by-rank are off.
    percentile_min_days: float = Field(default=3.0, gt=0)
    # PANIC: short vol at or above this percentile AND a move over `panic_hours` of at least `panic_z`.
    panic_vol_pct: float = Field(default=0.95, gt=0, le=1)
    panic_hours: float = Field(default=2.0, gt=0)
    panic_z: float = Field(default=2.5, gt=0)
    # Only falling prices count as panic when True; by default a violent squeeze upwards counts too.
    panic_down_only: bool = False
    # ILLIQUID: quote volume averaged over `liquidity_hours` is at or under the `illiquid_pct` percentile
    # of its own history AND under `illiquid_ratio` x its trailing median (a slow decline in volume makes
    # new lows every day without the market being thin), or there was no volume at all over that window.
    liquidity_hours: float = Field(default=2.0, gt=0)
    illiquid_pct: float = Field(default=0.05, ge=0, le=1)
    illiquid_ratio: float = Field(default=0.25, ge=0)
    # No window is shorter than this many bars (a 1d timeframe still needs a few bars for a std).
    min_window_bars: int = Field(default=3, ge=2)


def _bars(hours: float, timeframe: str, floor: int) -> int:
    return max(floor, round(hours * bars_per_day(timeframe) / 24.0))


def _trailing_pct(expr: pl.Expr, window: int, min_samples: int) -> pl.Expr:
    """Share of the trailing window (current bar included) at or below the current value, in (0, 1]."""
    rank = expr.rolling_rank(window, method="average", min_samples=min_samples)
    count = expr.is_not_null().cast(pl.Float64).rolling_sum(window, min_samples=1)
    return rank / count


def regime_inputs(frame: pl.DataFrame, timeframe: str, params: RegimeParams | None = None) -> pl.DataFrame:
    """The causal quantities the rules read, one row per bar.

    trend_z and move_z (signed moves over trend_hours / panic_hours in baseline-vol units), vol_pct and
    liquidity_pct (trailing percentiles in (0, 1]), liquidity_ratio (quote volume over its trailing
    median) and quote_volume_avg. Warm-up: windows grow from the first bar (expanding) until full; a
    quantity stays null until its minimum history exists (a few bars for moves and vol,
    `percentile_min_days` for percentiles and the median).
    """
    p = params or RegimeParams()
    missing = [c for c in ("close", "volume") if c not in frame.columns]
    if missing:
        raise DataIntegrityError(f"regimes need column(s) {', '.join(missing)}; got {frame.columns}")
    floor = p.min_window_bars
    trend_n = _bars(p.trend_hours, timeframe, 1)
    panic_n = _bars(p.panic_hours, timeframe, 1)
    unit_n = _bars(p.vol_unit_hours, timeframe, 1)
    base_n = _bars(p.baseline_vol_days * 24.0, timeframe, floor)
    vol_n = _bars(p.vol_hours, timeframe, floor)
    liq_n = _bars(p.liquidity_hours, timeframe, 1)
    pct_n = _bars(p.percentile_days * 24.0, timeframe, floor)
    pct_min = min(pct_n, _bars(p.percentile_min_days * 24.0, timeframe, floor))

    logc = pl.col("close").log()
    idx = pl.int_range(pl.len(), dtype=pl.Int64)

    def move(n: int) -> tuple[pl.Expr, pl.Expr]:
        # Expanding at the start: the move since the first bar, over the bars actually available.
        start = logc.shift(n).fill_null(logc.first())
        bars = pl.min_horizontal(idx, pl.lit(n, dtype=pl.Int64)).cast(pl.Float64)
        return logc - start, bars

    # Baseline vol of ONE bar, measured on `unit_n`-bar returns (overlapping) and scaled back by sqrt.
    unit_move, unit_bars = move(unit_n)
    # The first bar has no move: null (skipped by the rolling std), not 0/0 = NaN (which poisons it).
    unit_step = pl.when(unit_bars > 0).then(unit_move / unit_bars.sqrt())
    baseline = unit_step.rolling_std(base_n, min_samples=floor)

    def move_z(n: int) -> pl.Expr:
        delta, bars = move(n)
        return pl.when(bars > 0).then(delta / (baseline * bars.sqrt()))

    quote_avg = (pl.col("close") * pl.col("volume")).rolling_mean(liq_n, min_samples=1)
    quote_median = quote_avg.rolling_median(pct_n, min_samples=pct_min)
    short_vol = logc.diff().rolling_std(vol_n, min_samples=floor)
    return frame.select(
        move_z(trend_n).alias("trend_z"),
        move_z(panic_n).alias("move_z"),
        _trailing_pct(short_vol, pct_n, pct_min).alias("vol_pct"),
        _trailing_pct(quote_avg, pct_n, pct_min).alias("liquidity_pct"),
        (quote_avg / quote_median).alias("liquidity_ratio"),
        quote_avg.alias("quote_volume_avg"),
    ).with_columns(pl.col("trend_z", "move_z", "liquidity_ratio").fill_nan(None))


def classify_regimes(frame: pl.DataFrame, timeframe: str, params: RegimeParams | None = None) -> pl.Series:
    """One regime per bar, priority ILLIQUID > PANIC > TREND > RANGE; Series `regime` of REGIME_DTYPE.

    Accepts candles or a feature frame (reads only close and volume). Bars whose inputs are still in
    warm-up fall through to RANGE, the regime that claims nothing.
    """
    p = params or RegimeParams()
    inputs = regime_inputs(frame, timeframe, p)
    shock = pl.col("move_z") <= -p.panic_z if p.panic_down_only else pl.col("move_z").abs() >= p.panic_z
    illiquid = (pl.col("quote_volume_avg") <= 0) | (
        (pl.col("liquidity_pct") <= p.illiquid_pct) & (pl.col("liquidity_ratio") <= p.illiquid_ratio)
    )
    panic = (pl.col("vol_pct") >= p.panic_vol_pct) & shock
    trend = pl.col("trend_z").abs() >= p.trend_z
    regime = (
        pl.when(illiquid.fill_null(False))
        .then(pl.lit("ILLIQUID"))
        .when(panic.fill_null(False))
        .then(pl.lit("PANIC"))
        .when(trend.fill_null(False))
        .then(pl.lit("TREND"))
        .otherwise(pl.lit("RANGE"))
    )
    return inputs.select(regime.cast(REGIME_DTYPE).alias("regime")).to_series()


def regime_shares(series: pl.Series) -> dict[str, float]:
    """Share (0..1) of bars in each regime, every regime present as a key (0.0 when absent)."""
    total = series.len()
    counts = {str(k): int(v) for k, v in series.cast(pl.String).value_counts().iter_rows()}
    return {name: (counts.get(name, 0) / total if total else 0.0) for name in REGIMES}


__all__ = [
    "REGIMES",
    "REGIME_DTYPE",
    "RegimeParams",
    "classify_regimes",
    "regime_inputs",
    "regime_shares",
]
