"""The nightly Engine at the issue's size: 20 coins x 180 days x 15m bars on this CPU, sequential vs hybrid.

Prints wall time, peak memory (largest resident set of the parent and of any worker process) and the
hybrid/sequential speed-up of the same run on the same machine. Size is configurable for quick looks:
BENCH_ENGINE_COINS, BENCH_ENGINE_DAYS (defaults 20 and 180).
"""

from __future__ import annotations

import os
import resource
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from huracan_core.engine.run import run_engine

AS_OF = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)


def _one(mode: str, coins: int, days: int, root: Path) -> dict[str, Any]:
    started = time.perf_counter()
    result = run_engine(
        None,
        AS_OF,
        overrides={
            "general.archive": str(root / mode / "archive"),
            "general.database": f"sqlite:///{root / mode / 'huracan.db'}",
            "general.log_dir": str(root / mode / "logs"),
            "general.symbols": f"top{coins}",
            "general.timeframe": "15m",
            "data.source": "synthetic",
            "engine.lookback_days": days,
            "engine.mode": mode,
            "engine.max_concurrent": os.cpu_count() or 1,
        },
    )
    wall = time.perf_counter() - started
    return {"mode": mode, "wall_s": round(wall, 1), "models": len(result.trained), "failed": len(result.failed),
            "max_concurrency": result.max_concurrency}


def run() -> dict[str, Any]:
    coins = int(os.environ.get("BENCH_ENGINE_COINS", "20"))
    days = int(os.environ.get("BENCH_ENGINE_DAYS", "180"))
    print(f"cores: {os.cpu_count()}; engine on {coins} coins x {days} days x 15m (synthetic market)")
    with tempfile.TemporaryDirectory() as tmp:
        hybrid = _one("hybrid", coins, days, Path(tmp))
        print(f"hybrid:     {hybrid['wall_s']:8.1f} s, {hybrid['models']} models, "
              f"{hybrid['max_concurrency']} workers at once")
        sequential = _one("sequential", coins, days, Path(tmp))
        print(f"sequential: {sequential['wall_s']:8.1f} s, {sequential['models']} models")
    peak_mib = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                   resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    speedup = sequential["wall_s"] / hybrid["wall_s"] if hybrid["wall_s"] else None
    print(f"hybrid speed-up over sequential: {speedup:.2f}x; peak resident memory of one process: {peak_mib:.0f} MiB")
    return {"coins": coins, "days": days, "hybrid": hybrid, "sequential": sequential,
            "speedup": round(speedup, 3) if speedup else None, "peak_rss_mib": round(peak_mib)}


if __name__ == "__main__":
    run()
