"""`huracan backtest --champions`: the champions as of a date, replayed over a window with the vectorised path.

This is the backtest a replay of Hamilton must reproduce trade for trade: the same research frames
(`replay_frames`), each coin's champion as it was at the window's start (promotions history), its engines,
gate table and shipped combiner state, `decide` and the hold rule (`replay_backtest`), positions closed at
the window's last open.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from huracan_core.archive import Storage
from huracan_core.config import HuracanConfig
from huracan_core.decision import DecisionSettings
from huracan_core.engine.coin_model import replay_backtest
from huracan_core.evaluation.benchmarks import market_benchmarks
from huracan_core.evaluation.metrics import compute_metrics, sharpe_significance
from huracan_core.features import DEFAULT_RECIPE
from huracan_core.hamilton.champions import ChampionBook, trade_symbols
from huracan_core.hamilton.frames import replay_frames
from huracan_core.market.base import CandleSource
from huracan_core.timeframe import timeframe_ms


@dataclass
class ChampionBacktest:
    """Per coin: the champion replayed, its trades (backtest columns), bars and metrics; skipped coins."""

    start_ms: int
    end_ms: int
    trades: dict[str, pl.DataFrame] = field(default_factory=dict)
    bars: dict[str, pl.DataFrame] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def backtest_champions(
    config: HuracanConfig,
    storage: Storage,
    start_ms: int,
    end_ms: int,
    *,
    symbols: Sequence[str] | None = None,
    source: CandleSource | None = None,
) -> ChampionBacktest:
    """Replay each coin's champion as of `start_ms` over the bars whose open is in [start_ms, end_ms)."""
    book = ChampionBook(storage, recipe_hash=DEFAULT_RECIPE.hash(), point_in_time=True)
    wanted = list(symbols) if symbols else None
    coins = trade_symbols(book, wanted)
    out = ChampionBacktest(start_ms, end_ms)
    for symbol in wanted or []:
        if symbol not in coins:
            out.skipped[symbol] = "no champion in the promotions history"
    frames = replay_frames(config, coins, start_ms, end_ms, source=source)
    out.start_ms = frames.start_ms
    out.skipped.update(frames.skipped)
    decision = DecisionSettings.from_config(config)
    for symbol, rf in frames.frames.items():
        champion = book.at(symbol, frames.start_ms + timeframe_ms(rf.timeframe))  # trades the first bar
        if champion is None:
            out.skipped[symbol] = "no champion at the window's start"
            continue
        result, errors = replay_backtest(
            champion.engines, champion.states, champion.gate, champion.fresh_combiner(), rf,
            start_ms=frames.start_ms, hold_bars=champion.hold_bars, decision=decision,
        )  # fmt: skip
        metrics = compute_metrics(result.bars, result.trades, rf.timeframe)
        # A fixed model on bars after its as-of: no choice is made on these bars, so no deflation (N = 1).
        metrics["probabilistic_sharpe"] = sharpe_significance(result.bars["net"].to_numpy(), 1)[
            "probabilistic_sharpe"
        ]
        start = rf.frame.height - result.bars.height
        metrics["benchmarks"] = market_benchmarks(
            rf.frame.slice(start), rf.costs["cost_bps"].to_numpy()[start:], rf.timeframe
        )
        metrics.update(model_id=champion.model_id, engine_errors=errors)
        out.trades[symbol] = result.trades.with_columns(
            pl.lit(symbol).alias("symbol"), pl.lit(champion.model_id).alias("model_id")
        )
        out.bars[symbol] = result.bars
        out.metrics[symbol] = metrics
    return out
