"""Runs one work function over many symbols (sequential, parallel, or hybrid batches), each task in its own
worker process, so a task over its time limit is killed with everything it started before its retry begins.

Workers are started with multiprocessing's "spawn" method (or "forkserver" when asked), never "fork": a
forked child inherits torch/polars/BLAS thread pools and fsspec's event-loop thread mid-state and can hang.
Spawn costs a fresh interpreter per task (~0.3 s plus the work function's imports), small beside minutes of
training, and behaves the same on Linux and macOS. Only the parent writes the resume ledger and emits events.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any, Literal

from huracan_core.engine.schedule_report import (
    Event,
    EventKind,
    Mode,
    ScheduleReport,
    SymbolOutcome,
    TaskRecord,
    max_overlap,
)
from huracan_core.engine.worker_process import (
    WorkFn,
    exit_reason,
    share_of_cores,
    stop_worker,
    worker_main,
    worker_threads,
)
from huracan_core.exceptions import ConfigError, HuracanError

if TYPE_CHECKING:  # resume imports the archive (fsspec, polars); the scheduler itself stays light
    from huracan_core.engine.resume import ResumeLedger

__all__ = ["Event", "ScheduleConfig", "ScheduleReport", "SymbolOutcome", "TaskRecord", "run_schedule"]

log = logging.getLogger(__name__)

StartMethod = Literal["spawn", "forkserver"]

_MODES = ("sequential", "parallel", "hybrid")
_START_METHODS = ("spawn", "forkserver")


@dataclass(frozen=True)
class ScheduleConfig:
    """How symbols are grouped into tasks and how tasks run. Defaults mirror config.yaml's `engine:`."""

    mode: Mode = "hybrid"
    max_concurrent: int = 12  # hybrid: batch worker processes at once (capped at os.cpu_count())
    parallel_tasks: int = 8  # parallel: single-coin worker processes at once (same cap)
    coins_per_batch: int = 8  # hybrid: coins per task (one GPU batch)
    # Per coin, seconds: a task of k coins is killed k * timeout_s after its worker starts (worker
    # start-up included); None = no limit.
    timeout_s: float | None = 1800.0
    retries: int = 2  # attempts after the first for failed or timed-out symbols
    backoff_s: float = 10.0  # wait before the first retry, doubled for each later one (seconds)
    backoff_max_s: float = 300.0  # cap of the doubled wait (seconds)
    kill_grace_s: float = 5.0  # SIGTERM, then this long to clean up, then SIGKILL (seconds)
    # Hybrid: the last retry runs each remaining coin alone, so one poison coin cannot fail its
    # batch-mates (with retries=0 there is no retry, and a failing batch fails all its coins).
    split_last_attempt: bool = True
    allow_oversubscribe: bool = False  # let more workers run than the machine has cores
    start_method: StartMethod = "spawn"

    def __post_init__(self) -> None:
        if self.mode not in _MODES:
            _bad("mode", self.mode, f"use one of {', '.join(_MODES)}")
        for name in ("max_concurrent", "parallel_tasks", "coins_per_batch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                _bad(name, value, "use a whole number of at least 1")
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            _bad("retries", self.retries, "use a whole number of at least 0")
        if self.timeout_s is not None and not self.timeout_s > 0:
            _bad("timeout_s", self.timeout_s, "use a positive number of seconds, or None for no limit")
        for name in ("backoff_s", "backoff_max_s", "kill_grace_s"):
            if not getattr(self, name) >= 0:
                _bad(name, getattr(self, name), "use a number of seconds of at least 0")
        if self.start_method not in _START_METHODS:
            _bad(
                "start_method",
                self.start_method,
                "use spawn or forkserver (fork is unsafe with torch/polars threads)",
            )

    @classmethod
    def from_engine(cls, engine: Any, **overrides: Any) -> ScheduleConfig:
        """Build from `HuracanConfig.engine` (timeout_minutes becomes seconds per coin)."""
        values: dict[str, Any] = {
            "mode": engine.mode,
            "max_concurrent": engine.max_concurrent,
            "parallel_tasks": engine.parallel_tasks,
            "coins_per_batch": engine.coins_per_batch,
            "timeout_s": float(engine.timeout_minutes) * 60.0,
            "retries": engine.retries,
        }
        # Not in EngineConfig yet: read with defaults so the config can grow without breaking this.
        for key, name in (("retry_backoff_seconds", "backoff_s"), ("kill_grace_seconds", "kill_grace_s")):
            if getattr(engine, key, None) is not None:
                values[name] = float(getattr(engine, key))
        values.update(overrides)
        return cls(**values)

    def requested_concurrency(self) -> int:
        return {"sequential": 1, "parallel": self.parallel_tasks, "hybrid": self.max_concurrent}[self.mode]

    def concurrency_limit(self, cpu_count: int | None) -> int:
        """Worker processes allowed at once: the mode's setting, capped at the cores unless oversubscribing."""
        wanted = self.requested_concurrency()
        return wanted if self.allow_oversubscribe else max(1, min(wanted, cpu_count or 1))

    def backoff(self, failed_attempt: int) -> float:
        """Seconds to wait after attempt `failed_attempt` (1-based) failed: doubled each time, capped."""
        return min(self.backoff_s * 2 ** (failed_attempt - 1), self.backoff_max_s)

    def task_timeout(self, coins: int) -> float | None:
        return None if self.timeout_s is None else self.timeout_s * coins


def _bad(name: str, value: object, fix: str) -> None:
    raise ConfigError(f"schedule {name}={value!r} is invalid: {fix}")


# --- the parent side ------------------------------------------------------------------------------
@dataclass
class _Task:
    task_id: int
    symbols: tuple[str, ...]
    attempt: int
    not_before: float = 0.0


@dataclass
class _Running:
    task: _Task
    process: BaseProcess
    conn: Connection
    started: float
    deadline: float | None
    message: dict[str, Any] | None = None
    reported_at: float | None = None
    conn_open: bool = True


class _Run:
    """State of one run_schedule call; the loop lives in `execute`."""

    def __init__(
        self,
        work_fn: WorkFn,
        config: ScheduleConfig,
        as_of: str,
        ledger: ResumeLedger | None,
        force: bool,
        kwargs: dict[str, Any],
        on_event: Callable[[Event], None] | None,
    ) -> None:
        self.work_fn = work_fn
        self.config = config
        self.as_of = as_of
        self.ledger = ledger
        self.force = force
        self.kwargs = kwargs
        self.on_event = on_event
        self.context = multiprocessing.get_context(config.start_method)
        self.limit = config.concurrency_limit(os.cpu_count())
        self.t0 = time.monotonic()
        self.outcomes: dict[str, SymbolOutcome] = {}
        self.records: list[TaskRecord] = []
        self.ledger_errors: list[str] = []
        self.queue: deque[_Task] = deque()
        self.running: dict[int, _Running] = {}
        self._next_id = 0

    # --- helpers ------------------------------------------------------------------------------
    def now(self) -> float:
        return time.monotonic() - self.t0

    def emit(self, event: Event) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except Exception:  # a broken status writer must not stop training
            log.exception("Event handler failed on %s event for %s", event.kind, ", ".join(event.symbols))

    def new_task(self, symbols: Sequence[str], attempt: int, not_before: float = 0.0) -> _Task:
        self._next_id += 1
        return _Task(self._next_id, tuple(symbols), attempt, not_before)

    def plan(self, symbols: Sequence[str]) -> None:
        size = self.config.coins_per_batch if self.config.mode == "hybrid" else 1
        for start in range(0, len(symbols), size):
            self.queue.append(self.new_task(symbols[start : start + size], attempt=1))

    def record_ledger(self, action: Callable[[], None], what: str) -> None:
        try:
            action()
        except (HuracanError, OSError) as exc:  # the work is done; only a later resume would redo it
            message = f"resume ledger: {what} failed: {type(exc).__name__}: {exc}"
            log.error("%s", message)
            self.ledger_errors.append(message)

    # --- the loop -----------------------------------------------------------------------------
    def skip_done(self, symbols: list[str]) -> list[str]:
        if self.ledger is None or self.force:
            return symbols
        earlier = self.ledger.entries(self.as_of)
        skipped = [s for s in symbols if s in earlier]
        reason = f"already done for {self.as_of} (resume ledger)"
        for symbol in skipped:
            self.outcomes[symbol] = SymbolOutcome("skipped", result=earlier[symbol], reason=reason)
        if skipped:
            log.info("Resuming %s: %d symbol(s) already done, skipped", self.as_of, len(skipped))
            self.emit(Event("skipped", tuple(skipped), 0, self.now(), reasons=dict.fromkeys(skipped, reason)))
        return [s for s in symbols if s not in earlier]

    def execute(self) -> None:
        try:
            while self.queue or self.running:
                self.launch_ready()
                self.wait_for_activity()
                for running in list(self.running.values()):
                    self.check(running)
        finally:
            for running in list(self.running.values()):  # interrupted (Ctrl-C, a bug): leave no worker behind
                stop_worker(running.process, grace_s=0.0)
                running.conn.close()
            self.running.clear()

    def launch_ready(self) -> None:
        now = self.now()
        while len(self.running) < self.limit:
            task = next((t for t in self.queue if t.not_before <= now), None)
            if task is None:
                return
            self.queue.remove(task)
            reader, writer = self.context.Pipe(duplex=False)
            process = self.context.Process(
                target=worker_main,
                args=(self.work_fn, list(task.symbols), self.kwargs, writer),
                name=f"huracan-task-{task.task_id}",
            )
            try:
                with worker_threads(share_of_cores(self.limit)):
                    process.start()
            finally:
                writer.close()  # the worker holds the only writer: EOF tells us it is gone
            started = self.now()
            timeout = self.config.task_timeout(len(task.symbols))
            deadline = None if timeout is None else started + timeout
            self.running[task.task_id] = _Running(task, process, reader, started, deadline)
            log.info("Task %d started: %s (attempt %d)", task.task_id, ", ".join(task.symbols), task.attempt)
            self.emit(Event("started", task.symbols, task.attempt, started, task_id=task.task_id))
            now = self.now()

    def wait_for_activity(self) -> None:
        now = self.now()
        wakes: list[float] = []
        for running in self.running.values():
            if running.deadline is not None:
                wakes.append(running.deadline)
            if running.reported_at is not None:
                wakes.append(running.reported_at + self.config.kill_grace_s)
        if len(self.running) < self.limit and self.queue:
            wakes.append(min(t.not_before for t in self.queue))
        timeout = max(0.0, min(wakes) - now) if wakes else None
        handles: list[Any] = [r.process.sentinel for r in self.running.values()]
        handles += [r.conn for r in self.running.values() if r.conn_open and r.message is None]
        if handles:
            wait(handles, timeout)
        elif timeout:
            time.sleep(timeout)

    def check(self, running: _Running) -> None:
        self.read_message(running)
        exited = bool(wait([running.process.sentinel], 0))
        now = self.now()
        if exited:
            self.read_message(running)
            stop_worker(running.process, grace_s=0.0)  # reaps it and ends anything left in its group
            self.settle(running, timed_out=False)
        elif running.reported_at is not None and now >= running.reported_at + self.config.kill_grace_s:
            log.warning("Task %d reported but did not exit; stopping it", running.task.task_id)
            stop_worker(running.process, grace_s=self.config.kill_grace_s)
            self.settle(running, timed_out=False)
        elif running.message is None and running.deadline is not None and now >= running.deadline:
            stop_worker(running.process, grace_s=self.config.kill_grace_s)
            self.settle(running, timed_out=True)

    def read_message(self, running: _Running) -> None:
        if not running.conn_open or running.message is not None:
            return
        try:
            if not running.conn.poll():
                return
            data = running.conn.recv_bytes()
        except (EOFError, OSError):  # the worker closed its end without a whole message
            running.conn_open = False
            return
        try:
            running.message = json.loads(data)
        except ValueError:
            running.message = {
                "kind": "error",
                "type": "ProtocolError",
                "message": "worker sent an unreadable message",
            }
        running.reported_at = self.now()

    def settle(self, running: _Running, *, timed_out: bool) -> None:
        """Turn a finished worker into per-symbol outcomes, ledger entries, events and retries."""
        del self.running[running.task.task_id]
        running.conn.close()
        task, ended = running.task, self.now()
        results, reasons, outcome = self.interpret(running, timed_out)
        pid = running.process.pid
        running.process.close()
        done = {s: results[s] for s in task.symbols if s in results}
        failed = {s: reasons[s] for s in task.symbols if s not in done}
        self.records.append(
            TaskRecord(task.task_id, task.symbols, task.attempt, running.started, ended, outcome, pid)
        )
        if done:
            for symbol, result in done.items():
                self.outcomes[symbol] = SymbolOutcome("done", result=result, attempts=task.attempt)
            if self.ledger is not None:
                ledger = self.ledger
                self.record_ledger(lambda: ledger.mark_many(self.as_of, done), f"marking {sorted(done)} done")
            log.info("Task %d finished: %s", task.task_id, ", ".join(done))
            self.emit(Event("finished", tuple(done), task.attempt, ended, task_id=task.task_id, results=done))
        if failed:
            self.fail(task, failed, ended, kind="timed_out" if timed_out else "failed")

    def interpret(
        self, running: _Running, timed_out: bool
    ) -> tuple[dict[str, dict[str, Any]], dict[str, str], Any]:
        """(done results, failure reasons per symbol, task outcome) from what the worker sent or how it ended."""
        task, message = running.task, running.message
        if timed_out:
            limit = self.config.task_timeout(len(task.symbols))
            return {}, dict.fromkeys(task.symbols, f"timed out after {limit:g} s"), "timed_out"
        if message is None:
            reason = exit_reason(running.process.exitcode)
            return {}, dict.fromkeys(task.symbols, reason), "crashed"
        if message.get("kind") == "error":
            reason = f"{message.get('type', 'Error')}: {message.get('message', '')}"
            log.warning("Task %d raised %s\n%s", task.task_id, reason, message.get("traceback", ""))
            return {}, dict.fromkeys(task.symbols, reason), "failed"
        results: dict[str, dict[str, Any]] = {}
        reasons: dict[str, str] = {}
        for symbol in task.symbols:
            value = message.get("results", {}).get(symbol)
            if value is None:
                reasons[symbol] = f"the work function returned no result for {symbol}"
            elif value.get("error") is not None:
                reasons[symbol] = str(value["error"])
            else:
                results[symbol] = value
        outcome = "ok" if not reasons else ("partial" if results else "failed")
        return results, reasons, outcome

    def fail(self, task: _Task, failed: dict[str, str], now: float, *, kind: EventKind) -> None:
        final = task.attempt > self.config.retries
        for symbol, reason in failed.items():
            log.warning(
                "%s failed (attempt %d of %d): %s", symbol, task.attempt, self.config.retries + 1, reason
            )
        self.emit(
            Event(kind, tuple(failed), task.attempt, now, task_id=task.task_id, reasons=failed, final=final)
        )
        if final:
            for symbol, reason in failed.items():
                self.outcomes[symbol] = SymbolOutcome("failed", reason=reason, attempts=task.attempt)
            if self.ledger is not None and self.force:
                ledger = self.ledger
                self.record_ledger(lambda: ledger.unmark(self.as_of, failed), f"unmarking {sorted(failed)}")
            return
        attempt = task.attempt + 1
        delay = self.config.backoff(task.attempt)
        symbols = list(failed)
        last = attempt == self.config.retries + 1
        if self.config.mode == "hybrid" and self.config.split_last_attempt and last and len(symbols) > 1:
            groups = [[s] for s in symbols]  # one poison coin must not fail its batch-mates again
        else:
            groups = [symbols]
        for group in groups:
            self.queue.append(self.new_task(group, attempt, not_before=now + delay))
        log.info("Retrying %s in %.3g s (attempt %d)", ", ".join(symbols), delay, attempt)
        self.emit(Event("retrying", tuple(symbols), attempt, now, delay_s=delay))


def _check_work_fn(work_fn: WorkFn) -> None:
    qualname = getattr(work_fn, "__qualname__", "")
    if not callable(work_fn) or not getattr(work_fn, "__module__", None) or "<" in qualname:
        raise TypeError(
            f"work function {work_fn!r} must be a top-level function of an importable module: "
            "worker processes import it by name (no lambdas, closures or nested functions)"
        )


def run_schedule(
    symbols: Iterable[str],
    work_fn: WorkFn,
    *,
    config: ScheduleConfig,
    as_of: str,
    ledger: ResumeLedger | None,
    force: bool = False,
    kwargs: dict[str, Any] | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> ScheduleReport:
    """Run `work_fn(batch, **kwargs) -> {symbol: result}` over `symbols`; never raises for a task's failure.

    Symbols keep their given order (duplicates dropped); hybrid batches are consecutive runs of
    `coins_per_batch`. Symbols the ledger records as done for `as_of` are skipped unless `force`;
    the rest are marked done as their tasks finish, so a crashed run resumes where it stopped.
    A symbol missing from the returned dict, or mapped to {"error": ...}, fails alone. `kwargs`
    cross a process boundary: pass references (paths, ids, config), not data frames.
    """
    _check_work_fn(work_fn)
    if not isinstance(as_of, str) or not as_of.strip():
        raise ValueError(f"as_of {as_of!r} must be a non-empty string such as '2025-01-01'")
    ordered = list(dict.fromkeys(symbols))
    run = _Run(work_fn, config, as_of, ledger, force, dict(kwargs or {}), on_event)
    if run.limit < config.requested_concurrency():
        log.info(
            "%s mode asks for %d workers; %d core(s) here, running %d at once (allow_oversubscribe to exceed)",
            config.mode, config.requested_concurrency(), os.cpu_count() or 1, run.limit,
        )  # fmt: skip
    run.plan(run.skip_done(ordered))
    run.execute()
    return ScheduleReport(
        as_of=as_of,
        mode=config.mode,
        concurrency_limit=run.limit,
        symbols={s: run.outcomes[s] for s in ordered},
        tasks=sorted(run.records, key=lambda r: (r.started_s, r.task_id)),
        wall_time_s=run.now(),
        max_concurrency_observed=max_overlap(run.records),
        ledger_errors=run.ledger_errors,
    )
