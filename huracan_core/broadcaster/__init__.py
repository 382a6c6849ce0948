"""Broadcaster: tells the user what happened: a log line always, and Telegram through the database outbox."""

from huracan_core.broadcaster.callbacks import (
    RunEvent,
    announce,
    broadcast,
    event_from_context,
    on_run_failure,
    on_run_success,
    on_task_failure,
    on_task_success,
)
from huracan_core.broadcaster.outbox import KINDS, enqueue, notifications_to, use_config

__all__ = [
    "KINDS",
    "RunEvent",
    "announce",
    "broadcast",
    "enqueue",
    "event_from_context",
    "notifications_to",
    "on_run_failure",
    "on_run_success",
    "on_task_failure",
    "on_task_success",
    "use_config",
]
