"""Causal indicator kernels (row t reads only rows <= t): one compiled pass over a coin's bars.

Every indicator is a small running state (Kahan sums, Welford moments, monotonic queues, recursive EMAs) kept
in ring buffers of its window, so a pass touches only the inputs and the output block; the same pass serves
the batch and the incremental mode. The arithmetic follows the polars expressions this replaced (running
Kahan sums, polars' EMA recursion) so values match them to ~1e-12. Rows without enough history are NaN.
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

# cache=True keeps the machine code beside this module (a new process loads it instead of compiling);
# nogil=True lets `build_features_many` run coins on several threads. The per-bar steps are inlined into the
# pass (about 20% faster than calls).
_jit = njit(cache=True, nogil=True, error_model="numpy")
_step = njit(cache=True, nogil=True, error_model="numpy", inline="always")

# sin/cos of every whole minute of the day and of every weekday, as `_time_row` would compute them.
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
def _ema_step(j: int, t: int, value: float, avg: np.ndarray, ring: np.ndarray, alpha: np.ndarray,
              window: np.ndarray, decay: np.ndarray, inv_norm: np.ndarray) -> float:  # fmt: skip
    """Push bar t of finite EMA j (recursion in polars' arithmetic); its value, NaN before `window` bars."""
    a = alpha[j]
    if t == 0:
        avg[j] = value
    elif avg[j] != value:
        old = 1.0 - a
        den = old + a  # 1.0 exactly for the usual alphas: then the division is skipped (same result)
        avg[j] = old * avg[j] + a * value if den == 1.0 else (old * avg[j] + a * value) / den
    mask = ring.shape[1] - 1  # ring sizes are powers of two: masks, not (slow) integer divisions
    ring[j, t & mask] = avg[j]
    w = window[j]
    if t < w:
        return np.nan
    return (avg[j] - decay[j] * ring[j, (t - w) & mask]) * inv_norm[j]


@_step
def _pow2(n: int) -> int:
    """Smallest power of two >= n: ring buffer sizes, so positions are bit masks, not integer divisions."""
    size = 1
    while size < n:
        size *= 2
    return size


@_step
def _kahan_add(state: np.ndarray, r: int, value: float) -> None:
    """Kahan-compensated `sum += value` on state[r, 0] (sum) and state[r, 1] (compensation)."""
    y = value - state[r, 1]
    new = state[r, 0] + y
    state[r, 1] = (new - state[r, 0]) - y
    state[r, 0] = new


@_step
def _sum_step(state: np.ndarray, rings: np.ndarray, r: int, window: int, k: int, value: float) -> float:
    """Push the k-th value (0-based) of rolling sum r (state[r] = [sum, compensation], ring rings[r]); the
    sum once `window` values are in, else NaN. Leaving values are added negated before the entering one
    (polars' running sum). Rows are indexed, not sliced: a slice in the hot loop costs reference counting."""
    mask = rings.shape[1] - 1
    if k >= window:
        _kahan_add(state, r, -rings[r, (k - window) & mask])
    rings[r, k & mask] = value
    _kahan_add(state, r, value)
    return state[r, 0] if k >= window - 1 else np.nan


@_step
def _std_step(
    states: np.ndarray, rings: np.ndarray, r: int, window: int, ddof: int, k: int, value: float
) -> float:
    """Push the k-th value (0-based) of rolling standard deviation r (state states[r], ring rings[r]); NaN
    until `window` values are in.

    Running mean and sum of squared deviations (Welford while filling, then the sliding-window update that
    swaps the leaving value for the entering one), recomputed in two exact passes every `window` values so
    rounding cannot pile up over a long history (a never-refreshed state drifts by up to 1e-9 relative on
    real prices). A window of equal values gives exactly 0.
    state = [weight, mean, dp, index of the newest change, values until recomputation, 1 / window,
    1 / (window - ddof)] (zeros to start).
    """
    mask = rings.shape[1] - 1
    if k == 0:
        states[r, 5], states[r, 6] = 1.0 / window, 1.0 / (window - ddof)
    elif value != rings[r, (k - 1) & mask]:
        states[r, 3] = k
    filled = k + 1
    states[r, 4] -= 1.0  # values until the next exact recomputation
    if filled > window and states[r, 4] <= 0.0:
        states[r, 4] = window
        rings[r, k & mask] = value
        total = 0.0
        for i in range(k - window + 1, k + 1):
            total += rings[r, i & mask]
        mean = total / window
        dp = 0.0
        for i in range(k - window + 1, k + 1):
            d = rings[r, i & mask] - mean
            dp += d * d
        states[r, 0], states[r, 1], states[r, 2] = float(window), mean, dp
    elif filled > window:  # full window: the leaving value is replaced by the entering one
        leaving = rings[r, (k - window) & mask]
        rings[r, k & mask] = value
        mean = states[r, 1]
        new_mean = mean + (value - leaving) * states[r, 5]
        states[r, 2] += (value - leaving) * (value - new_mean + leaving - mean)
        states[r, 1] = new_mean
    else:  # filling up: Welford insertion
        rings[r, k & mask] = value
        new_weight = states[r, 0] + 1.0
        delta = value - states[r, 1]
        new_mean = states[r, 1] + delta / new_weight
        states[r, 2] += (value - new_mean) * delta
        states[r, 0], states[r, 1] = new_weight, new_mean
    if filled < window:
        return np.nan
    var = states[r, 2] * states[r, 6]
    flat = states[r, 3] <= k - window + 1
    return math.sqrt(var) if var > 0.0 and not flat else 0.0


@_step
def _max_step(
    queues: np.ndarray, ends: np.ndarray, r: int, x: np.ndarray, window: int, t: int, sign: float
) -> float:
    """Push bar t of rolling max r of sign*x (monotonic queue of indices queues[r] with head/tail counters
    ends[r], O(1) amortised); NaN until full. Returns max(sign*x)*sign: sign=-1 gives the rolling min."""
    mask = queues.shape[1] - 1
    head, tail = ends[r, 0], ends[r, 1]
    value = sign * x[t]
    while tail > head and sign * x[queues[r, (tail - 1) & mask]] <= value:
        tail -= 1
    queues[r, tail & mask] = t
    tail += 1
    if queues[r, head & mask] <= t - window:
        head += 1
    ends[r, 0], ends[r, 1] = head, tail
    return x[queues[r, head & mask]] if t >= window - 1 else np.nan


@_step
def _time_row(ts: int) -> tuple[float, float, float, float]:
    """(sin, cos) of the UTC time of day and of the weekday (Monday = 0; 1970-01-01 was a Thursday)."""
    day = (ts // DAY_MS + 3) % 7
    in_day = ts % DAY_MS
    if in_day % MINUTE_MS == 0:  # whole minutes (every real bar): table of the same values
        m = in_day // MINUTE_MS
        return _TOD_SIN[m], _TOD_COS[m], _DOW_SIN[day], _DOW_COS[day]
    angle = float(in_day) / MINUTE_MS * (_TWO_PI / 1440.0)
    return math.sin(angle), math.cos(angle), _DOW_SIN[day], _DOW_COS[day]


@_jit
def rolling_std(x: np.ndarray, window: int, ddof: int, first: int, out: np.ndarray) -> None:
    """out[t] = standard deviation (ddof 0 or 1) of x over the last `window` rows, from row `first` on (x is
    valid from there); NaN until a full window exists. See `_std_step`."""
    state = np.zeros((1, 7))
    ring = np.empty((1, _pow2(window + 1)))
    for t in range(min(first, x.size)):
        out[t] = np.nan
    for t in range(first, x.size):
        out[t] = _std_step(state, ring, 0, window, ddof, t - first, x[t])


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


@_jit
def finite_emas(close: np.ndarray, blocks: np.ndarray, n_close: int, alpha: np.ndarray, window: np.ndarray,
                decay: np.ndarray, inv_norm: np.ndarray, out: np.ndarray) -> None:  # fmt: skip
    """Finite EMAs into the rows of `out`: rows < n_close smooth `close`, the others blocks[j - n_close].

    The recursions (polars' adjust=False arithmetic) run interleaved in one pass, so their divisions overlap
    in the CPU; then each row becomes (y_t - decay * y_{t-window}) / (1 - decay), NaN for t < window.
    """
    k, n = out.shape
    if n == 0:
        return
    avg = np.empty(k)
    for j in range(k):
        avg[j] = close[0] if j < n_close else blocks[j - n_close, 0]
        out[j, 0] = avg[j]
    for t in range(1, n):
        for j in range(k):
            value = close[t] if j < n_close else blocks[j - n_close, t]
            if avg[j] != value:
                a = alpha[j]
                old = 1.0 - a
                den = old + a  # 1.0 exactly for the usual alphas: the division is then skipped (same value)
                avg[j] = old * avg[j] + a * value if den == 1.0 else (old * avg[j] + a * value) / den
            out[j, t] = avg[j]
    for j in range(k):
        w = window[j]
        for t in range(n - 1, w - 1, -1):  # backwards: y_{t-w} is still unchanged when read
            out[j, t] = (out[j, t] - decay[j] * out[j, t - w]) * inv_norm[j]
        for t in range(min(w, n)):
            out[j, t] = np.nan


# --- the pass over one coin ------------------------------------------------------------------------


@_jit
def coin_features(ts: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray,
                  log_close: np.ndarray, log_hl: np.ndarray, sd_close: np.ndarray, sd_volume: np.ndarray,
                  blocks: np.ndarray, smoothed: np.ndarray, ints: np.ndarray, floats: np.ndarray,
                  ret_windows: np.ndarray, ret_rows: np.ndarray, slope_emas: np.ndarray, slope_rows: np.ndarray,
                  ema1: tuple, ema2: tuple, out: np.ndarray) -> None:  # fmt: skip
    """Every single-coin feature of the recipe into rows of `out` (features x bars); see `builder._layout`
    for what `ints`, `floats` and the row arrays hold. Precomputed inputs: `log_close` = ln(close),
    `log_hl` = ln(high / low) (vectorised) and the rolling standard deviations of close (Bollinger window,
    ddof 0) and volume (volume window, ddof 1) from `rolling_std`, the `one_bar_blocks` and their
    `finite_emas` (`smoothed`, series as in ema1). NaN where a window is not yet full.

    ema1: finite EMAs of close (one per span, first `n_close_emas`), then true range, +DM, -DM, gain, loss.
    ema2: MACD signal (of the MACD line) and ADX (of DX).
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
    w1 = ema1[1]
    a2, w2, d2, n2 = ema2
    avg2 = np.zeros(2)
    ring2 = np.empty((2, _pow2(w2.max() + 1)))
    prev_slope = np.full(slope_emas.size, np.nan)
    sums = np.zeros((6, 2))  # parkinson, bb mean, volume mean, typical*volume, volume (vwap), typical
    sum_rings = np.empty((6, _pow2(max(park_w, bb_w, vol_w, vwap_w) + 1)))
    queues = np.empty((2, _pow2(range_w + 1)), dtype=np.int64)
    ends = np.zeros((2, 2), dtype=np.int64)
    last_dir = last_move = last_volume = last_vwap_volume = -(1 << 62)
    last_close_change = last_volume_change = 0
    for t in range(n):
        h, l, c, v = high[t], low[t], close[t], volume[t]  # noqa: E741
        # returns (log differences)
        for i in range(ret_windows.size):
            k = ret_windows[i]
            out[ret_rows[i], t] = log_close[t] - log_close[t - k] if t >= k else np.nan
        pdm, mdm, change = blocks[1, t], blocks[2, t], blocks[5, t]
        if pdm + mdm > 0.0:
            last_dir = t
        if change > 0.0:
            last_move = t
        tr_s, pdm_s, mdm_s = smoothed[n_close, t], smoothed[n_close + 1, t], smoothed[n_close + 2, t]
        gain_s, loss_s = smoothed[n_close + 3, t], smoothed[n_close + 4, t]
        for i in range(slope_emas.size):
            ema = smoothed[slope_emas[i], t]
            out[slope_rows[i], t] = ema / prev_slope[i] - 1.0
            prev_slope[i] = ema
        out[atr_row, t] = max(tr_s, 0.0) / c if not math.isnan(tr_s) else np.nan
        # RSI: a window without any close change gives 50, not the ratio of two rounding residues.
        out[rsi_row, t] = 100.0 * gain_s / (gain_s + loss_s) if last_move > t - rsi_move_w else 50.0
        # DX = 100 |+DI - -DI| / (+DI + -DI); the smoothed true range cancels out of that ratio. 0 without
        # any directional move in the window, and 0 before the smoothed moves exist (ADX starts from 0s).
        dx = 0.0
        if t >= w1[n_close + 1] and last_dir > t - adx_dir_w:
            dx = 100.0 * abs(pdm_s - mdm_s) / (pdm_s + mdm_s)
        # no MACD line yet: its signal EMA starts from zeros
        line = smoothed[fast, t] - smoothed[slow, t] if t >= macd_start else 0.0
        signal = _ema_step(0, t, line, avg2, ring2, a2, w2, d2, n2)
        adx = _ema_step(1, t, dx, avg2, ring2, a2, w2, d2, n2)
        out[adx_row, t] = max(adx, 0.0) if not math.isnan(adx) else np.nan
        out[macd_row, t] = line / c
        out[sig_row, t] = signal / c
        out[hist_row, t] = (line - signal) / c
        # Parkinson volatility from the high/low range
        hl = log_hl[t]
        park = _sum_step(sums, sum_rings, 0, park_w, t, hl * hl)
        out[park_row, t] = math.sqrt(park / park_w / log2x4)
        # Bollinger position and width (a constant window gives 0, 0)
        if t > 0 and c != close[t - 1]:
            last_close_change = t
        mid = _sum_step(sums, sum_rings, 1, bb_w, t, c) / bb_w
        sd = sd_close[t]
        flat = last_close_change <= t - bb_w + 1
        band = bb_k * sd
        out[bbp_row, t] = 0.0 if flat else ((c - mid) / band if band > 0.0 else 0.0)
        out[bbw_row, t] = 0.0 if flat else 2.0 * bb_k * sd / mid
        # close within the rolling high / low range
        top = _max_step(queues, ends, 0, high, range_w, t, 1.0)
        bottom = _max_step(queues, ends, 1, low, range_w, t, -1.0)
        out[range_row, t] = (c - bottom) / (top - bottom) if top - bottom > 0.0 else 0.5
        # volume z-score and ratio to its mean
        if t > 0 and v != volume[t - 1]:
            last_volume_change = t
        if v > 0.0:
            last_volume = t
        vol_mean = _sum_step(sums, sum_rings, 2, vol_w, t, v) / vol_w
        vol_sd = sd_volume[t]
        if last_volume_change <= t - vol_w + 1:
            out[volz_row, t] = 0.0
        else:
            out[volz_row, t] = (v - vol_mean) / vol_sd if vol_sd > 0.0 else 0.0
        if last_volume > t - vol_w:
            out[volr_row, t] = v / vol_mean if vol_mean > 0.0 else 1.0
        else:
            out[volr_row, t] = 1.0
        # close / rolling VWAP - 1 (no volume in the window: plain mean of the typical price)
        typical = (h + l + c) / 3.0
        if v > 0.0:
            last_vwap_volume = t
        weighted = _sum_step(sums, sum_rings, 3, vwap_w, t, typical * v)
        traded = _sum_step(sums, sum_rings, 4, vwap_w, t, v)
        plain = _sum_step(sums, sum_rings, 5, vwap_w, t, typical) / vwap_w
        vwap = weighted / traded if last_vwap_volume > t - vwap_w else plain
        out[vwap_row, t] = c / vwap - 1.0
        if time_row >= 0:
            s, co, ds, dc = _time_row(ts[t])
            out[time_row, t], out[time_row + 1, t] = s, co
            out[time_row + 2, t], out[time_row + 3, t] = ds, dc


@_jit
def align(ts: np.ndarray, ref_ts: np.ndarray, ref_values: np.ndarray, out: np.ndarray) -> None:
    """out[t] = the reference value at timestamp ts[t], NaN where the reference lacks the bar: a left join on
    timestamp (both sorted ascending, unique) as one linear merge."""
    j = 0
    for t in range(ts.size):
        while j < ref_ts.size and ref_ts[j] < ts[t]:
            j += 1
        out[t] = ref_values[j] if j < ref_ts.size and ref_ts[j] == ts[t] else np.nan


@_jit
def cross_features(log_close: np.ndarray, log_ref: np.ndarray, window: int, min_pairs: int, out: np.ndarray,
                   rows: np.ndarray) -> None:  # fmt: skip
    """Beta and correlation (ddof=1) of the coin's 1-bar log returns on a reference coin's over `window`
    bars, and relative strength (window log return minus the reference's), into out[rows[0..2]].

    `log_ref` is the reference's log close aligned on the coin's bars (NaN where missing: null outputs).
    Only bars where both returns exist count as pairs; beta / corr need `min_pairs` of them; a flat series
    gives beta 0 / corr 0 (variance below MIN_RETURN_VARIANCE): no co-movement can be measured. The six
    window sums (count, x, y, xx, yy, xy) are Kahan running sums.
    """
    n = log_close.size
    size = _pow2(window + 1)
    mask = size - 1
    sums = np.zeros((6, 2))
    pairs = np.zeros((6, size))
    for t in range(n):
        log_c = log_close[t]
        log_r = log_ref[t]
        ret = log_c - log_close[t - 1] if t >= 1 else np.nan
        ref_ret = log_r - log_ref[t - 1] if t >= 1 else np.nan
        ok = not (math.isnan(ret) or math.isnan(ref_ret))
        x = ret if ok else 0.0
        y = ref_ret if ok else 0.0
        now = t & mask
        pairs[0, now], pairs[1, now], pairs[2, now] = 1.0 if ok else 0.0, x, y
        pairs[3, now], pairs[4, now], pairs[5, now] = x * x, y * y, x * y
        if t >= window:
            back = (t - window) & mask
            _kahan_add(sums, 0, -pairs[0, back])
            _kahan_add(sums, 1, -pairs[1, back])
            _kahan_add(sums, 2, -pairs[2, back])
            _kahan_add(sums, 3, -pairs[3, back])
            _kahan_add(sums, 4, -pairs[4, back])
            _kahan_add(sums, 5, -pairs[5, back])
        _kahan_add(sums, 0, pairs[0, now])
        _kahan_add(sums, 1, pairs[1, now])
        _kahan_add(sums, 2, pairs[2, now])
        _kahan_add(sums, 3, pairs[3, now])
        _kahan_add(sums, 4, pairs[4, now])
        _kahan_add(sums, 5, pairs[5, now])
        beta = corr = np.nan
        count = sums[0, 0]
        if t >= window - 1 and count >= min_pairs and not math.isnan(log_r):
            sx, sy, sxx, syy, sxy = sums[1, 0], sums[2, 0], sums[3, 0], sums[4, 0], sums[5, 0]
            dof = count - 1.0
            cov = (sxy - sx * sy / count) / dof
            vx = (sxx - sx * sx / count) / dof
            vy = (syy - sy * sy / count) / dof
            beta = cov / vy if vy > MIN_RETURN_VARIANCE else 0.0
            if vx <= MIN_RETURN_VARIANCE or vy <= MIN_RETURN_VARIANCE:
                corr = 0.0
            else:
                corr = min(max(cov / math.sqrt(vx * vy), -1.0), 1.0)
        out[rows[0], t] = beta
        out[rows[1], t] = corr
        if t >= window:
            out[rows[2], t] = (log_c - log_close[t - window]) - (log_r - log_ref[t - window])
        else:
            out[rows[2], t] = np.nan
