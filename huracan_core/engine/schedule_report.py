"""What a scheduler run reports: progress events while it runs, and per-symbol outcomes when it ends.

Plain data (`ScheduleReport.to_dict()` is JSON-able), so the CLI, engine_status.json and Telegram only format it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Mode = Literal["sequential", "parallel", "hybrid"]
Status = Literal["done", "failed", "skipped"]
EventKind = Literal["skipped", "started", "finished", "failed", "timed_out", "retrying"]


@dataclass(frozen=True)
class Event:
    """Progress of a run, for engine_status.json, logs and messages.

    kinds: skipped (done earlier, from the ledger), started (a task launched), finished (its done
    symbols, with `results`), failed / timed_out (its failed symbols, with `reasons`; `final` when no
    attempt is left), retrying (symbols queued again for `attempt`, after `delay_s`).
    """

    kind: EventKind
    symbols: tuple[str, ...]
    attempt: int
    elapsed_s: float  # since the run started
    task_id: int | None = None
    reasons: Mapping[str, str] = field(default_factory=dict)
    results: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    final: bool = False
    delay_s: float | None = None


@dataclass(frozen=True)
class SymbolOutcome:
    status: Status
    result: dict[str, Any] | None = None  # done: the task's result; skipped: what the ledger recorded
    reason: str | None = None  # failed: the last attempt's reason; skipped: why
    attempts: int = 0


@dataclass(frozen=True)
class TaskRecord:
    """One worker process: what it ran and when (seconds since the run started)."""

    task_id: int
    symbols: tuple[str, ...]
    attempt: int
    started_s: float
    ended_s: float
    outcome: Literal["ok", "partial", "failed", "timed_out", "crashed"]
    pid: int | None = None


@dataclass
class ScheduleReport:
    as_of: str
    mode: Mode
    concurrency_limit: int
    symbols: dict[str, SymbolOutcome]
    tasks: list[TaskRecord]
    wall_time_s: float
    max_concurrency_observed: int
    ledger_errors: list[str] = field(default_factory=list)

    def _with(self, status: Status) -> list[str]:
        return [symbol for symbol, outcome in self.symbols.items() if outcome.status == status]

    @property
    def done(self) -> list[str]:
        return self._with("done")

    @property
    def failed(self) -> dict[str, str]:
        return {s: o.reason or "unknown" for s, o in self.symbols.items() if o.status == "failed"}

    @property
    def skipped(self) -> list[str]:
        return self._with("skipped")

    def results(self) -> dict[str, dict[str, Any]]:
        """Results of every symbol that is done, now or earlier (skipped from the ledger)."""
        return {s: dict(o.result or {}) for s, o in self.symbols.items() if o.status in ("done", "skipped")}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def max_overlap(records: Iterable[TaskRecord]) -> int:
    """Most tasks alive at one moment (an end at the same instant as a start does not overlap it)."""
    edges = sorted(
        [(r.started_s, 1) for r in records] + [(r.ended_s, -1) for r in records], key=lambda e: (e[0], e[1])
    )
    alive = peak = 0
    for _, step in edges:
        alive += step
        peak = max(peak, alive)
    return peak
