"""Newest bar in incremental mode, the way Hamilton sees it: features on the newest bars + all 23 engines
+ the combiner + `decide`, per symbol. Prints median and p99 over repeated calls (target: 5 ms)."""

from __future__ import annotations

import os
import statistics
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np

from huracan_core.alphas.registry import all_engines, fit_states, run_engines
from huracan_core.decision import DecisionSettings, decide
from huracan_core.evaluation.research import build_research_frame
from huracan_core.features import DEFAULT_RECIPE
from huracan_core.market import SyntheticSource
from huracan_core.meta import MetaCombiner

END = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
DAY = 86_400_000


def run(repeats: int = 200) -> dict[str, Any]:
    src = SyntheticSource(seed=7)
    candles = {s: src.fetch(s, "15m", END - 30 * DAY, END) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")}
    engines = all_engines()
    rf = build_research_frame(candles["SOLUSDT"], "SOLUSDT", "15m", refs=candles)
    states, _ = fit_states(engines, rf.frame.head(2000))
    combiner = MetaCombiner([e.name for e in engines])
    settings = DecisionSettings()
    tail = max(DEFAULT_RECIPE.warmup_bars(), max(e.lookback_bars for e in engines)) + 1
    timings: dict[str, list[float]] = {"features": [], "engines": [], "decision": [], "total": []}
    for i in range(repeats):
        end = candles["SOLUSDT"].height - (i % 50)
        sol = candles["SOLUSDT"].slice(end - tail, tail)
        refs = {s: c.slice(end - tail, tail) for s, c in candles.items() if s != "SOLUSDT"}
        t0 = time.perf_counter()
        frame = build_research_frame(sol, "SOLUSDT", "15m", refs=refs)
        t1 = time.perf_counter()
        last = frame.frame.tail(max(e.lookback_bars for e in engines))
        signals = run_engines(engines, last, states).signals
        t2 = time.perf_counter()
        row = {name: sig.row(-1, named=True) for name, sig in signals.items()}
        combined = combiner.combine(row, str(last["regime"][-1]), None)
        decide(np.array([combined.edge_bps]), np.array([combined.confidence]),
               frame.costs["cost_bps"].tail(1).to_numpy(), frame.costs["spread_bps"].tail(1).to_numpy(), settings)
        t3 = time.perf_counter()
        for key, value in (("features", t1 - t0), ("engines", t2 - t1), ("decision", t3 - t2), ("total", t3 - t0)):
            timings[key].append(value * 1000)
    out = {}
    print(f"cores: {os.cpu_count()}; newest bar, one symbol, {len(engines)} engines, {repeats} calls (ms):")
    for key, values in timings.items():
        p99 = float(np.percentile(values, 99))
        out[key] = {"median_ms": round(statistics.median(values), 3), "p99_ms": round(p99, 3)}
        print(f"  {key:<9} median {statistics.median(values):7.2f}   p99 {p99:7.2f}")
    return out


if __name__ == "__main__":
    run()
