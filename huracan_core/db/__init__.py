"""Database: SQLAlchemy Core tables, Alembic migrations run from code, idempotent writers and readers."""

from huracan_core.db.connection import (
    DatabaseAccessError,
    DatabaseNotMigratedError,
    check_reachable,
    connect,
    describe,
    mask_url,
)
from huracan_core.db.migrate import current_revision, head_revision, open_database, require_head, upgrade
from huracan_core.db.queries import (
    README_SQL,
    best_models,
    finish_run,
    get_model,
    get_run,
    models_with_status,
    pnl_by_day,
    promotions_on,
    record_daily_equity,
    record_metrics,
    record_model,
    record_promotion,
    record_run,
    set_model_status,
)
from huracan_core.db.tables import ALL_TABLES, metadata
from huracan_core.db.trading import record_trade

__all__ = [
    "ALL_TABLES",
    "README_SQL",
    "DatabaseAccessError",
    "DatabaseNotMigratedError",
    "best_models",
    "check_reachable",
    "connect",
    "current_revision",
    "describe",
    "finish_run",
    "get_model",
    "get_run",
    "head_revision",
    "mask_url",
    "metadata",
    "models_with_status",
    "open_database",
    "pnl_by_day",
    "promotions_on",
    "record_daily_equity",
    "record_metrics",
    "record_model",
    "record_promotion",
    "record_run",
    "record_trade",
    "require_head",
    "set_model_status",
    "upgrade",
]
