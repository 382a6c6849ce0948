"""Broadcaster: tells the user what the night did (log lines now; Telegram when its issue lands)."""

from huracan_core.broadcaster.callbacks import (
    RunEvent,
    broadcast,
    event_from_context,
    on_run_failure,
    on_run_success,
    on_task_failure,
    on_task_success,
)

__all__ = [
    "RunEvent",
    "broadcast",
    "event_from_context",
    "on_run_failure",
    "on_run_success",
    "on_task_failure",
    "on_task_success",
]
