"""The DAG helper: as-of from the run, batches without gated coins, S3 credentials and settings from config."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import huracan_airflow_support as support
import pytest


def test_as_of_is_the_data_interval_end_in_utc() -> None:
    end = datetime(2025, 3, 4, 3, 0, tzinfo=timezone(timedelta(hours=1)))
    context = {"data_interval_end": end, "logical_date": datetime(2025, 3, 3, 2, 0, tzinfo=UTC)}
    assert support.as_of_from(context) == "2025-03-04T02:00:00+00:00"


def test_a_manual_run_without_logical_date_trains_as_of_its_run_after() -> None:
    run = SimpleNamespace(run_after=datetime(2025, 3, 4, 9, 30, tzinfo=UTC))
    context = {"data_interval_end": None, "logical_date": None, "dag_run": run}
    assert support.as_of_from(context) == "2025-03-04T09:30:00+00:00"


def test_a_run_without_any_moment_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="no data interval end"):
        support.as_of_from({"dag_run": SimpleNamespace(run_after=None)})


def test_usable_batches_drop_gated_coins_and_empty_batches_keeping_order() -> None:
    plan = {"batches": [["BTCUSDT", "ETHUSDT"], ["SOLUSDT"], ["XRPUSDT", "ADAUSDT"]]}
    candles = {"ok": ["ADAUSDT", "BTCUSDT", "ETHUSDT"], "skipped": {"SOLUSDT": "Low volume. Skipped."}}
    assert support.usable_batches(plan, candles) == [["BTCUSDT", "ETHUSDT"], ["ADAUSDT"]]


def test_no_usable_coin_gives_no_training_batch() -> None:
    assert support.usable_batches({"batches": [["BTCUSDT"]]}, {"ok": []}) == []


def test_batch_label_names_the_coins() -> None:
    assert support.batch_label(["BTCUSDT", "ETHUSDT"]) == "BTCUSDT, ETHUSDT"


def test_s3_connection_fields_become_the_aws_variables_s3fs_reads() -> None:
    env = support.aws_environment(
        "minio", "minio-secret", {"endpoint_url": "http://minio:9000", "region_name": "eu-west-1"}
    )
    assert env == {
        "AWS_ACCESS_KEY_ID": "minio",
        "AWS_SECRET_ACCESS_KEY": "minio-secret",
        "AWS_ENDPOINT_URL": "http://minio:9000",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }


def test_an_s3_connection_without_keys_sets_nothing_so_the_default_chain_applies() -> None:
    assert support.aws_environment(None, None, {}) == {}


def test_patched_environment_is_restored_after_the_step() -> None:
    os.environ.pop("HURACAN_TEST_ONLY", None)
    with support.patched_environ({"HURACAN_TEST_ONLY": "1"}):
        assert os.environ["HURACAN_TEST_ONLY"] == "1"
    assert "HURACAN_TEST_ONLY" not in os.environ


def test_settings_fall_back_to_defaults_when_the_config_is_broken(tmp_path: Path) -> None:
    broken = tmp_path / "config.yaml"
    broken.write_text("engine:\n  retries: many\n")
    settings = support.dag_settings({"HURACAN_CONFIG": str(broken)})
    assert settings == support.DagSettings()


def test_settings_read_retries_and_the_batch_timeout_from_the_config(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("engine:\n  retries: 4\n  timeout_minutes: 3\n  coins_per_batch: 5\n")
    settings = support.dag_settings({"HURACAN_CONFIG": str(config)})
    assert settings.retries == 4
    assert settings.batch_timeout == timedelta(minutes=15)
