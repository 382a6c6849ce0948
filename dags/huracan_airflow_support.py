"""What the Huracan DAG files share: settings read at parse time, and per task the config path, overrides
from Airflow Variables, S3 credentials from an Airflow Connection and the run's as-of moment.

Light on purpose: the dag-processor imports it on every parse, so only the standard library is imported
at module level (Airflow and huracan_core are imported inside the functions that need them).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

log = logging.getLogger("huracan.airflow")

# Airflow names a user sets in the UI, with `airflow variables set`, or as AIRFLOW_VAR_* / AIRFLOW_CONN_*.
VARIABLE_CONFIG_PATH = "huracan_config_path"
VARIABLE_ARCHIVE = "huracan_archive"
VARIABLE_DATABASE = "huracan_database"
CONNECTION_S3 = "huracan_s3"
CONFIG_ENV = "HURACAN_CONFIG"

# Training batches run in this pool and on this Celery queue; `make airflow` and docker compose create the
# pool with engine.parallel_tasks slots, and a GPU worker listens on the queue.
GPU_POOL = "gpu"
GPU_QUEUE = "gpu"
# The Mechanic's hourly challenger batches run in this pool (on the default queue); `make airflow` creates it
# with engine.parallel_tasks slots (each batch takes that share of the cores), docker compose with
# HURACAN_CPU_POOL_SLOTS.
CPU_POOL = "cpu"

# Variables that override a config key, and the dotted key each one sets.
VARIABLE_OVERRIDES = {VARIABLE_ARCHIVE: "general.archive", VARIABLE_DATABASE: "general.database"}


@dataclass(frozen=True)
class DagSettings:
    """The few config values the DAG shape needs at parse time (retries, timeouts)."""

    retries: int = 2
    # Per coin, from engine.timeout_minutes; a batch gets this times its number of coins.
    coin_timeout: timedelta = timedelta(minutes=30)
    coins_per_batch: int = 8
    # Pause between tries: long enough for an exchange or S3 hiccup to pass.
    retry_delay: timedelta = timedelta(minutes=5)
    source: str = "defaults"

    @property
    def batch_timeout(self) -> timedelta:
        """Execution timeout of one training batch: the per-coin timeout times the coins in a batch."""
        return self.coin_timeout * self.coins_per_batch


def dag_settings(env: Mapping[str, str] | None = None) -> DagSettings:
    """Retries and timeouts from the config ($HURACAN_CONFIG, else ./config.yaml, else defaults).

    Read at parse time from the environment only (never a Variable: no database access while parsing).
    A config that fails to load gives the defaults and a warning here; the tasks then fail with the
    full ConfigError, which is where the user looks.
    """
    env = os.environ if env is None else env
    try:
        from huracan_core.config import load_config

        engine = load_config(env=env).engine
    except Exception as exc:  # parsing must not break on a config error; the tasks report it
        log.warning("Huracan DAG settings: using defaults, the config did not load: %s", exc)
        return DagSettings()
    return DagSettings(
        retries=engine.retries,
        coin_timeout=timedelta(minutes=engine.timeout_minutes),
        coins_per_batch=engine.coins_per_batch,
        source=env.get(CONFIG_ENV) or "config.yaml or defaults",
    )


def aws_environment(
    login: str | None, password: str | None, extra: Mapping[str, Any] | None
) -> dict[str, str]:
    """AWS_* variables from an Airflow AWS connection's fields (what s3fs and boto3 read).

    `extra` is the connection's JSON extra: endpoint_url (MinIO, moto) and region_name, as the Amazon
    provider writes them.
    """
    extra = dict(extra or {})
    out: dict[str, str] = {}
    if login:
        out["AWS_ACCESS_KEY_ID"] = login
    if password:
        out["AWS_SECRET_ACCESS_KEY"] = password
    endpoint = extra.get("endpoint_url") or extra.get("host")
    if endpoint:
        out["AWS_ENDPOINT_URL"] = str(endpoint)
    region = extra.get("region_name")
    if region:
        out["AWS_DEFAULT_REGION"] = str(region)
    token = extra.get("aws_session_token")
    if token:
        out["AWS_SESSION_TOKEN"] = str(token)
    return out


@contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of a step, then restore them (dag.test runs in-process)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


def as_of_from(context: Mapping[str, Any]) -> str:
    """The moment a run trains "as of": its data interval end (a backfill of Tuesday gives Tuesday).

    A manual run triggered without a logical date has no data interval; it trains as of when it was
    asked to run (run_after). Returned as an ISO string in UTC.
    """
    moment = context.get("data_interval_end") or context.get("logical_date")
    if moment is None:
        moment = getattr(context.get("dag_run"), "run_after", None)
    if not isinstance(moment, datetime):
        raise ValueError(f"this run has no data interval end, logical date or run_after: {moment!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def usable_batches(plan: Mapping[str, Any], candles: Mapping[str, Any]) -> list[list[str]]:
    """The plan's coin batches without the coins the candles step did not pass; empty batches dropped.

    One mapped training task runs per batch returned, so a skipped coin never occupies a GPU slot.
    """
    ok = set(candles.get("ok") or [])
    kept = ([symbol for symbol in batch if symbol in ok] for batch in plan.get("batches") or [])
    return [batch for batch in kept if batch]


def batch_label(batch: list[str]) -> str:
    """The name a mapped training task shows in the UI: its coins."""
    return ", ".join(batch)


@dataclass(frozen=True)
class StepInputs:
    """What every nightly step is called with: where the config is, what overrides it, and as of when."""

    config_path: str | None
    as_of: str
    overrides: dict[str, Any] = field(default_factory=dict)


def _variable(key: str) -> str | None:
    from airflow.sdk import Variable

    value = Variable.get(key, default=None)
    return str(value) if value not in (None, "") else None


def _s3_connection_environment() -> dict[str, str]:
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = Connection.get(CONNECTION_S3)
    except AirflowNotFoundException:
        return {}
    try:
        extra = conn.extra_dejson
    except (TypeError, ValueError, json.JSONDecodeError):
        extra = {}
    return aws_environment(conn.login, conn.password, extra)


@contextmanager
def step_inputs() -> Iterator[StepInputs]:
    """Inside a running task: the step's inputs, with the `huracan_s3` connection's AWS_* variables set.

    Config path: Variable huracan_config_path, else $HURACAN_CONFIG, else huracan_core's own lookup.
    Overrides: Variables huracan_archive and huracan_database (general.archive, general.database).
    """
    from airflow.sdk import get_current_context

    context = get_current_context()
    config_path = _variable(VARIABLE_CONFIG_PATH) or os.environ.get(CONFIG_ENV) or None
    overrides = {dotted: value for key, dotted in VARIABLE_OVERRIDES.items() if (value := _variable(key))}
    with patched_environ(_s3_connection_environment()):
        yield StepInputs(config_path=config_path, as_of=as_of_from(context), overrides=overrides)


def notification_config() -> Any:
    """The Huracan config a callback notifies with: the tasks' own lookup (Variable huracan_config_path, else
    $HURACAN_CONFIG, else huracan_core's; Variables huracan_archive / huracan_database on top), so the
    message lands in the database the bot reads. None when it does not load: the line is then only logged
    (or sent as the process's last step said). Never raises: a notification must not fail a callback.
    """
    try:
        from huracan_core.config import load_config

        try:
            path = _variable(VARIABLE_CONFIG_PATH) or os.environ.get(CONFIG_ENV) or None
            overrides = {
                dotted: value for key, dotted in VARIABLE_OVERRIDES.items() if (value := _variable(key))
            }
        except Exception:  # no Variables here (a context without Airflow's API): the environment only
            path, overrides = os.environ.get(CONFIG_ENV) or None, {}
        return load_config(path, overrides=overrides)
    except Exception as exc:
        log.warning("Huracan notification: the config did not load (%s); the event is only logged", exc)
        return None


# Callbacks: thin and lazy so parsing never imports more than this file; each hands the context to the
# one broadcaster in huracan_core, which never imports Airflow. Failures are sent to Telegram (kind
# failures), successes only logged; the Engine and the Mechanic send their own start/finish/promotions.
def on_task_success(context: Mapping[str, Any]) -> None:
    from huracan_core.broadcaster.callbacks import on_task_success as forward

    forward(context)  # logged only: no config needed


def on_task_failure(context: Mapping[str, Any]) -> None:
    from huracan_core.broadcaster.callbacks import on_task_failure as forward

    forward(context, config=notification_config())


def on_run_success(context: Mapping[str, Any]) -> None:
    from huracan_core.broadcaster.callbacks import on_run_success as forward

    forward(context)  # logged only: no config needed


def on_run_failure(context: Mapping[str, Any]) -> None:
    from huracan_core.broadcaster.callbacks import on_run_failure as forward

    forward(context, config=notification_config())
