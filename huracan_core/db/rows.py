"""Plumbing every writer shares: one transaction per call, native upserts, and input checks with clear errors.

Checks run before anything is sent, so a bad value is refused with its name and value instead of surfacing
as a driver error (or, worse, being stored: SQLite would keep a NaN or a string in a number column).
"""

from __future__ import annotations

import json
import math
import numbers
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Table, and_, delete, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.exc import DBAPIError

from huracan_core.db.connection import translate

Bind = Engine | Connection
_SYMBOL = re.compile(r"^[A-Z0-9]{2,20}$")


@contextmanager
def transaction(bind: Bind) -> Iterator[Connection]:
    """One transaction for an Engine; the caller's transaction for a Connection (begun if none is open).

    Driver errors about reaching the database come out as Huracan's named errors (see `translate`).
    """
    url = bind.url if isinstance(bind, Engine) else bind.engine.url
    try:
        if isinstance(bind, Engine):
            with bind.begin() as conn:
                yield conn
        elif bind.in_transaction():
            yield bind
        else:
            with bind.begin():
                yield bind
    except DBAPIError as exc:
        raise (translate(exc, url) or exc) from None


def native_insert(conn: Connection, table: Table) -> SqliteInsert | PgInsert:
    """The dialect's INSERT that knows ON CONFLICT (both supported backends have one)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no ON CONFLICT insert for dialect {conn.dialect.name!r}")


def upsert(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> None:
    """Insert rows, replacing any row with the same key (native ON CONFLICT where the dialect has it)."""
    if not rows:
        return
    if conn.dialect.name in ("sqlite", "postgresql"):
        columns = rows[0].keys()
        same_columns = all(row.keys() == columns for row in rows)
        # Rows naming the same columns go as executemany parameters of a statement without values, which
        # is compiled once and cached (a multi-row VALUES statement is compiled on every call).
        stmt = native_insert(conn, table) if same_columns else native_insert(conn, table).values(list(rows))
        changing = [name for name in rows[0] if name not in keys]
        if changing:
            stmt = stmt.on_conflict_do_update(
                index_elements=list(keys), set_={name: stmt.excluded[name] for name in changing}
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
        if same_columns:
            conn.execute(stmt, [dict(row) for row in rows])
        else:
            conn.execute(stmt)
        return
    # Any other dialect: delete + insert inside the caller's one transaction.
    for row in rows:
        conn.execute(delete(table).where(and_(*(table.c[key] == row[key] for key in keys))))
    conn.execute(insert(table), list(rows))


def insert_missing(
    conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]
) -> None:
    """Insert the rows whose key is not stored yet; rows already there are left exactly as they are.

    Rows that all name the same columns go as parameters of one statement without values (executemany),
    which SQLAlchemy compiles once and caches; a multi-row VALUES statement is compiled anew on every call,
    and Hamilton's journal inserts each order this way (compiling was most of a replay commit).
    """
    if not rows:
        return
    stmt = native_insert(conn, table).on_conflict_do_nothing(index_elements=keys)
    columns = rows[0].keys()
    if all(row.keys() == columns for row in rows):
        conn.execute(stmt, [dict(row) for row in rows])
    else:  # rows naming different columns: one VALUES list, each row's missing columns left to defaults
        conn.execute(stmt.values(list(rows)))


# --- input checks -------------------------------------------------------------------------------------
def symbol(value: str) -> str:
    if not isinstance(value, str) or not _SYMBOL.match(value):
        raise ValueError(f"symbol {value!r} is not like BTCUSDT (2-20 capital letters or digits, no slash)")
    return value


def one_of(what: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{what} {value!r} is not one of {', '.join(allowed)}")
    return value


def finite(
    what: str,
    value: float | None,
    *,
    positive: bool = False,
    non_negative: bool = False,
    optional: bool = False,
) -> float | None:
    if value is None:
        if optional:
            return None
        raise ValueError(f"{what} is required")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{what} is {number}; only finite numbers can be stored")
    if positive and number <= 0:
        raise ValueError(f"{what} must be positive, got {number}")
    if non_negative and number < 0:
        raise ValueError(f"{what} must not be negative, got {number}")
    return number


def aware(what: str, value: datetime | None, *, optional: bool = False) -> datetime | None:
    if value is None:
        if optional:
            return None
        raise ValueError(f"{what} is required")
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime (UTC), got {value!r}")
    return value


def day(what: str, value: date) -> date:
    """A calendar date (a UTC day); a datetime is refused, its day would depend on a timezone."""
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ValueError(f"{what} must be a date (UTC day), got {value!r}")
    return value


def epoch_ms(what: str, value: int | None, *, optional: bool = False) -> int | None:
    """Epoch milliseconds as stored (int64): a whole, non-negative number; floats are refused, not rounded."""
    if value is None:
        if optional:
            return None
        raise ValueError(f"{what} is required")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{what} must be epoch milliseconds (a non-negative integer), got {value!r}")
    return int(value)


def count(what: str, value: int, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {value!r}")
    return int(value)


def name(what: str, value: str | None, *, max_length: int, optional: bool = False) -> str | None:
    """A non-empty string that fits its column."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    if len(value) > max_length:
        raise ValueError(f"{what} {value!r} is longer than {max_length} characters")
    return value


def json_text(what: str, value: Mapping[str, Any] | None) -> str | None:
    if value is None:
        return None
    try:
        return json.dumps(value, sort_keys=True, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} cannot be stored as JSON: {exc}") from None
