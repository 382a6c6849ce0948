"""Fixtures for the Airflow integration tests: the in-process Airflow (one per session) for dag.test()."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.stubs.airflow_env import in_process_airflow


@pytest.fixture(scope="session")
def airflow_home() -> Path:
    return in_process_airflow()
