"""Causal numpy helpers shared by the rule engines (rolling windows that end at the current row).

Rules run on float64 numpy arrays where a missing value is NaN: every comparison with NaN is False, so
warm-up rows and gaps simply give no signal. numpy rather than polars because a rule is a few dozen
small operations: on the live path (a few hundred rows) polars' per-expression planning cost dominates,
while numpy runs the whole rule in well under a millisecond. Windows are evaluated per row
(sliding views), so a row's value does not depend on how much history precedes its window.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

Array = np.ndarray


def lag(values: Array, bars: int = 1) -> Array:
    """values shifted `bars` rows later (row t gets row t - bars); the first rows are NaN."""
    out = np.full(values.shape[0], np.nan)
    if bars < values.shape[0]:
        out[bars:] = values[: values.shape[0] - bars]
    return out


def _rolling(values: Array, window: int, reduce: str, **kwargs: int) -> Array:
    if window < 1:
        raise ValueError(f"a rolling window needs >= 1 bar, got {window}")
    out = np.full(values.shape[0], np.nan)
    if window <= values.shape[0]:
        # sliding_window_view's view, built directly: its argument checks cost more than a short rule.
        step = values.strides[0]
        view = as_strided(values, (values.shape[0] - window + 1, window), (step, step), writeable=False)
        out[window - 1 :] = getattr(view, reduce)(axis=1, **kwargs)  # NaN inside a window -> NaN
    return out


def rolling_max(values: Array, window: int) -> Array:
    """Max over the `window` rows ending at each row (NaN until the window is full)."""
    return _rolling(values, window, "max")


def rolling_min(values: Array, window: int) -> Array:
    """Min over the `window` rows ending at each row (NaN until the window is full)."""
    return _rolling(values, window, "min")


def rolling_sum(values: Array, window: int) -> Array:
    """Sum over the `window` rows ending at each row (NaN until the window is full)."""
    return _rolling(values, window, "sum")


def rolling_mean(values: Array, window: int) -> Array:
    """Mean over the `window` rows ending at each row (NaN until the window is full)."""
    return _rolling(values, window, "mean")


def rolling_std(values: Array, window: int) -> Array:
    """Sample standard deviation over the `window` rows ending at each row."""
    return _rolling(values, window, "std", ddof=1)


def prior_max(values: Array, window: int) -> Array:
    """Max of the `window` rows BEFORE each row (needs window + 1 rows)."""
    return lag(rolling_max(values, window), 1)


def prior_min(values: Array, window: int) -> Array:
    """Min of the `window` rows BEFORE each row (needs window + 1 rows)."""
    return lag(rolling_min(values, window), 1)


def safe_div(num: Array, den: Array | float, eps: float = 1e-12) -> Array:
    """num / den, NaN where |den| <= eps (flat prices, zero volatility) or either side is NaN."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    if den.shape != num.shape:
        den = np.broadcast_to(den, num.shape)
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=np.abs(den) > eps)
    return out


def ramp(values: Array, start: float, full: float) -> Array:
    """0 at `start`, 1 at `full`, linear between, clipped: a strength that grows with the excess."""
    return unit((values - start) / (full - start))


def unit(values: Array) -> Array:
    """Clip to [0, 1] (NaN stays NaN); min/max because np.clip is slow on small arrays."""
    return np.minimum(np.maximum(values, 0.0), 1.0)


def sided(long_when: Array, short_when: Array) -> Array:
    """Int8 raw direction: +1 where only the long mask holds, -1 where only the short one does."""
    return long_when.astype(np.int8) - short_when.astype(np.int8)
