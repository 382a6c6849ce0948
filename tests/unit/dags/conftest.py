"""Fixtures for the DAG tests: the dags/ folder importable (as Airflow makes it) and one parsed DAG."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from tests.stubs.airflow_env import DAGS, in_process_airflow, load_dag

if str(DAGS) not in sys.path:
    # Airflow puts the DAG folder on sys.path; the helper module beside the DAGs is imported from there.
    sys.path.append(str(DAGS))


@pytest.fixture(scope="session")
def nightly_dag() -> Any:
    in_process_airflow()
    return load_dag("huracan_engine_nightly")


@pytest.fixture(scope="session")
def hourly_dag() -> Any:
    in_process_airflow()
    return load_dag("huracan_mechanic_hourly")
