"""Backtest speed against vectorbt's Portfolio.from_signals, same signals and fee, side by side.

Setup: N coins x D days of 5m random-walk prices, random long entries/exits (no same-bar conflicts).
Alignment so both engines do the same thing:
- a signal at bar t fills at bar t+1's OPEN in Huracan; vectorbt gets the signals shifted by one bar
  and `close = open` prices, so its fill price and valuation are the same opens;
- both close any open position at the last bar's open (vectorbt gets an exit signal there);
- fee only (10 bps per fill) for the fairness check; Huracan then runs again with per-bar fee +
  half spread + slippage, which vectorbt's run does not charge.
Residual PnL differences are second order: vectorbt pays the entry fee by buying fewer units
(units = cash / (price * (1 + fee))), Huracan subtracts the cost from that bar's return, and
Huracan compounds per bar while vectorbt holds units (identical for a full long position).
If vectorbt cannot be imported, a plain numpy event loop is the (clearly labelled) baseline.
Run: .venv/bin/python benchmarks/bench_backtest.py [--coins 20 --days 180]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import numpy as np
import polars as pl

from huracan_core.evaluation.backtest import backtest

BARS_PER_DAY_5M = 288
FEE = 0.001  # 10 bps per fill
START_MS = 1_700_006_400_000


def make_market(n_coins: int, n_bars: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Opens (bars x coins), entry and exit signals (decided at bar t, no conflicts, none on the last two)."""
    rng = np.random.default_rng(seed)
    opens = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, (n_bars, n_coins)), axis=0))
    entries = rng.random((n_bars, n_coins)) < 0.01
    exits = rng.random((n_bars, n_coins)) < 0.01
    both = entries & exits
    entries &= ~both
    exits &= ~both
    entries[-2:] = exits[-2:] = False  # signals there could only fill at or after the forced final exit
    return opens, entries, exits


def targets_from_signals(entries: np.ndarray, exits: np.ndarray) -> np.ndarray:
    """Long 1 after an entry until the next exit (forward fill), like vectorbt's long-only state."""
    state = np.where(entries, 1.0, np.where(exits, 0.0, np.nan))
    idx = np.where(np.isnan(state), 0, np.arange(state.shape[0])[:, None])
    np.maximum.accumulate(idx, axis=0, out=idx)
    filled = np.take_along_axis(state, idx, axis=0)
    return np.nan_to_num(filled)


def _candles(opens: np.ndarray) -> list[pl.DataFrame]:
    n = opens.shape[0]
    ts = pl.Series("timestamp", START_MS + 300_000 * np.arange(n), dtype=pl.Int64)
    return [
        pl.DataFrame({"timestamp": ts, "open": o, "high": o, "low": o, "close": o, "volume": np.ones(n)})
        for o in opens.T
    ]


def run_huracan(
    candles: list[pl.DataFrame], targets: np.ndarray, costs: list[np.ndarray] | float
) -> tuple[float, list[float], list[int]]:
    start = time.perf_counter()
    returns, trades = [], []
    for i, c in enumerate(candles):
        r = backtest(c, targets[:, i], costs if np.isscalar(costs) else costs[i])  # type: ignore[index]
        returns.append(r.net_return)
        trades.append(r.trades.height)
    return time.perf_counter() - start, returns, trades


def run_vectorbt(
    opens: np.ndarray, entries: np.ndarray, exits: np.ndarray
) -> tuple[float, list[float], list[int]]:
    import pandas as pd
    import vectorbt as vbt

    n = opens.shape[0]
    index = pd.date_range("2023-11-15", periods=n, freq="5min")
    ent = np.zeros_like(entries)
    ex = np.zeros_like(exits)
    ent[1:], ex[1:] = entries[:-1], exits[:-1]  # decided at t, filled at t+1 (at that bar's open)
    ex[-1] = True  # close everything at the last open, as Huracan does
    price = pd.DataFrame(opens, index=index)
    start = time.perf_counter()
    pf = vbt.Portfolio.from_signals(
        price,
        pd.DataFrame(ent, index=index),
        pd.DataFrame(ex, index=index),
        fees=FEE,
        init_cash=1.0,
        freq="5min",
    )
    returns = pf.total_return().to_numpy().tolist()
    trades = pf.trades.count().to_numpy().tolist()
    return time.perf_counter() - start, returns, trades


def run_event_loop(opens: np.ndarray, targets: np.ndarray) -> tuple[float, list[float], list[int]]:
    """Fallback baseline: a straightforward per-bar Python loop (NOT vectorbt)."""
    start = time.perf_counter()
    returns, trades = [], []
    for i in range(opens.shape[1]):
        o, tgt = opens[:, i], targets[:, i]
        equity, pos, count = 1.0, 0.0, 0
        for t in range(1, o.size):
            new = tgt[t - 1] if t < o.size - 1 else 0.0
            if new != pos:
                equity *= 1.0 - abs(new - pos) * FEE
                count += new != 0
                pos = new
            if t < o.size - 1:
                equity *= 1.0 + pos * (o[t + 1] / o[t] - 1.0)
        returns.append(equity - 1.0)
        trades.append(count)
    return time.perf_counter() - start, returns, trades


def _best_of(repeats: int, fn: Any, *args: Any) -> tuple[float, list[float], list[int]]:
    """Fastest of `repeats` runs (results are identical across runs)."""
    runs = [fn(*args) for _ in range(repeats)]
    return min(runs, key=lambda r: r[0])


def run_benchmark(n_coins: int = 20, days: int = 180, seed: int = 0, repeats: int = 3) -> dict[str, Any]:
    """Both backtesters on the same market; speeds (best of `repeats`), the ratio, the fairness check."""
    n_bars = days * BARS_PER_DAY_5M
    opens, entries, exits = make_market(n_coins, n_bars, seed)
    targets = targets_from_signals(entries, exits)
    candles = _candles(opens)
    total = n_bars * n_coins
    rng = np.random.default_rng(seed + 1)
    full_costs = [
        10.0 + rng.uniform(0.5, 3.0, n_bars) + rng.uniform(0.0, 2.0, n_bars) for _ in range(n_coins)
    ]

    # Warm-up (vectorbt compiles with numba on first use; polars and numpy warm their caches).
    small = make_market(2, 500, seed)
    run_huracan(_candles(small[0]), targets_from_signals(small[1], small[2]), FEE * 1e4)
    try:
        run_vectorbt(*small)
        baseline = "vectorbt.Portfolio.from_signals"
        import vectorbt

        baseline_version = vectorbt.__version__
    except ImportError:
        baseline, baseline_version = "numpy event loop (vectorbt not installed)", None

    ours_s, ours_ret, ours_trades = _best_of(repeats, run_huracan, candles, targets, FEE * 1e4)
    full_s, full_ret, _ = _best_of(repeats, run_huracan, candles, targets, full_costs)
    if baseline_version:
        base_s, base_ret, base_trades = _best_of(repeats, run_vectorbt, opens, entries, exits)
    else:
        base_s, base_ret, base_trades = run_event_loop(opens, targets)
    diff = np.abs(np.array(ours_ret) - np.array(base_ret)) * 100.0
    return {
        "benchmark": "backtest",
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "coins": n_coins,
        "days": days,
        "bars": total,
        "repeats": repeats,
        "baseline": baseline,
        "baseline_version": baseline_version,
        "huracan_seconds": round(ours_s, 4),
        "baseline_seconds": round(base_s, 4),
        "huracan_bars_per_second": round(total / ours_s),
        "baseline_bars_per_second": round(total / base_s),
        "speed_ratio_huracan_over_baseline": round(base_s / ours_s, 3),
        "huracan_full_costs_bars_per_second": round(total / full_s),
        "trades_huracan": int(sum(ours_trades)),
        "trades_baseline": int(sum(base_trades)),
        "trades_equal_per_coin": [int(a) for a in ours_trades] == [int(b) for b in base_trades],
        "net_return_pct_mean_huracan": round(float(np.mean(ours_ret)) * 100, 4),
        "net_return_pct_mean_baseline": round(float(np.mean(base_ret)) * 100, 4),
        "net_return_abs_diff_pct_max": round(float(diff.max()), 6),
        "net_return_pct_mean_huracan_full_costs": round(float(np.mean(full_ret)) * 100, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coins", type=int, default=20)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(json.dumps(run_benchmark(args.coins, args.days, args.seed), indent=2))


if __name__ == "__main__":
    main()
