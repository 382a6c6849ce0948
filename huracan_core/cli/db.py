"""`huracan db upgrade | current`: migrate the database to this code's schema, or say where it stands."""

from __future__ import annotations

from typing import Annotated

import typer

from huracan_core import db
from huracan_core.cli.common import ConfigOpt, config_from, console, friendly_errors

app = typer.Typer(help="Database: migrations and checks.", no_args_is_help=True)

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="SQLAlchemy URL, e.g. sqlite:///huracan.db or postgresql+psycopg2://user:pw@host:5432/name "
        "(overrides general.database).",
    ),
]


def _database_url(config: ConfigOpt, database: str | None) -> str:
    return config_from(config, extra={"general.database": database}).general.database


def _say(text: str) -> None:
    console.print(text, highlight=False, markup=False, soft_wrap=True)


@app.command("upgrade")
@friendly_errors
def upgrade(config: ConfigOpt = None, database: DbOpt = None) -> None:
    """Create or update the tables (Alembic migrations to head); safe to run again."""
    url = _database_url(config, database)
    engine = db.connect(url)
    try:
        before = db.current_revision(engine)
        after = db.upgrade(engine)
    finally:
        engine.dispose()
    shown = db.mask_url(url)
    if before == after:
        _say(f"Database {shown} is already at revision {after} (head); nothing to do.")
    else:
        _say(f"Database {shown} upgraded from {before or 'empty'} to revision {after} (head).")


@app.command("current")
@friendly_errors
def current(config: ConfigOpt = None, database: DbOpt = None) -> None:
    """Print the database's schema revision; exit 1 when it is not migrated or behind this code."""
    url = _database_url(config, database)
    engine = db.connect(url)
    try:
        at = db.current_revision(engine)
    finally:
        engine.dispose()
    head = db.head_revision()
    shown = db.mask_url(url)
    if at is None:
        _say(f"Database {shown} is not migrated; run `huracan db upgrade`.")
        raise typer.Exit(code=1)
    if at != head:
        _say(f"Database {shown} is at revision {at}; this code needs {head}; run `huracan db upgrade`.")
        raise typer.Exit(code=1)
    _say(f"Database {shown} is at revision {at} (head).")
