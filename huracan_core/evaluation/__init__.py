"""Honest evaluation: purged walk-forward splits, the vectorised backtest with per-bar costs, metrics."""

from huracan_core.evaluation.backtest import BacktestResult, backtest
from huracan_core.evaluation.metrics import compute_metrics, metrics_from_returns
from huracan_core.evaluation.splits import Split, train_valid_test, walk_forward_splits

__all__ = [
    "BacktestResult",
    "Split",
    "backtest",
    "compute_metrics",
    "metrics_from_returns",
    "train_valid_test",
    "walk_forward_splits",
]
