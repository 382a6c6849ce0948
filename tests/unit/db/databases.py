"""Database fixtures: every test runs on a SQLite file and on a throwaway PostgreSQL database.

PostgreSQL is the local server at 127.0.0.1:5432 (trust auth, user postgres or root). Each test gets its own
database huracan_test_<uuid8>, dropped afterwards; without a server the PostgreSQL cases skip with the reason.

Shared with other test folders (the Hamilton journal's tests) by import:
    from tests.unit.db.databases import db_url, migrated, postgres_server  # noqa: F401  (fixtures)
`postgres_databases` makes several per test (two Hamilton runs of one replay window need two journals).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg2
import pytest
from sqlalchemy import Engine

from huracan_core.db import connect, upgrade

PG_HOST, PG_PORT = "127.0.0.1", 5432
_admin_user: dict[str, Any] = {}


def _admin_connection() -> tuple[Any, str]:
    """An autocommit connection to the maintenance database, as whichever of postgres/root works."""
    if "skip" in _admin_user:
        pytest.skip(_admin_user["skip"])
    users = [_admin_user["user"]] if "user" in _admin_user else ["postgres", "root"]
    reasons = []
    for user in users:
        try:
            conn = psycopg2.connect(
                host=PG_HOST, port=PG_PORT, user=user, dbname="postgres", connect_timeout=2
            )
        except psycopg2.OperationalError as exc:
            reasons.append(f"{user}: {str(exc).strip().splitlines()[0]}")
            continue
        conn.autocommit = True
        _admin_user["user"] = user
        return conn, user
    _admin_user["skip"] = f"no PostgreSQL server usable at {PG_HOST}:{PG_PORT} ({'; '.join(reasons)})"
    pytest.skip(_admin_user["skip"])


@pytest.fixture
def postgres_server() -> Iterator[tuple[str, str]]:
    """(admin user, name of a fresh empty database) on the local server; the database is dropped after."""
    admin, user = _admin_connection()
    name = f"huracan_test_{uuid.uuid4().hex[:8]}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield user, name
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def postgres_databases() -> Iterator[Callable[[], str]]:
    """A factory of fresh empty databases on the local server: each call returns a new one's URL; all are
    dropped after the test."""
    admin, user = _admin_connection()
    names: list[str] = []

    def new() -> str:
        name = f"huracan_test_{uuid.uuid4().hex[:8]}"
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        names.append(name)
        return f"postgresql+psycopg2://{user}@{PG_HOST}:{PG_PORT}/{name}"

    try:
        yield new
    finally:
        with admin.cursor() as cur:
            for name in names:
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """URL of an empty database: a SQLite file in a folder that does not exist yet, or a fresh PG database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'not_yet' / 'huracan.db'}"
    user, name = request.getfixturevalue("postgres_server")
    return f"postgresql+psycopg2://{user}@{PG_HOST}:{PG_PORT}/{name}"


@pytest.fixture
def migrated(db_url: str) -> Iterator[Engine]:
    """An Engine on a database already upgraded to head."""
    engine = connect(db_url)
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()
