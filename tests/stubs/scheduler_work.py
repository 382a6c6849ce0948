"""Work functions for the scheduler tests: each misbehaves in one way a real training task can.

They run inside spawned worker processes, which import them by name, so they live in an importable
module and use only the standard library. Files in a folder passed as an argument are how they tell
the test what happened (calls, pids, markers), since the test cannot look inside the worker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any


def echo(batch: list[str], tag: str = "") -> dict[str, dict[str, Any]]:
    """Succeeds: each symbol's result names its batch, so tests can see how symbols were grouped."""
    return {s: {"symbol": s, "batch": batch, "tag": tag, "pid": os.getpid()} for s in batch}


def counted_echo(batch: list[str], folder: str) -> dict[str, dict[str, Any]]:
    """Like echo, and leaves one file line per call per symbol, so tests can count re-runs."""
    for symbol in batch:
        with open(Path(folder) / f"calls-{symbol}", "a") as fh:
            fh.write("call\n")
    return echo(batch)


def rendezvous(
    batch: list[str], folder: str, parties: int, wait_s: float = 30.0
) -> dict[str, dict[str, Any]]:
    """Waits until `parties` tasks have arrived: it can only report `met` if they ran at the same time."""
    arrived = Path(folder)
    (arrived / f"arrived-{batch[0]}").write_text(str(os.getpid()))
    started = time.time()
    met = False
    while time.time() - started < wait_s:
        if len(list(arrived.glob("arrived-*"))) >= parties:
            met = True
            break
        time.sleep(0.02)
    return {s: {"batch": batch, "met": met} for s in batch}


def hang_first_time(batch: list[str], folder: str, sleep_s: float) -> dict[str, dict[str, Any]]:
    """First call: ignores SIGTERM, starts a child process, oversleeps, then would write a marker.

    A scheduler that lets a timed-out task run on leaves the marker (and the child) behind; a retry
    (any later call) succeeds at once.
    """
    state = Path(folder)
    if (state / "first-call").exists():
        return echo(batch, tag="retry")
    (state / "first-call").write_text(str(os.getpid()))
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # only SIGKILL can stop this one
    child = subprocess.Popen(["sleep", "60"])
    (state / "child-pid").write_text(str(child.pid))
    time.sleep(sleep_s)
    (state / "marker").write_text("the timed-out task kept running")
    return echo(batch, tag="late")


def fail_with_poison(batch: list[str], poison: str) -> dict[str, dict[str, Any]]:
    """Raises for the whole batch when the poison coin is in it (a coin whose data breaks training)."""
    if poison in batch:
        raise ValueError(f"cannot train {poison}: poisoned candles")
    return echo(batch)


def exit_abruptly(batch: list[str], code: int) -> dict[str, dict[str, Any]]:
    """Dies without reporting, as a segfault or a C library's exit() would."""
    os._exit(code)


def always_fail(batch: list[str]) -> dict[str, dict[str, Any]]:
    raise RuntimeError(f"training failed for {','.join(batch)}")


def partial_results(batch: list[str], folder: str, bad: str, missing: str) -> dict[str, dict[str, Any]]:
    """`bad` comes back as an error, `missing` not at all; the others succeed. Calls are counted."""
    out = counted_echo(batch, folder)
    if bad in out:
        out[bad] = {"error": f"{bad}: not enough candles"}
    out.pop(missing, None)
    return out


def mark_in_ledger(root: str, key: str, as_of: str, prefix: str, count: int, start: Any) -> None:
    """Process body for the ledger race test: mark `count` symbols done one write at a time."""
    from huracan_core.archive import Storage
    from huracan_core.engine.resume import ResumeLedger

    ledger = ResumeLedger(Storage(root), key)
    start.wait()
    for i in range(count):
        ledger.mark_done(as_of, f"{prefix}{i:02d}USDT", {"model_id": f"{prefix}-{i}"})


def record_pid_and_sleep(batch: list[str], folder: str, sleep_s: float) -> dict[str, dict[str, Any]]:
    """Leaves its pid in `folder`, then sleeps: a long task to orphan by killing its parent."""
    (Path(folder) / "worker-pid").write_text(str(os.getpid()))
    time.sleep(sleep_s)
    (Path(folder) / "marker").write_text("the orphaned task kept running")
    return echo(batch)


def schedule_long_task(folder: str) -> None:
    """Process body: a scheduler parent running one long task (the test kills this parent)."""
    from huracan_core.engine.scheduler import ScheduleConfig, run_schedule

    run_schedule(
        ["AAAUSDT"],
        record_pid_and_sleep,
        config=ScheduleConfig(mode="sequential", timeout_s=60.0, retries=0),
        as_of="2025-01-01",
        ledger=None,
        kwargs={"folder": folder, "sleep_s": 30.0},
    )


def thread_settings(batch: list[str]) -> dict[str, dict[str, Any]]:
    """Reports the thread-pool variables the worker was started with."""
    names = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "POLARS_MAX_THREADS", "NUMBA_NUM_THREADS")
    return {s: {name: os.environ.get(name) for name in names} for s in batch}
