"""The database schema as SQLAlchemy Core tables: the single source the migrations must match.

Same schema on SQLite and PostgreSQL. No reserved words as column names, every timestamp is
timezone-aware UTC, and every table has a natural key so writers can upsert (re-runs replace, never duplicate).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

# Deterministic constraint and index names, so a migration can name what it alters on both backends.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# 'replay' is Hamilton run over past bars with the paper book: same rows, kept apart by run_key.
TRADE_MODES = ("paper", "live", "replay")
TRADE_SIDES = ("long", "short")
ORDER_SIDES = ("buy", "sell")
ORDER_STATUSES = ("intent", "placed", "filled", "rejected", "cancelled", "unknown")
PROMOTED_BY = ("engine", "mechanic", "rollback")
RUN_STATUSES = ("running", "succeeded", "partial", "failed")
MODEL_STATUSES = ("trained", "challenger", "champion", "retired", "rejected")
# Kinds of notification, one per switch of telegram.notify (huracan_core/config.py NotifyConfig).
NOTIFICATION_KINDS = ("engine", "failures", "promotions", "trades", "guardrails", "daily_summary", "errors")


class UtcDateTime(TypeDecorator[datetime]):
    """DateTime(timezone=True) that refuses naive datetimes and always returns aware UTC.

    SQLite stores no offset, so values are converted to UTC before writing and UTC is attached on read;
    PostgreSQL stores timestamptz. Either way callers see the same aware UTC datetime back.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__} {value!r}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"naive datetime {value.isoformat()} refused: pass a timezone-aware (UTC) datetime"
            )
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _one_of(column: str, allowed: tuple[str, ...], name: str) -> CheckConstraint:
    quoted = ", ".join(f"'{item}'" for item in allowed)
    return CheckConstraint(f"{column} IN ({quoted})", name=name)


metadata = MetaData(naming_convention=NAMING_CONVENTION)

# One row per trained bundle; model_id is the bundle folder name (YYYYMMDD_HHMMSSZ), unique per symbol.
models = Table(
    "models",
    metadata,
    Column("symbol", String(32), nullable=False),
    Column("model_id", String(64), nullable=False),
    Column("path", String(1024), nullable=False),  # archive key of the bundle folder
    Column("sha256", String(64), nullable=False),  # sha256 of model.bin
    Column("feature_recipe_hash", String(64), nullable=False),
    Column("config_hash", String(64), nullable=False),
    Column("trained_as_of", UtcDateTime(), nullable=False),  # last candle the model was allowed to see
    Column("created_at", UtcDateTime(), nullable=False),
    Column("status", String(16), nullable=False),  # one of MODEL_STATUSES
    PrimaryKeyConstraint("symbol", "model_id"),
    Index(None, "trained_as_of"),
    Index(None, "status"),
)

# Metrics per model, all out-of-sample after costs; scope says which slice ('oos', a regime, an engine).
model_metrics = Table(
    "model_metrics",
    metadata,
    Column("symbol", String(32), nullable=False),
    Column("model_id", String(64), nullable=False),
    Column("scope", String(64), nullable=False),
    Column("metric_name", String(64), nullable=False),
    Column("metric_value", Float(), nullable=False),
    PrimaryKeyConstraint("symbol", "model_id", "scope", "metric_name"),
    ForeignKeyConstraint(["symbol", "model_id"], ["models.symbol", "models.model_id"], ondelete="CASCADE"),
    Index(None, "metric_name", "scope"),
)

# Every champion pointer move, with both sides' metrics; a re-run of the same move replaces its row.
promotions = Table(
    "promotions",
    metadata,
    Column("promotion_id", Integer(), primary_key=True, autoincrement=True),
    Column("symbol", String(32), nullable=False),
    Column("from_model_id", String(64), nullable=True),  # None for a coin's first champion
    Column("to_model_id", String(64), nullable=False),
    Column("promoted_by", String(16), nullable=False),
    Column("promoted_at", UtcDateTime(), nullable=False),
    Column("reason", Text(), nullable=False),
    Column("metrics", Text(), nullable=True),  # JSON text: {"from": {...}, "to": {...}} or similar
    UniqueConstraint("symbol", "to_model_id", "promoted_at"),
    _one_of("promoted_by", PROMOTED_BY, "promoted_by"),
    Index(None, "promoted_at"),
    Index(None, "symbol", "promoted_at"),
)

# Hamilton's trade log: the parquet trade log's columns (the backtest's trade columns where they mean the
# same), one row per trade of one run, upserted by (run_key, trade_id) when it opens and again when it closes.
# Exit fields stay empty while the position is open. Rows migrated from revision 0001 lack what 0001 never
# recorded (size, max_size, cost components, gross PnL, bars held): NULL there means "not recorded".
live_trades = Table(
    "live_trades",
    metadata,
    Column("run_key", String(128), nullable=False),  # 'paper', 'live', 'replay:<from>:<to>', ...
    Column("trade_id", String(128), nullable=False),
    Column("symbol", String(32), nullable=False),
    Column("side", String(8), nullable=False),  # one of TRADE_SIDES
    # fraction of the coin's allocation at entry, like the backtest's `size`
    Column("size", Float(), nullable=True),
    Column("max_size", Float(), nullable=True),  # largest fraction of the allocation held during the trade
    Column("quantity", Float(), nullable=False),  # base-asset units at entry
    Column("opened_at", UtcDateTime(), nullable=False),
    Column("closed_at", UtcDateTime(), nullable=True),
    Column("entry_time", BigInteger(), nullable=False),  # epoch ms, open of the entry fill's bar
    Column("exit_time", BigInteger(), nullable=True),  # epoch ms, open of the exit fill's bar
    Column("entry_price", Float(), nullable=False),  # that bar's open, the backtest's entry price
    Column("exit_price", Float(), nullable=True),
    Column("entry_fill_price", Float(), nullable=False),  # what the broker filled at
    Column("exit_fill_price", Float(), nullable=True),
    Column("entry_cost_bps", Float(), nullable=True),  # per-side cost charged at entry, bps of notional
    Column("costs_bps", Float(), nullable=True),  # every fill's cost of this trade, bps of equity
    Column("fee_bps", Float(), nullable=True),  # per side at entry, bps of notional
    Column("spread_bps", Float(), nullable=True),  # half the spread, per side at entry, bps of notional
    Column("slippage_bps", Float(), nullable=True),  # per side at entry, bps of notional
    Column("gross_pnl_pct", Float(), nullable=True),  # percent of equity, before costs
    Column("net_pnl_pct", Float(), nullable=True),  # percent of equity, after costs
    Column("bars_held", Integer(), nullable=True),
    Column("engine_mix", Text(), nullable=True),  # JSON text: engine -> weight at the decision bar
    Column("regime", String(32), nullable=True),
    Column("guardrail_reason", Text(), nullable=True),  # why a guardrail changed this trade, if one did
    Column("model_id", String(64), nullable=True),
    Column("mode", String(8), nullable=False),  # one of TRADE_MODES
    PrimaryKeyConstraint("run_key", "trade_id"),
    _one_of("side", TRADE_SIDES, "side"),
    _one_of("mode", TRADE_MODES, "mode"),
    Index(None, "symbol", "opened_at"),
    Index(None, "closed_at"),
    Index(None, "run_key", "entry_time"),
    Index(None, "run_key", "exit_time"),
)

# One row per run and UTC day: end-of-day equity and that day's return. Rows from before run keys existed
# have run_key = their mode ('paper' or 'live'), the keys of Hamilton's default runs.
daily_equity = Table(
    "daily_equity",
    metadata,
    Column("run_key", String(128), nullable=False),
    Column("trade_day", Date(), nullable=False),
    Column("mode", String(8), nullable=False),
    Column("equity", Float(), nullable=False),
    Column("pnl_pct", Float(), nullable=False),
    Column("trades", Integer(), nullable=False),
    PrimaryKeyConstraint("run_key", "trade_day"),
    _one_of("mode", TRADE_MODES, "mode"),
)

# Where each Hamilton run stands: the last bar fully processed and its state; a resumed run starts after it.
hamilton_state = Table(
    "hamilton_state",
    metadata,
    Column("run_key", String(128), nullable=False),
    Column("mode", String(8), nullable=False),  # a run key keeps its mode: a paper state never resumes live
    Column("bar_ms", BigInteger(), nullable=False),  # epoch ms, open of the last bar fully processed
    Column("state", Text(), nullable=False),  # JSON text
    Column("updated_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("run_key"),
    _one_of("mode", TRADE_MODES, "mode"),
)

# Every order Hamilton decided, from its intent (written before a live order is sent) to its outcome.
orders = Table(
    "orders",
    metadata,
    Column("run_key", String(128), nullable=False),
    Column("client_order_id", String(64), nullable=False),  # deterministic per (symbol, bar, model, leg)
    Column("symbol", String(32), nullable=False),
    Column("side", String(8), nullable=False),  # one of ORDER_SIDES
    Column("quantity", Float(), nullable=False),  # base-asset units asked for
    Column("bar_ms", BigInteger(), nullable=False),  # epoch ms, open of the decision bar
    Column("model_id", String(64), nullable=False),
    Column("leg", String(16), nullable=False),  # open | close | resize
    Column("status", String(16), nullable=False),  # one of ORDER_STATUSES
    Column("exchange_order_id", String(64), nullable=True),
    Column("reason", Text(), nullable=True),  # why rejected, cancelled or unknown
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("mode", String(8), nullable=False),
    PrimaryKeyConstraint("run_key", "client_order_id"),
    _one_of("side", ORDER_SIDES, "side"),
    _one_of("status", ORDER_STATUSES, "status"),
    _one_of("mode", TRADE_MODES, "mode"),
    Index(None, "run_key", "status"),
)

# What orders became: one row per fill, written once (a replayed bar's fills are ignored, never doubled).
fills = Table(
    "fills",
    metadata,
    Column("run_key", String(128), nullable=False),
    Column("fill_id", String(128), nullable=False),  # exchange trade id, or client_order_id:filled_at:n
    Column("client_order_id", String(64), nullable=False),
    Column("symbol", String(32), nullable=False),
    Column("side", String(8), nullable=False),  # one of ORDER_SIDES
    Column("quantity", Float(), nullable=False),  # base-asset units filled
    Column("price", Float(), nullable=False),  # average fill price, spread and slippage included
    Column("fee_quote", Float(), nullable=False),  # fee in the quote currency
    Column("filled_at", BigInteger(), nullable=False),  # epoch ms of the fill
    Column("mode", String(8), nullable=False),
    PrimaryKeyConstraint("run_key", "fill_id"),
    _one_of("side", ORDER_SIDES, "side"),
    _one_of("mode", TRADE_MODES, "mode"),
    Index(None, "run_key", "client_order_id"),
)

# One row per job run (engine night, mechanic hour, backfill day); Airflow re-runs replace it.
runs = Table(
    "runs",
    metadata,
    Column("run_id", String(128), nullable=False),
    Column("kind", String(32), nullable=False),  # engine | mechanic | backfill | ...
    Column("as_of", UtcDateTime(), nullable=False),  # the logical date the run trains or acts as of
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=True),
    Column("status", String(16), nullable=False),
    Column("symbols_total", Integer(), nullable=False),
    Column("symbols_succeeded", Integer(), nullable=False),
    Column("symbols_failed", Integer(), nullable=False),
    Column("symbols_skipped", Integer(), nullable=False),
    Column("detail", Text(), nullable=True),  # JSON text: per-symbol reasons, timings
    PrimaryKeyConstraint("run_id"),
    _one_of("status", RUN_STATUSES, "status"),
    Index(None, "kind", "as_of"),
    Index(None, "started_at"),
)

# Every challenger the Mechanic ever evaluated for a coin: the deflated Sharpe ratio's N for that coin counts
# these rows. A re-run of the same hour replaces its row (same symbol and model_id), it is not a new trial.
trials = Table(
    "trials",
    metadata,
    Column("symbol", String(32), nullable=False),
    Column("model_id", String(64), nullable=False),  # the challenger's folder name (YYYYMMDD_HHMMSSZ)
    Column("as_of", UtcDateTime(), nullable=False),  # the hour the challenger was built as of
    Column("evaluated_at", UtcDateTime(), nullable=False),
    Column("oos_bars", Integer(), nullable=False),
    Column("oos_trades", Integer(), nullable=False),
    Column("oos_sharpe", Float(), nullable=True),  # annualised, out-of-sample after costs; None: undefined
    Column("net_pnl_pct", Float(), nullable=True),
    Column("model_trials", Integer(), nullable=False),  # the choices made inside the model (gate cells...)
    Column("promoted", Boolean(), nullable=False),
    Column("reason", Text(), nullable=False),
    PrimaryKeyConstraint("symbol", "model_id"),
    Index(None, "symbol", "as_of"),
)

# The Telegram outbox: every notification a process queued for the chat, until the bot process has sent it.
# Writers insert and never wait for Telegram; the bot claims rows in id order (claimed_by/claimed_at, so two
# bot processes never send one row twice), sends, and sets sent_at. A row that keeps failing permanently
# gets gave_up_at. The bot deletes sent and given-up rows after telegram.outbox_keep_days and the oldest
# unsent rows beyond telegram.outbox_max_rows. The token is never stored, nor in last_error.
notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer(), nullable=False, autoincrement=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("kind", String(32), nullable=False),  # one of NOTIFICATION_KINDS
    Column("text", Text(), nullable=False),  # the message, or the photo's caption
    Column("photo", LargeBinary(), nullable=True),  # PNG bytes: sent with sendPhoto, text as its caption
    Column("silent", Boolean(), nullable=False),  # sent without sound (telegram.notify.<kind>: silent)
    Column("chat_id", String(64), nullable=False),
    Column("attempts", Integer(), nullable=False),
    Column("last_error", Text(), nullable=True),
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    Column("claimed_by", String(128), nullable=True),  # the bot process sending it (host:pid)
    Column("claimed_at", UtcDateTime(), nullable=True),
    Column("sent_at", UtcDateTime(), nullable=True),
    Column("gave_up_at", UtcDateTime(), nullable=True),
    PrimaryKeyConstraint("id"),
    _one_of("kind", NOTIFICATION_KINDS, "kind"),
    Index(None, "sent_at", "id"),
)

ALL_TABLES = (
    models,
    model_metrics,
    promotions,
    live_trades,
    daily_equity,
    runs,
    hamilton_state,
    orders,
    fills,
    trials,
    notifications,
)
