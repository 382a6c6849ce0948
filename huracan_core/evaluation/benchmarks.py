"""The market beside every result: buy-and-hold and flat over the same out-of-sample bars, after costs.

A strategy's +4% means little when holding the coin made +30% or lost 40% over the same bars. Buy-and-hold
enters at the first bar's next open and leaves at the last bar's open: one round trip, charged by the same
backtest and cost estimates as the strategy. Flat is the zero every trade has to beat.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from huracan_core.evaluation.backtest import backtest
from huracan_core.evaluation.metrics import compute_metrics, sharpe_significance

BENCHMARK_KEYS = (
    "net_pnl_pct",
    "gross_pnl_pct",
    "sharpe",
    "sortino",
    "max_drawdown_pct",
    "fees_bps",
    "trades",
)


def market_benchmarks(candles: pl.DataFrame, cost_bps: np.ndarray, timeframe: str) -> dict[str, Any]:
    """{"buy_and_hold": {...}, "flat": {...}} over exactly the bars of a strategy's backtest of `candles`."""
    held = backtest(candles, np.ones(candles.height), cost_bps)
    metrics = compute_metrics(held.bars, held.trades, timeframe)
    buy_and_hold = {k: metrics.get(k) for k in BENCHMARK_KEYS}
    buy_and_hold["probabilistic_sharpe"] = sharpe_significance(held.bars["net"].to_numpy(), 1)[
        "probabilistic_sharpe"
    ]
    flat = {
        "net_pnl_pct": 0.0,
        "gross_pnl_pct": 0.0,
        "sharpe": None,
        "sortino": None,
        "max_drawdown_pct": 0.0,
        "fees_bps": 0.0,
        "trades": 0,
        "probabilistic_sharpe": None,
    }
    return {"buy_and_hold": buy_and_hold, "flat": flat}
