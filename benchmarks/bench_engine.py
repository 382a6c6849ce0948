"""The nightly Engine at the issue's size: 20 coins x 180 days x 15m bars on this CPU, sequential vs hybrid.

Prints wall time, peak memory (the largest resident set of any one process, and the peak of the sum of
proportional set sizes over the engine process and all its workers alive at once, sampled every 0.2 s)
and the hybrid/sequential speed-up of the same run on the same machine. Size is configurable for quick looks:
BENCH_ENGINE_COINS, BENCH_ENGINE_DAYS (defaults 20 and 180).
"""

from __future__ import annotations

import contextlib
import os
import resource
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from huracan_core.engine.run import run_engine

AS_OF = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)


def _pss(proc: psutil.Process) -> int:
    """Proportional set size (shared pages such as torch's libraries split between the processes mapping
    them, so the sum over processes is what they use together); the resident set where PSS is unknown."""
    try:
        return int(proc.memory_full_info().pss)
    except (AttributeError, psutil.AccessDenied):
        return int(proc.memory_info().rss)


class _TreeMemory:
    """Peak of the summed memory (PSS) of this process and its children, sampled in a thread."""

    def __init__(self, every_s: float = 0.2) -> None:
        self.every_s, self.peak, self._stop = every_s, 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in (me, *me.children(recursive=True)):
                with contextlib.suppress(psutil.Error):  # a worker that just exited
                    total += _pss(proc)
            self.peak = max(self.peak, total)
            self._stop.wait(self.every_s)

    def __enter__(self) -> _TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _one(mode: str, coins: int, days: int, root: Path) -> dict[str, Any]:
    started = time.perf_counter()
    memory = _TreeMemory()
    with memory:
        result = _run(mode, coins, days, root)
    wall = time.perf_counter() - started
    return {"mode": mode, "wall_s": round(wall, 1), "models": len(result.trained), "failed": len(result.failed),
            "max_concurrency": result.max_concurrency, "peak_total_rss_mib": round(memory.peak / 2**20)}


def _run(mode: str, coins: int, days: int, root: Path) -> Any:
    return run_engine(
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


def run() -> dict[str, Any]:
    coins = int(os.environ.get("BENCH_ENGINE_COINS", "20"))
    days = int(os.environ.get("BENCH_ENGINE_DAYS", "180"))
    print(f"cores: {os.cpu_count()}; engine on {coins} coins x {days} days x 15m (synthetic market)")
    with tempfile.TemporaryDirectory() as tmp:
        hybrid = _one("hybrid", coins, days, Path(tmp))
        print(f"hybrid:     {hybrid['wall_s']:8.1f} s, {hybrid['models']} models, "
              f"{hybrid['max_concurrency']} workers at once, peak memory of all processes together "
              f"{hybrid['peak_total_rss_mib']} MiB")
        sequential = _one("sequential", coins, days, Path(tmp))
        print(f"sequential: {sequential['wall_s']:8.1f} s, {sequential['models']} models, peak memory of all "
              f"processes together {sequential['peak_total_rss_mib']} MiB")
    peak_mib = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                   resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    speedup = sequential["wall_s"] / hybrid["wall_s"] if hybrid["wall_s"] else None
    print(f"hybrid speed-up over sequential: {speedup:.2f}x; peak resident memory of one process: {peak_mib:.0f} MiB")
    return {"coins": coins, "days": days, "hybrid": hybrid, "sequential": sequential,
            "speedup": round(speedup, 3) if speedup else None, "peak_rss_mib": round(peak_mib)}


if __name__ == "__main__":
    run()
