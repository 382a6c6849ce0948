"""Hamilton's journal: live_trades becomes the trade log, daily_equity is per run, plus state, orders, fills.

- live_trades gets the parquet trade log's columns and run_key (primary key run_key, trade_id). Rows of
  0001 are carried over: run_key = mode, quantity = the old size (base units), entry/exit fill prices and
  bar prices = the old prices, entry_time/exit_time = opened_at/closed_at in epoch ms, fee_bps = the old
  two-leg fee halved (per side), entry_cost_bps = the old fee plus spread-and-slippage halved. What 0001
  never recorded (size as a fraction of equity, max_size, the spread/slippage split, gross PnL, bars held)
  stays NULL; their net_pnl_pct stays as 0001 recorded it (percent of entry notional).
- daily_equity gets run_key (old rows: run_key = mode) in its primary key; mode may be 'replay'.
- hamilton_state, orders, fills are new.

SQLite cannot alter primary keys or CHECK constraints in place, and PostgreSQL keeps index and primary key
names schema-wide, so the two changed tables are copied aside, rebuilt and refilled with the same SQL on
both backends (only the epoch-ms expression differs). Offline (`--sql`) output works too.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)
MODES = "mode IN ('paper', 'live', 'replay')"
MODES_0001 = "mode IN ('paper', 'live')"


def _epoch_ms(column: str) -> str:
    """SQL for a stored timestamp as integer epoch milliseconds (NULL stays NULL)."""
    if op.get_context().dialect.name == "postgresql":
        return f"CAST(ROUND(EXTRACT(EPOCH FROM {column}) * 1000) AS BIGINT)"
    # SQLite stores 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC: whole seconds, then the milliseconds of %f (SS.SSS).
    return (
        f"(CAST(strftime('%s', {column}) AS INTEGER) * 1000"
        f" + CAST(substr(strftime('%f', {column}), 4, 3) AS INTEGER))"
    )


def _create_live_trades() -> None:
    op.create_table(
        "live_trades",
        sa.Column("run_key", sa.String(128), nullable=False),
        sa.Column("trade_id", sa.String(128), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("size", sa.Float(), nullable=True),
        sa.Column("max_size", sa.Float(), nullable=True),
        sa.Column("quantity", sa.Float(), nullable=False),
        sa.Column("opened_at", TZ, nullable=False),
        sa.Column("closed_at", TZ, nullable=True),
        sa.Column("entry_time", sa.BigInteger(), nullable=False),
        sa.Column("exit_time", sa.BigInteger(), nullable=True),
        sa.Column("entry_price", sa.Float(), nullable=False),
        sa.Column("exit_price", sa.Float(), nullable=True),
        sa.Column("entry_fill_price", sa.Float(), nullable=False),
        sa.Column("exit_fill_price", sa.Float(), nullable=True),
        sa.Column("entry_cost_bps", sa.Float(), nullable=True),
        sa.Column("costs_bps", sa.Float(), nullable=True),
        sa.Column("fee_bps", sa.Float(), nullable=True),
        sa.Column("spread_bps", sa.Float(), nullable=True),
        sa.Column("slippage_bps", sa.Float(), nullable=True),
        sa.Column("gross_pnl_pct", sa.Float(), nullable=True),
        sa.Column("net_pnl_pct", sa.Float(), nullable=True),
        sa.Column("bars_held", sa.Integer(), nullable=True),
        sa.Column("engine_mix", sa.Text(), nullable=True),
        sa.Column("regime", sa.String(32), nullable=True),
        sa.Column("guardrail_reason", sa.Text(), nullable=True),
        sa.Column("model_id", sa.String(64), nullable=True),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.PrimaryKeyConstraint("run_key", "trade_id", name=op.f("pk_live_trades")),
        sa.CheckConstraint("side IN ('long', 'short')", name=op.f("ck_live_trades_side")),
        sa.CheckConstraint(MODES, name=op.f("ck_live_trades_mode")),
    )
    op.create_index(op.f("ix_live_trades_symbol_opened_at"), "live_trades", ["symbol", "opened_at"])
    op.create_index(op.f("ix_live_trades_closed_at"), "live_trades", ["closed_at"])
    op.create_index(op.f("ix_live_trades_run_key_entry_time"), "live_trades", ["run_key", "entry_time"])
    op.create_index(op.f("ix_live_trades_run_key_exit_time"), "live_trades", ["run_key", "exit_time"])


def _create_live_trades_0001() -> None:
    op.create_table(
        "live_trades",
        sa.Column("trade_id", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("size", sa.Float(), nullable=False),
        sa.Column("opened_at", TZ, nullable=False),
        sa.Column("entry_price", sa.Float(), nullable=False),
        sa.Column("closed_at", TZ, nullable=True),
        sa.Column("exit_price", sa.Float(), nullable=True),
        sa.Column("fee_bps", sa.Float(), nullable=True),
        sa.Column("cost_bps", sa.Float(), nullable=True),
        sa.Column("net_pnl_pct", sa.Float(), nullable=True),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("model_id", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("trade_id", name=op.f("pk_live_trades")),
        sa.CheckConstraint("side IN ('long', 'short')", name=op.f("ck_live_trades_side")),
        sa.CheckConstraint(MODES_0001, name=op.f("ck_live_trades_mode")),
    )
    op.create_index(op.f("ix_live_trades_symbol_opened_at"), "live_trades", ["symbol", "opened_at"])
    op.create_index(op.f("ix_live_trades_closed_at"), "live_trades", ["closed_at"])


def _create_daily_equity(*, with_run_key: bool) -> None:
    columns = [sa.Column("run_key", sa.String(128), nullable=False)] if with_run_key else []
    key = ("run_key", "trade_day") if with_run_key else ("trade_day", "mode")
    op.create_table(
        "daily_equity",
        *columns,
        sa.Column("trade_day", sa.Date(), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("equity", sa.Float(), nullable=False),
        sa.Column("pnl_pct", sa.Float(), nullable=False),
        sa.Column("trades", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(*key, name=op.f("pk_daily_equity")),
        sa.CheckConstraint(MODES if with_run_key else MODES_0001, name=op.f("ck_daily_equity_mode")),
    )


def _set_aside(table: str) -> str:
    """Copy `table` to `<table>_old` (rows only) and drop the original with its indexes and constraints."""
    old = f"{table}_old"
    op.execute(f"CREATE TABLE {old} AS SELECT * FROM {table}")
    op.drop_table(table)
    return old


def upgrade() -> None:
    old = _set_aside("live_trades")
    _create_live_trades()
    op.execute(
        "INSERT INTO live_trades (run_key, trade_id, symbol, side, size, max_size, quantity, opened_at, "
        "closed_at, entry_time, exit_time, entry_price, exit_price, entry_fill_price, exit_fill_price, "
        "entry_cost_bps, costs_bps, fee_bps, spread_bps, slippage_bps, gross_pnl_pct, net_pnl_pct, "
        "bars_held, engine_mix, regime, guardrail_reason, model_id, mode) "
        f"SELECT mode, trade_id, symbol, side, NULL, NULL, size, opened_at, closed_at, "
        f"{_epoch_ms('opened_at')}, {_epoch_ms('closed_at')}, entry_price, exit_price, entry_price, "
        "exit_price, "
        "CASE WHEN fee_bps IS NULL AND cost_bps IS NULL THEN NULL "
        "ELSE (COALESCE(fee_bps, 0) + COALESCE(cost_bps, 0)) / 2.0 END, "
        "NULL, fee_bps / 2.0, NULL, NULL, NULL, net_pnl_pct, NULL, NULL, NULL, NULL, model_id, mode "
        f"FROM {old}"
    )
    op.drop_table(old)

    old = _set_aside("daily_equity")
    _create_daily_equity(with_run_key=True)
    op.execute(
        "INSERT INTO daily_equity (run_key, trade_day, mode, equity, pnl_pct, trades) "
        f"SELECT mode, trade_day, mode, equity, pnl_pct, trades FROM {old}"
    )
    op.drop_table(old)

    op.create_table(
        "hamilton_state",
        sa.Column("run_key", sa.String(128), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("bar_ms", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("run_key", name=op.f("pk_hamilton_state")),
        sa.CheckConstraint(MODES, name=op.f("ck_hamilton_state_mode")),
    )

    op.create_table(
        "orders",
        sa.Column("run_key", sa.String(128), nullable=False),
        sa.Column("client_order_id", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("quantity", sa.Float(), nullable=False),
        sa.Column("bar_ms", sa.BigInteger(), nullable=False),
        sa.Column("model_id", sa.String(64), nullable=False),
        sa.Column("leg", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("exchange_order_id", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.PrimaryKeyConstraint("run_key", "client_order_id", name=op.f("pk_orders")),
        sa.CheckConstraint("side IN ('buy', 'sell')", name=op.f("ck_orders_side")),
        sa.CheckConstraint(
            "status IN ('intent', 'placed', 'filled', 'rejected', 'cancelled', 'unknown')",
            name=op.f("ck_orders_status"),
        ),
        sa.CheckConstraint(MODES, name=op.f("ck_orders_mode")),
    )
    op.create_index(op.f("ix_orders_run_key_status"), "orders", ["run_key", "status"])

    op.create_table(
        "fills",
        sa.Column("run_key", sa.String(128), nullable=False),
        sa.Column("fill_id", sa.String(128), nullable=False),
        sa.Column("client_order_id", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("quantity", sa.Float(), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.Column("fee_quote", sa.Float(), nullable=False),
        sa.Column("filled_at", sa.BigInteger(), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.PrimaryKeyConstraint("run_key", "fill_id", name=op.f("pk_fills")),
        sa.CheckConstraint("side IN ('buy', 'sell')", name=op.f("ck_fills_side")),
        sa.CheckConstraint(MODES, name=op.f("ck_fills_mode")),
    )
    op.create_index(op.f("ix_fills_run_key_client_order_id"), "fills", ["run_key", "client_order_id"])


def downgrade() -> None:
    """Back to 0001's shape, keeping the rows it can hold: runs 'paper' and 'live' (run_key = mode).

    Replays and other run keys, orders, fills and run states have no place in 0001 and are dropped.
    """
    op.drop_table("fills")
    op.drop_table("orders")
    op.drop_table("hamilton_state")

    old = _set_aside("daily_equity")
    _create_daily_equity(with_run_key=False)
    op.execute(
        "INSERT INTO daily_equity (trade_day, mode, equity, pnl_pct, trades) "
        f"SELECT trade_day, mode, equity, pnl_pct, trades FROM {old} "
        "WHERE run_key = mode AND mode IN ('paper', 'live')"
    )
    op.drop_table(old)

    old = _set_aside("live_trades")
    _create_live_trades_0001()
    op.execute(
        "INSERT INTO live_trades (trade_id, symbol, side, size, opened_at, entry_price, closed_at, "
        "exit_price, fee_bps, cost_bps, net_pnl_pct, mode, model_id) "
        "SELECT trade_id, symbol, side, quantity, opened_at, entry_fill_price, closed_at, exit_fill_price, "
        "fee_bps * 2.0, CASE WHEN entry_cost_bps IS NULL OR fee_bps IS NULL THEN NULL "
        "ELSE (entry_cost_bps - fee_bps) * 2.0 END, net_pnl_pct, mode, model_id "
        f"FROM {old} WHERE run_key = mode AND mode IN ('paper', 'live')"
    )
    op.drop_table(old)
