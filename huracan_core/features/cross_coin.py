"""Cross-coin kernels: a coin's bars against a reference coin's (BTC, ETH) — beta, correlation and relative
strength over a rolling window, with the reference aligned to the coin's timestamps first.

Same rules as `indicators`: row t reads only rows <= t, running Kahan sums advance bar by bar without
divisions, element-wise work runs in separate vectorisable loops over blocks of `_CHUNK` bars.
"""

from __future__ import annotations

import math

import numpy as np

from huracan_core.features.indicators import _CHUNK, MIN_RETURN_VARIANCE, _jit, _kahan, _pow2, late_nans


@_jit
def align(ts: np.ndarray, ref_ts: np.ndarray, ref_values: np.ndarray, out: np.ndarray) -> int:
    """out[t] = the reference value at timestamp ts[t], NaN where the reference lacks the bar: a left join on
    timestamp (both sorted ascending, unique) as one linear merge. Returns the number of bars it lacks."""
    j = 0
    missing = 0
    for t in range(ts.size):
        while j < ref_ts.size and ref_ts[j] < ts[t]:
            j += 1
        if j < ref_ts.size and ref_ts[j] == ts[t]:
            out[t] = ref_values[j]
        else:
            out[t] = np.nan
            missing += 1
    return missing


@_jit
def _beta_corr(cov: np.ndarray, var_x: np.ndarray, var_y: np.ndarray, valid: np.ndarray, m: int,
               beta_out: np.ndarray, corr_out: np.ndarray) -> None:  # fmt: skip
    """Beta and correlation of the first m bars of a block from the window moments (NaN where not `valid`):
    one output per loop, over slices, so the compiler vectorises the divisions (see `coin_features`)."""
    for i in range(m):
        beta = cov[i] / var_y[i] if var_y[i] > MIN_RETURN_VARIANCE else 0.0
        beta_out[i] = beta if valid[i] else np.nan
    for i in range(m):
        vx, vy = var_x[i], var_y[i]
        if vx <= MIN_RETURN_VARIANCE or vy <= MIN_RETURN_VARIANCE:
            corr = 0.0
        else:
            corr = min(max(cov[i] / math.sqrt(vx * vy), -1.0), 1.0)
        corr_out[i] = corr if valid[i] else np.nan


@_jit
def _relative_strength(log_close: np.ndarray, log_ref: np.ndarray, window: int, out: np.ndarray) -> None:
    """out[t] = the coin's `window`-bar log return minus the reference's, NaN for t < window."""
    n = log_close.size
    head = min(window, n)
    out[:head] = np.nan
    c_new, c_old, r_new, r_old = log_close[head:], log_close[: n - head], log_ref[head:], log_ref[: n - head]
    later = out[head:]
    for i in range(later.size):
        later[i] = (c_new[i] - c_old[i]) - (r_new[i] - r_old[i])


@_jit
def cross_features(log_close: np.ndarray, log_ref: np.ndarray, window: int, min_pairs: int, out: np.ndarray,
                   rows: np.ndarray, first_valid: np.ndarray, late: np.ndarray) -> None:  # fmt: skip
    """Beta and correlation (ddof=1) of the coin's 1-bar log returns on a reference coin's over `window`
    bars, and relative strength (window log return minus the reference's), into out[rows[0..2]].

    `log_ref` is the reference's log close aligned on the coin's bars (NaN where missing: null outputs).
    Only bars where both returns exist count as pairs; beta / corr need `min_pairs` of them; a flat series
    gives beta 0 / corr 0 (variance below MIN_RETURN_VARIANCE): no co-movement can be measured. The six
    window sums (count, x, y, xx, yy, xy) are Kahan running sums, kept bar by bar in local variables; the
    moments and ratios are then computed over blocks of bars in vectorised loops (see `coin_features`).
    late[r] += the NaNs written into row r from row first_valid[r] on (`late_nans`).
    """
    n = log_close.size
    mask = _pow2(window + 1) - 1
    ring_n, ring_x, ring_y = np.empty(mask + 1), np.empty(mask + 1), np.empty(mask + 1)
    ring_xx, ring_yy, ring_xy = np.empty(mask + 1), np.empty(mask + 1), np.empty(mask + 1)
    n_s = n_c = x_s = x_c = y_s = y_c = xx_s = xx_c = yy_s = yy_c = xy_s = xy_c = 0.0
    size = min(n, _CHUNK)
    count, sum_x, sum_y = np.empty(size), np.empty(size), np.empty(size)
    sum_xx, sum_yy, sum_xy = np.empty(size), np.empty(size), np.empty(size)
    cov, var_x, var_y, valid = np.empty(size), np.empty(size), np.empty(size), np.empty(size, np.bool_)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        m = stop - start
        for i in range(m):
            t = start + i
            log_c, log_r = log_close[t], log_ref[t]
            ret = log_c - log_close[t - 1] if t >= 1 else np.nan
            ref_ret = log_r - log_ref[t - 1] if t >= 1 else np.nan
            ok = not (math.isnan(ret) or math.isnan(ref_ret))
            x = ret if ok else 0.0
            y = ref_ret if ok else 0.0
            one, xx, yy, xy = 1.0 if ok else 0.0, x * x, y * y, x * y
            if t >= window:
                back = (t - window) & mask
                n_s, n_c = _kahan(n_s, n_c, -ring_n[back])
                x_s, x_c = _kahan(x_s, x_c, -ring_x[back])
                y_s, y_c = _kahan(y_s, y_c, -ring_y[back])
                xx_s, xx_c = _kahan(xx_s, xx_c, -ring_xx[back])
                yy_s, yy_c = _kahan(yy_s, yy_c, -ring_yy[back])
                xy_s, xy_c = _kahan(xy_s, xy_c, -ring_xy[back])
            now = t & mask
            ring_n[now], ring_x[now], ring_y[now] = one, x, y
            ring_xx[now], ring_yy[now], ring_xy[now] = xx, yy, xy
            n_s, n_c = _kahan(n_s, n_c, one)
            x_s, x_c = _kahan(x_s, x_c, x)
            y_s, y_c = _kahan(y_s, y_c, y)
            xx_s, xx_c = _kahan(xx_s, xx_c, xx)
            yy_s, yy_c = _kahan(yy_s, yy_c, yy)
            xy_s, xy_c = _kahan(xy_s, xy_c, xy)
            count[i], sum_x[i], sum_y[i] = n_s, x_s, y_s
            sum_xx[i], sum_yy[i], sum_xy[i] = xx_s, yy_s, xy_s
            valid[i] = t >= window - 1 and n_s >= min_pairs and not math.isnan(log_r)
        for i in range(m):
            cov[i] = (sum_xy[i] - sum_x[i] * sum_y[i] / count[i]) / (count[i] - 1.0)
        for i in range(m):
            var_x[i] = (sum_xx[i] - sum_x[i] * sum_x[i] / count[i]) / (count[i] - 1.0)
        for i in range(m):
            var_y[i] = (sum_yy[i] - sum_y[i] * sum_y[i] / count[i]) / (count[i] - 1.0)
        _beta_corr(cov, var_x, var_y, valid, m, out[rows[0], start:stop], out[rows[1], start:stop])
        for row in rows[:2]:
            late[row] += late_nans(out[row], start, stop, first_valid[row])
    _relative_strength(log_close, log_ref, window, out[rows[2]])
    late[rows[2]] += late_nans(out[rows[2]], 0, n, first_valid[rows[2]])


@_jit
def cross_features_gapless(log_close: np.ndarray, log_refs: np.ndarray, window: int, min_pairs: int,
                           out: np.ndarray, rows: np.ndarray, first_valid: np.ndarray,
                           late: np.ndarray) -> None:  # fmt: skip
    """`cross_features` for several references at once (rows[r] for log_refs[r]), when no reference lacks a
    bar (every value finite). Then every bar from the second on is a pair for every reference, so the
    count, x and xx sums are the same for all of them and run once per pair of references, beside each
    one's y, yy and xy: the same sums, in the same order, as `cross_features` computes for each alone.
    """
    k = log_refs.shape[0]
    for a in range(0, k, 2):
        b = min(a + 1, k - 1)  # an odd one out is paired with itself (same values written twice)
        _cross_pair(log_close, log_refs[a], log_refs[b], window, min_pairs, out, rows[a], rows[b], first_valid,
                    late if a != b else np.zeros_like(late))  # fmt: skip
        if a == b:  # counted once
            for row in rows[a]:
                late[row] += late_nans(out[row], 0, out.shape[1], first_valid[row])


@_jit
def _cross_pair(log_close: np.ndarray, ref_a: np.ndarray, ref_b: np.ndarray, window: int, min_pairs: int,
                out: np.ndarray, rows_a: np.ndarray, rows_b: np.ndarray, first_valid: np.ndarray,
                late: np.ndarray) -> None:  # fmt: skip
    """`cross_features_gapless` for two references: nine Kahan sums in local variables."""
    n = log_close.size
    mask = _pow2(window + 1) - 1
    ring_x, ring_xx = np.empty(mask + 1), np.empty(mask + 1)
    ring_ya, ring_yya, ring_xya = np.empty(mask + 1), np.empty(mask + 1), np.empty(mask + 1)
    ring_yb, ring_yyb, ring_xyb = np.empty(mask + 1), np.empty(mask + 1), np.empty(mask + 1)
    n_s = n_c = x_s = x_c = xx_s = xx_c = 0.0
    ya_s = ya_c = yya_s = yya_c = xya_s = xya_c = yb_s = yb_c = yyb_s = yyb_c = xyb_s = xyb_c = 0.0
    size = min(n, _CHUNK)
    count, sum_x, sum_xx, valid = np.empty(size), np.empty(size), np.empty(size), np.empty(size, np.bool_)
    sum_ya, sum_yya, sum_xya = np.empty(size), np.empty(size), np.empty(size)
    sum_yb, sum_yyb, sum_xyb = np.empty(size), np.empty(size), np.empty(size)
    cov, var_x, var_y = np.empty(size), np.empty(size), np.empty(size)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        m = stop - start
        for i in range(m):
            t = start + i
            ok = t >= 1
            x = log_close[t] - log_close[t - 1] if ok else 0.0
            ya = ref_a[t] - ref_a[t - 1] if ok else 0.0
            yb = ref_b[t] - ref_b[t - 1] if ok else 0.0
            one, xx, yya, xya, yyb, xyb = 1.0 if ok else 0.0, x * x, ya * ya, x * ya, yb * yb, x * yb
            if t >= window:
                back = (t - window) & mask
                n_s, n_c = _kahan(n_s, n_c, -(1.0 if t - window >= 1 else 0.0))
                x_s, x_c = _kahan(x_s, x_c, -ring_x[back])
                xx_s, xx_c = _kahan(xx_s, xx_c, -ring_xx[back])
                ya_s, ya_c = _kahan(ya_s, ya_c, -ring_ya[back])
                yya_s, yya_c = _kahan(yya_s, yya_c, -ring_yya[back])
                xya_s, xya_c = _kahan(xya_s, xya_c, -ring_xya[back])
                yb_s, yb_c = _kahan(yb_s, yb_c, -ring_yb[back])
                yyb_s, yyb_c = _kahan(yyb_s, yyb_c, -ring_yyb[back])
                xyb_s, xyb_c = _kahan(xyb_s, xyb_c, -ring_xyb[back])
            now = t & mask
            ring_x[now], ring_xx[now] = x, xx
            ring_ya[now], ring_yya[now], ring_xya[now] = ya, yya, xya
            ring_yb[now], ring_yyb[now], ring_xyb[now] = yb, yyb, xyb
            n_s, n_c = _kahan(n_s, n_c, one)
            x_s, x_c = _kahan(x_s, x_c, x)
            xx_s, xx_c = _kahan(xx_s, xx_c, xx)
            ya_s, ya_c = _kahan(ya_s, ya_c, ya)
            yya_s, yya_c = _kahan(yya_s, yya_c, yya)
            xya_s, xya_c = _kahan(xya_s, xya_c, xya)
            yb_s, yb_c = _kahan(yb_s, yb_c, yb)
            yyb_s, yyb_c = _kahan(yyb_s, yyb_c, yyb)
            xyb_s, xyb_c = _kahan(xyb_s, xyb_c, xyb)
            count[i], sum_x[i], sum_xx[i] = n_s, x_s, xx_s
            sum_ya[i], sum_yya[i], sum_xya[i] = ya_s, yya_s, xya_s
            sum_yb[i], sum_yyb[i], sum_xyb[i] = yb_s, yyb_s, xyb_s
            valid[i] = t >= window - 1 and n_s >= min_pairs
        for i in range(m):
            var_x[i] = (sum_xx[i] - sum_x[i] * sum_x[i] / count[i]) / (count[i] - 1.0)
        for i in range(m):
            cov[i] = (sum_xya[i] - sum_x[i] * sum_ya[i] / count[i]) / (count[i] - 1.0)
        for i in range(m):
            var_y[i] = (sum_yya[i] - sum_ya[i] * sum_ya[i] / count[i]) / (count[i] - 1.0)
        _beta_corr(cov, var_x, var_y, valid, m, out[rows_a[0], start:stop], out[rows_a[1], start:stop])
        for i in range(m):
            cov[i] = (sum_xyb[i] - sum_x[i] * sum_yb[i] / count[i]) / (count[i] - 1.0)
        for i in range(m):
            var_y[i] = (sum_yyb[i] - sum_yb[i] * sum_yb[i] / count[i]) / (count[i] - 1.0)
        _beta_corr(cov, var_x, var_y, valid, m, out[rows_b[0], start:stop], out[rows_b[1], start:stop])
        for row in (rows_a[0], rows_a[1], rows_b[0], rows_b[1]):
            late[row] += late_nans(out[row], start, stop, first_valid[row])
    _relative_strength(log_close, ref_a, window, out[rows_a[2]])
    late[rows_a[2]] += late_nans(out[rows_a[2]], 0, n, first_valid[rows_a[2]])
    _relative_strength(log_close, ref_b, window, out[rows_b[2]])
    late[rows_b[2]] += late_nans(out[rows_b[2]], 0, n, first_valid[rows_b[2]])
