"""Causal indicator kernels on float64 arrays (row t reads only rows <= t), compiled once with numba.

Each kernel is one pass over the bars, used alike by the batch and the incremental mode. Rows a kernel cannot
fill yet (short history) are NaN; the builder turns them into nulls. The rolling sums, means and variances
follow polars' own running algorithms (Kahan sums, Welford-style add/remove) so the values match the
polars expressions this module replaced to ~1e-15. The finite EMA (see `finite_ema`) is what makes batch
and incremental values agree.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# Variance of 1-bar log returns below which a series is treated as flat (std 1e-9 per bar: below any tick).
MIN_RETURN_VARIANCE = 1e-18
_TWO_PI = 2.0 * math.pi
DAY_MS = 86_400_000
MINUTE_MS = 60_000

# cache=True keeps the machine code beside this module: a new process loads it instead of recompiling;
# nogil=True lets `build_features_many` run several coins on threads.
_jit = njit(cache=True, nogil=True, fastmath=False, error_model="numpy")


def log_return(log_x: np.ndarray, bars: int) -> np.ndarray:
    """ln(x_t / x_{t-bars}) from ln(x) (a difference of logs: one log per bar for every window); NaN for
    the first `bars` rows and wherever either value is NaN."""
    out = np.full(log_x.size, np.nan)
    if log_x.size > bars:
        out[bars:] = log_x[bars:] - log_x[:-bars]
    return out


@_jit
def rolling_sum(x: np.ndarray, window: int, first: int) -> np.ndarray:
    """Sum of the last `window` values (Kahan-compensated running sum); `x` is valid from row `first`.

    NaN until a full window of valid values exists."""
    n = x.size
    out = np.full(n, np.nan)
    total = 0.0
    err = 0.0
    for t in range(first, n):
        if t - window >= first:  # the leaving value, added negated (as polars does)
            y = -x[t - window] - err
            new = total + y
            err = (new - total) - y
            total = new
        y = x[t] - err
        new = total + y
        err = (new - total) - y
        total = new
        if t - first >= window - 1:
            out[t] = total
    return out


@_jit
def rolling_mean(x: np.ndarray, window: int, first: int) -> np.ndarray:
    """Mean of the last `window` values (running sum / window)."""
    out = rolling_sum(x, window, first)
    return out / float(window)


@_jit
def rolling_std(x: np.ndarray, window: int, ddof: int, first: int) -> np.ndarray:
    """Standard deviation of the last `window` values (ddof 0 or 1); `x` is valid from row `first`.

    A running mean and sum of squared deviations updated as values enter and leave (Welford), recomputed
    exactly (two passes) every `window` rows so rounding errors cannot pile up over a long history (a
    never-refreshed running state drifts by up to 1e-9 relative on real prices); a window of equal values
    gives exactly 0.
    """
    n = x.size
    out = np.full(n, np.nan)
    weight = 0.0
    mean = 0.0
    dp = 0.0
    last_change = first  # newest row that differs from the row before it
    for t in range(first, n):
        filled = t - first + 1  # values seen so far
        if t > first and x[t] != x[t - 1]:
            last_change = t
        if filled > window and (filled - window) % window == 0:
            start = t - window + 1
            total = 0.0
            for i in range(start, t + 1):
                total += x[i]
            mean = total / window
            dp = 0.0
            for i in range(start, t + 1):
                dp += (x[i] - mean) * (x[i] - mean)
            weight = float(window)
        else:
            if filled > window:
                leaving = x[t - window]
                new_weight = weight - 1.0
                delta = leaving - mean
                new_mean = mean - delta / new_weight
                dp -= (leaving - new_mean) * delta
                weight = new_weight
                mean = new_mean
            entering = x[t]
            new_weight = weight + 1.0
            delta = entering - mean
            new_mean = mean + delta / new_weight
            dp += (entering - new_mean) * delta
            weight = new_weight
            mean = new_mean
        if filled >= window:
            var = dp / (weight - ddof)
            # An unchanged window is exactly 0, not the rounding residue of the values that left it.
            flat = last_change <= t - window + 1
            out[t] = math.sqrt(var) if var > 0.0 and not flat else 0.0
    return out


@_jit
def rolling_max(x: np.ndarray, window: int) -> np.ndarray:
    """Largest of the last `window` values (monotonic queue, O(n)); NaN for the first window - 1 rows."""
    n = x.size
    out = np.full(n, np.nan)
    queue = np.empty(n, dtype=np.int64)  # indices of decreasing values
    head = 0
    tail = 0
    for t in range(n):
        while tail > head and x[queue[tail - 1]] <= x[t]:
            tail -= 1
        queue[tail] = t
        tail += 1
        if queue[head] <= t - window:
            head += 1
        if t >= window - 1:
            out[t] = x[queue[head]]
    return out


@_jit
def rolling_min(x: np.ndarray, window: int) -> np.ndarray:
    """Smallest of the last `window` values; NaN for the first window - 1 rows."""
    return -rolling_max(-x, window)


@_jit
def any_positive_in_window(x: np.ndarray, window: int) -> np.ndarray:
    """True where some value of a non-negative series is > 0 in the last `window` rows (exact)."""
    n = x.size
    out = np.zeros(n, dtype=np.bool_)
    last = -(1 << 62)
    for t in range(n):
        if x[t] > 0.0:
            last = t
        out[t] = last > t - window
    return out


@_jit
def constant_in_window(x: np.ndarray, window: int) -> np.ndarray:
    """True where the last `window` rows are all equal (exact: no change inside the window)."""
    n = x.size
    out = np.zeros(n, dtype=np.bool_)
    last_change = 0  # newest row that differs from the row before it
    for t in range(n):
        if t > 0 and x[t] != x[t - 1]:
            last_change = t
        out[t] = last_change <= t - window + 1
    return out


@_jit
def finite_emas(
    x: np.ndarray, alpha: np.ndarray, window: np.ndarray, decay: np.ndarray, norm: np.ndarray
) -> np.ndarray:
    """Finite EMAs of the rows of `x` (k series x n bars), row j with smoothing `alpha[j]` over `window[j]` bars.

    Finite EMA = mean of the last `window` values with exponential weights alpha*(1-alpha)^i (i = 0 newest),
    renormalised. Why finite: an ordinary EMA depends on every bar since the series began, so a value computed
    from the newest bars only (live) could never equal the batch value (training). Truncating the weights
    makes the value a function of the last `window` bars; the recipe picks `window` so the omitted tail is
    tiny. O(n) from the recursive EMA y (adjust=False, polars' exact arithmetic):
    (y_t - (1-alpha)^window * y_{t-window}) / (1 - (1-alpha)^window), with `decay` = (1-alpha)^window and
    `norm` = 1 - decay passed in (see `ema_constants`). NaN for the first `window` rows. The k recursions run
    interleaved in one pass (independent divisions overlap in the CPU). Ratios of two such averages (RSI,
    DI, DX) are guarded by the caller.
    """
    k, n = x.shape
    y = np.empty((k, n))
    out = np.full((k, n), np.nan)
    if n == 0:
        return out
    old_wt = 1.0 - alpha
    avg = x[:, 0].copy()
    y[:, 0] = avg
    for t in range(1, n):
        for j in range(k):
            value = x[j, t]
            if avg[j] != value:
                avg[j] = (old_wt[j] * avg[j] + alpha[j] * value) / (old_wt[j] + alpha[j])
            y[j, t] = avg[j]
    for j in range(k):
        w = window[j]
        for t in range(w, n):
            out[j, t] = (y[j, t] - decay[j] * y[j, t - w]) / norm[j]
    return out


def ema_constants(alpha: float, window: int) -> tuple[float, float]:
    """(decay, 1 - decay) of a finite EMA, computed once in Python double precision."""
    decay = (1.0 - alpha) ** window
    return decay, 1.0 - decay


@_jit
def one_bar_blocks(
    high: np.ndarray, low: np.ndarray, close: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Wilder's true range, +DM, -DM, close-to-close gain and loss, |close change| (row 0: 0, 0, 0, 0, 0,
    NaN; row 0's true range is high - low)."""
    n = close.size
    tr = np.empty(n)
    plus = np.zeros(n)
    minus = np.zeros(n)
    gain = np.zeros(n)
    loss = np.zeros(n)
    moved = np.full(n, np.nan)
    if n == 0:
        return tr, plus, minus, gain, loss, moved
    tr[0] = high[0] - low[0]
    for t in range(1, n):
        prev = close[t - 1]
        tr[t] = max(high[t] - low[t], abs(high[t] - prev), abs(low[t] - prev))
        up = high[t] - high[t - 1]
        down = low[t - 1] - low[t]
        if up > down and up > 0.0:
            plus[t] = up
        if down > up and down > 0.0:
            minus[t] = down
        diff = close[t] - prev
        gain[t] = max(diff, 0.0)
        loss[t] = max(-diff, 0.0)
        moved[t] = abs(diff)
    return tr, plus, minus, gain, loss, moved


@_jit
def safe_ratio(num: np.ndarray, den: np.ndarray, default: float) -> np.ndarray:
    """num / den where den > 0, else `default` (never inf or NaN from a zero denominator)."""
    out = np.empty(num.size)
    for t in range(num.size):
        out[t] = num[t] / den[t] if den[t] > 0.0 else default
    return out


def time_features(ts_ms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(sin, cos) of the UTC time of day and of the weekday (Monday = 0) of epoch-ms bar open times, so
    23:55 sits next to 00:00 and Sunday next to Monday (1970-01-01 was a Thursday)."""
    tod = (ts_ms % DAY_MS).astype(np.float64) / MINUTE_MS * (_TWO_PI / 1440.0)
    dow = ((ts_ms // DAY_MS + 3) % 7).astype(np.float64) * (_TWO_PI / 7.0)
    return np.sin(tod), np.cos(tod), np.sin(dow), np.cos(dow)


@_jit
def _kahan_add6(
    sums: np.ndarray, errs: np.ndarray, a: float, b: float, c: float, d: float, e: float, f: float
) -> None:
    """One Kahan-compensated step of six running sums at once."""
    values = (a, b, c, d, e, f)
    for j in range(6):
        v = values[j] - errs[j]
        new = sums[j] + v
        errs[j] = (new - sums[j]) - v
        sums[j] = new


@_jit
def beta_corr(
    ret: np.ndarray, ref_ret: np.ndarray, window: int, min_pairs: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rolling beta of `ret` on `ref_ret` and their correlation over `window` bars (ddof=1).

    Only bars where both returns exist count (others add zeros and are not counted). NaN (null) where
    fewer than `min_pairs` pairs exist or the window is not full; a flat series gives beta 0 / corr 0: no
    co-movement can be measured (variance below MIN_RETURN_VARIANCE). The six window sums (count, x, y,
    xx, yy, xy) are Kahan running sums like `rolling_sum`, kept in one pass.
    """
    n = ret.size
    x = np.zeros(n)
    y = np.zeros(n)
    pair = np.zeros(n)
    for t in range(n):
        if not (math.isnan(ret[t]) or math.isnan(ref_ret[t])):
            pair[t] = 1.0
            x[t] = ret[t]
            y[t] = ref_ret[t]
    sums = np.zeros(6)
    errs = np.zeros(6)
    beta = np.full(n, np.nan)
    corr = np.full(n, np.nan)
    for t in range(n):
        if t >= window:  # the leaving pair, added negated (as `rolling_sum` does)
            i = t - window
            _kahan_add6(sums, errs, -pair[i], -x[i], -y[i], -(x[i] * x[i]), -(y[i] * y[i]), -(x[i] * y[i]))
        _kahan_add6(sums, errs, pair[t], x[t], y[t], x[t] * x[t], y[t] * y[t], x[t] * y[t])
        if t < window - 1:
            continue
        c = sums[0]
        if not c >= min_pairs:
            continue
        sx, sy, sxx, syy, sxy = sums[1], sums[2], sums[3], sums[4], sums[5]
        dof = c - 1.0
        cov = (sxy - sx * sy / c) / dof
        vx = (sxx - sx * sx / c) / dof
        vy = (syy - sy * sy / c) / dof
        beta[t] = cov / vy if vy > MIN_RETURN_VARIANCE else 0.0
        if vx <= MIN_RETURN_VARIANCE or vy <= MIN_RETURN_VARIANCE:
            corr[t] = 0.0
        else:
            corr[t] = min(max(cov / math.sqrt(vx * vy), -1.0), 1.0)
    return beta, corr


@_jit
def aligned(ref_ts: np.ndarray, ref_values: np.ndarray, timestamps: np.ndarray) -> np.ndarray:
    """`ref_values` at each of `timestamps` (both timestamp arrays sorted ascending, unique), NaN where the
    reference lacks the bar: a left join on timestamp as one linear merge."""
    n = timestamps.size
    out = np.full(n, np.nan)
    j = 0
    for t in range(n):
        while j < ref_ts.size and ref_ts[j] < timestamps[t]:
            j += 1
        if j < ref_ts.size and ref_ts[j] == timestamps[t]:
            out[t] = ref_values[j]
    return out
