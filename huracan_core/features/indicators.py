"""Causal indicator building blocks as polars expressions (row t reads only rows <= t).

The finite EMA is the one non-obvious piece: see `finite_ema` for why it is both O(n) and window-exact.
"""

from __future__ import annotations

import math

import polars as pl

# Variance of 1-bar log returns below which a series is treated as flat (std 1e-9 per bar: below any tick).
MIN_RETURN_VARIANCE = 1e-18
_TWO_PI = 2.0 * math.pi
DAY_MS = 86_400_000
MINUTE_MS = 60_000


def log_return(x: pl.Expr, bars: int) -> pl.Expr:
    """ln(x_t / x_{t-bars}); null for the first `bars` rows."""
    return (x / x.shift(bars)).log()


def any_positive_in_window(x: pl.Expr, window: int) -> pl.Expr:
    """True where some value of a non-negative series is > 0 in the last `window` rows (exact: a max)."""
    return x.rolling_max(window) > 0


def constant_in_window(x: pl.Expr, window: int) -> pl.Expr:
    """True where the last `window` rows are all equal (exact: max == min)."""
    return x.rolling_max(window) == x.rolling_min(window)


def finite_ema(x: pl.Expr, alpha: float, window: int) -> pl.Expr:
    """Mean of the last `window` values with exponential weights alpha*(1-alpha)^i (i = 0 newest), renormalised.

    Why finite: an ordinary EMA depends on every bar since the series began, so a value computed from the
    newest bars only (live) could never equal the batch value (training). Truncating the weights makes the
    value a function of the last `window` bars; the recipe picks `window` so the omitted tail is tiny.

    Why O(n): with y the recursive EMA (adjust=False), y_t - (1-alpha)^N * y_{t-N} equals exactly the
    truncated weighted sum (everything older than N bars cancels). Floating point leaves ~1e-16 relative
    error, far below the 1e-9 batch/incremental tolerance. `x` must have no nulls (fill warm-up rows first:
    their contribution cancels). Valid from row `window` on (needs y_{t-N}).
    A window of zeros gives a rounding residue (~1e-16 of older values), not an exact 0: ratios of two such
    averages (RSI, DI, DX) are guarded with `any_positive_in_window` by the caller.
    """
    decay = (1.0 - alpha) ** window
    y = x.ewm_mean(alpha=alpha, adjust=False)
    return (y - decay * y.shift(window)) / (1.0 - decay)


def true_range(high: pl.Expr, low: pl.Expr, close: pl.Expr) -> pl.Expr:
    """Wilder's true range: max(high-low, |high-prev close|, |low-prev close|)."""
    prev = close.shift(1)
    return pl.max_horizontal(high - low, (high - prev).abs(), (low - prev).abs())


def directional_moves(high: pl.Expr, low: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Wilder's +DM and -DM (0 on the first row)."""
    up = high - high.shift(1)
    down = low.shift(1) - low
    plus = pl.when((up > down) & (up > 0)).then(up).otherwise(0.0).fill_null(0.0)
    minus = pl.when((down > up) & (down > 0)).then(down).otherwise(0.0).fill_null(0.0)
    return plus, minus


def safe_ratio(num: pl.Expr, den: pl.Expr, default: float) -> pl.Expr:
    """num / den where den > 0, else `default` (never inf or NaN)."""
    return pl.when(den > 0).then(num / den).otherwise(pl.lit(default))


def time_of_day_minutes(ts_ms: pl.Expr) -> pl.Expr:
    """Minutes since UTC midnight of an epoch-ms timestamp (bar open time)."""
    return (ts_ms % DAY_MS).cast(pl.Float64) / MINUTE_MS


def day_of_week(ts_ms: pl.Expr) -> pl.Expr:
    """Weekday of an epoch-ms timestamp, Monday = 0 (1970-01-01 was a Thursday)."""
    return ((ts_ms // DAY_MS) + 3) % 7


def cyclical(value: pl.Expr, period: float) -> tuple[pl.Expr, pl.Expr]:
    """(sin, cos) of a value on a circle of `period`, so 23:55 sits next to 00:00."""
    angle = value.cast(pl.Float64) * (_TWO_PI / period)
    return angle.sin(), angle.cos()


def covariances_from_sums(
    n: pl.Expr, sx: pl.Expr, sy: pl.Expr, sxx: pl.Expr, syy: pl.Expr, sxy: pl.Expr
) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(cov(x, y), var(x), var(y)) with ddof=1 from rolling sums over n pairs."""
    dof = n - 1.0
    return (sxy - sx * sy / n) / dof, (sxx - sx * sx / n) / dof, (syy - sy * sy / n) / dof


def beta_corr(cov: pl.Expr, vx: pl.Expr, vy: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """Beta of x on y and their correlation; a flat y (or x) gives beta 0 / corr 0: no co-movement can be
    measured (variance below MIN_RETURN_VARIANCE)."""
    beta = pl.when(vy > MIN_RETURN_VARIANCE).then(cov / vy).otherwise(0.0)
    flat = (vx <= MIN_RETURN_VARIANCE) | (vy <= MIN_RETURN_VARIANCE)
    corr = pl.when(flat).then(0.0).otherwise((cov / (vx * vy).sqrt()).clip(-1.0, 1.0))
    return beta, corr
