"""Causal indicator kernels (row t reads only rows <= t): compiled passes over a coin's bars.

Every indicator is a small running state (Kahan sums, Welford moments, recursive EMAs) kept in local
variables and ring buffers of its window; the same passes serve the batch and the incremental mode. The
arithmetic follows the polars expressions this replaced (running Kahan sums, polars' EMA recursion) so values
match them to ~1e-12. Rows without enough history are NaN.

Speed comes from how the passes are laid out, never from changing the arithmetic: the running states advance
bar by bar without divisions, over blocks of `_CHUNK` bars that stay in the core's cache, and everything
element-wise (divisions, square roots, rolling extremes) runs in separate loops over slices with one output
each, which the compiler vectorises (it does not when a loop writes several rows of one array, or indexes
with a variable offset).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# Variance of 1-bar log returns below which a series is treated as flat (std 1e-9 per bar: below any tick).
MIN_RETURN_VARIANCE = 1e-18
_TWO_PI = 2.0 * math.pi
# Bars per block of the two-phase passes: the blocks' work rows stay in the core's cache.
_CHUNK = 1024
DAY_MS = 86_400_000
MINUTE_MS = 60_000

# cache=True keeps the machine code beside this module (a new process loads it instead of compiling);
# nogil=True lets `build_features_many` run coins on several threads. The per-bar steps are inlined into the
# pass (about 20% faster than calls).
_jit = njit(cache=True, nogil=True, error_model="numpy")
_step = njit(cache=True, nogil=True, error_model="numpy", inline="always")

# sin/cos of every whole minute of the day and of every weekday.
_TOD_SIN = np.array([math.sin(m * (_TWO_PI / 1440.0)) for m in range(1440)])
_TOD_COS = np.array([math.cos(m * (_TWO_PI / 1440.0)) for m in range(1440)])
_DOW_SIN = np.array([math.sin(d * (_TWO_PI / 7.0)) for d in range(7)])
_DOW_COS = np.array([math.cos(d * (_TWO_PI / 7.0)) for d in range(7)])


def ema_window_constants(alphas: list[float], windows: list[int]) -> tuple[np.ndarray, ...]:
    """Arrays (alpha, window, decay, 1 / (1 - decay)) for finite EMA states, decay = (1-alpha)^window.

    A finite EMA is the mean of the last `window` values with exponential weights alpha*(1-alpha)^i (i = 0
    newest), renormalised. Why finite: an ordinary EMA depends on every bar since the series began, so a
    value computed from the newest bars only (live) could never equal the batch value (training). Truncating
    the weights makes the value a function of the last `window` bars; the recipe picks `window` so the
    omitted tail is tiny. O(1) per bar from the recursive EMA y (adjust=False):
    (y_t - (1-alpha)^window * y_{t-window}) / (1 - (1-alpha)^window).
    """
    decay = [(1.0 - a) ** w for a, w in zip(alphas, windows, strict=True)]
    return (
        np.array(alphas, dtype=np.float64),
        np.array(windows, dtype=np.int64),
        np.array(decay, dtype=np.float64),
        np.array([1.0 / (1.0 - d) for d in decay], dtype=np.float64),
    )


# --- running states ------------------------------------------------------------------------------


@_step
def _ema_lane(t: int, value: float, avg: float, keep: float, alpha: float, unit: bool) -> float:
    """The recursive EMA after bar t (polars' adjust=False arithmetic; `unit`: keep + alpha == 1, the usual
    case, where the normalising division is skipped: same value)."""
    if t == 0 or avg == value:
        return value if t == 0 else avg
    y = keep * avg + alpha * value
    return y if unit else y / (keep + alpha)


@_step
def _pow2(n: int) -> int:
    """Smallest power of two >= n: ring buffer sizes, so positions are bit masks, not integer divisions."""
    size = 1
    while size < n:
        size *= 2
    return size


@_step
def _kahan(total: float, compensation: float, value: float) -> tuple[float, float]:
    """Kahan-compensated `total += value`: the new (total, compensation). Leaving values of a rolling sum are
    added negated before the entering one (polars' running sum)."""
    y = value - compensation
    new = total + y
    return new, (new - total) - y


@_jit
def _time_features(ts: np.ndarray, tod_sin: np.ndarray, tod_cos: np.ndarray, dow_sin: np.ndarray,
                   dow_cos: np.ndarray) -> None:  # fmt: skip
    """(sin, cos) of the UTC time of day and of the weekday (Monday = 0; 1970-01-01 was a Thursday) of each
    bar. Whole minutes (every real bar) read tables of the same values. The day is found again only when a
    bar leaves the previous bar's day: a 64-bit division per bar costs more than the rest."""
    day_start = weekday = 0
    for t in range(ts.size):
        x = ts[t]
        in_day = x - day_start
        if t == 0 or in_day < 0 or in_day >= DAY_MS:
            day = x // DAY_MS
            day_start = day * DAY_MS
            in_day = x - day_start
            weekday = (day + 3) % 7
        minute = in_day // MINUTE_MS
        if minute * MINUTE_MS == in_day:
            tod_sin[t], tod_cos[t] = _TOD_SIN[minute], _TOD_COS[minute]
        else:
            angle = float(in_day) / MINUTE_MS * (_TWO_PI / 1440.0)
            tod_sin[t], tod_cos[t] = math.sin(angle), math.cos(angle)
        dow_sin[t], dow_cos[t] = _DOW_SIN[weekday], _DOW_COS[weekday]


@_jit
def rolling_std(x: np.ndarray, window: int, ddof: int, first: int, out: np.ndarray) -> None:
    """out[t] = standard deviation (ddof 0 or 1) of x over the last `window` rows, from row `first` on (x is
    valid from there); NaN until a full window exists.

    Running mean and sum of squared deviations (Welford while filling, then the sliding-window update that
    swaps the leaving value for the entering one), recomputed in two exact passes every `window` values so
    rounding cannot pile up over a long history (a never-refreshed state drifts by up to 1e-9 relative on
    real prices). A window of equal values gives exactly 0. The state lives in local variables (registers,
    not reloaded after every store to `out`), the sliding updates run over slices between recomputations,
    and the pass writes variances whose square roots a vectorised loop then takes (one at a time, a square
    root costs as much as the rest of the update).
    """
    n = x.size
    head = min(first, n)
    out[:head] = np.nan
    inv_window, inv_dof = 1.0 / window, 1.0 / (window - ddof)
    weight = mean = dp = 0.0
    newest_change = 0  # index (from `first`) of the newest value that differs from the one before
    fill = min(first + window, n)
    for t in range(head, fill):  # filling up: Welford insertion
        k = t - first
        value = x[t]
        if k > 0 and value != x[t - 1]:
            newest_change = k
        new_weight = weight + 1.0
        delta = value - mean
        new_mean = mean + delta / new_weight
        dp += (value - new_mean) * delta
        weight, mean = new_weight, new_mean
        var = dp * inv_dof
        out[t] = var if var > 0.0 and newest_change > k - window + 1 else 0.0  # sqrt(0) is 0
    for t in range(fill, n, window):  # full windows: an exact recomputation every `window` values
        k = t - first
        if x[t] != x[t - 1]:
            newest_change = k
        if t - window + 1 < fill:  # the first full window: sum it here
            total = 0.0
            for i in range(t - window + 1, t):
                total += x[i]
        total += x[t]  # later windows were summed (same order) during the previous block's updates
        mean = total / window
        dp = 0.0
        for i in range(t - window + 1, t + 1):
            d = x[i] - mean
            dp += d * d
        var = dp * inv_dof
        out[t] = var if var > 0.0 and newest_change > k - window + 1 else 0.0
        # then the leaving value is replaced by the entering one
        end = min(t + window, n)
        values, previous, leaving, into = (
            x[t + 1 : end],
            x[t : end - 1],
            x[t + 1 - window : end - window],
            out[t + 1 : end],
        )
        total = 0.0  # the next recomputation's sum, from its first value on: overlaps with the updates
        for i in range(values.size):
            value, old = values[i], leaving[i]
            total += value
            if value != previous[i]:
                newest_change = k + 1 + i
            new_mean = mean + (value - old) * inv_window
            dp += (value - old) * (value - new_mean + old - mean)
            mean = new_mean
            var = dp * inv_dof
            into[i] = var if var > 0.0 and newest_change > k + 1 + i - window + 1 else 0.0
    full = min(head + window - 1, n)
    out[head:full] = np.nan
    rows = out[full:]
    for i in range(rows.size):
        rows[i] = math.sqrt(rows[i])


@_jit
def one_bar_blocks(high: np.ndarray, low: np.ndarray, close: np.ndarray, out: np.ndarray) -> None:
    """Rows of `out`: Wilder's true range, +DM, -DM, close-to-close gain, loss and |change| (row 0: high -
    low, then zeros)."""
    n = close.size
    if n:
        out[0, 0], out[1, 0], out[2, 0] = high[0] - low[0], 0.0, 0.0
        out[3, 0], out[4, 0], out[5, 0] = 0.0, 0.0, 0.0
    for t in range(1, n):
        h, l, prev = high[t], low[t], close[t - 1]  # noqa: E741
        out[0, t] = max(h - l, abs(h - prev), abs(l - prev))
        up, down = h - high[t - 1], low[t - 1] - l
        out[1, t] = up if up > down and up > 0.0 else 0.0
        out[2, t] = down if down > up and down > 0.0 else 0.0
        diff = close[t] - prev
        out[3, t], out[4, t], out[5, t] = max(diff, 0.0), max(-diff, 0.0), abs(diff)


@_step
def _ema_source(
    close: np.ndarray, blocks: np.ndarray, n_close: int, j: int, start: int, stop: int
) -> np.ndarray:
    """Bars [start, stop) of the series that finite EMA j smooths (see `finite_emas`)."""
    return close[start:stop] if j < n_close else blocks[j - n_close, start:stop]


@_jit
def finite_emas(close: np.ndarray, blocks: np.ndarray, n_close: int, alpha: np.ndarray, window: np.ndarray,
                decay: np.ndarray, inv_norm: np.ndarray, out: np.ndarray) -> None:  # fmt: skip
    """Finite EMAs into the rows of `out`: rows < n_close smooth `close`, the others blocks[j - n_close].

    Blocks of `_CHUNK` bars: the recursions (polars' adjust=False arithmetic) run four at a time in local
    variables, so their multiplications overlap in the CPU, into work rows that also keep the newest
    `window` values of the block before; each row then becomes (y_t - decay * y_{t-window}) / (1 - decay)
    in a vectorised loop, NaN for t < window.
    """
    k, n = out.shape
    if n == 0:
        return
    lag = window.max()
    size = min(n, _CHUNK)
    history = np.empty((k, lag + size))  # history[j, lag + i]: recursive EMA j after bar start + i
    keep = 1.0 - alpha
    unit = keep + alpha == 1.0
    avg = np.zeros(k)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        m = stop - start
        for g in range(0, k, 4):  # four lanes; a short last group repeats its last series (same values)
            j0, j1, j2, j3 = g, min(g + 1, k - 1), min(g + 2, k - 1), min(g + 3, k - 1)
            x0 = _ema_source(close, blocks, n_close, j0, start, stop)
            x1 = _ema_source(close, blocks, n_close, j1, start, stop)
            x2 = _ema_source(close, blocks, n_close, j2, start, stop)
            x3 = _ema_source(close, blocks, n_close, j3, start, stop)
            h0, h1, h2, h3 = history[j0, lag:], history[j1, lag:], history[j2, lag:], history[j3, lag:]
            k0, k1, k2, k3 = keep[j0], keep[j1], keep[j2], keep[j3]
            a0, a1, a2, a3 = alpha[j0], alpha[j1], alpha[j2], alpha[j3]
            u0, u1, u2, u3 = unit[j0], unit[j1], unit[j2], unit[j3]
            y0, y1, y2, y3 = avg[j0], avg[j1], avg[j2], avg[j3]
            for i in range(m):
                t = start + i
                y0 = _ema_lane(t, x0[i], y0, k0, a0, u0)
                y1 = _ema_lane(t, x1[i], y1, k1, a1, u1)
                y2 = _ema_lane(t, x2[i], y2, k2, a2, u2)
                y3 = _ema_lane(t, x3[i], y3, k3, a3, u3)
                h0[i], h1[i], h2[i], h3[i] = y0, y1, y2, y3
            avg[j0], avg[j1], avg[j2], avg[j3] = y0, y1, y2, y3
        for j in range(k):
            w = window[j]
            skip = min(max(w - start, 0), m)
            out[j, start : start + skip] = np.nan
            d, inv = decay[j], inv_norm[j]
            newer, older = history[j, lag + skip : lag + m], history[j, lag + skip - w : lag + m - w]
            into = out[j, start + skip : stop]
            for q in range(m - skip):
                into[q] = (newer[q] - d * older[q]) * inv
            row = history[j]
            for q in range(lag):  # the newest `lag` values become the next block's history
                row[q] = row[q + m]


# --- the pass over one coin ------------------------------------------------------------------------


@_jit
def _window_extreme(x: np.ndarray, start: int, stop: int, window: int, sign: float, a: np.ndarray,
                    b: np.ndarray, out: np.ndarray) -> None:  # fmt: skip
    """out[i] = max (sign 1) or min (sign -1) of x over the `window` rows up to start + i, for the rows
    [start, stop); NaN before a full window. Doubling passes (extremes of 1, 2, 4, ... rows; two
    overlapping powers of two then cover the window): branch-free and vectorised, about ten times faster
    here than a monotonic queue, whose pops depend on the data. `a` and `b` are work rows of at least
    stop - start + window.
    """
    lead = min(window - 1, start)  # rows before `start` that the first windows read
    size = stop - start + lead
    rows = x[start - lead : stop]
    for j in range(size):
        a[j] = rows[j]
    span, in_b = 1, False  # in_b: the current level is in b (ping-pong by flag: swapping arrays is slow)
    while 2 * span <= window:  # level[j] (j >= span - 1): extreme of the `span` rows ending at j
        level, into = (b, a) if in_b else (a, b)
        done = 2 * span - 1
        newer, older, into = level[done:size], level[span - 1 : size - span], into[done:size]
        if sign > 0.0:
            for j in range(into.size):
                into[j] = max(newer[j], older[j])
        else:
            for j in range(into.size):
                into[j] = min(newer[j], older[j])
        in_b = not in_b
        span *= 2
    level = b if in_b else a
    rest = window - span
    skip = min(max(window - 1 - start, 0), stop - start)  # rows without a full window: NaN
    out[:skip] = np.nan
    first = lead + skip  # level position of the first full window's newest row
    count = stop - start - skip
    newer, older, into = level[first : first + count], level[first - rest : first - rest + count], out[skip:]
    if sign > 0.0:
        for i in range(count):
            into[i] = max(newer[i], older[i])
    else:
        for i in range(count):
            into[i] = min(newer[i], older[i])


@_jit
def late_nans(row: np.ndarray, start: int, stop: int, first: int) -> int:
    """NaNs in row[max(start, first):stop]: NaNs after a feature's warm-up (`first`), which the output marks
    null bit by bit; counted where the rows are written, while they are still in the core's cache."""
    values = row[max(start, first) : stop]
    count = 0
    for i in range(values.size):  # a vectorised count
        count += math.isnan(values[i])
    return count


@_jit
def _lagged_difference(x: np.ndarray, lag: int, out: np.ndarray) -> None:
    """out[t] = x[t] - x[t - lag], NaN for t < lag (slices, not indices: the loop vectorises)."""
    head = min(lag, x.size)
    out[:head] = np.nan
    newer, older, into = x[head:], x[: x.size - head], out[head:]
    for i in range(into.size):
        into[i] = newer[i] - older[i]


@_jit
def coin_features(ts: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray,
                  log_close: np.ndarray, log_hl: np.ndarray, sd_close: np.ndarray, sd_volume: np.ndarray,
                  blocks: np.ndarray, smoothed: np.ndarray, ints: np.ndarray, floats: np.ndarray,
                  ret_windows: np.ndarray, ret_rows: np.ndarray, slope_emas: np.ndarray, slope_rows: np.ndarray,
                  ema1: tuple, ema2: tuple, first_valid: np.ndarray, late: np.ndarray,
                  out: np.ndarray) -> None:  # fmt: skip
    """Every single-coin feature of the recipe into rows of `out` (features x bars); see `builder._layout`
    for what `ints`, `floats` and the row arrays hold. Precomputed inputs: `log_close` = ln(close),
    `log_hl` = ln(high / low) (vectorised) and the rolling standard deviations of close (Bollinger window,
    ddof 0) and volume (volume window, ddof 1) from `rolling_std`, the `one_bar_blocks` and their
    `finite_emas` (`smoothed`, series as in ema1). NaN where a window is not yet full.

    ema1: finite EMAs of close (one per span, first `n_close_emas`), then true range, +DM, -DM, gain, loss.
    ema2: MACD signal (of the MACD line) and ADX (of DX).
    late[r] += the NaNs written into row r from row first_valid[r] on (`late_nans`).

    Blocks of `_CHUNK` bars in three passes: the element-wise inputs of the running states, the running
    states bar by bar (local variables, no divisions), then the element-wise outputs. The element-wise loops
    run over slices with one output each, so the compiler vectorises them: a division costs several times
    less in SIMD lanes than one at a time, and there are about twenty per bar.
    """
    n = close.size
    n_close, fast, slow = ints[0], ints[1], ints[2]
    atr_row, adx_row, rsi_row = ints[3], ints[4], ints[5]
    macd_row, sig_row, hist_row = ints[6], ints[7], ints[8]
    park_row, bbp_row, bbw_row, range_row = ints[9], ints[10], ints[11], ints[12]
    volz_row, volr_row, vwap_row, time_row = ints[13], ints[14], ints[15], ints[16]
    park_w, bb_w, range_w, vol_w, vwap_w = ints[17], ints[18], ints[19], ints[20], ints[21]
    adx_dir_w, rsi_move_w, macd_start = ints[22], ints[23], ints[24]
    bb_k, log2x4 = floats[0], floats[1]
    tr_e, pdm_e, mdm_e, gain_e, loss_e = n_close, n_close + 1, n_close + 2, n_close + 3, n_close + 4
    pdm_start = ema1[1][pdm_e]
    a2, w2, d2, n2 = ema2
    sig_a, sig_w, sig_d, sig_n = a2[0], w2[0], d2[0], n2[0]
    adx_a, adx_w, adx_d, adx_n = a2[1], w2[1], d2[1], n2[1]
    sig_keep, adx_keep = 1.0 - sig_a, 1.0 - adx_a
    sig_unit, adx_unit = sig_keep + sig_a == 1.0, adx_keep + adx_a == 1.0
    ema_mask = _pow2(max(sig_w, adx_w) + 1) - 1
    sig_ring, adx_ring = np.empty(ema_mask + 1), np.empty(ema_mask + 1)
    vwap_mask = _pow2(vwap_w + 1) - 1
    typical_ring, weighted_ring = np.empty(vwap_mask + 1), np.empty(vwap_mask + 1)
    shared_volume = vol_w == vwap_w  # then the VWAP's traded volume is the volume mean's sum
    sig_avg = adx_avg = 0.0
    # Kahan sums (sum, compensation): parkinson, bb mean, volume mean, typical*volume, volume, typical
    park_s = park_c = bb_s = bb_c = vol_s = vol_c = tv_s = tv_c = traded_s = traded_c = typ_s = typ_c = 0.0
    last_dir = last_move = last_volume = last_vwap_volume = -(1 << 62)
    last_close_change = last_volume_change = 0

    # element-wise features that read no running state: whole rows at once
    for r in range(ret_windows.size):
        row = ret_rows[r]
        _lagged_difference(log_close, ret_windows[r], out[row])
        late[row] += late_nans(out[row], 0, n, first_valid[row])
    for r in range(slope_emas.size):
        ema, row = smoothed[slope_emas[r]], slope_rows[r]
        into = out[row]
        if n:
            into[0] = np.nan  # no previous EMA
        newer, older, later = ema[1:], ema[: max(n - 1, 0)], into[1:]
        for i in range(later.size):
            later[i] = newer[i] / older[i] - 1.0
        late[row] += late_nans(into, 0, n, first_valid[row])
    tr_s, into = smoothed[tr_e], out[atr_row]
    for t in range(n):
        into[t] = max(tr_s[t], 0.0) / close[t] if not math.isnan(tr_s[t]) else np.nan
    late[atr_row] += late_nans(into, 0, n, first_valid[atr_row])
    if time_row >= 0:
        _time_features(ts, out[time_row], out[time_row + 1], out[time_row + 2], out[time_row + 3])
        for row in range(time_row, time_row + 4):
            late[row] += late_nans(out[row], 0, n, first_valid[row])
    chunk_rows = np.array(
        [adx_row, rsi_row, macd_row, sig_row, hist_row, park_row, bbp_row, bbw_row, range_row, volz_row,
         volr_row, vwap_row]
    )  # fmt: skip

    size = min(n, _CHUNK)
    dx_raw, typical_now, line_now = np.empty(size), np.empty(size), np.empty(size)
    signal_now, park_sum, bb_sum, vol_sum = np.empty(size), np.empty(size), np.empty(size), np.empty(size)
    top_now, bottom_now, vwap_num, vwap_den = np.empty(size), np.empty(size), np.empty(size), np.empty(size)
    rsi_moved, bb_flat = np.empty(size, np.bool_), np.empty(size, np.bool_)
    vol_flat, vol_traded = np.empty(size, np.bool_), np.empty(size, np.bool_)
    level_a, level_b = np.empty(size + range_w), np.empty(size + range_w)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        m = stop - start
        h, l, c, v = high[start:stop], low[start:stop], close[start:stop], volume[start:stop]  # noqa: E741
        # 1. element-wise inputs of the running states
        pdm_s, mdm_s = smoothed[pdm_e, start:stop], smoothed[mdm_e, start:stop]
        for i in range(m):
            dx_raw[i] = 100.0 * abs(pdm_s[i] - mdm_s[i]) / (pdm_s[i] + mdm_s[i])
        for i in range(m):
            typical_now[i] = (h[i] + l[i] + c[i]) / 3.0
        fast_s, slow_s = smoothed[fast, start:stop], smoothed[slow, start:stop]
        for i in range(m):
            line_now[i] = fast_s[i] - slow_s[i] if start + i >= macd_start else 0.0  # no MACD line: 0
        _window_extreme(high, start, stop, range_w, 1.0, level_a, level_b, top_now)
        _window_extreme(low, start, stop, range_w, -1.0, level_a, level_b, bottom_now)
        # 2. running states, bar by bar
        for i in range(m):
            t = start + i
            price, traded = c[i], v[i]
            if blocks[1, t] + blocks[2, t] > 0.0:
                last_dir = t
            if blocks[5, t] > 0.0:
                last_move = t
            # RSI: a window without any close change gives 50, not the ratio of two rounding residues.
            rsi_moved[i] = last_move > t - rsi_move_w
            # DX = 100 |+DI - -DI| / (+DI + -DI); the smoothed true range cancels out of that ratio. 0 without
            # any directional move in the window, and 0 before the smoothed moves exist (ADX starts from 0s).
            dx = dx_raw[i] if t >= pdm_start and last_dir > t - adx_dir_w else 0.0
            sig_avg = _ema_lane(t, line_now[i], sig_avg, sig_keep, sig_a, sig_unit)
            adx_avg = _ema_lane(t, dx, adx_avg, adx_keep, adx_a, adx_unit)
            sig_ring[t & ema_mask], adx_ring[t & ema_mask] = sig_avg, adx_avg
            signal = (sig_avg - sig_d * sig_ring[(t - sig_w) & ema_mask]) * sig_n if t >= sig_w else np.nan
            adx = (adx_avg - adx_d * adx_ring[(t - adx_w) & ema_mask]) * adx_n if t >= adx_w else np.nan
            out[adx_row, t] = max(adx, 0.0) if not math.isnan(adx) else np.nan
            signal_now[i] = signal
            # Parkinson: sum of squared log ranges (the leaving value is recomputed, not stored)
            hl = log_hl[t]
            if t >= park_w:
                old = log_hl[t - park_w]
                park_s, park_c = _kahan(park_s, park_c, -(old * old))
            park_s, park_c = _kahan(park_s, park_c, hl * hl)
            park_sum[i] = park_s if t >= park_w - 1 else np.nan
            # Bollinger mean (a constant window gives 0, 0)
            if t > 0 and price != close[t - 1]:
                last_close_change = t
            if t >= bb_w:
                bb_s, bb_c = _kahan(bb_s, bb_c, -close[t - bb_w])
            bb_s, bb_c = _kahan(bb_s, bb_c, price)
            bb_sum[i] = bb_s if t >= bb_w - 1 else np.nan
            bb_flat[i] = last_close_change <= t - bb_w + 1
            # volume mean
            if t > 0 and traded != volume[t - 1]:
                last_volume_change = t
            if traded > 0.0:
                last_volume = last_vwap_volume = t
            if t >= vol_w:
                vol_s, vol_c = _kahan(vol_s, vol_c, -volume[t - vol_w])
            vol_s, vol_c = _kahan(vol_s, vol_c, traded)
            vol_sum[i] = vol_s if t >= vol_w - 1 else np.nan
            vol_flat[i] = last_volume_change <= t - vol_w + 1
            vol_traded[i] = last_volume > t - vol_w
            # rolling VWAP as numerator / denominator (no volume in the window: plain mean of the typical price)
            typical = typical_now[i]
            weighted_now = typical * traded
            if t >= vwap_w:
                back = (t - vwap_w) & vwap_mask
                tv_s, tv_c = _kahan(tv_s, tv_c, -weighted_ring[back])
                if not shared_volume:
                    traded_s, traded_c = _kahan(traded_s, traded_c, -volume[t - vwap_w])
                typ_s, typ_c = _kahan(typ_s, typ_c, -typical_ring[back])
            weighted_ring[t & vwap_mask], typical_ring[t & vwap_mask] = weighted_now, typical
            tv_s, tv_c = _kahan(tv_s, tv_c, weighted_now)
            if shared_volume:  # same values in the same order: the same sum
                traded_s = vol_s
            else:
                traded_s, traded_c = _kahan(traded_s, traded_c, traded)
            typ_s, typ_c = _kahan(typ_s, typ_c, typical)
            full = t >= vwap_w - 1
            if last_vwap_volume > t - vwap_w:
                vwap_num[i], vwap_den[i] = (tv_s if full else np.nan), (traded_s if full else np.nan)
            else:
                vwap_num[i], vwap_den[i] = (typ_s if full else np.nan), float(vwap_w)
        # 3. element-wise outputs
        gain_s, loss_s, into = (
            smoothed[gain_e, start:stop],
            smoothed[loss_e, start:stop],
            out[rsi_row, start:stop],
        )
        for i in range(m):
            into[i] = 100.0 * gain_s[i] / (gain_s[i] + loss_s[i]) if rsi_moved[i] else 50.0
        into = out[macd_row, start:stop]
        for i in range(m):
            into[i] = line_now[i] / c[i]
        into = out[sig_row, start:stop]
        for i in range(m):
            into[i] = signal_now[i] / c[i]
        into = out[hist_row, start:stop]
        for i in range(m):
            into[i] = (line_now[i] - signal_now[i]) / c[i]
        into = out[park_row, start:stop]
        for i in range(m):
            into[i] = math.sqrt(park_sum[i] / park_w / log2x4)
        sd, into = sd_close[start:stop], out[bbp_row, start:stop]
        for i in range(m):
            mid, band = bb_sum[i] / bb_w, bb_k * sd[i]
            into[i] = 0.0 if bb_flat[i] else ((c[i] - mid) / band if band > 0.0 else 0.0)
        into = out[bbw_row, start:stop]
        for i in range(m):
            into[i] = 0.0 if bb_flat[i] else 2.0 * bb_k * sd[i] / (bb_sum[i] / bb_w)
        into = out[range_row, start:stop]
        for i in range(m):
            top, bottom = top_now[i], bottom_now[i]
            into[i] = (c[i] - bottom) / (top - bottom) if top - bottom > 0.0 else 0.5
        sd, into = sd_volume[start:stop], out[volz_row, start:stop]
        for i in range(m):
            z = (v[i] - vol_sum[i] / vol_w) / sd[i] if sd[i] > 0.0 else 0.0
            into[i] = 0.0 if vol_flat[i] else z
        into = out[volr_row, start:stop]
        for i in range(m):
            mean = vol_sum[i] / vol_w
            ratio = v[i] / mean if mean > 0.0 else 1.0
            into[i] = ratio if vol_traded[i] else 1.0
        into = out[vwap_row, start:stop]
        for i in range(m):
            into[i] = c[i] / (vwap_num[i] / vwap_den[i]) - 1.0
        for row in chunk_rows:
            late[row] += late_nans(out[row], start, stop, first_valid[row])


@_jit
def fill_warmup(block: np.ndarray, first_valid: np.ndarray) -> None:
    """NaN in block[r, :first_valid[r]]: warm-up rows are missing, whatever the kernels computed there."""
    for r in range(block.shape[0]):
        block[r, : first_valid[r]] = np.nan


@_jit
def validity(block: np.ndarray, first_valid: np.ndarray, late: np.ndarray, bits: np.ndarray) -> np.ndarray:
    """Arrow validity bitmaps of the rows of `block` (bit t of bits[r] set where block[r, t] is not NaN,
    least significant bit first) and the number of NaNs of each row.

    Row r is NaN before first_valid[r] (warm-up); `late[r]` NaNs follow (counted by the kernels that wrote
    them; negative: not known). A row without late NaNs (nearly every row) gets its bitmap by whole bytes,
    without reading the row; the others are read bit by bit.
    """
    k, n = block.shape
    nulls = np.zeros(k, np.int64)
    n_bytes = (n + 7) // 8
    for r in range(k):
        row, into = block[r], bits[r]
        if late[r] == 0:
            lead = min(first_valid[r], n)
            nulls[r] = lead
            whole = lead // 8
            into[:whole] = 0
            if whole < n_bytes:
                into[whole] = (0xFF << (lead % 8)) & 0xFF
            into[whole + 1 : n_bytes] = 0xFF
            if n % 8:  # bits past the end stay clear
                into[n_bytes - 1] &= (1 << (n % 8)) - 1
            continue
        count = 0
        for b in range(n_bytes):
            byte = 0
            for j in range(min(8, n - 8 * b)):
                if math.isnan(row[8 * b + j]):
                    count += 1
                else:
                    byte |= 1 << j
            into[b] = byte
        nulls[r] = count
    return nulls
