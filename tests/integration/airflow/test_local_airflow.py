"""A real Airflow, as `make airflow` starts it: trigger the nightly DAG through the REST API and check that
the training batches ran at the same time, on LocalExecutor and on CeleryExecutor (Redis + one worker);
then trigger the hourly Mechanic DAG for an hour of that day, standing on the night's shared encoder.

Each test starts its own Airflow (own AIRFLOW_HOME, ports, metadata database and Redis database) on the
machine's PostgreSQL and Redis, and stops exactly what it started, whatever the outcome.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.stubs.airflow_api import AirflowApi, overlapping
from tests.stubs.airflow_env import REPO, write_nightly_config

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

SCRIPT = REPO / "scripts" / "airflow" / "local_airflow.py"
DAG_ID = "huracan_engine_nightly"
HOURLY_ID = "huracan_mechanic_hourly"
# Redis database for the Celery broker of these tests (the default 0 stays the user's).
REDIS_DB = 11
START_TIMEOUT_S = 200
RUN_TIMEOUT_S = 180
HOURLY_TIMEOUT_S = 150


def _free_port_block(count: int = 3) -> int:
    """A port p with p .. p+count-1 free on 127.0.0.1 (the api-server and two log servers)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count > 65535:
            continue
        try:
            for offset in range(count):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        return base
    raise RuntimeError("no block of free ports on 127.0.0.1")


def _services_up() -> str | None:
    for port, name in ((5432, "PostgreSQL"), (6379, "Redis")):
        with socket.socket() as s:
            s.settimeout(1.0)
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return f"{name} is not listening on 127.0.0.1:{port}"
    return None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def local_airflow(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[AirflowApi, Path]]:
    executor: str = request.param
    missing = _services_up()
    if missing:
        pytest.fail(missing)
    config = write_nightly_config(tmp_path / "huracan", symbols=["BTCUSDT", "ETHUSDT"], coins_per_batch=1)
    port = _free_port_block()
    env = {
        **os.environ,
        "HURACAN_AIRFLOW_HOME": str(tmp_path / "airflow"),
        "HURACAN_AIRFLOW_PORT": str(port),
        "HURACAN_AIRFLOW_EXECUTOR": executor,
        "HURACAN_AIRFLOW_DB": f"huracan_airflow_test_{executor.lower()}",
        "HURACAN_AIRFLOW_RESET": "1",
        "HURACAN_AIRFLOW_REDIS": f"redis://127.0.0.1:6379/{REDIS_DB}",
        "HURACAN_AIRFLOW_USER": "huracan",
        "HURACAN_AIRFLOW_PASSWORD": "test-only-password",
        "HURACAN_CONFIG": str(config),
    }
    for name in [n for n in env if n.startswith(("AIRFLOW__", "AIRFLOW_VAR_", "AIRFLOW_CONN_"))]:
        del env[name]
    env.pop("AIRFLOW_HOME", None)
    if executor == "CeleryExecutor":
        import redis

        # A message left by an earlier, interrupted test must not reach this worker.
        redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB).flushdb()
    run_dir = tmp_path / "airflow" / "run"
    started_pids: list[int] = []
    try:
        subprocess.run(
            [sys.executable, str(SCRIPT), "start"], env=env, cwd=REPO, check=True, timeout=START_TIMEOUT_S
        )
        started_pids = [int(p.read_text()) for p in run_dir.glob("*.pid")]
        yield AirflowApi(f"http://127.0.0.1:{port}", "huracan", "test-only-password"), tmp_path / "huracan"
    finally:
        started_pids = started_pids or [int(p.read_text()) for p in run_dir.glob("*.pid")]
        subprocess.run([sys.executable, str(SCRIPT), "stop"], env=env, cwd=REPO, timeout=90, check=False)
    assert started_pids, "start recorded no process"
    assert not [pid for pid in started_pids if _alive(pid)], "make airflow-stop left a component running"


# The hourly DAG runs on one executor only (about 45 s more); its tasks use the default queue, which the
# nightly's own tasks already exercise on the Celery worker.
@pytest.mark.parametrize(
    ("local_airflow", "hourly"),
    [("LocalExecutor", True), ("CeleryExecutor", False)],
    indirect=["local_airflow"],
)
def test_dags_triggered_through_the_rest_api_train_batches_in_parallel_and_build_challengers(
    local_airflow: tuple[AirflowApi, Path], hourly: bool
) -> None:
    api, huracan = local_airflow
    api.wait_for_dag(DAG_ID, timeout_s=60)
    run_id = api.trigger(DAG_ID, datetime(2025, 3, 4, 2, 0, tzinfo=UTC))
    # New DAGs arrive paused; unpausing starts the queued run (and no run for the night that has passed).
    api.unpause(DAG_ID)

    state = api.wait_for_run(DAG_ID, run_id, timeout_s=RUN_TIMEOUT_S)

    instances = api.task_instances(DAG_ID, run_id)
    states = {(ti["task_id"], ti["map_index"]): ti["state"] for ti in instances}
    assert state == "success", f"run {run_id} ended {state}: {states}"
    mapped = sorted(
        (ti for ti in instances if ti["task_id"] == "train_batch"), key=lambda ti: ti["map_index"]
    )
    assert [ti["rendered_map_index"] for ti in mapped] == ["BTCUSDT", "ETHUSDT"]
    assert {(ti["pool"], ti["queue"]) for ti in mapped} == {("gpu", "gpu")}
    assert overlapping(mapped[0], mapped[1]), f"batches ran one after the other: {mapped}"
    assert (huracan / "archive" / "summaries" / "daily" / "2025-03-04.json").exists()
    assert api.run_ids(DAG_ID) == [run_id]

    if hourly:
        _hourly_run_succeeds(api, huracan)


def _hourly_run_succeeds(api: AirflowApi, huracan: Path) -> None:
    """The hourly Mechanic DAG, triggered for 05:00 of the night's day, builds its challengers and publishes."""
    api.wait_for_dag(HOURLY_ID, timeout_s=60)
    run_id = api.trigger(HOURLY_ID, datetime(2025, 3, 4, 5, 0, tzinfo=UTC))
    api.unpause(HOURLY_ID)
    try:
        state = api.wait_for_run(HOURLY_ID, run_id, timeout_s=HOURLY_TIMEOUT_S)
    finally:
        # Switched on, the schedule would start a run for the next full hour of today's clock.
        api.pause(HOURLY_ID)

    instances = api.task_instances(HOURLY_ID, run_id)
    states = {(ti["task_id"], ti["map_index"]): ti["state"] for ti in instances}
    assert state == "success", f"run {run_id} ended {state}: {states}"
    mapped = sorted(
        (ti for ti in instances if ti["task_id"] == "challenge_batch"), key=lambda ti: ti["map_index"]
    )
    assert [ti["rendered_map_index"] for ti in mapped] == ["BTCUSDT", "ETHUSDT"]
    assert {ti["pool"] for ti in mapped} == {"cpu"}
    runs = huracan / "archive" / "mechanic" / "runs" / "20250304_050000Z"
    assert json.loads((runs / "plan.json").read_text())["encoder_key"] == "encoders/20250304_020000Z"
    assert json.loads((runs / "published.json").read_text())["challengers"] == ["BTCUSDT", "ETHUSDT"]
    for symbol in ("BTCUSDT", "ETHUSDT"):
        assert (huracan / "archive" / "challengers" / symbol / "20250304_050000Z" / "sha256.txt").exists()
