"""`make airflow` / `make airflow-stop`: a real local Airflow (api-server, scheduler, dag-processor,
triggerer, and a Celery worker when asked) on the machine's PostgreSQL, with Huracan's DAGs loaded.

Each component starts in its own session; its id goes to <AIRFLOW_HOME>/run/<name>.pid and `stop` ends
exactly those sessions (SIGTERM, then SIGKILL after a grace period), nothing found by name. Settings
come from the environment (defaults in brackets):

  HURACAN_AIRFLOW_HOME      AIRFLOW_HOME [<repo>/.airflow]
  HURACAN_AIRFLOW_PORT      api-server port [8080]; log servers use the next two ports
  HURACAN_AIRFLOW_EXECUTOR  LocalExecutor | CeleryExecutor [LocalExecutor]
  HURACAN_AIRFLOW_PG        PostgreSQL server URL [postgresql+psycopg2://postgres@127.0.0.1:5432]
  HURACAN_AIRFLOW_DB        metadata database, created when missing [huracan_airflow]
  HURACAN_AIRFLOW_RESET     1: drop and recreate that database first (tests) [0]
  HURACAN_AIRFLOW_REDIS     Celery broker [redis://127.0.0.1:6379/0]
  HURACAN_AIRFLOW_USER / HURACAN_AIRFLOW_PASSWORD   the UI and REST API login [admin / admin]
  HURACAN_AIRFLOW_PARALLELISM   task slots of the executor / Celery worker [4]
  HURACAN_AIRFLOW_COMPONENTS    which components to start, comma-separated [api-server,scheduler,dag-processor,
                            triggerer]; `api-server` alone serves the UI, the REST API and the Huracan page
  HURACAN_CONFIG            config.yaml the tasks use [<repo>/config.yaml]
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
# Seconds a component gets to exit after SIGTERM before it is killed.
STOP_GRACE_S = 20.0
# Seconds to wait for the api-server to report every component healthy.
START_TIMEOUT_S = 150.0


def _setting(name: str, default: str) -> str:
    return os.environ.get(name) or default


def home() -> Path:
    return Path(_setting("HURACAN_AIRFLOW_HOME", str(REPO / ".airflow"))).resolve()


def run_dir() -> Path:
    return home() / "run"


def port() -> int:
    return int(_setting("HURACAN_AIRFLOW_PORT", "8080"))


def _database_urls() -> tuple[str, str, str]:
    """(server URL, metadata SQLAlchemy URL, database name)."""
    server = _setting("HURACAN_AIRFLOW_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432").rstrip("/")
    name = _setting("HURACAN_AIRFLOW_DB", "huracan_airflow")
    return server, f"{server}/{name}", name


def _ensure_database(reset: bool) -> None:
    """Create the metadata database when it is missing (and drop it first when asked to reset)."""
    import psycopg2

    server, _, name = _database_urls()
    dsn = server.replace("postgresql+psycopg2://", "postgresql://", 1) + "/postgres"
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            if reset:
                cur.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
                )
                cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()


def _stable_secrets() -> dict[str, str]:
    """Keys that must stay the same across restarts (Fernet encrypts stored connections)."""
    path = home() / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    from cryptography.fernet import Fernet

    values = {
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values))
    path.chmod(0o600)
    return values


def environment() -> dict[str, str]:
    """The environment every component (and so every task) runs with."""
    executor = _setting("HURACAN_AIRFLOW_EXECUTOR", "LocalExecutor")
    _, metadata_url, _ = _database_urls()
    parallelism = _setting("HURACAN_AIRFLOW_PARALLELISM", "4")
    user = _setting("HURACAN_AIRFLOW_USER", "admin")
    env = dict(os.environ)
    env.update(_stable_secrets())
    env.update(
        {
            "AIRFLOW_HOME": str(home()),
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__PARALLELISM": parallelism,
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port()}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{user}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home() / "passwords.json"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port()),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port()}",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(port() + 1),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(port() + 2),
            "AIRFLOW__CELERY__BROKER_URL": _setting("HURACAN_AIRFLOW_REDIS", "redis://127.0.0.1:6379/0"),
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata_url.replace("+psycopg2", "", 1),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": parallelism,
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": "default",
            "HURACAN_CONFIG": _setting("HURACAN_CONFIG", str(REPO / "config.yaml")),
        }
    )
    # The DAG folder's helper module and huracan_core import from the repository.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def _write_login() -> tuple[str, str]:
    user = _setting("HURACAN_AIRFLOW_USER", "admin")
    password = _setting("HURACAN_AIRFLOW_PASSWORD", "admin")
    path = home() / "passwords.json"
    path.write_text(json.dumps({user: password}) + "\n")
    path.chmod(0o600)
    return user, password


def _airflow(*args: str, env: dict[str, str]) -> None:
    subprocess.run([str(BIN / "airflow"), *args], env=env, cwd=REPO, check=True, stdout=subprocess.DEVNULL)


def _session_members(sid: int) -> list[int]:
    """Every live process whose session id is `sid` (the sessions we started, nothing else)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the command name: state, ppid, pgrp, session, ...
        if int(fields[3]) == sid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def _pid_files() -> dict[str, Path]:
    return {path.stem: path for path in sorted(run_dir().glob("*.pid"))}


def _running() -> dict[str, int]:
    out = {}
    for name, path in _pid_files().items():
        pid = int(path.read_text().strip() or 0)
        if pid and _session_members(pid):
            out[name] = pid
    return out


def _wait_answering(names: list[str], deadline: float) -> None:
    """Wait until the api-server answers HTTP at all (its workers are up)."""
    url = f"http://127.0.0.1:{port()}/api/v2/monitor/health"
    while time.monotonic() < deadline:
        _check_alive(names)
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except urllib.error.HTTPError:
            return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise SystemExit(
        f"the api-server did not answer on port {port()} in time; see {run_dir() / 'api-server.log'}"
    )


def _check_alive(names: list[str]) -> None:
    for name in names:
        pid = int((run_dir() / f"{name}.pid").read_text())
        if not _session_members(pid):
            raise SystemExit(f"{name} exited during start; see {run_dir() / (name + '.log')}")


# The health endpoint's name of each component that reports a heartbeat there.
HEALTH_KEYS = {"scheduler": "scheduler", "dag-processor": "dag_processor", "triggerer": "triggerer"}


def _components() -> list[str]:
    names = [n.strip() for n in _setting("HURACAN_AIRFLOW_COMPONENTS", ",".join(COMPONENTS)).split(",") if n.strip()]
    unknown = [n for n in names if n not in COMPONENTS]
    if unknown or "api-server" not in names:
        raise SystemExit(
            f"HURACAN_AIRFLOW_COMPONENTS={','.join(names)}: choose from {', '.join(COMPONENTS)}, api-server included"
        )
    return [n for n in COMPONENTS if n in names]  # the api-server first: the others talk to it


def _wait_healthy(env: dict[str, str], names: list[str], deadline: float) -> None:
    """Poll the api-server's health endpoint until the database and every started component report in."""
    url = f"http://127.0.0.1:{port()}/api/v2/monitor/health"
    last = "no answer yet"
    while time.monotonic() < deadline:
        _check_alive(names)
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                health = json.load(response)
            states = {key: value.get("status") for key, value in health.items() if isinstance(value, dict)}
            last = json.dumps(states)
            wanted = ["metadatabase", *(HEALTH_KEYS[n] for n in names if n in HEALTH_KEYS)]
            if all(states.get(key) == "healthy" for key in wanted):
                return
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last = str(exc)
        time.sleep(1.0)
    raise SystemExit(
        f"Airflow did not become healthy in {START_TIMEOUT_S:.0f}s (last: {last}); logs in {run_dir()}"
    )


def start() -> int:
    deadline = time.monotonic() + START_TIMEOUT_S
    running = _running()
    if running:
        print(f"Airflow is already running from {home()} ({', '.join(running)}); `make airflow-stop` first.")
        return 0
    run_dir().mkdir(parents=True, exist_ok=True)
    for stale in _pid_files().values():
        stale.unlink()
    _ensure_database(reset=_setting("HURACAN_AIRFLOW_RESET", "0") == "1")
    env = environment()
    names = _components()
    user, password = _write_login()
    print(f"Migrating the metadata database ({_database_urls()[2]}) ...", flush=True)
    _airflow("db", "migrate", env=env)
    slots = _gpu_pool_slots(env) if "scheduler" in names else None
    if slots is not None:  # the pools matter to the scheduler only
        _airflow("pools", "set", "gpu", str(slots), "Huracan training batches (engine.parallel_tasks)", env=env)
        # The Mechanic's hourly challenger batches: each is sized for a 1/engine.parallel_tasks share of the cores.
        _airflow(
            "pools",
            "set",
            "cpu",
            str(slots),
            "Huracan Mechanic challenger batches (engine.parallel_tasks)",
            env=env,
        )

    commands = {
        "api-server": ["api-server", "--host", "127.0.0.1", "--port", str(port()), "--workers", "1"],
        "scheduler": ["scheduler"],
        "dag-processor": ["dag-processor"],
        "triggerer": ["triggerer"],
    }
    if env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor" and "scheduler" in names:
        names.append("celery-worker")
        commands["celery-worker"] = [
            "celery",
            "worker",
            "--queues",
            "default,gpu",
            "--without-gossip",
            "--without-mingle",
        ]
    try:
        for name in names:
            if name == "scheduler":
                # Tasks report to the api-server's execution API: it must answer before any task starts.
                _wait_answering(["api-server"], deadline)
            log = open(run_dir() / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
            process = subprocess.Popen(
                [str(BIN / "airflow"), *commands[name]],
                env=env,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            log.close()
            (run_dir() / f"{name}.pid").write_text(f"{process.pid}\n")
        _wait_healthy(env, names, deadline)
    except BaseException:
        stop()
        raise
    print(f"Airflow is up: http://127.0.0.1:{port()}  (login {user} / {password})")
    pools = f"pools gpu and cpu = {slots} slots each" if slots is not None else f"only {', '.join(names)}"
    print(f"  executor {env['AIRFLOW__CORE__EXECUTOR']}, {pools}, logs in {run_dir()}")
    print(f"  tasks read {env['HURACAN_CONFIG']}; stop with `make airflow-stop`")
    return 0


def _gpu_pool_slots(env: dict[str, str]) -> int:
    """engine.parallel_tasks of the config the tasks use: how many batches may train (or challenge) at once."""
    code = "from huracan_core.config import load_config; print(load_config().engine.parallel_tasks)"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=REPO, check=True, capture_output=True, text=True
    )
    return int(out.stdout.strip())


def stop() -> int:
    files = _pid_files()
    if not files:
        print(f"No Airflow started from {home()} is running.")
        return 0
    sessions = {name: int(path.read_text().strip() or 0) for name, path in files.items()}
    for name, sid in sessions.items():
        # The leader gets SIGTERM through its process group and shuts its own children down.
        if _session_members(sid):
            print(f"Stopping {name} (session {sid})")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(sid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_S
    while time.monotonic() < deadline and any(_session_members(sid) for sid in sessions.values()):
        time.sleep(0.3)
    for name, sid in sessions.items():
        leftovers = _session_members(sid)
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if leftovers:
            print(f"  {name}: killed {len(leftovers)} process(es) that ignored SIGTERM")
    for path in files.values():
        path.unlink(missing_ok=True)
    print("Airflow stopped.")
    return 0


def status() -> int:
    running = _running()
    for name in _pid_files():
        print(f"{name}: {'running' if name in running else 'stopped'}")
    return 0 if running else 1


def main(argv: list[str]) -> int:
    actions = {"start": start, "stop": stop, "status": status}
    if len(argv) != 1 or argv[0] not in actions:
        print(f"usage: {Path(__file__).name} start|stop|status", file=sys.stderr)
        return 2
    return actions[argv[0]]()


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
