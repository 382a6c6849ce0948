"""The container setup is valid: `docker-compose config` accepts docker-compose.yaml with .env.example, the
services a user needs are there with health checks and start in the right order, and no secret is inline.

No Docker engine runs here; `docker-compose config` (Debian's docker-compose) validates without one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.stubs.airflow_env import REPO

COMPOSE = REPO / "docker-compose.yaml"
LONG_RUNNING = {
    "postgres",
    "redis",
    "minio",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
}
ONE_SHOT = {"minio-init", "airflow-init"}


def _compose(*args: str, env_file: Path) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is not installed (apt-get install -y docker-compose)")
        pytest.skip("docker-compose is not installed (apt-get install -y docker-compose)")
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POSTGRES_", "AIRFLOW_", "MINIO_", "HURACAN_"))
    }
    return subprocess.run(
        [binary, "--env-file", str(env_file), "-f", str(COMPOSE), "config"],
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def resolved() -> dict[str, Any]:
    out = _compose(env_file=REPO / ".env.example")
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)


def test_compose_file_is_valid_with_the_example_environment(resolved: dict[str, Any]) -> None:
    assert set(resolved["services"]) == LONG_RUNNING | ONE_SHOT


def test_compose_refuses_to_start_without_the_secrets(tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("")
    out = _compose(env_file=empty)
    assert out.returncode != 0
    assert "set POSTGRES_PASSWORD in .env" in out.stderr or "in .env" in out.stderr


def test_every_long_running_service_has_a_health_check(resolved: dict[str, Any]) -> None:
    for name in LONG_RUNNING:
        assert "healthcheck" in resolved["services"][name], name


def test_airflow_waits_for_its_database_broker_bucket_and_migration(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    for name in (
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "airflow-worker",
    ):
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
        assert depends["airflow-init"]["condition"] == "service_completed_successfully", name
        assert depends["minio-init"]["condition"] == "service_completed_successfully", name
    # Tasks report to the execution API, so the scheduler and the worker start after the api-server is healthy.
    for name in ("airflow-scheduler", "airflow-worker"):
        assert services[name]["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"
    assert services["airflow-init"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"


def test_the_bucket_is_created_at_start_and_the_worker_serves_the_gpu_queue(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    assert "mc mb --ignore-existing local/huracan" in " ".join(services["minio-init"]["command"])
    worker = services["airflow-worker"]["command"]
    assert "--queues" in worker and "default,gpu" in worker
    assert "airflow pools set gpu" in " ".join(services["airflow-init"]["command"])


def test_the_archive_is_on_minio_through_the_huracan_s3_connection(resolved: dict[str, Any]) -> None:
    env = resolved["services"]["airflow-worker"]["environment"]
    assert env["HURACAN_ARCHIVE"].startswith("s3://huracan")
    connection = yaml.safe_load(env["AIRFLOW_CONN_HURACAN_S3"])
    assert connection["extra"]["endpoint_url"] == "http://minio:9000"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"


def test_data_lives_in_named_volumes(resolved: dict[str, Any]) -> None:
    assert {"postgres-data", "minio-data"} <= set(resolved["volumes"])


def test_no_secret_is_written_in_the_compose_file_only_referenced_from_env() -> None:
    raw = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    secret_name = re.compile(
        r"(PASSWORD|SECRET|FERNET_KEY|TOKEN|ACCESS_KEY|SQL_ALCHEMY_CONN|RESULT_BACKEND|CONN_)"
    )
    checked = 0
    for service in [raw["x-airflow-common"], *raw["services"].values()]:
        env = service.get("environment") or {}
        for name, value in env.items():
            if secret_name.search(name) and not name.endswith("_FILE"):
                checked += 1
                assert "${" in str(value), f"{name} holds a literal value instead of a ${{VAR}} from .env"
    assert checked >= 10


def test_the_image_is_the_official_airflow_image_of_the_version_we_test_with() -> None:
    first = next(line for line in (REPO / "Dockerfile").read_text().splitlines() if line.startswith("FROM "))
    assert first == f"FROM apache/airflow:{version('apache-airflow')}-python3.11"
