"""DAG parse time: how long the dag-processor spends on dags/ once Airflow is loaded, against a naive
DAG file that imports torch, polars and ccxt at the top (the baseline this design avoids).

The dag-processor parses every file again and again (every 30 s by default) in a fresh child process of
an already-started Airflow, so each measurement is the first parse in a new process after `airflow.sdk`
is imported. Also reports which heavy modules the parse pulled in (the goal: none).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DAGS = REPO / "dags"
HEAVY = ("torch", "polars", "ccxt", "xgboost", "pandas")
REPEATS = 3

_CHILD = r"""
import json, sys, time
started = time.perf_counter()
import airflow.sdk  # what every dag-processor child already has loaded
from airflow.dag_processing.dagbag import BundleDagBag
from pathlib import Path
loaded = time.perf_counter()
folder = Path(sys.argv[1])
bag = BundleDagBag(dag_folder=folder, bundle_path=folder, bundle_name="bench")
parsed = time.perf_counter()
heavy = sorted(m for m in json.loads(sys.argv[2]) if m in sys.modules)
print(json.dumps({"import_airflow_s": loaded - started, "parse_s": parsed - loaded, "heavy": heavy,
                  "dags": sorted(bag.dags), "errors": {k: v[-300:] for k, v in bag.import_errors.items()}}))
"""


def parse_once(dags: Path) -> dict[str, Any]:
    """One parse of a DAG folder in a fresh process (temporary AIRFLOW_HOME, no examples)."""
    with tempfile.TemporaryDirectory(prefix="huracan-bench-airflow-") as home:
        env = {
            **os.environ,
            "AIRFLOW_HOME": home,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        }
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, str(dags), json.dumps(HEAVY)],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
            timeout=180,
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def naive_dags(folder: Path) -> Path:
    """A copy of dags/ whose DAG file imports the heavy libraries at the top, as a first draft often does."""
    for path in DAGS.iterdir():
        if path.is_file():
            shutil.copy(path, folder / path.name)
    target = folder / "huracan_engine_nightly.py"
    text = target.read_text(encoding="utf-8")
    heavy = "import ccxt  # noqa\nimport polars  # noqa\nimport torch  # noqa\nimport huracan_core.engine.nightly  # noqa\n"
    target.write_text(
        text.replace(
            "from __future__ import annotations\n", "from __future__ import annotations\n" + heavy, 1
        )
    )
    return folder


def measure(dags: Path, repeats: int = REPEATS) -> dict[str, Any]:
    runs = [parse_once(dags) for _ in range(repeats)]
    return {
        "parse_s": round(statistics.median(r["parse_s"] for r in runs), 4),
        "import_airflow_s": round(statistics.median(r["import_airflow_s"] for r in runs), 3),
        "heavy_modules": runs[0]["heavy"],
        "dags": runs[0]["dags"],
        "errors": runs[0]["errors"],
    }


def run() -> dict[str, Any]:
    ours = measure(DAGS)
    with tempfile.TemporaryDirectory(prefix="huracan-naive-dags-") as tmp:
        naive = measure(naive_dags(Path(tmp)))
    result = {
        "dag_parse_s": ours["parse_s"],
        "naive_dag_parse_s": naive["parse_s"],
        "speedup_vs_naive": round(naive["parse_s"] / ours["parse_s"], 1) if ours["parse_s"] else None,
        "heavy_modules_imported": ours["heavy_modules"],
        "naive_heavy_modules_imported": naive["heavy_modules"],
        "airflow_sdk_import_s": ours["import_airflow_s"],
        "dags": ours["dags"],
        "import_errors": ours["errors"],
    }
    print(
        f"dags/ parse (Airflow loaded):    {result['dag_parse_s'] * 1000:7.1f} ms, heavy modules: {ours['heavy_modules'] or 'none'}"
    )
    print(
        f"naive DAG file (heavy imports):  {result['naive_dag_parse_s'] * 1000:7.1f} ms ({result['speedup_vs_naive']}x slower)"
    )
    print(
        f"(importing airflow.sdk itself:   {result['airflow_sdk_import_s']:7.2f} s, paid once per dag-processor)"
    )
    return result


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
