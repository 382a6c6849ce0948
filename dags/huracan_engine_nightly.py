"""Huracan Engine, nightly at 02:00 UTC: universe -> candles -> shared encoder -> one training task per coin
batch -> publish champions -> daily report.

Each task calls one `huracan_core.engine.nightly` step and passes on small JSON (symbols, ids, archive
keys). The run trains "as of" its data interval end, so re-running or backfilling a date retrains as of
that date and replaces only that date's outputs. Training batches run in pool `gpu` on queue `gpu`.
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
    dag_id="huracan_engine_nightly",
    # A run's logical date is its 02:00 UTC and its data interval ends there: it trains as of that moment.
    # No start_date and run_immediately=0: unpausing arms the schedule for the next 02:00 instead of
    # training at once for the night that has passed.
    schedule=CronTriggerTimetable("0 2 * * *", timezone="UTC", run_immediately=timedelta(0)),
    catchup=False,
    # One night at a time: two runs would compete for the gpu pool and the same champion pointers.
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
    tags=["huracan", "engine"],
)
def huracan_engine_nightly() -> None:
    @task
    def universe() -> dict[str, Any]:
        from huracan_core.engine.nightly import plan_step

        with support.step_inputs() as step:
            return plan_step(step.config_path, step.as_of, overrides=step.overrides)

    @task
    def candles(plan: dict[str, Any]) -> dict[str, Any]:
        from huracan_core.engine.nightly import candles_step

        with support.step_inputs() as step:
            return candles_step(step.config_path, plan, overrides=step.overrides)

    @task
    def shared_encoder(plan: dict[str, Any], candles: dict[str, Any]) -> dict[str, Any]:
        from huracan_core.engine.nightly import encoder_step

        with support.step_inputs() as step:
            return encoder_step(step.config_path, plan, candles, overrides=step.overrides)

    @task
    def batches(plan: dict[str, Any], candles: dict[str, Any]) -> list[list[str]]:
        # Plumbing, not logic: the plan's batches less the coins the data gates set aside.
        return support.usable_batches(plan, candles)

    @task(
        pool=support.GPU_POOL,
        queue=support.GPU_QUEUE,
        execution_timeout=SETTINGS.batch_timeout,
        map_index_template="{{ batch_label }}",
    )
    def train_batch(batch: list[str], encoder: dict[str, Any]) -> dict[str, dict[str, Any]]:
        from huracan_core.engine import nightly

        # Set first, so the UI names the batch even when training fails.
        get_current_context()["batch_label"] = support.batch_label(batch)  # type: ignore[typeddict-unknown-key]
        with support.step_inputs() as step:
            return nightly.train_batch(
                batch,
                step.as_of,
                config_path=step.config_path,
                encoder_key=encoder.get("encoder_key"),
                overrides=step.overrides,
            )

    # none_failed: a night whose every coin was gated out still publishes (nothing) and reports why.
    @task(trigger_rule="none_failed")
    def publish(plan: dict[str, Any], results: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
        from huracan_core.engine.nightly import publish_step

        with support.step_inputs() as step:
            # A slice reads every batch result in one request (iterating probes one past the end).
            return publish_step(step.config_path, plan, list(results[:]), overrides=step.overrides)

    @task(trigger_rule="none_failed")
    def report(plan: dict[str, Any], candles: dict[str, Any], published: dict[str, Any]) -> dict[str, Any]:
        from huracan_core.engine.nightly import report_step

        with support.step_inputs() as step:
            return report_step(step.config_path, plan, candles, published, overrides=step.overrides)

    plan = universe()
    gated = candles(plan)
    encoder = shared_encoder(plan, gated)
    trained = train_batch.partial(encoder=encoder).expand(batch=batches(plan, gated))
    published = publish(plan, trained)
    report(plan, gated, published)


huracan_engine_nightly()
