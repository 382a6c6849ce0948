"""Huracan Mechanic, every hour at minute 0 UTC: plan (universe, fresh candles, the nightly shared encoder) ->
batches -> one challenger task per coin batch -> publish (promote, roll back or keep, under the publish lease).

Each task calls one `huracan_core.mechanic.hourly` step and passes on small JSON (symbols, ids, archive
keys). The run works "as of" its data interval end, floored to the hour, and names its outputs after that
hour (`challengers/SYMBOL/YYYYMMDD_HH0000Z/`, `mechanic/runs/YYYYMMDD_HH0000Z/`, the hour's `trials` rows):
re-running or backfilling an hour rebuilds that hour's challengers and replaces only that hour's outputs.
Challenger batches run in pool `cpu`. Publishing takes the publish lease in the archive that the nightly
Engine's publish step also takes, so the two never publish the same coins at once: the publish task waits
up to mechanic.lease_wait_seconds for the Engine, then fails with LeaseBusyError and is retried.
Settings: config.yaml ($HURACAN_CONFIG or Variable `huracan_config_path`); Variables `huracan_archive`
and `huracan_database` override the archive and database; Connection `huracan_s3` holds S3 credentials.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import huracan_airflow_support as support
from airflow.sdk import CronTriggerTimetable, dag, get_current_context, task

SETTINGS = support.dag_settings()


@dag(
    dag_id="huracan_mechanic_hourly",
    # A run's logical date is its hour (minute 0 UTC) and its data interval ends there: it works as of that
    # moment. No start_date and run_immediately=0: unpausing arms the schedule for the next full hour
    # instead of running at once for the hour that has passed.
    schedule=CronTriggerTimetable("0 * * * *", timezone="UTC", run_immediately=timedelta(0)),
    catchup=False,
    # One hour at a time: an hour still publishing when the next one starts would judge against champions
    # it is about to move, and two runs would compete for the cpu pool.
    max_active_runs=1,
    default_args={
        "retries": SETTINGS.retries,
        "retry_delay": SETTINGS.retry_delay,
        "on_success_callback": support.on_task_success,
        "on_failure_callback": support.on_task_failure,
    },
    on_success_callback=support.on_run_success,
    on_failure_callback=support.on_run_failure,
    doc_md=__doc__,
    tags=["huracan", "mechanic"],
)
def huracan_mechanic_hourly() -> None:
    @task
    def plan() -> dict[str, Any]:
        from huracan_core.mechanic.hourly import plan_hour

        with support.step_inputs() as step:
            return plan_hour(step.config_path, step.as_of, overrides=step.overrides)

    @task
    def batches(plan: dict[str, Any]) -> list[list[str]]:
        # Plumbing, not logic: Airflow maps over a task's whole return value, so the plan's batches alone.
        return [list(batch) for batch in plan.get("batches") or [] if batch]

    @task(
        pool=support.CPU_POOL,
        execution_timeout=SETTINGS.batch_timeout,
        map_index_template="{{ batch_label }}",
    )
    def challenge_batch(batch: list[str], plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
        from huracan_core.mechanic import hourly

        # Set first, so the UI names the batch even when the challengers fail.
        get_current_context()["batch_label"] = support.batch_label(batch)  # type: ignore[typeddict-unknown-key]
        with support.step_inputs() as step:
            return hourly.challenge_batch(
                batch,
                step.as_of,
                config_path=step.config_path,
                encoder_key=plan.get("encoder_key"),
                universe=plan.get("symbols") or [],
                overrides=step.overrides,
            )

    # none_failed: an hour whose every coin was gated out still publishes (nothing), records and prunes.
    @task(trigger_rule="none_failed")
    def publish(plan: dict[str, Any], results: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
        from huracan_core.mechanic.hourly import publish_hour

        with support.step_inputs() as step:
            # A slice reads every batch result in one request (iterating probes one past the end).
            return publish_hour(step.config_path, plan, list(results[:]), overrides=step.overrides)

    planned = plan()
    challengers = challenge_batch.partial(plan=planned).expand(batch=batches(planned))
    publish(planned, challengers)


huracan_mechanic_hourly()
