"""Alembic migrations run from code: the scripts ship inside the package, no alembic.ini in the cwd.

`upgrade(url)` is what `huracan db upgrade`, the Docker entrypoint and tests call; `open_database(url)` is
what the engine, the mechanic and Hamilton call before writing, so an old schema fails at start, clearly.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from huracan_core.db.connection import (
    UPGRADE_HINT,
    DatabaseNotMigratedError,
    check_reachable,
    connect,
    mask_url,
    translate,
)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any constant: concurrent `upgrade` calls on one PostgreSQL server (two containers starting) take turns.
_UPGRADE_LOCK_ID = 7_461_830_215


def alembic_config(url: str) -> Config:
    """An Alembic Config built in code: script_location = the package's migrations, sqlalchemy.url = url."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolates '%': a URL-encoded password (p%40ss) must be escaped to survive.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    """The newest migration this code ships."""
    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


@contextmanager
def _engine_for(url_or_engine: str | Engine) -> Iterator[Engine]:
    if isinstance(url_or_engine, Engine):
        yield url_or_engine
        return
    engine = connect(url_or_engine)
    try:
        yield engine
    finally:
        engine.dispose()


def current_revision(url_or_engine: str | Engine) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    with _engine_for(url_or_engine) as engine:
        check_reachable(engine)
        try:
            with engine.connect() as conn:
                return MigrationContext.configure(conn).get_current_revision()
        except DBAPIError as exc:
            raise (translate(exc, engine.url) or exc) from None


def upgrade(url_or_engine: str | Engine, revision: str = "head") -> str:
    """Migrate the database to `revision` (default: head) and return the revision it is now at.

    Idempotent: at head already, nothing runs. All steps run in one transaction (DDL is transactional on
    PostgreSQL and SQLite), so a failed step leaves the previous schema and its rows intact.
    """
    with _engine_for(url_or_engine) as engine:
        check_reachable(engine)
        cfg = alembic_config(engine.url.render_as_string(hide_password=False))
        try:
            with engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(
                        text("SELECT pg_advisory_xact_lock(:lock_id)"), {"lock_id": _UPGRADE_LOCK_ID}
                    )
                elif conn.dialect.name == "sqlite":
                    # The sqlite3 driver opens a transaction only before INSERT/UPDATE/DELETE, so DDL would
                    # commit step by step and a failure half-way through rebuilding a table would strand its
                    # rows. BEGIN IMMEDIATE makes the whole upgrade one transaction, like PostgreSQL's, and
                    # takes the write lock at once, so concurrent upgrades take turns.
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
            with engine.connect() as conn:
                now = MigrationContext.configure(conn).get_current_revision()
        except DBAPIError as exc:
            raise (translate(exc, engine.url) or exc) from None
    if now is None:
        raise DatabaseNotMigratedError(f"upgrade of {mask_url(engine.url)} left no revision recorded")
    return now


def require_head(engine: Engine) -> str:
    """Raise DatabaseNotMigratedError unless the database is at this code's head revision."""
    at = current_revision(engine)
    head = head_revision()
    if at is None:
        raise DatabaseNotMigratedError(f"database {mask_url(engine.url)} is not migrated; {UPGRADE_HINT}")
    if at != head:
        raise DatabaseNotMigratedError(
            f"database {mask_url(engine.url)} is at revision {at}, this code needs {head}; {UPGRADE_HINT}"
        )
    return at


def open_database(url: str) -> Engine:
    """connect + check_reachable + require_head: the engine every writer should start with."""
    engine = connect(url)
    try:
        require_head(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine
