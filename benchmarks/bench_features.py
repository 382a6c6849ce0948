"""Feature builder speed: `build_features` (numba kernels -> polars frames) against plain pandas, side by side.

Setup: N coins x D days of 5m bars (default 20 x 180 = 51,840 bars each), tiled from the real candles in
/work/shared/data (each tile rescaled to continue the previous close, timestamps re-stamped every 5 minutes),
or a random walk when they are absent. Coin 0 is BTCUSDT and coin 1 ETHUSDT, the references of the others.
Fairness: same recipe and formulas in both (finite EMAs via ewm, flat-window guards); the values are compared
on a sample of coins (to 1e-6) before any timing is reported. `build_features_many` may use every core;
one call per coin is single-threaded, like pandas. Timings alternate and keep the best of `repeats`.
Also: newest-bar incremental latency (`build_latest` on warmup_bars() bars + reference tails), and where the
time of the one-call-per-coin run goes, stage by stage (CPU time of the thread, `--no-stages` to skip).
Run: .venv/bin/python benchmarks/bench_features.py [--coins 20 --days 180 --calls 200 --repeats 5]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))  # pandas_features beside this file
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # huracan_core when run from anywhere

from pandas_features import pandas_features

from huracan_core.features import (
    DEFAULT_RECIPE,
    FeatureRecipe,
    build_features,
    build_features_many,
    build_latest,
)
from huracan_core.features import builder as feature_builder
from huracan_core.features import cross_coin as cross_kernels
from huracan_core.features import indicators as feature_kernels

BARS_PER_DAY_5M = 288
STEP_MS = 300_000
START_MS = 1_700_006_400_000
REAL_CANDLES = Path("/work/shared/data/candles/5m")


def _tile(source: pl.DataFrame, n_bars: int, offset: int) -> pl.DataFrame:
    """`n_bars` bars cut from repeated copies of `source` (rotated by `offset`), each copy rescaled so its
    first open continues the previous copy's last close, re-stamped at a regular 5-minute step."""
    rotated = pl.concat([source[offset:], source[:offset]])
    prices = ("open", "high", "low", "close")
    pieces, scale = [], 1.0
    total = 0
    while total < n_bars:
        piece = rotated.with_columns(pl.col(p) * scale for p in prices)
        pieces.append(piece)
        total += piece.height
        scale = float(piece["close"][-1]) / float(rotated["open"][0])
    out = pl.concat(pieces).head(n_bars)
    return out.with_columns(timestamp=pl.Series(START_MS + STEP_MS * np.arange(n_bars, dtype=np.int64)))


def _random_walk(n_bars: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    closes = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.003, n_bars)))
    opens = np.concatenate([[100.0], closes[:-1]])
    wick = np.exp(np.abs(rng.normal(0.0, 0.001, (2, n_bars))))
    return pl.DataFrame(
        {
            "timestamp": START_MS + STEP_MS * np.arange(n_bars, dtype=np.int64),
            "open": opens,
            "high": np.maximum(opens, closes) * wick[0],
            "low": np.minimum(opens, closes) / wick[1],
            "close": closes,
            "volume": rng.lognormal(8.0, 1.0, n_bars),
        }
    )


def make_market(n_coins: int, n_bars: int) -> tuple[dict[str, pl.DataFrame], str]:
    """{symbol: candles} for the benchmark and a description of where the bars came from."""
    symbols = ["BTCUSDT", "ETHUSDT", *(f"C{i:02d}USDT" for i in range(2, n_coins))][:n_coins]
    files = sorted(REAL_CANDLES.glob("*.parquet")) if REAL_CANDLES.is_dir() else []
    if files:
        sources = [pl.read_parquet(f) for f in files]
        market = {
            s: _tile(
                sources[i % len(sources)],
                n_bars,
                (i // len(sources)) * 997 % sources[i % len(sources)].height,
            )
            for i, s in enumerate(symbols)
        }
        return market, f"real candles tiled ({len(files)} files from {REAL_CANDLES})"
    return {s: _random_walk(n_bars, i) for i, s in enumerate(symbols)}, "random walk (real candles absent)"


def _best_of(fn, repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times), times


# Stages of the breakdown: functions the builder looks up on their module at each call, so replacing the
# module attribute times every call (kernels calling each other inside compiled code are not affected).
_STAGES = (
    ("input checks", feature_builder, "validate_candles"),
    ("rolling std", feature_kernels, "rolling_std"),
    ("one-bar blocks", feature_kernels, "one_bar_blocks"),
    ("finite EMAs", feature_kernels, "finite_emas"),
    ("coin features", feature_kernels, "coin_features"),
    ("reference join", cross_kernels, "align"),
    ("cross features", cross_kernels, "cross_features"),
    ("cross features", cross_kernels, "cross_features_gapless"),
    ("NaN counts", feature_kernels, "late_nans"),
    ("warm-up fill", feature_kernels, "fill_warmup"),
    ("frame assembly", feature_builder, "_to_frame"),
    ("validity bitmaps", feature_kernels, "validity"),
)


def stage_breakdown(
    market: dict[str, pl.DataFrame], recipe: FeatureRecipe, refs: dict[str, pl.DataFrame], repeats: int
) -> dict[str, float]:
    """CPU milliseconds of this thread per stage of the one-call-per-coin run, each stage without the stages
    it calls ("other": numpy glue, polars calls and Python around them), from the fastest of `repeats` runs.
    Run after the timed comparison, with every kernel already compiled."""
    spent: dict[str, float] = {}
    inside: list[float] = []  # per open stage: CPU time of the stages it called

    def timed(label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            inside.append(0.0)
            started = time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.thread_time() - started
                nested = inside.pop()
                spent[label] = spent.get(label, 0.0) + elapsed - nested
                if inside:
                    inside[-1] += elapsed

        return wrapper

    originals = [(module, name, getattr(module, name)) for _, module, name in _STAGES]
    best: dict[str, float] = {}
    try:
        for label, module, name in _STAGES:
            setattr(module, name, timed(label, getattr(module, name)))
        for _ in range(repeats):
            spent.clear()
            started = time.thread_time()
            for s, c in market.items():
                build_features(c, recipe, refs, symbol=s)
            total = time.thread_time() - started
            if not best or total < best["total"]:
                best = {**spent, "other": total - sum(spent.values()), "total": total}
    finally:
        for module, name, fn in originals:
            setattr(module, name, fn)
    return {label: seconds * 1000 for label, seconds in best.items()}


def run(
    coins: int = 20, days: int = 180, calls: int = 200, repeats: int = 5, stages: bool = True
) -> dict[str, Any]:
    """Measure and return the figures (seconds / milliseconds) as a plain dict; also prints them."""
    recipe = DEFAULT_RECIPE
    n_bars = days * BARS_PER_DAY_5M
    market, origin = make_market(coins, n_bars)
    refs = {s: market[s] for s in recipe.reference_symbols if s in market}
    pd_market = {s: c.to_pandas() for s, c in market.items()}
    pd_refs = {s: pd_market[s] for s in refs}
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()}")
    print(f"data: {coins} coins x {n_bars:,} bars of 5m ({days} days), {origin}")

    # Fairness first: both implementations give the same numbers on a sample of coins.
    sample = list(market)[: min(3, coins)] + list(market)[-1:]
    worst = 0.0
    for s in sample:
        pol = build_features(market[s], recipe, refs, symbol=s)
        pan = pandas_features(pd_market[s], recipe, pd_refs, symbol=s)
        for name in recipe.columns():
            a, b = pol[name].to_numpy(), pan[name].to_numpy(dtype=float)
            if not np.array_equal(np.isnan(a), np.isnan(b)):
                raise AssertionError(f"{s} {name}: polars and pandas disagree on which rows are null")
            ok = ~np.isnan(a)
            if ok.any():
                worst = max(worst, float(np.max(np.abs(a[ok] - b[ok]) / np.maximum(1.0, np.abs(a[ok])))))
    if worst > 1e-6:
        raise AssertionError(f"polars and pandas features differ by {worst:.3g} (> 1e-6): comparison unfair")
    print(f"values: polars == pandas on {len(sample)} coins, every feature, max difference {worst:.2g}")

    # Side by side, alternating, best of `repeats`.
    pl_many, pl_seq, pd_all = [], [], []
    for _ in range(repeats):
        pl_many.append(_best_of(lambda: build_features_many(market, recipe, refs), 1)[0])
        pl_seq.append(
            _best_of(lambda: [build_features(c, recipe, refs, symbol=s) for s, c in market.items()], 1)[0]
        )
        pd_all.append(
            _best_of(
                lambda: [pandas_features(c, recipe, pd_refs, symbol=s) for s, c in pd_market.items()], 1
            )[0]
        )
    polars_s, polars_seq_s, pandas_s = min(pl_many), min(pl_seq), min(pd_all)
    print(
        f"batch, all coins: build_features_many {polars_s:.3f} s, one build_features call per coin {polars_seq_s:.3f} s"
    )
    print(
        f"batch, all coins: pandas {pandas_s:.3f} s -> speed-up x{pandas_s / polars_s:.1f} "
        f"(x{pandas_s / polars_seq_s:.1f} one call per coin; target >= 10)"
    )

    # Incremental: newest bar from warmup_bars() bars and the references over the same span.
    symbol = list(market)[-1]
    tail = market[symbol].tail(recipe.warmup_bars())
    first = tail["timestamp"][0]
    refs_tail = {s: r.filter(pl.col("timestamp") >= first) for s, r in refs.items()}
    latency: dict[str, dict[str, float]] = {}
    for label, ref_arg in (("with_refs", refs_tail), ("no_refs", None)):
        build_latest(tail, recipe, ref_arg, symbol=symbol)
        times = []
        for _ in range(calls):
            started = time.perf_counter()
            build_latest(tail, recipe, ref_arg, symbol=symbol)
            times.append((time.perf_counter() - started) * 1000)
        latency[label] = {"median_ms": float(np.median(times)), "p99_ms": float(np.percentile(times, 99))}
        print(
            f"incremental ({label}, {recipe.warmup_bars()} bars): median {latency[label]['median_ms']:.2f} ms, "
            f"p99 {latency[label]['p99_ms']:.2f} ms over {calls} calls (target < 2 ms)"
        )
    stage_ms: dict[str, float] = {}
    if stages:
        stage_ms = stage_breakdown(market, recipe, refs, min(repeats, 3))
        parts = sorted((item for item in stage_ms.items() if item[0] != "total"), key=lambda item: -item[1])
        print(
            f"stages, one call per coin (CPU ms of the thread, total {stage_ms['total']:.1f}): "
            + ", ".join(f"{label} {ms:.1f}" for label, ms in parts)
        )
    return {
        "cores": os.cpu_count(),
        "load_average": os.getloadavg(),
        "coins": coins,
        "bars_per_coin": n_bars,
        "data": origin,
        "polars_batch_s": polars_s,
        "polars_batch_per_coin_calls_s": polars_seq_s,
        "pandas_batch_s": pandas_s,
        "speedup": pandas_s / polars_s,
        "speedup_per_coin_calls": pandas_s / polars_seq_s,
        "max_value_difference": worst,
        "incremental": latency,
        "warmup_bars": recipe.warmup_bars(),
        "stages_ms": stage_ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coins", type=int, default=20)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-stages", action="store_true", help="skip the per-stage breakdown")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args()
    figures = run(args.coins, args.days, args.calls, args.repeats, stages=not args.no_stages)
    if args.json:
        print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
