"""One in-process Airflow per test session: a temporary AIRFLOW_HOME, SQLite metadata, the repo's dags/.

Airflow reads its configuration when first imported, so `in_process_airflow()` must run before any
`import airflow` in the process; it is idempotent (the first call builds, later calls reuse), which keeps
the seconds the first dag.test() costs to once per session. The database holds nothing but test runs.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"

_home: Path | None = None


def airflow_environment(home: Path, *, sql_alchemy_conn: str | None = None) -> dict[str, str]:
    """The environment an Airflow under test runs with: no examples, our dags/, nothing from ~/airflow."""
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sql_alchemy_conn or f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    }


def in_process_airflow() -> Path:
    """Configure and migrate this process's Airflow once; returns its AIRFLOW_HOME."""
    global _home
    if _home is not None:
        return _home
    if "airflow.configuration" in sys.modules:
        raise RuntimeError(
            "Airflow was imported before the test environment was set up; import it inside tests only"
        )
    home = Path(tempfile.mkdtemp(prefix="huracan-airflow-"))
    os.environ.update(airflow_environment(home))
    # No Variables or Connections leak in from the developer's shell into the DAG under test.
    for name in [n for n in os.environ if n.startswith(("AIRFLOW_VAR_HURACAN", "AIRFLOW_CONN_HURACAN"))]:
        del os.environ[name]

    from airflow.utils import db

    db.initdb()
    _home = home
    return home


def load_dag(dag_id: str) -> Any:
    """Parse the repo's dags/ the way the dag-processor does and return one DAG (or fail with the errors)."""
    from airflow.dag_processing.dagbag import BundleDagBag

    bag = BundleDagBag(dag_folder=DAGS, bundle_path=DAGS, bundle_name="dags-folder")
    if bag.import_errors:
        raise AssertionError(f"import errors in dags/: {bag.import_errors}")
    return bag.dags[dag_id]


def write_nightly_config(
    folder: Path,
    *,
    symbols: list[str],
    coins_per_batch: int,
    parallel_tasks: int = 2,
    market: str = "regimes",
    lookback_days: int = 60,
    folds: int = 2,
    retries: int = 1,
    extra_yaml: str = "",
) -> Path:
    """A small synthetic-market config whose every trained model may become champion (gates wide open).

    Outputs (archive, database, logs, lake) all land under `folder`. Sized to train in seconds on a CPU.
    A model still needs out-of-sample trades to be champion: `market="planted_edge"` with 90 days and 3
    folds gives the gate earlier out-of-sample evidence to trade on (the demo market gives none).
    `retries` is engine.retries (the DAG tasks' retries); `extra_yaml` is appended (further sections).
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(
        "\n".join(
            [
                "general:",
                f"  symbols: [{', '.join(symbols)}]",
                "  timeframe: 1h",
                f"  archive: {folder / 'archive'}",
                f"  database: sqlite:///{folder / 'huracan.db'}",
                f"  log_dir: {folder / 'logs'}",
                "data:",
                "  source: synthetic",
                f"  synthetic_variant: {market}",
                f"  lake_dir: {folder / 'lake'}",
                "engine:",
                f"  lookback_days: {lookback_days}",
                f"  coins_per_batch: {coins_per_batch}",
                f"  parallel_tasks: {parallel_tasks}",
                f"  retries: {retries}",
                "  timeout_minutes: 5",
                f"  folds: {folds}",
                "  device: cpu",
                "  gates:",
                "    min_oos_trades: 1",
                "    min_net_pnl_pct: -100",
                "    min_sharpe: -100",
                "    max_drawdown_pct: 100",
                "    min_deflated_sharpe: 0",
                "",
            ]
        )
        + extra_yaml,
        encoding="utf-8",
    )
    return path


def rerun_task(dag: Any, run: Any, task_id: str) -> Any:
    """Clear one task of a finished run, as the UI's *Clear* on that task does, and run the run on in this
    process the way dag.test() does (its loop, without dag.test()'s deleting and recreating the run).

    The other tasks keep their state and XComs, so only the cleared task runs again. Returns the run.
    """
    import time

    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import clear_task_instances
    from airflow.sdk.definitions.dag import _run_task
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState
    from sqlalchemy import select

    scheduler_dag = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    scheduler_dag.on_success_callback = dag.on_success_callback
    scheduler_dag.on_failure_callback = dag.on_failure_callback
    with create_session() as session:
        tis = [ti for ti in run.get_task_instances(session=session) if ti.task_id == task_id]
        if not tis:
            raise ValueError(f"run {run.run_id} has no task {task_id!r}")
        clear_task_instances(tis, session, dag_run_state=DagRunState.RUNNING)
        session.commit()
        dr = session.scalars(
            select(DagRun).where(DagRun.dag_id == run.dag_id, DagRun.run_id == run.run_id)
        ).one()
        dr.dag = scheduler_dag
        while dr.state == DagRunState.RUNNING:
            session.expire_all()
            schedulable, _ = dr.update_state(session=session)
            for ti in schedulable:
                ti.try_number += 1
                ti.state = TaskInstanceState.SCHEDULED
            session.commit()
            instances = dr.get_task_instances(session=session)
            scheduled = [t for t in instances if t.state == TaskInstanceState.SCHEDULED]
            if not scheduled:
                time.sleep(0.2)
            for ti in scheduled:
                # A task's exception is logged and recorded as its state, as under dag.test().
                _run_task(ti=ti, task=dag.task_dict[ti.task_id])
        return dr
