"""One task's worker process: its entry point, and how the parent ends it for good.

The worker leads its own process group so a timeout kills it with everything it started (DataLoader
workers, subprocesses), and it kills itself if its parent dies: no orphan keeps training beside a retry.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

WorkFn = Callable[..., Mapping[str, Any]]

_TRACEBACK_LINES = 12  # the end of a worker's traceback is where the cause is; the rest is framework
_PARENT_CHECK_S = 0.5  # how often a worker checks that its parent is still alive


# Thread pools sized at import by torch (OpenMP), BLAS, polars and numba; a spawned worker reads them from its
# environment at start-up.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "POLARS_MAX_THREADS",
    "NUMBA_NUM_THREADS",
)


def share_of_cores(workers: int) -> int:
    """Threads per pool for one of `workers` processes running at once on this machine (at least 1)."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


@contextlib.contextmanager
def worker_threads(threads: int) -> Iterator[None]:
    """Start workers inside this block with `threads` threads per pool (their share of the cores).

    Every library sizes its pool to all cores by default, so two workers on two cores ran four or more
    busy threads each: OpenMP's spinning threads then made a worker 2-3x slower than alone. A variable
    the user set already is left as it is.
    """
    added = [name for name in THREAD_VARIABLES if name not in os.environ]
    for name in added:
        os.environ[name] = str(max(1, threads))
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def worker_main(work_fn: WorkFn, batch: list[str], kwargs: dict[str, Any], conn: Connection) -> None:
    """Entry of a worker process: run the task, send one JSON message, exit.

    The worker leads its own process group, so the parent can kill it together with anything it
    started (DataLoader workers, subprocesses). SIGTERM becomes SystemExit so `finally` blocks of the
    work function can clean up within the parent's grace period.
    """
    with contextlib.suppress(OSError):  # not permitted (already a session leader): the parent signals the pid
        os.setpgid(0, 0)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    _watch_parent(os.getppid())
    try:
        message: dict[str, Any] = {
            "kind": "result",
            "results": _checked_results(work_fn(list(batch), **kwargs), batch),
        }
    except Exception as exc:
        message = {
            "kind": "error",
            "type": type(exc).__name__,
            "message": str(exc),
            "traceback": "".join(traceback.format_exception(exc)[-_TRACEBACK_LINES:]),
        }
    conn.send_bytes(json.dumps(message).encode())
    conn.close()
    # The result is delivered: leave at once. Interpreter shutdown with torch, polars and xgboost thread
    # pools loaded can take seconds (or hang on a non-daemon thread), which the parent would wait out.
    logging.shutdown()
    os._exit(0)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _watch_parent(parent_pid: int) -> None:
    """Kill this worker's group if the parent dies (SIGKILL, OOM): an orphan must not train beside a re-run."""

    def watch() -> None:
        while True:
            time.sleep(_PARENT_CHECK_S)
            if os.getppid() != parent_pid:
                if os.getpgrp() == os.getpid():
                    os.killpg(os.getpid(), signal.SIGKILL)
                os._exit(1)

    threading.Thread(target=watch, name="huracan-parent-watch", daemon=True).start()


def _checked_results(raw: object, batch: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The batch's per-symbol results, each JSON-able; a bad one becomes an error for that symbol only."""
    if not isinstance(raw, Mapping):
        raise TypeError(
            f"work function returned {type(raw).__name__}; expected a dict of symbol -> result dict"
        )
    out: dict[str, dict[str, Any]] = {}
    for symbol in batch:
        if symbol not in raw:
            continue  # the parent reports it as missing
        value = raw[symbol]
        if not isinstance(value, Mapping):
            out[symbol] = {"error": f"result is a {type(value).__name__}, expected a dict"}
            continue
        try:
            out[symbol] = json.loads(json.dumps(dict(value)))
        except (TypeError, ValueError) as exc:
            out[symbol] = {"error": f"result is not JSON-serialisable: {exc}"}
    return out


def exit_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"worker was killed by {name} without reporting"
    return f"worker exited with code {exitcode} without reporting"


def _signal_group(process: BaseProcess, sig: signal.Signals) -> None:
    """Signal the worker's process group (the worker and all it started), or the worker alone if it
    has not made its group yet. Called before the worker is reaped, so its pid cannot have been reused."""
    pid = process.pid
    if pid is None:
        return
    try:
        os.killpg(pid, sig)
        return
    except (ProcessLookupError, PermissionError):
        pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def stop_worker(process: BaseProcess, *, grace_s: float) -> None:
    """End a worker for good: SIGTERM, `grace_s` to exit, SIGKILL (its whole group), then join."""
    if not wait([process.sentinel], 0):
        _signal_group(process, signal.SIGTERM)
        if not wait([process.sentinel], grace_s):
            _signal_group(process, signal.SIGKILL)
    _signal_group(process, signal.SIGKILL)  # anything the worker started and left behind
    process.join()
