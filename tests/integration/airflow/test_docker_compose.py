"""The container setup is valid: `docker-compose config` accepts docker-compose.yaml with .env.example, the
services a user needs are there with complete health checks, every dependency waits for a condition that can
hold (healthy, or a one-shot job finished) without cycles, and no secret is inline. Hamilton runs from the Airflow
image against the archive and database the Airflow tasks write; the Huracan page (plugins/) is in every Airflow
container and its api-server reads that same archive and database.

No Docker engine runs here; `docker-compose config` (Debian's docker-compose) validates without one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from huracan_core.archive import Storage
from huracan_core.cli import app
from huracan_core.config import load_config
from huracan_core.hamilton.status import default_max_age_seconds, write_status
from huracan_core.timeframe import timeframe_ms
from tests.stubs.airflow_env import REPO
from tests.unit.hamilton.status_builders import make_status

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
    "hamilton",
    "telegram-bot",
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
        if not k.startswith(("POSTGRES_", "AIRFLOW_", "MINIO_", "HURACAN_", "HAMILTON_"))
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


def _env_file(tmp_path: Path, **values: str | None) -> Path:
    """.env.example with `values` replacing its lines (None: the variable is left out)."""
    kept = [
        line
        for line in (REPO / ".env.example").read_text(encoding="utf-8").splitlines()
        if line.split("=", 1)[0].strip() not in values
    ]
    kept += [f"{name}={value}" for name, value in values.items() if value is not None]
    path = tmp_path / "test.env"
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return path


def _resolve(env_file: Path) -> dict[str, Any]:
    out = _compose(env_file=env_file)
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)


def _seconds(duration: str | int | float) -> float:
    """A compose duration (`60s`, `1m`, `1m30s`, `10m`, or seconds as a number) in seconds."""
    if isinstance(duration, int | float):
        return float(duration)
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"not a duration: {duration!r}"
    unit = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(n) * unit[u] for n, u in parts)


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


def test_every_long_running_service_has_a_complete_health_check(resolved: dict[str, Any]) -> None:
    for name in LONG_RUNNING:
        check = resolved["services"][name].get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert check["test"] and check["test"][0] in ("CMD", "CMD-SHELL"), name
        for key in ("interval", "timeout", "retries"):
            assert key in check, f"{name}: healthcheck without {key}"
        assert _seconds(check["interval"]) > 0 and _seconds(check["timeout"]) > 0 and check["retries"] >= 1, name
        # The bot exits 0 on purpose when no token is set ("not configured"): it restarts only on a failure.
        allowed = ("on-failure",) if name == "telegram-bot" else ("always", "unless-stopped")
        assert resolved["services"][name].get("restart") in allowed, name
    for name in ONE_SHOT:
        # A one-shot job ends; restarting it would never let `service_completed_successfully` hold.
        assert resolved["services"][name].get("restart", "no") == "no", name


def test_every_dependency_exists_has_a_condition_that_can_hold_and_none_is_circular(
    resolved: dict[str, Any],
) -> None:
    services = resolved["services"]
    graph: dict[str, set[str]] = {}
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on without conditions"
        graph[name] = set(depends)
        for target, rule in depends.items():
            assert target in services, f"{name} depends on a service that does not exist: {target}"
            condition = rule.get("condition")
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits for {target} to be healthy: no healthcheck"
            elif condition == "service_completed_successfully":
                assert target in ONE_SHOT, f"{name} waits for {target} to finish, but it runs forever"
            else:
                pytest.fail(f"{name} -> {target}: condition {condition!r}; wait for healthy or completed")
    # Every service can start: repeatedly take those whose dependencies have all started.
    started: set[str] = set()
    while len(started) < len(graph):
        ready = {name for name, needs in graph.items() if name not in started and needs <= started}
        assert ready, f"circular depends_on among {sorted(set(graph) - started)}"
        started |= ready


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
    init = " ".join(services["airflow-init"]["command"])
    assert "airflow pools set gpu" in init
    # The Mechanic's challenger batches (dags/huracan_mechanic_hourly.py) run in the cpu pool.
    assert "airflow pools set cpu" in init and "HURACAN_CPU_POOL_SLOTS" in init
    assert services["airflow-init"]["environment"]["HURACAN_CPU_POOL_SLOTS"] == "2"


def test_the_archive_is_on_minio_through_the_huracan_s3_connection(resolved: dict[str, Any]) -> None:
    env = resolved["services"]["airflow-worker"]["environment"]
    assert env["HURACAN_ARCHIVE"].startswith("s3://huracan")
    connection = yaml.safe_load(env["AIRFLOW_CONN_HURACAN_S3"])
    assert connection["extra"]["endpoint_url"] == "http://minio:9000"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"


AIRFLOW_COMPONENTS = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                      "airflow-worker")  # fmt: skip


def test_the_huracan_page_plugin_is_in_the_image_and_mounted_into_every_airflow_container(
    resolved: dict[str, Any],
) -> None:
    assert (REPO / "plugins" / "huracan_plugin.py").exists()
    assert re.search(r"^COPY .*\bplugins /opt/airflow/plugins$", (REPO / "Dockerfile").read_text(), flags=re.MULTILINE)
    mount = f"{REPO / 'plugins'}:/opt/airflow/plugins:ro"
    for name in AIRFLOW_COMPONENTS:
        assert mount in resolved["services"][name]["volumes"], name


def test_the_api_server_reads_the_archive_and_database_the_tasks_write(resolved: dict[str, Any]) -> None:
    """The Huracan page runs in the api-server: same config, archive, database and S3 key as the tasks."""
    services = resolved["services"]
    page_env, task_env = services["airflow-apiserver"]["environment"], services["airflow-worker"]["environment"]
    for name in ("HURACAN_CONFIG", "HURACAN_ARCHIVE", "HURACAN_DATABASE_URL"):
        assert page_env[name] == task_env[name], name
    connection = yaml.safe_load(task_env["AIRFLOW_CONN_HURACAN_S3"])
    assert page_env["AWS_ACCESS_KEY_ID"] == connection["login"]
    assert page_env["AWS_SECRET_ACCESS_KEY"] == connection["password"]
    assert page_env["AWS_ENDPOINT_URL"] == connection["extra"]["endpoint_url"]
    assert page_env["AWS_DEFAULT_REGION"] == connection["extra"]["region_name"]
    assert services["airflow-apiserver"]["ports"], "the UI must be published on the host"


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


# --- Hamilton, the trading service ------------------------------------------------------------------------


def test_hamilton_runs_the_trading_service_on_the_airflow_image(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    hamilton = services["hamilton"]
    assert hamilton["command"][:3] == ["python", "-m", "hamilton_service"]
    # The image every Airflow component runs, built once from this repository's Dockerfile.
    assert hamilton["image"] == services["airflow-worker"]["image"]
    assert hamilton["build"] == services["airflow-worker"]["build"]
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^COPY .*\bhamilton_service\b", dockerfile, flags=re.MULTILINE)


def test_hamilton_trades_paper_unless_hamilton_mode_says_live(
    resolved: dict[str, Any], tmp_path: Path
) -> None:
    def mode(services: dict[str, Any]) -> str:
        command = services["hamilton"]["command"]
        return command[command.index("--mode") + 1]

    assert mode(resolved["services"]) == "paper"
    assert mode(_resolve(_env_file(tmp_path, HAMILTON_MODE=None))["services"]) == "paper"
    assert mode(_resolve(_env_file(tmp_path, HAMILTON_MODE="live"))["services"]) == "live"


def test_hamilton_health_check_allows_the_gap_between_two_bars_and_flags_missed_ones(
    resolved: dict[str, Any],
) -> None:
    check = resolved["services"]["hamilton"]["healthcheck"]
    test = check["test"]
    assert test[0] == "CMD" and test[1:4] == ["huracan", "hamilton", "health"], test
    # The limit the check applies: --max-age, or 3 bars of the timeframe of the config.yaml it mounts.
    if "--max-age" in test:
        limit = float(test[test.index("--max-age") + 1])
    else:
        timeframe = load_config(REPO / "config.yaml", env={}).general.timeframe
        limit = default_max_age_seconds(timeframe)
    bar = timeframe_ms(load_config(REPO / "config.yaml", env={}).general.timeframe) / 1000
    interval = _seconds(check["interval"])
    # The heartbeat is rewritten once a bar: a healthy Hamilton is never flagged between two bars...
    assert limit > bar + interval, (limit, bar, interval)
    # ...and one that missed more than a few bars is.
    assert limit <= 4 * bar, (limit, bar)
    assert _seconds(check["timeout"]) <= interval
    assert check["retries"] >= 1
    assert _seconds(check["start_period"]) >= interval


def test_the_health_check_command_passes_on_a_fresh_heartbeat_and_fails_on_a_stale_one(
    resolved: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The check's own arguments (after `huracan`), run on a local archive with the config it mounts.
    args = resolved["services"]["hamilton"]["healthcheck"]["test"][2:]
    for name in [n for n in os.environ if n.startswith("HURACAN")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HURACAN_CONFIG", str(REPO / "config.yaml"))
    archive = tmp_path / "archive"
    bar = timeframe_ms(load_config(REPO / "config.yaml", env={}).general.timeframe) / 1000
    runner = CliRunner()

    def health() -> int:
        return runner.invoke(app, [*args, "--archive", str(archive)]).exit_code

    assert health() == 1  # no status yet: Hamilton has not started
    write_status(Storage(str(archive)), make_status(heartbeat=datetime.now(UTC) - timedelta(seconds=bar)))
    assert health() == 0
    write_status(Storage(str(archive)), make_status(heartbeat=datetime.now(UTC) - timedelta(seconds=5 * bar)))
    assert health() == 1


def test_hamilton_waits_for_its_database_archive_and_bucket(resolved: dict[str, Any]) -> None:
    depends = resolved["services"]["hamilton"]["depends_on"]
    assert depends["postgres"]["condition"] == "service_healthy"
    assert depends["minio"]["condition"] == "service_healthy"
    assert depends["minio-init"]["condition"] == "service_completed_successfully"
    # airflow-init creates the database `huracan` that Hamilton journals to.
    assert depends["airflow-init"]["condition"] == "service_completed_successfully"
    assert "CREATE DATABASE huracan" in " ".join(resolved["services"]["airflow-init"]["command"])


def test_hamilton_restarts_unless_stopped_and_has_time_to_finish_a_bar_on_stop(
    resolved: dict[str, Any],
) -> None:
    hamilton = resolved["services"]["hamilton"]
    assert hamilton["restart"] == "unless-stopped"
    assert _seconds(hamilton["stop_grace_period"]) >= 60


def test_hamilton_reads_the_archive_and_database_the_airflow_tasks_write(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    worker, hamilton = services["airflow-worker"], services["hamilton"]
    env, task_env = hamilton["environment"], worker["environment"]
    for name in ("HURACAN_CONFIG", "HURACAN_ARCHIVE", "HURACAN_DATABASE_URL"):
        assert env[name] == task_env[name], name
    assert env["HURACAN_ARCHIVE"].startswith("s3://huracan")
    config_mount = [v for v in worker["volumes"] if ":" + task_env["HURACAN_CONFIG"] + ":" in v]
    assert config_mount and set(config_mount) <= set(hamilton["volumes"])
    # The tasks get their S3 key from the huracan_s3 connection; Hamilton the same key as AWS variables.
    connection = yaml.safe_load(task_env["AIRFLOW_CONN_HURACAN_S3"])
    assert env["AWS_ACCESS_KEY_ID"] == connection["login"]
    assert env["AWS_SECRET_ACCESS_KEY"] == connection["password"]
    assert env["AWS_ENDPOINT_URL"] == connection["extra"]["endpoint_url"]
    assert env["AWS_DEFAULT_REGION"] == connection["extra"]["region_name"]


def test_hamilton_gets_no_airflow_secret(resolved: dict[str, Any]) -> None:
    env = resolved["services"]["hamilton"]["environment"]
    assert not [name for name in env if name.startswith("AIRFLOW")]


def test_hamilton_gets_exchange_keys_only_from_the_env_file(tmp_path: Path) -> None:
    raw = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    env = raw["services"]["hamilton"]["environment"]
    for name in ("HURACAN_EXCHANGE_API_KEY", "HURACAN_EXCHANGE_API_SECRET"):
        # A reference to the variable of the same name, empty when unset: no key is ever written here.
        assert re.fullmatch(r"\$\{" + name + r"(:-)?\}", str(env[name])), env[name]
    secret_name = re.compile(r"(PASSWORD|SECRET|TOKEN|ACCESS_KEY|API_KEY|DATABASE_URL)")
    for name, value in env.items():
        if secret_name.search(name):
            assert "${" in str(value), f"{name} holds a literal value instead of a ${{VAR}} from .env"
    # .env.example ships them empty; what .env holds is what Hamilton gets.
    example = dict(
        line.split("=", 1)
        for line in (REPO / ".env.example").read_text(encoding="utf-8").splitlines()
        if "=" in line and not line.lstrip().startswith("#")
    )
    assert example["HURACAN_EXCHANGE_API_KEY"] == "" and example["HURACAN_EXCHANGE_API_SECRET"] == ""
    given = _resolve(
        _env_file(
            tmp_path, HURACAN_EXCHANGE_API_KEY="key-from-env", HURACAN_EXCHANGE_API_SECRET="secret-from-env"
        )
    )["services"]["hamilton"]["environment"]
    assert given["HURACAN_EXCHANGE_API_KEY"] == "key-from-env"
    assert given["HURACAN_EXCHANGE_API_SECRET"] == "secret-from-env"
    # And no secret of the example environment is copied anywhere into the compose file.
    text = COMPOSE.read_text(encoding="utf-8")
    secrets = {
        n: v for n, v in example.items() if re.search(r"(PASSWORD|SECRET|FERNET|TOKEN|API_KEY)", n) and v
    }
    assert secrets and not [n for n, v in secrets.items() if v in text]


# --- the Telegram bot -------------------------------------------------------------------------------------


def test_the_telegram_bot_runs_from_the_image_against_hamiltons_archive_and_database(
    resolved: dict[str, Any],
) -> None:
    services = resolved["services"]
    bot, hamilton = services["telegram-bot"], services["hamilton"]
    assert bot["command"] == ["python", "-m", "huracan_telegram", "--optional"]
    assert bot["image"] == hamilton["image"] and bot["build"] == hamilton["build"]
    dockerfile = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^COPY .*\bhuracan_telegram\b", dockerfile, flags=re.MULTILINE)
    env = bot["environment"]
    for name in ("HURACAN_CONFIG", "HURACAN_ARCHIVE", "HURACAN_DATABASE_URL", "AWS_ACCESS_KEY_ID",
                 "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION"):  # fmt: skip
        assert env[name] == hamilton["environment"][name], name
    assert not [name for name in env if name.startswith("AIRFLOW")]
    assert set(bot["volumes"]) >= {v for v in hamilton["volumes"] if "config.yaml" in v}
    depends = bot["depends_on"]
    assert depends["postgres"]["condition"] == "service_healthy"
    assert depends["airflow-init"]["condition"] == "service_completed_successfully"
    # Exit 0 ("not configured") leaves it stopped; a failure (another poller) restarts it.
    assert bot["restart"] == "on-failure"


def test_the_bot_gets_its_token_chat_and_allow_list_only_from_the_env_file(tmp_path: Path) -> None:
    raw = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    env = raw["x-huracan-env"]
    for name in ("HURACAN_TELEGRAM_TOKEN", "HURACAN_TELEGRAM_CHAT_ID", "HURACAN_TELEGRAM_ALLOWED_USER_IDS"):
        assert re.fullmatch(r"\$\{" + name + r":-\}", str(env[name])), env[name]
    given = _resolve(
        _env_file(
            tmp_path,
            HURACAN_TELEGRAM_TOKEN="123:from-env",
            HURACAN_TELEGRAM_CHAT_ID="-100123",
            HURACAN_TELEGRAM_ALLOWED_USER_IDS="111,222",
        )
    )["services"]["telegram-bot"]["environment"]
    assert given["HURACAN_TELEGRAM_TOKEN"] == "123:from-env"
    # config.yaml reads the three variables; the allow-list arrives as the comma-separated ids.
    config = load_config(REPO / "config.yaml", env=given)
    assert config.telegram.allowed_user_ids == [111, 222] and config.telegram.chat_id == "-100123"
    assert load_config(REPO / "config.yaml", env={}).telegram.allowed_user_ids == []  # empty: nobody


def test_the_bot_health_check_command_follows_its_poller_lease(
    resolved: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    from huracan_core.archive.service_lease import acquire_lease
    from huracan_telegram.app import lease_key

    check = resolved["services"]["telegram-bot"]["healthcheck"]
    assert check["test"][:4] == ["CMD", "huracan", "telegram", "health"]
    assert _seconds(check["interval"]) >= 15 and check["retries"] >= 1
    for name in [n for n in os.environ if n.startswith("HURACAN")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HURACAN_CONFIG", str(REPO / "config.yaml"))
    monkeypatch.setenv("HURACAN_TELEGRAM_TOKEN", "123456:health-check-token")
    monkeypatch.setenv("HURACAN_TELEGRAM_CHAT_ID", "111")
    monkeypatch.setenv("HURACAN_TELEGRAM_ALLOWED_USER_IDS", "111")
    archive = tmp_path / "archive"
    args = [*check["test"][2:], "--archive", str(archive)]
    assert CliRunner().invoke(app, args).exit_code == 1  # no bot polls
    acquire_lease(Storage(str(archive)), lease_key("123456:health-check-token"), holder_id="bot",
                  host=socket.gethostname(), pid=os.getpid(), what="huracan telegram", ttl_s=60,
                  now=datetime.now(UTC))  # fmt: skip
    assert CliRunner().invoke(app, args).exit_code == 0
