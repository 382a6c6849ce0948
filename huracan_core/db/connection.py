"""Opening the database: one engine factory, and database failures turned into errors a user can act on.

Unreachable server -> DatabaseUnavailableError naming host:port (password masked); refused credentials or a
missing database -> DatabaseAccessError; tables missing -> DatabaseNotMigratedError ("run huracan db upgrade").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from huracan_core.exceptions import ConfigError, DatabaseUnavailableError, HuracanError

# libpq's connect_timeout is whole seconds (minimum 2); long enough for a busy server, short enough to fail fast.
DEFAULT_CONNECT_TIMEOUT_S = 5
# How long a SQLite writer waits for another writer's transaction (Hamilton, the Engine and the bot share
# one file) before "database is locked": far longer than any of their transactions takes.
SQLITE_BUSY_TIMEOUT_S = 30.0
UPGRADE_HINT = "run `huracan db upgrade` (or huracan_core.db.upgrade(url)) to create or update the tables"


class DatabaseNotMigratedError(HuracanError):
    """The database answers but lacks Huracan's tables or is behind the code's schema revision."""


class DatabaseAccessError(ConfigError):
    """The server answered but refused us (wrong password, unknown user, missing database): fix the URL."""


def mask_url(url: str | URL) -> str:
    """The URL with its password replaced by '***', safe to print and log."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except ArgumentError:
        return "<unparseable database URL>"
    return parsed.render_as_string(hide_password=True)


def describe(url: str | URL) -> str:
    """Where the database lives, for messages: host:port/name for a server, the file path for SQLite."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() == "sqlite":
        return (
            f"SQLite file {parsed.database}"
            if parsed.database not in (None, "", ":memory:")
            else "SQLite in memory"
        )
    port = parsed.port or (5432 if parsed.get_backend_name() == "postgresql" else None)
    where = f"{parsed.host or 'localhost'}:{port}" if port else f"{parsed.host or 'localhost'}"
    return f"{where}/{parsed.database or ''}"


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            "general.database: not a SQLAlchemy URL (use sqlite:///path/file.db or "
            "postgresql+psycopg2://user:password@host:5432/name)"
        ) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"general.database: backend {parsed.get_backend_name()!r} is not supported "
            f"(got {mask_url(parsed)}); use sqlite or postgresql+psycopg2"
        )
    return parsed


def _in_memory(parsed: URL) -> bool:
    database = parsed.database or ""
    return database in ("", ":memory:") or (database.startswith("file:") and "mode=memory" in database)


def _sqlite_pragmas(*, wal: bool, busy_timeout_s: float) -> Any:
    """The per-connection settings that let several processes write one SQLite file at once.

    busy_timeout: wait for another writer instead of failing with "database is locked" (set first, so the
    switch to WAL below waits too); WAL: readers never block the writer nor the writer them; synchronous
    NORMAL: in WAL mode still crash-safe for the database (a power cut may lose the last commits, a
    `kill -9` loses nothing), without an fsync per commit; foreign_keys: SQLite ignores them unless asked.
    """

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            if wal:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    return on_connect


def connect(
    url: str,
    *,
    connect_timeout_s: int = DEFAULT_CONNECT_TIMEOUT_S,
    busy_timeout_s: float = SQLITE_BUSY_TIMEOUT_S,
) -> Engine:
    """An Engine for `url` (sqlite:///file.db or postgresql+psycopg2://...); does no I/O except mkdir.

    Creates the folder of a SQLite file so a fresh checkout works; pings pooled connections before use so
    a restarted server does not fail the next query; PostgreSQL sessions run in UTC. SQLite files run in
    WAL mode with a busy timeout of `busy_timeout_s`, so concurrent writers wait for each other.
    Call `check_reachable` (or `open_database`) to fail early with a clear message.
    """
    parsed = _parse(url)
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if parsed.get_backend_name() == "sqlite":
        if not _in_memory(parsed) and not (parsed.database or "").startswith("file:"):
            folder = Path(parsed.database).expanduser().parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseAccessError(
                    f"cannot create folder {folder} for the SQLite file ({exc.strerror or exc}); "
                    "choose a writable path in general.database / --db"
                ) from None
        kwargs["connect_args"] = {"timeout": float(busy_timeout_s)}
    else:
        kwargs["connect_args"] = {
            "connect_timeout": max(2, int(connect_timeout_s)),
            "options": "-c timezone=UTC",
        }
    engine = create_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        pragmas = _sqlite_pragmas(wal=not _in_memory(parsed), busy_timeout_s=busy_timeout_s)
        event.listen(engine, "connect", pragmas)
    return engine


_UNREACHABLE = (
    "connection refused",
    "could not connect",
    "timeout expired",
    "timed out",
    "could not translate host name",
    "name or service not known",
    "temporary failure in name resolution",
    "network is unreachable",
    "no route to host",
    "server closed the connection",
    "connection reset",
    "terminating connection",
    "the database system is starting up",
    "the database system is shutting down",
    "too many clients",
    "unable to open database file",
    "database is locked",
)
_REFUSED = (
    "password authentication failed",
    "no pg_hba.conf entry",
    "authentication failed",
    "no password supplied",
)


def _driver_message(exc: DBAPIError) -> str:
    # The driver's own first line (never contains the password); SQLAlchemy's wrapper adds SQL and links.
    text = str(exc.orig if exc.orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def translate(exc: DBAPIError, url: str | URL) -> HuracanError | None:
    """The Huracan error for a driver error, or None when it is not about reaching the database."""
    parsed = make_url(url) if isinstance(url, str) else url
    where = describe(parsed)
    reason = _driver_message(exc)
    lowered = reason.lower()
    pgcode = getattr(exc.orig, "pgcode", None)
    if (
        pgcode == "42P01"
        or "no such table" in lowered
        or ("relation" in lowered and "does not exist" in lowered)
    ):
        return DatabaseNotMigratedError(
            f"database {mask_url(parsed)} is not migrated ({reason}); {UPGRADE_HINT}"
        )
    if pgcode == "3D000" or ("database" in lowered and "does not exist" in lowered):
        return DatabaseAccessError(
            f"database at {where} does not exist ({reason}); create it (createdb -h {parsed.host or 'localhost'} "
            f"-p {parsed.port or 5432} {parsed.database}) or fix general.database / --db"
        )
    if (
        pgcode in ("28P01", "28000")
        or any(part in lowered for part in _REFUSED)
        or ("role" in lowered and "does not exist" in lowered)
    ):
        return DatabaseAccessError(
            f"database at {where} refused user {parsed.username!r} ({reason}); check the user and password "
            f"in general.database / --db (URL: {mask_url(parsed)})"
        )
    if isinstance(exc, OperationalError) and (
        exc.connection_invalidated or any(p in lowered for p in _UNREACHABLE)
    ):
        if parsed.get_backend_name() == "sqlite":
            hint = "check that the folder exists and is writable and that no other process holds a lock"
        else:
            hint = "check that the server is running, the host and port are right, and no firewall blocks it"
        return DatabaseUnavailableError(f"database at {where} is unreachable ({reason}); {hint}")
    return None


def check_reachable(engine: Engine) -> None:
    """Open one connection and run `SELECT 1`; raise a named error if that fails."""
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except DBAPIError as exc:
        raise (translate(exc, engine.url) or exc) from None
