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
) -> Path:
    """A small synthetic-market config whose every trained model may become champion (gates wide open).

    Outputs (archive, database, logs, lake) all land under `folder`. Sized to train in seconds on a CPU.
    A model still needs out-of-sample trades to be champion: `market="planted_edge"` with 90 days and 3
    folds gives the gate earlier out-of-sample evidence to trade on (the demo market gives none).
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
                "  retries: 1",
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
        ),
        encoding="utf-8",
    )
    return path
