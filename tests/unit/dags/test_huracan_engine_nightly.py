"""DAG integrity: the nightly Engine DAG parses cleanly and has the shape, schedule and guards users rely on."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.stubs.airflow_env import DAGS

DAG_FILE = DAGS / "huracan_engine_nightly.py"
STEPS = ("universe", "candles", "shared_encoder", "batches", "train_batch", "publish", "report")


def test_dag_imports_with_the_expected_task_ids(nightly_dag: Any) -> None:
    assert nightly_dag.dag_id == "huracan_engine_nightly"
    assert set(nightly_dag.task_ids) == set(STEPS)


def test_steps_run_in_order_universe_candles_encoder_training_publish_report(nightly_dag: Any) -> None:
    def downstream(task_id: str) -> set[str]:
        return set(nightly_dag.get_task(task_id).downstream_task_ids)

    assert downstream("universe") == {"candles", "shared_encoder", "batches", "publish", "report"}
    assert "shared_encoder" in downstream("candles")
    assert downstream("shared_encoder") == {"train_batch"}
    assert downstream("batches") == {"train_batch"}
    assert downstream("train_batch") == {"publish"}
    assert downstream("publish") == {"report"}
    assert downstream("report") == set()


def test_schedule_is_02_00_utc_daily_one_run_at_a_time_without_catchup(nightly_dag: Any) -> None:
    timetable = nightly_dag.timetable
    assert timetable.expression == "0 2 * * *"
    assert str(timetable.timezone) == "UTC"
    assert nightly_dag.max_active_runs == 1
    assert nightly_dag.catchup is False


def test_a_backfilled_date_trains_on_data_up_to_that_dates_02_00_utc(nightly_dag: Any) -> None:
    from airflow.serialization.encoders import coerce_to_core_timetable

    tuesday = datetime(2025, 3, 4, 2, 0, tzinfo=UTC)
    interval = coerce_to_core_timetable(nightly_dag.timetable).infer_manual_data_interval(run_after=tuesday)
    assert interval.end == tuesday


def test_training_batches_are_mapped_into_the_gpu_pool_and_queue_with_a_timeout(nightly_dag: Any) -> None:
    train = nightly_dag.get_task("train_batch")
    assert train.is_mapped
    kwargs = train.partial_kwargs
    assert kwargs["pool"] == "gpu"
    assert kwargs["queue"] == "gpu"
    assert kwargs["execution_timeout"] >= timedelta(minutes=1)
    assert train.map_index_template == "{{ batch_label }}"


def test_every_task_retries_and_reports_success_and_failure_to_the_broadcaster(nightly_dag: Any) -> None:
    for task in nightly_dag.tasks:
        kwargs = task.partial_kwargs if task.is_mapped else task.__dict__
        retries = kwargs.get("retries", getattr(task, "retries", None))
        assert retries is not None and retries >= 1, task.task_id
        failure = kwargs.get("on_failure_callback") or getattr(task, "on_failure_callback", None)
        success = kwargs.get("on_success_callback") or getattr(task, "on_success_callback", None)
        names = {getattr(cb, "__name__", "") for cb in [*_as_list(failure), *_as_list(success)]}
        assert names == {"on_task_failure", "on_task_success"}, task.task_id
    assert nightly_dag.on_failure_callback and nightly_dag.on_success_callback


def test_publish_and_report_still_run_when_every_coin_was_gated_out(nightly_dag: Any) -> None:
    assert nightly_dag.get_task("publish").trigger_rule == "none_failed"
    assert nightly_dag.get_task("report").trigger_rule == "none_failed"


def test_dag_files_import_only_airflow_sdk_and_the_light_helper_at_top_level() -> None:
    for path in DAGS.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
        modules = {n.module if isinstance(n, ast.ImportFrom) else n.names[0].name for n in top}
        heavy = {
            m
            for m in modules
            if m and m.split(".")[0] in {"torch", "polars", "ccxt", "huracan_core", "xgboost"}
        }
        assert not heavy, f"{path.name} imports {sorted(heavy)} at module level"


def test_dag_code_holds_no_secrets() -> None:
    pattern = re.compile(
        r"(password|secret|token|api_key|AKIA)[\w]*\s*[=:]\s*['\"][^'\"]+['\"]", re.IGNORECASE
    )
    for path in [*DAGS.glob("*.py")]:
        found = pattern.findall(path.read_text(encoding="utf-8"))
        assert not found, f"{path.name} looks like it holds a secret: {found}"


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]
