"""Airflow's on_success / on_failure callbacks as plain functions of the context mapping.

The library never imports Airflow: every key and attribute is read defensively, so the same functions
serve a task or a whole run, under dag.test() or a real scheduler, and a missing key never turns a
notification into a second failure. Every event goes through `broadcast`, the one place that decides
how the user hears about it: always a log line in the seed's style and, when Telegram is configured, a row
in the outbox that the bot process sends (outbox.py). Failures are sent (kind `failures`); a task's or a
run's success is only logged: the Engine's own finish message and the Mechanic's promotions say what the
night or the hour did, without a line per task.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from huracan_core.broadcaster.outbox import enqueue

if TYPE_CHECKING:
    from huracan_core.config import HuracanConfig

log = logging.getLogger("huracan.broadcaster")

Outcome = Literal["succeeded", "failed"]
# An exception text longer than this is cut (a Telegram message is capped at 4096 characters anyway).
_MAX_ERROR_CHARS = 500
# The default: what a broadcast event is sent as (None: logged only).
_AUTO = "auto"


@dataclass(frozen=True)
class RunEvent:
    """What happened, as plain data: a task (task_id set) or a whole run (task_id None)."""

    outcome: Outcome
    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    # The mapped task's label (e.g. the batch's coins) or its map index; None for unmapped tasks.
    label: str | None = None
    try_number: int | None = None
    max_tries: int | None = None
    error: str | None = None

    def text(self) -> str:
        """One human-readable line: `❌ huracan_engine_nightly.train_batch [BTCUSDT, ETHUSDT] failed ...`."""
        mark = "✅" if self.outcome == "succeeded" else "❌"
        dag = self.dag_id or "unknown DAG"
        if self.task_id is None:
            what = f"{mark} {dag} run {self.run_id or '?'} {self.outcome}"
        else:
            label = f" [{self.label}]" if self.label else ""
            what = f"{mark} {dag}.{self.task_id}{label} {self.outcome}"
            if self.outcome == "failed" and self.try_number is not None:
                # Airflow counts max_tries as retries; the attempts allowed are one more.
                allowed = f" of {self.max_tries + 1}" if self.max_tries is not None else ""
                what += f" on try {self.try_number}{allowed}"
        if self.error:
            what += f": {self.error}"
        return what + "."


def _get(obj: Any, name: str) -> Any:
    """Attribute or key `name` of obj, or None (the context holds objects and, in tests, dicts)."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    try:
        return getattr(obj, name, None)
    except Exception:  # a lazy attribute that needs a database must not break the notification
        return None


def _as_int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _error_text(context: Mapping[str, Any]) -> str | None:
    exc = context.get("exception")
    if isinstance(exc, BaseException):
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    elif exc:
        text = str(exc)
    else:
        # A run-level failure carries a reason ("task_failure", "timed_out") instead of an exception.
        reason = context.get("reason")
        text = str(reason) if reason and reason != "success" else None
    if text and len(text) > _MAX_ERROR_CHARS:
        text = text[: _MAX_ERROR_CHARS - 3] + "..."
    return text


def event_from_context(context: Mapping[str, Any], outcome: Outcome, *, run_level: bool = False) -> RunEvent:
    """Read what the user needs from an Airflow callback context; absent keys become None."""
    ti = context.get("task_instance") or context.get("ti")
    dag_run = context.get("dag_run")
    dag_id = _get(dag_run, "dag_id") or _get(context.get("dag"), "dag_id") or _get(ti, "dag_id")
    run_id = _get(dag_run, "run_id") or context.get("run_id") or _get(ti, "run_id")
    if run_level:
        return RunEvent(outcome=outcome, dag_id=dag_id, run_id=run_id, error=_error_text(context))
    task_id = _get(ti, "task_id") or _get(context.get("task"), "task_id") or "unknown task"
    label: str | None = None
    map_index = _as_int(_get(ti, "map_index"))
    if map_index is not None and map_index >= 0:
        rendered = _get(ti, "rendered_map_index")
        label = str(rendered) if rendered else str(map_index)
    return RunEvent(
        outcome=outcome,
        dag_id=dag_id,
        run_id=run_id,
        task_id=task_id,
        label=label,
        try_number=_as_int(_get(ti, "try_number")),
        max_tries=_as_int(_get(ti, "max_tries")),
        error=_error_text(context) if outcome == "failed" else None,
    )


def broadcast(event: RunEvent, *, kind: str | None = _AUTO, config: HuracanConfig | None = None) -> str:
    """Tell the user about one event; returns the line. Always logged; queued for Telegram as `kind`.

    By default a failure is sent as `failures` and a success only logged. `config` defaults to the
    process's (outbox.use_config); without one, or without a Telegram token and chat, it is only logged.
    """
    line = event.text()
    if event.outcome == "failed":
        log.error(line)
    else:
        log.info(line)
    if kind == _AUTO:
        kind = "failures" if event.outcome == "failed" else None
    if kind is not None:
        enqueue(kind, line, config=config)
    return line


def announce(
    line: str,
    *,
    kind: str | None = None,
    problem: bool = False,
    photo: bytes | None = None,
    config: HuracanConfig | None = None,
) -> str:
    """A component's message for the user (the Engine's progress, Hamilton's trades, promotions, guardrail
    stops); returns the line. Always logged (a warning when `problem`); queued for Telegram as `kind`
    (engine, failures, promotions, trades, guardrails, daily_summary, errors), None: logged only.
    """
    (log.warning if problem else log.info)(line)
    if kind is not None:
        enqueue(kind, line, photo=photo, config=config)
    return line


def on_task_success(context: Mapping[str, Any], *, config: HuracanConfig | None = None) -> None:
    """Task-level on_success_callback."""
    broadcast(event_from_context(context, "succeeded"), config=config)


def on_task_failure(context: Mapping[str, Any], *, config: HuracanConfig | None = None) -> None:
    """Task-level on_failure_callback (fires when the last try failed)."""
    broadcast(event_from_context(context, "failed"), config=config)


def on_run_success(context: Mapping[str, Any], *, config: HuracanConfig | None = None) -> None:
    """DAG-level on_success_callback: the whole night finished."""
    broadcast(event_from_context(context, "succeeded", run_level=True), config=config)


def on_run_failure(context: Mapping[str, Any], *, config: HuracanConfig | None = None) -> None:
    """DAG-level on_failure_callback: the night failed (reason from Airflow, e.g. task_failure)."""
    broadcast(event_from_context(context, "failed", run_level=True), config=config)
