"""Newest bar in incremental mode, the way Hamilton sees it, per symbol: features, regime and costs of the
newest bar (`latest_research`, equal to the batch research frame's last rows) + all 23 engines' signal for
that bar (`run_engines_latest`, each engine on its own lookback) + the combiner + `decide`.
Prints median and p99 over repeated calls (target: 5 ms)."""

from __future__ import annotations

import os

# One symbol's newest bar is a few tiny models: OpenMP pools (torch, xgboost) spinning over busy cores cost
# 10x the work itself, so the live trader runs them single-threaded (one process per symbol scales out).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import statistics
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np

from huracan_core.alphas.base import AlphaEngine, LatestInputs
from huracan_core.alphas.registry import all_engines, fit_states, run_engine_latest, run_engines_latest
from huracan_core.decision import DecisionSettings, decide
from huracan_core.evaluation.latest import latest_research, latest_tail_bars
from huracan_core.evaluation.research import build_research_frame
from huracan_core.market import SyntheticSource
from huracan_core.meta import MetaCombiner

END = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
DAY = 86_400_000


def run(repeats: int = 200) -> dict[str, Any]:
    src = SyntheticSource(seed=7)
    candles = {s: src.fetch(s, "15m", END - 35 * DAY, END) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")}
    engines = all_engines()
    rf = build_research_frame(candles["SOLUSDT"], "SOLUSDT", "15m", refs=candles)
    states, _ = fit_states(engines, rf.frame.head(2000))
    combiner = MetaCombiner([e.name for e in engines])
    settings = DecisionSettings()
    rows = max(e.lookback_bars for e in engines)  # rows of research frame the engines read
    tail = latest_tail_bars("15m", rows)  # candles after which older history changes nothing (2904)
    timings: dict[str, list[float]] = {"features": [], "engines": [], "decision": [], "total": []}
    frames = []  # the research frames the engines saw, for the per-engine breakdown below
    for i in range(repeats):
        end = candles["SOLUSDT"].height - (i % 50)
        sol = candles["SOLUSDT"].slice(end - tail, tail)
        refs = {s: c.slice(end - tail, tail) for s, c in candles.items() if s != "SOLUSDT"}
        t0 = time.perf_counter()
        latest = latest_research(sol, "SOLUSDT", "15m", refs=refs, rows=rows)
        t1 = time.perf_counter()
        run_ = run_engines_latest(engines, latest.frame, states)
        frames.append(latest.frame)
        if run_.errors:
            raise RuntimeError(f"engines failed: {run_.errors}")
        t2 = time.perf_counter()
        combined = combiner.combine(run_.signals, latest.regime, None)
        decide(
            np.array([combined.edge_bps]),
            np.array([combined.confidence]),
            np.array([latest.costs["cost_bps"]]),
            np.array([latest.costs["spread_bps"]]),
            settings,
        )
        t3 = time.perf_counter()
        for key, value in (
            ("features", t1 - t0),
            ("engines", t2 - t1),
            ("decision", t3 - t2),
            ("total", t3 - t0),
        ):
            timings[key].append(value * 1000)
    out = {}
    print(f"cores: {os.cpu_count()}; newest bar, one symbol, {len(engines)} engines, {repeats} calls (ms):")
    for key, values in timings.items():
        p99 = float(np.percentile(values, 99))
        out[key] = {"median_ms": round(statistics.median(values), 3), "p99_ms": round(p99, 3)}
        print(f"  {key:<9} median {statistics.median(values):7.2f}   p99 {p99:7.2f}")
    out["per_engine_median_ms"] = per_engine(engines, frames, states)
    return out


def per_engine(
    engines: list[AlphaEngine], frames: list[Any], states: dict[str, dict[str, Any]]
) -> dict[str, float]:
    """Median ms of each engine on the same frames, after the timed loop (the totals above exclude it).

    Engines run in registry order on one set of shared numpy columns, as in `run_engines_latest`:
    the first engine to read a column pays its conversion.
    """
    times: dict[str, list[float]] = {e.name: [] for e in engines}
    for frame in frames:
        inputs = LatestInputs(frame)
        for engine in engines:
            t0 = time.perf_counter()
            run_engine_latest(engine, inputs, states[engine.name])
            times[engine.name].append((time.perf_counter() - t0) * 1000)
    medians = {name: round(statistics.median(values), 3) for name, values in times.items()}
    print(f"  per engine (median ms, sum {sum(medians.values()):.2f}):")
    for name, ms in sorted(medians.items(), key=lambda item: -item[1]):
        print(f"    {name:<22} {ms:6.3f}")
    return medians


if __name__ == "__main__":
    run()
