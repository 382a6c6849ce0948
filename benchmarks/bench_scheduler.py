"""Scheduler speed-up: 8 coins of CPU-bound work (~1 s each), sequential vs hybrid (2 workers x 2 coins).

Each worker is limited to one BLAS thread, as a real deployment would set torch/BLAS threads per worker
so that workers do not fight over cores; a third figure shows sequential with all BLAS threads, the
honest baseline for matrix-heavy work that already uses every core inside one process.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
for _path in (str(HERE.parent), str(HERE)):  # spawned workers import this module and huracan_core by name
    if _path not in sys.path:
        sys.path.insert(0, _path)

from huracan_core.engine.scheduler import ScheduleConfig, run_schedule  # noqa: E402

COINS = [f"COIN{i}USDT" for i in range(8)]
SIZE = 800  # matrix side; 25 steps of an 800x800 product take ~1 s on one core of this machine
STEPS = 25
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def train_like(batch: list[str]) -> dict[str, dict[str, Any]]:
    """A stand-in for training: fixed CPU work per coin, seeded by the symbol so it is deterministic."""
    out: dict[str, dict[str, Any]] = {}
    for symbol in batch:
        started = time.perf_counter()
        rng = np.random.default_rng(sum(symbol.encode()))
        a = rng.standard_normal((SIZE, SIZE))
        for _ in range(STEPS):
            a = np.tanh(a @ a / SIZE)
        out[symbol] = {"checksum": float(a.sum()), "seconds": time.perf_counter() - started}
    return out


def busy_share(seconds: float) -> float:
    """Spin for `seconds` of wall time; the share of a core this process got while spinning."""
    wall, cpu = time.perf_counter(), time.process_time()
    while time.perf_counter() - wall < seconds:
        pass
    return (time.process_time() - cpu) / (time.perf_counter() - wall)


def parallel_ceiling(seconds: float = 2.0) -> float:
    """Best speed-up two processes can get on this machine right now (2.0 when idle; less when shared)."""
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
        pool.submit(busy_share, 0.01).result()  # start-up outside the measurement
        alone = pool.submit(busy_share, seconds).result()
        pair = [f.result() for f in [pool.submit(busy_share, seconds) for _ in range(2)]]
    return sum(pair) / alone


@contextmanager
def blas_threads(count: int | None):
    """Workers are spawned with this environment, so BLAS reads the thread count when it loads."""
    saved = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    try:
        for name in THREAD_VARIABLES:
            if count is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = str(count)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def timed(config: ScheduleConfig, threads: int | None) -> tuple[float, dict[str, Any]]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with blas_threads(threads):
        report = run_schedule(COINS, train_like, config=config, as_of="bench", ledger=None)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if report.failed:
        raise RuntimeError(f"benchmark tasks failed: {report.failed}")
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return report.wall_time_s, {
        # CPU seconds the workers got per wall second: ~2 on an idle 2-core machine when both run;
        # lower means other processes took the cores, and the speed-up shrinks with it.
        "cores_used": cpu_s / report.wall_time_s,
        "max_concurrency_observed": report.max_concurrency_observed,
        "mean_coin_seconds": sum(r["seconds"] for r in report.results().values()) / len(COINS),
    }


def run() -> dict[str, Any]:
    cores = os.cpu_count() or 1
    load_before = os.getloadavg()[0]  # other work on the machine shrinks any speed-up: record it
    sequential = ScheduleConfig(mode="sequential", timeout_s=120.0, retries=0)
    hybrid = ScheduleConfig(mode="hybrid", max_concurrent=2, coins_per_batch=2, timeout_s=120.0, retries=0)
    ceiling = parallel_ceiling()
    seq_s, seq_info = timed(sequential, threads=1)
    hyb_s, hyb_info = timed(hybrid, threads=1)
    seq_all_s, _ = timed(sequential, threads=None)
    result = {
        "cores": cores,
        "coins": len(COINS),
        "sequential_s": round(seq_s, 2),
        "hybrid_2x2_s": round(hyb_s, 2),
        "speedup": round(seq_s / hyb_s, 2),
        "sequential_all_blas_threads_s": round(seq_all_s, 2),
        "speedup_vs_all_blas_threads": round(seq_all_s / hyb_s, 2),
        "coin_seconds_sequential": round(seq_info["mean_coin_seconds"], 2),
        "coin_seconds_hybrid": round(hyb_info["mean_coin_seconds"], 2),
        "hybrid_max_concurrency_observed": hyb_info["max_concurrency_observed"],
        "cores_used_sequential": round(seq_info["cores_used"], 2),
        "cores_used_hybrid": round(hyb_info["cores_used"], 2),
        "load_average_1m_before": round(load_before, 2),
        "two_process_ceiling": round(ceiling, 2),
    }
    print(
        f"{cores} cores (load {load_before:.1f} before), {len(COINS)} coins of "
        f"~{result['coin_seconds_sequential']} s CPU work each"
    )
    print(f"sequential (1 BLAS thread):        {result['sequential_s']:6.2f} s")
    print(
        f"hybrid 2 workers x 2 coins:        {result['hybrid_2x2_s']:6.2f} s  speedup {result['speedup']}x "
        f"(cores used {result['cores_used_hybrid']} vs {result['cores_used_sequential']})"
    )
    print(f"two-process ceiling on this machine now: {result['two_process_ceiling']}x (2.0 when idle)")
    print(f"sequential (all BLAS threads):     {result['sequential_all_blas_threads_s']:6.2f} s")
    return result


if __name__ == "__main__":
    run()
