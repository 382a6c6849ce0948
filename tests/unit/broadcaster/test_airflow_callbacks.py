"""Airflow callbacks become one readable line each, whatever the context holds, and never raise."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from huracan_core.broadcaster import callbacks
from huracan_core.broadcaster.callbacks import RunEvent, broadcast, event_from_context


def _ti(**attrs: object) -> SimpleNamespace:
    base = {
        "dag_id": "huracan_engine_nightly",
        "run_id": "scheduled__2025-03-04",
        "task_id": "train_batch",
        "map_index": -1,
        "try_number": 1,
        "max_tries": 2,
    }
    return SimpleNamespace(**{**base, **attrs})


def test_a_failed_training_batch_names_its_coins_the_try_and_the_error() -> None:
    ti = _ti(map_index=0, rendered_map_index="BTCUSDT, ETHUSDT", try_number=3)
    event = event_from_context({"ti": ti, "exception": TimeoutError("batch over 240 min")}, "failed")
    assert event.text() == (
        "❌ huracan_engine_nightly.train_batch [BTCUSDT, ETHUSDT] failed on try 3 of 3: "
        "TimeoutError: batch over 240 min."
    )


def test_a_mapped_task_without_a_label_shows_its_map_index() -> None:
    event = event_from_context({"task_instance": _ti(map_index=4, rendered_map_index=None)}, "succeeded")
    assert event.label == "4"
    assert event.text() == "✅ huracan_engine_nightly.train_batch [4] succeeded."


def test_a_whole_run_failure_reports_airflows_reason() -> None:
    run = SimpleNamespace(dag_id="huracan_engine_nightly", run_id="backfill__2025-03-04")
    event = event_from_context({"dag_run": run, "reason": "task_failure"}, "failed", run_level=True)
    assert event.text() == "❌ huracan_engine_nightly run backfill__2025-03-04 failed: task_failure."


def test_an_empty_context_still_gives_a_line_instead_of_a_second_failure() -> None:
    assert event_from_context({}, "failed").text() == "❌ unknown DAG.unknown task failed."


def test_an_attribute_that_raises_is_read_as_missing() -> None:
    class Lazy:
        task_id = "publish"

        @property
        def try_number(self) -> int:
            raise RuntimeError("needs a database session")

    event = event_from_context({"ti": Lazy()}, "failed")
    assert event.task_id == "publish"
    assert event.try_number is None


def test_a_very_long_error_is_cut_to_fit_a_message() -> None:
    event = event_from_context({"ti": _ti(), "exception": ValueError("x" * 5000)}, "failed")
    assert event.error is not None and len(event.error) <= 500 and event.error.endswith("...")


@pytest.mark.parametrize(
    ("callback", "level", "mark"),
    [
        (callbacks.on_task_failure, logging.ERROR, "❌"),
        (callbacks.on_task_success, logging.INFO, "✅"),
        (callbacks.on_run_failure, logging.ERROR, "❌"),
        (callbacks.on_run_success, logging.INFO, "✅"),
    ],
)
def test_every_callback_logs_one_line_through_the_broadcaster(
    callback: object, level: int, mark: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="huracan.broadcaster"):
        callback({"ti": _ti(), "dag_run": SimpleNamespace(dag_id="huracan_engine_nightly", run_id="r1")})  # type: ignore[operator]
    records = [r for r in caplog.records if r.name == "huracan.broadcaster"]
    assert len(records) == 1
    assert records[0].levelno == level
    assert records[0].getMessage().startswith(mark)


def test_broadcast_returns_the_line_it_sent() -> None:
    assert broadcast(RunEvent(outcome="succeeded", dag_id="d", run_id="r")) == "✅ d run r succeeded."
