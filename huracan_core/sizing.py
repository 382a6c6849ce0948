"""Realised volatility known at each bar's close: what volatility-targeted sizing divides by.

`realised_vol_pct` is the one definition, used by the research frame (`build_research_frame` carries it as
`rf.costs["realised_vol_pct"]` beside `cost_bps`, so the walk-forward backtest, the replay and Hamilton's
replay feed all read the same numbers) and by the live path's newest bar (`latest_research`).

Per bar t: the sample standard deviation (ddof=1) of the close-to-close log returns of the last
`vol_window_bars(timeframe)` bars ending with bar t's own close (nothing after it), annualised with
`bars_per_day(timeframe) * 365` bars a year (crypto trades every day), in percent. The first full window is
the warm-up: null before it. The window is `VOL_WINDOW_DAYS` (3 days: 288 returns on 15m bars, enough for a
standard error of about 4% on the estimate while still following a change of regime within days) and
never fewer than `MIN_VOL_RETURNS` returns (a 1d timeframe would otherwise estimate from 3).

Why sizing leaves the labels and costs alone: a position of size s (a fraction of the coin's allocation)
earns s times the move and pays s times the per-side cost (`huracan_core.evaluation.backtest` charges
|position change| * cost_bps), so the net edge per unit of notional, the learned engines' labels
(`net_edge_expr`), the rule calibration and `decide`'s threshold are the same at every size: the sign and
the threshold do not move. The trade log's pnl and cost columns, the metrics and the gates are measured on
the sized position (fractions of equity), and Hamilton's orders and its `max_notional_per_coin` check follow
the sized target. Slippage is estimated for `costs.order_notional` (square-root impact), so for a smaller
position the charged cost is an upper bound: shrinking never flatters a backtest.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

from huracan_core.evaluation.metrics import DAYS_PER_YEAR  # the year the Sharpe ratios annualise with
from huracan_core.timeframe import bars_per_day

VOL_COLUMN = "realised_vol_pct"
VOL_WINDOW_DAYS = 3.0
MIN_VOL_RETURNS = 20


def vol_window_bars(timeframe: str) -> int:
    """Returns in the realised-vol window: `VOL_WINDOW_DAYS` of bars, at least `MIN_VOL_RETURNS`."""
    return max(round(VOL_WINDOW_DAYS * bars_per_day(timeframe)), MIN_VOL_RETURNS)


def vol_tail_bars(timeframe: str) -> int:
    """Candles after which the newest bar's realised vol no longer depends on older ones (window + 1)."""
    return vol_window_bars(timeframe) + 1


def annualisation(timeframe: str) -> float:
    """sqrt(bars a year) * 100: one bar's log-return std -> annualised percent."""
    return math.sqrt(bars_per_day(timeframe) * DAYS_PER_YEAR) * 100.0


def realised_vol_pct(close: pl.Series | np.ndarray | Any, timeframe: str) -> pl.Series:
    """Annualised realised volatility (percent) per bar from closes up to and including that bar.

    Null during the warm-up (fewer than a full window of returns) and wherever a close in the window is
    missing or not positive: unknown risk, which `decide` refuses to size on.
    """
    series = close if isinstance(close, pl.Series) else pl.Series(np.asarray(close, dtype=np.float64))
    window = vol_window_bars(timeframe)
    frame = pl.DataFrame({"close": series.cast(pl.Float64)})
    logc = pl.when(pl.col("close") > 0).then(pl.col("close").log()).otherwise(None)
    out = frame.select(
        (logc.diff().rolling_std(window, min_samples=window) * annualisation(timeframe)).alias(VOL_COLUMN)
    )
    return out.to_series()
