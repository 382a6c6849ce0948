"""Idempotent writers and the few readers users need; every write is an upsert on the table's natural key.

Airflow re-runs and Hamilton restarts call the same writer twice: the second call replaces the row, never
adds one. Writers take an Engine (one transaction per call) or a Connection (joins the caller's
transaction). Times are arguments and must be timezone-aware; nothing here reads the clock.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Table, and_, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from huracan_core.db.connection import translate
from huracan_core.db.tables import (
    MODEL_STATUSES,
    PROMOTED_BY,
    RUN_STATUSES,
    TRADE_MODES,
    TRADE_SIDES,
    daily_equity,
    live_trades,
    model_metrics,
    models,
    promotions,
    runs,
)

Bind = Engine | Connection
_SYMBOL = re.compile(r"^[A-Z0-9]{2,20}$")

# The SQL the README shows; plain SQL that runs unchanged in sqlite3 and psql (a test runs each on both).
README_SQL: dict[str, str] = {
    "best_models": (
        "SELECT m.symbol, m.model_id, mm.metric_value AS sharpe, m.trained_as_of, m.status\n"
        "FROM models AS m\n"
        "JOIN model_metrics AS mm ON mm.symbol = m.symbol AND mm.model_id = m.model_id\n"
        "WHERE mm.scope = 'oos' AND mm.metric_name = 'sharpe'\n"
        "ORDER BY mm.metric_value DESC, m.symbol, m.model_id\n"
        "LIMIT 10;"
    ),
    "promotions_today": (
        "SELECT symbol, from_model_id, to_model_id, promoted_by, promoted_at, reason\n"
        "FROM promotions\n"
        "WHERE promoted_at >= CURRENT_DATE\n"
        "ORDER BY promoted_at, symbol;"
    ),
    "pnl_by_day": (
        "SELECT trade_day, mode, equity, pnl_pct, trades\nFROM daily_equity\nORDER BY mode, trade_day;"
    ),
}


# --- plumbing ---------------------------------------------------------------------------------------
@contextmanager
def _transaction(bind: Bind) -> Iterator[Connection]:
    """One transaction for an Engine; the caller's transaction for a Connection (begun if none is open)."""
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


def _upsert(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> None:
    """Insert rows, replacing any row with the same key (native ON CONFLICT where the dialect has it)."""
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect in ("sqlite", "postgresql"):
        dialect_insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
        stmt = dialect_insert(table).values(list(rows))
        changing = [name for name in rows[0] if name not in keys]
        if changing:
            stmt = stmt.on_conflict_do_update(
                index_elements=list(keys), set_={name: stmt.excluded[name] for name in changing}
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
        conn.execute(stmt)
        return
    # Any other dialect: delete + insert inside the caller's one transaction.
    for row in rows:
        conn.execute(delete(table).where(and_(*(table.c[key] == row[key] for key in keys))))
    conn.execute(insert(table), list(rows))


def _symbol(symbol: str) -> str:
    if not isinstance(symbol, str) or not _SYMBOL.match(symbol):
        raise ValueError(f"symbol {symbol!r} is not like BTCUSDT (2-20 capital letters or digits, no slash)")
    return symbol


def _one_of(what: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{what} {value!r} is not one of {', '.join(allowed)}")
    return value


def _finite(
    what: str, value: float | None, *, positive: bool = False, optional: bool = False
) -> float | None:
    if value is None:
        if optional:
            return None
        raise ValueError(f"{what} is required")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{what} is {number}; only finite numbers can be stored")
    if positive and number <= 0:
        raise ValueError(f"{what} must be positive, got {number}")
    return number


def _aware(what: str, value: datetime | None, *, optional: bool = False) -> datetime | None:
    if value is None:
        if optional:
            return None
        raise ValueError(f"{what} is required")
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime (UTC), got {value!r}")
    return value


def _json_text(what: str, value: Mapping[str, Any] | None) -> str | None:
    if value is None:
        return None
    try:
        return json.dumps(value, sort_keys=True, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} cannot be stored as JSON: {exc}") from None


def _count(what: str, value: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {value!r}")
    return value


# --- writers ----------------------------------------------------------------------------------------
def record_model(
    bind: Bind,
    *,
    symbol: str,
    model_id: str,
    path: str,
    sha256: str,
    feature_recipe_hash: str,
    config_hash: str,
    trained_as_of: datetime,
    created_at: datetime,
    status: str = "trained",
) -> None:
    """Insert or replace one trained bundle's row, keyed by (symbol, model_id)."""
    row = {
        "symbol": _symbol(symbol),
        "model_id": model_id,
        "path": path,
        "sha256": sha256,
        "feature_recipe_hash": feature_recipe_hash,
        "config_hash": config_hash,
        "trained_as_of": _aware("trained_as_of", trained_as_of),
        "created_at": _aware("created_at", created_at),
        "status": _one_of("model status", status, MODEL_STATUSES),
    }
    with _transaction(bind) as conn:
        _upsert(conn, models, [row], ("symbol", "model_id"))


def set_model_status(bind: Bind, *, symbol: str, model_id: str, status: str) -> None:
    """Change a recorded model's status (e.g. champion -> retired on promotion)."""
    _one_of("model status", status, MODEL_STATUSES)
    with _transaction(bind) as conn:
        result = conn.execute(
            models.update()
            .where(models.c.symbol == _symbol(symbol), models.c.model_id == model_id)
            .values(status=status)
        )
        if result.rowcount == 0:
            raise ValueError(f"model {symbol}/{model_id} is not recorded; call record_model first")


def record_metrics(
    bind: Bind, *, symbol: str, model_id: str, metrics: Mapping[str, float], scope: str = "oos"
) -> int:
    """Insert or replace each metric (name -> value) of one model in `scope`; returns how many were written.

    Scope says which slice the numbers describe: 'oos' (the whole out-of-sample test, after costs),
    a regime such as 'regime:TREND', or an engine such as 'engine:breakout'.
    """
    _symbol(symbol)
    if not scope:
        raise ValueError("scope must be a non-empty name such as 'oos'")
    rows = [
        {
            "symbol": symbol,
            "model_id": model_id,
            "scope": scope,
            "metric_name": name,
            "metric_value": _finite(f"metric {name!r} of {symbol}/{model_id} ({scope})", value),
        }
        for name, value in metrics.items()
    ]
    with _transaction(bind) as conn:
        known = conn.execute(
            select(models.c.model_id).where(models.c.symbol == symbol, models.c.model_id == model_id)
        ).first()
        if known is None:
            raise ValueError(f"model {symbol}/{model_id} is not recorded; call record_model first")
        _upsert(conn, model_metrics, rows, ("symbol", "model_id", "scope", "metric_name"))
    return len(rows)


def record_promotion(
    bind: Bind,
    *,
    symbol: str,
    from_model_id: str | None,
    to_model_id: str,
    promoted_by: str,
    promoted_at: datetime,
    reason: str,
    metrics: Mapping[str, Any] | None = None,
) -> None:
    """Record one champion pointer move; the same move (symbol, to_model_id, promoted_at) replaces its row."""
    row = {
        "symbol": _symbol(symbol),
        "from_model_id": from_model_id,
        "to_model_id": to_model_id,
        "promoted_by": _one_of("promoted_by", promoted_by, PROMOTED_BY),
        "promoted_at": _aware("promoted_at", promoted_at),
        "reason": reason,
        "metrics": _json_text(f"metrics of the promotion of {symbol}/{to_model_id}", metrics),
    }
    with _transaction(bind) as conn:
        _upsert(conn, promotions, [row], ("symbol", "to_model_id", "promoted_at"))


def record_run(
    bind: Bind,
    *,
    run_id: str,
    kind: str,
    as_of: datetime,
    started_at: datetime,
    status: str = "running",
    finished_at: datetime | None = None,
    symbols_total: int = 0,
    symbols_succeeded: int = 0,
    symbols_failed: int = 0,
    symbols_skipped: int = 0,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Insert or replace a whole run row: call at start (status 'running'), and again at the end.

    An Airflow re-run of the same logical date uses the same run_id, so it replaces the earlier row.
    """
    if not run_id or not kind:
        raise ValueError("run_id and kind must be non-empty")
    row = {
        "run_id": run_id,
        "kind": kind,
        "as_of": _aware("as_of", as_of),
        "started_at": _aware("started_at", started_at),
        "finished_at": _aware("finished_at", finished_at, optional=True),
        "status": _one_of("run status", status, RUN_STATUSES),
        "symbols_total": _count("symbols_total", symbols_total),
        "symbols_succeeded": _count("symbols_succeeded", symbols_succeeded),
        "symbols_failed": _count("symbols_failed", symbols_failed),
        "symbols_skipped": _count("symbols_skipped", symbols_skipped),
        "detail": _json_text(f"detail of run {run_id}", detail),
    }
    with _transaction(bind) as conn:
        _upsert(conn, runs, [row], ("run_id",))


def finish_run(
    bind: Bind,
    *,
    run_id: str,
    finished_at: datetime,
    status: str,
    symbols_succeeded: int,
    symbols_failed: int,
    symbols_skipped: int,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Close a run started with record_run, keeping its kind, as_of, started_at and symbols_total."""
    values: dict[str, Any] = {
        "finished_at": _aware("finished_at", finished_at),
        "status": _one_of("run status", status, RUN_STATUSES),
        "symbols_succeeded": _count("symbols_succeeded", symbols_succeeded),
        "symbols_failed": _count("symbols_failed", symbols_failed),
        "symbols_skipped": _count("symbols_skipped", symbols_skipped),
    }
    if detail is not None:
        values["detail"] = _json_text(f"detail of run {run_id}", detail)
    with _transaction(bind) as conn:
        result = conn.execute(runs.update().where(runs.c.run_id == run_id).values(**values))
        if result.rowcount == 0:
            raise ValueError(f"run {run_id!r} was never started; call record_run first")


def record_trade(
    bind: Bind,
    *,
    trade_id: str,
    symbol: str,
    side: str,
    size: float,
    opened_at: datetime,
    entry_price: float,
    mode: str,
    model_id: str | None = None,
    closed_at: datetime | None = None,
    exit_price: float | None = None,
    fee_bps: float | None = None,
    cost_bps: float | None = None,
    net_pnl_pct: float | None = None,
) -> None:
    """Insert or replace one trade by trade_id: call when it opens, and again with the exit when it closes."""
    if not trade_id:
        raise ValueError("trade_id must be non-empty")
    if (closed_at is None) != (exit_price is None):
        raise ValueError(f"trade {trade_id}: closed_at and exit_price must be given together")
    if closed_at is not None and _aware("closed_at", closed_at) < _aware("opened_at", opened_at):  # type: ignore[operator]
        raise ValueError(f"trade {trade_id}: closed_at {closed_at.isoformat()} is before opened_at")
    row = {
        "trade_id": trade_id,
        "symbol": _symbol(symbol),
        "side": _one_of("side", side, TRADE_SIDES),
        "size": _finite(f"size of trade {trade_id}", size, positive=True),
        "opened_at": _aware("opened_at", opened_at),
        "entry_price": _finite(f"entry_price of trade {trade_id}", entry_price, positive=True),
        "closed_at": closed_at,
        "exit_price": _finite(f"exit_price of trade {trade_id}", exit_price, positive=True, optional=True),
        "fee_bps": _finite(f"fee_bps of trade {trade_id}", fee_bps, optional=True),
        "cost_bps": _finite(f"cost_bps of trade {trade_id}", cost_bps, optional=True),
        "net_pnl_pct": _finite(f"net_pnl_pct of trade {trade_id}", net_pnl_pct, optional=True),
        "mode": _one_of("mode", mode, TRADE_MODES),
        "model_id": model_id,
    }
    with _transaction(bind) as conn:
        _upsert(conn, live_trades, [row], ("trade_id",))


def record_daily_equity(
    bind: Bind, *, trade_day: date, mode: str, equity: float, pnl_pct: float, trades: int
) -> None:
    """Insert or replace the end-of-day equity of one UTC day and mode."""
    if isinstance(trade_day, datetime) or not isinstance(trade_day, date):
        raise ValueError(f"trade_day must be a date (UTC day), got {trade_day!r}")
    row = {
        "trade_day": trade_day,
        "mode": _one_of("mode", mode, TRADE_MODES),
        "equity": _finite(f"equity on {trade_day}", equity),
        "pnl_pct": _finite(f"pnl_pct on {trade_day}", pnl_pct),
        "trades": _count("trades", trades),
    }
    with _transaction(bind) as conn:
        _upsert(conn, daily_equity, [row], ("trade_day", "mode"))


# --- readers ----------------------------------------------------------------------------------------
def best_models(
    bind: Bind, limit: int = 10, metric: str = "sharpe", *, scope: str = "oos", descending: bool = True
) -> list[dict[str, Any]]:
    """Models ranked by one metric in one scope (default: out-of-sample Sharpe, highest first)."""
    order = model_metrics.c.metric_value.desc() if descending else model_metrics.c.metric_value.asc()
    stmt = (
        select(
            models.c.symbol,
            models.c.model_id,
            model_metrics.c.metric_value,
            models.c.trained_as_of,
            models.c.status,
            models.c.path,
        )
        .join(
            model_metrics,
            and_(model_metrics.c.symbol == models.c.symbol, model_metrics.c.model_id == models.c.model_id),
        )
        .where(model_metrics.c.scope == scope, model_metrics.c.metric_name == metric)
        .order_by(order, models.c.symbol, models.c.model_id)
        .limit(limit)
    )
    with _transaction(bind) as conn:
        return [dict(row._mapping) for row in conn.execute(stmt)]


def promotions_on(bind: Bind, day: date) -> list[dict[str, Any]]:
    """Every promotion during one UTC day, oldest first, with its metrics decoded."""
    start = datetime.combine(day, time(0, 0), tzinfo=UTC)
    stmt = (
        select(promotions)
        .where(promotions.c.promoted_at >= start, promotions.c.promoted_at < start + timedelta(days=1))
        .order_by(promotions.c.promoted_at, promotions.c.symbol)
    )
    with _transaction(bind) as conn:
        rows = [dict(row._mapping) for row in conn.execute(stmt)]
    for row in rows:
        row["metrics"] = json.loads(row["metrics"]) if row["metrics"] else None
    return rows


def pnl_by_day(bind: Bind, mode: str = "paper") -> list[dict[str, Any]]:
    """End-of-day equity and return per UTC day for one mode, oldest first."""
    _one_of("mode", mode, TRADE_MODES)
    stmt = (
        select(daily_equity.c.trade_day, daily_equity.c.equity, daily_equity.c.pnl_pct, daily_equity.c.trades)
        .where(daily_equity.c.mode == mode)
        .order_by(daily_equity.c.trade_day)
    )
    with _transaction(bind) as conn:
        return [dict(row._mapping) for row in conn.execute(stmt)]


def get_run(bind: Bind, run_id: str) -> dict[str, Any] | None:
    """One run's row with its detail decoded, or None."""
    with _transaction(bind) as conn:
        row = conn.execute(select(runs).where(runs.c.run_id == run_id)).first()
    if row is None:
        return None
    out = dict(row._mapping)
    out["detail"] = json.loads(out["detail"]) if out["detail"] else None
    return out
