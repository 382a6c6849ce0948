"""Alembic environment: migrates the connection handed over by huracan_core.db.migrate, or sqlalchemy.url.

Online mode with a connection in `config.attributes["connection"]` is the normal path (huracan db upgrade).
Without one (plain `alembic` command with a Config pointing here), an engine is built from sqlalchemy.url.
Offline mode (`--sql`) prints the SQL for a DBA to review.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from huracan_core.db.connection import connect
from huracan_core.db.tables import metadata

config = context.config


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead, same script for both.
        render_as_batch=connection.dialect.name == "sqlite",
    )


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    given = config.attributes.get("connection")
    if given is not None:
        _configure(given)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection given and sqlalchemy.url is not set")
    engine = connect(url)
    try:
        with engine.begin() as connection:
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
