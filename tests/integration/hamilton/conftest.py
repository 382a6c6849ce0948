"""Fixtures for Hamilton's integration tests: one archive of real champions per session, and the two
backends every promise is tested on (SQLite + a local archive, PostgreSQL + an S3 archive on moto)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stubs.hamilton_world import Backend, copy_archive, train_champions, upload_archive
from tests.stubs.s3 import moto_server, s3_bucket  # noqa: F401  (fixtures)
from tests.unit.db.databases import postgres_databases, postgres_server  # noqa: F401  (fixtures)


@pytest.fixture(scope="session")
def champion_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_champions(tmp_path_factory.mktemp("hamilton_world"))


@pytest.fixture(
    params=["sqlite-local", pytest.param("postgres-s3", marks=[pytest.mark.postgres, pytest.mark.s3])]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path, champion_archive: Path) -> Backend:
    """SQLite + a local archive folder, or PostgreSQL + an S3 archive (moto on loopback; the AWS variables
    point at it, so subprocesses started with this environment reach it too)."""
    if request.param == "sqlite-local":
        return Backend(
            request.param,
            lambda name: str(copy_archive(champion_archive, tmp_path / name / "archive")),
            lambda name: f"sqlite:///{tmp_path / name / 'h.db'}",
            tmp_path,
        )
    bucket = request.getfixturevalue("s3_bucket")
    databases = request.getfixturevalue("postgres_databases")
    return Backend(
        request.param,
        lambda name: upload_archive(champion_archive, bucket.url(name)),
        lambda _name: databases(),
        tmp_path,
    )


@pytest.fixture
def announced() -> Iterator[list[logging.LogRecord]]:
    """What Hamilton logs while the test runs (trades, refusals, alerts), caught on the `huracan` logger
    itself: `huracan hamilton run` sets up logging without propagation to the root logger, where caplog
    listens, so caplog misses what a CLI run inside the same test says."""
    records: list[logging.LogRecord] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("huracan")
    handler, level = Catch(logging.INFO), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
