"""DAG integrity: the hourly Mechanic DAG parses cleanly and has the shape, schedule and guards users rely on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.unit.dags.test_huracan_engine_nightly import _as_list

STEPS = ("plan", "batches", "challenge_batch", "publish")


def test_dag_imports_with_the_expected_task_ids(hourly_dag: Any) -> None:
    assert hourly_dag.dag_id == "huracan_mechanic_hourly"
    assert set(hourly_dag.task_ids) == set(STEPS)


def test_steps_run_in_order_plan_challengers_publish(hourly_dag: Any) -> None:
    def downstream(task_id: str) -> set[str]:
        return set(hourly_dag.get_task(task_id).downstream_task_ids)

    assert downstream("plan") == {"batches", "challenge_batch", "publish"}
    assert downstream("batches") == {"challenge_batch"}
    assert downstream("challenge_batch") == {"publish"}
    assert downstream("publish") == set()


def test_schedule_is_every_hour_at_minute_0_utc_one_run_at_a_time_without_catchup(hourly_dag: Any) -> None:
    timetable = hourly_dag.timetable
    assert timetable.expression == "0 * * * *"
    assert str(timetable.timezone) == "UTC"
    assert hourly_dag.max_active_runs == 1
    assert hourly_dag.catchup is False
    # No start_date: unpausing arms the next full hour instead of starting runs for hours that have passed.
    assert hourly_dag.start_date is None


def test_a_backfilled_hour_works_on_data_up_to_that_hour(hourly_dag: Any) -> None:
    from airflow.serialization.encoders import coerce_to_core_timetable

    hour = datetime(2025, 3, 4, 5, 0, tzinfo=UTC)
    interval = coerce_to_core_timetable(hourly_dag.timetable).infer_manual_data_interval(run_after=hour)
    assert interval.end == hour


def test_challenger_batches_are_mapped_into_the_cpu_pool_with_a_timeout_and_named_by_their_coins(
    hourly_dag: Any,
) -> None:
    challenge = hourly_dag.get_task("challenge_batch")
    assert challenge.is_mapped
    kwargs = challenge.partial_kwargs
    assert kwargs["pool"] == "cpu"
    # The default queue: challengers need no GPU worker.
    assert kwargs.get("queue") in (None, "default")
    assert kwargs["execution_timeout"] >= timedelta(minutes=1)
    assert challenge.map_index_template == "{{ batch_label }}"


def test_every_task_retries_and_reports_success_and_failure_to_the_broadcaster(hourly_dag: Any) -> None:
    for task in hourly_dag.tasks:
        kwargs = task.partial_kwargs if task.is_mapped else task.__dict__
        retries = kwargs.get("retries", getattr(task, "retries", None))
        assert retries is not None and retries >= 1, task.task_id
        failure = kwargs.get("on_failure_callback") or getattr(task, "on_failure_callback", None)
        success = kwargs.get("on_success_callback") or getattr(task, "on_success_callback", None)
        names = {getattr(cb, "__name__", "") for cb in [*_as_list(failure), *_as_list(success)]}
        assert names == {"on_task_failure", "on_task_success"}, task.task_id
    assert hourly_dag.on_failure_callback and hourly_dag.on_success_callback


def test_publish_still_runs_when_every_coin_was_gated_out(hourly_dag: Any) -> None:
    assert hourly_dag.get_task("publish").trigger_rule == "none_failed"
