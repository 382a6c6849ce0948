"""Fixtures for Hamilton's integration tests: one archive of real champions per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.stubs.hamilton_world import train_champions
from tests.stubs.s3 import moto_server, s3_bucket  # noqa: F401  (fixtures)
from tests.unit.db.databases import postgres_server  # noqa: F401  (fixture)


@pytest.fixture(scope="session")
def champion_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_champions(tmp_path_factory.mktemp("hamilton_world"))
