"""`HuracanNotifier`: Huracan's notifications on any DAG's callbacks (Telegram through Huracan's outbox).

    from huracan_notifier import HuracanNotifier   # this folder is on the DAG processor's sys.path

    @dag(..., on_failure_callback=HuracanNotifier())                    # failed runs, kind `failures`
    @task(on_failure_callback=HuracanNotifier(), on_success_callback=HuracanNotifier("{{ ti.task_id }} done"))

The message is the broadcaster's line for the context (`❌ my_dag.load failed on try 2 of 2: ...`) unless
one is given (a Jinja template, rendered with the context). It is queued in Huracan's database outbox with
the config the Huracan tasks use, and the `huracan telegram` process sends it: the callback never waits for
Telegram and never fails because of it. `kind` picks the switch of telegram.notify.* it obeys: by default
`failures` for a failure and `engine` (job news) for a success.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import BaseNotifier


def _failed(context: Mapping[str, Any]) -> bool:
    """A failure callback's context: a run's reason other than success, or a task's exception or state."""
    if "reason" in context:  # DAG-level callbacks carry the reason (success, task_failure, timed_out)
        return context.get("reason") != "success"
    if context.get("exception"):
        return True
    ti = context.get("task_instance") or context.get("ti")
    return str(getattr(ti, "state", "") or "").endswith("failed")


class HuracanNotifier(BaseNotifier):
    """Tell the Huracan chat about a task or a run: the broadcaster's line, or `message`, as `kind`."""

    template_fields: Sequence[str] = ("message",)

    def __init__(self, message: str | None = None, *, kind: str | None = None) -> None:
        super().__init__()
        self.message = message
        self.kind = kind

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        try:
            super().render_template_fields(context, jinja_env)
        except AttributeError:
            # The context's DAG cannot make a template environment (under dag.test() a run callback gets the
            # scheduler's serialized DAG): render with a plain sandboxed Jinja instead of losing the message.
            from jinja2.sandbox import SandboxedEnvironment

            super().render_template_fields(context, SandboxedEnvironment(cache_size=0))

    def notify(self, context: Any) -> None:
        import huracan_airflow_support as support

        from huracan_core.broadcaster.callbacks import announce, broadcast, event_from_context

        failed = _failed(context)
        kind = self.kind or ("failures" if failed else "engine")
        config = support.notification_config()
        if self.message:
            announce(str(self.message), kind=kind, problem=failed, config=config)
            return
        event = event_from_context(
            context, "failed" if failed else "succeeded", run_level="reason" in context
        )
        broadcast(event, kind=kind, config=config)

    async def async_notify(self, context: Any) -> None:
        # One short database insert: fine to run inline in the triggerer (deadline alerts).
        self.notify(context)
