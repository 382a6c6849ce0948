"""Idempotent writers and the few readers users need; every write is an upsert on the table's natural key.

Airflow re-runs and Hamilton restarts call the same writer twice: the second call replaces the row, never
adds one. Writers take an Engine (one transaction per call) or a Connection (joins the caller's
transaction). Times are arguments and must be timezone-aware; nothing here reads the clock.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, func, select

from huracan_core.db import rows as valid
from huracan_core.db.rows import Bind, transaction, upsert
from huracan_core.db.tables import (
    MODEL_STATUSES,
    PROMOTED_BY,
    RUN_STATUSES,
    TRADE_MODES,
    daily_equity,
    model_metrics,
    models,
    promotions,
    runs,
    trials,
)

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
    # Hamilton: positions open now, in every run.
    "open_positions": (
        "SELECT run_key, symbol, side, size, quantity, entry_fill_price, opened_at, model_id\n"
        "FROM live_trades\n"
        "WHERE closed_at IS NULL\n"
        "ORDER BY run_key, symbol;"
    ),
    # Hamilton: one run's trades closed on one UTC day (the bounds carry their offset, so psql sessions in
    # any time zone and SQLite's UTC text agree).
    "trades_of_a_day": (
        "SELECT symbol, side, size, entry_fill_price, exit_fill_price, net_pnl_pct, closed_at\n"
        "FROM live_trades\n"
        "WHERE run_key = 'paper'\n"
        "  AND closed_at >= '2026-11-24 00:00:00+00:00' AND closed_at < '2026-11-25 00:00:00+00:00'\n"
        "ORDER BY closed_at, symbol;"
    ),
    # Hamilton: one run's equity curve, one row per UTC day.
    "equity_curve": (
        "SELECT trade_day, equity, pnl_pct, trades\n"
        "FROM daily_equity\n"
        "WHERE run_key = 'paper'\n"
        "ORDER BY trade_day;"
    ),
    # One coin's models, newest first: which is champion, which were retired or rejected.
    "models_of_a_coin": (
        "SELECT model_id, trained_as_of, status, path\n"
        "FROM models\n"
        "WHERE symbol = 'BTCUSDT'\n"
        "ORDER BY trained_as_of DESC, model_id DESC;"
    ),
    # One model's out-of-sample metrics (scope 'oos'; 'regime:TREND', 'engine:breakout' hold the breakdowns).
    "metrics_of_a_model": (
        "SELECT metric_name, metric_value\n"
        "FROM model_metrics\n"
        "WHERE symbol = 'BTCUSDT' AND model_id = '20261124_020000Z' AND scope = 'oos'\n"
        "ORDER BY metric_name;"
    ),
    "rollbacks": (
        "SELECT symbol, from_model_id, to_model_id, promoted_at, reason\n"
        "FROM promotions\n"
        "WHERE promoted_by = 'rollback'\n"
        "ORDER BY promoted_at DESC, symbol;"
    ),
    # Hamilton: closed trades and their summed net PnL (% of each coin's allocation) per coin of one run.
    "pnl_per_coin": (
        "SELECT symbol, COUNT(*) AS trades, SUM(net_pnl_pct) AS net_pnl_pct\n"
        "FROM live_trades\n"
        "WHERE run_key = 'paper' AND closed_at IS NOT NULL\n"
        "GROUP BY symbol\n"
        "ORDER BY symbol;"
    ),
    # Mechanic: challengers tried per coin (the deflated Sharpe's N) and how many were promoted. `promoted` is a
    # boolean on PostgreSQL and 0/1 on SQLite; CASE WHEN reads both.
    "trials_per_coin": (
        "SELECT symbol, COUNT(*) AS trials, SUM(CASE WHEN promoted THEN 1 ELSE 0 END) AS promoted\n"
        "FROM trials\n"
        "GROUP BY symbol\n"
        "ORDER BY symbol;"
    ),
    "trials_of_a_coin": (
        "SELECT model_id, as_of, oos_trades, oos_sharpe, net_pnl_pct, promoted, reason\n"
        "FROM trials\n"
        "WHERE symbol = 'BTCUSDT'\n"
        "ORDER BY as_of DESC\n"
        "LIMIT 24;"
    ),
    # The last Engine nights and Mechanic hours.
    "last_runs": (
        "SELECT run_id, kind, status, started_at, finished_at, symbols_succeeded, symbols_failed, symbols_skipped\n"
        "FROM runs\n"
        "ORDER BY started_at DESC\n"
        "LIMIT 10;"
    ),
}


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
        "symbol": valid.symbol(symbol),
        "model_id": model_id,
        "path": path,
        "sha256": sha256,
        "feature_recipe_hash": feature_recipe_hash,
        "config_hash": config_hash,
        "trained_as_of": valid.aware("trained_as_of", trained_as_of),
        "created_at": valid.aware("created_at", created_at),
        "status": valid.one_of("model status", status, MODEL_STATUSES),
    }
    with transaction(bind) as conn:
        upsert(conn, models, [row], ("symbol", "model_id"))


def set_model_status(bind: Bind, *, symbol: str, model_id: str, status: str) -> None:
    """Change a recorded model's status (e.g. champion -> retired on promotion)."""
    valid.one_of("model status", status, MODEL_STATUSES)
    with transaction(bind) as conn:
        result = conn.execute(
            models.update()
            .where(models.c.symbol == valid.symbol(symbol), models.c.model_id == model_id)
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
    valid.symbol(symbol)
    if not scope:
        raise ValueError("scope must be a non-empty name such as 'oos'")
    rows = [
        {
            "symbol": symbol,
            "model_id": model_id,
            "scope": scope,
            "metric_name": name,
            "metric_value": valid.finite(f"metric {name!r} of {symbol}/{model_id} ({scope})", value),
        }
        for name, value in metrics.items()
    ]
    with transaction(bind) as conn:
        known = conn.execute(
            select(models.c.model_id).where(models.c.symbol == symbol, models.c.model_id == model_id)
        ).first()
        if known is None:
            raise ValueError(f"model {symbol}/{model_id} is not recorded; call record_model first")
        upsert(conn, model_metrics, rows, ("symbol", "model_id", "scope", "metric_name"))
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
        "symbol": valid.symbol(symbol),
        "from_model_id": from_model_id,
        "to_model_id": to_model_id,
        "promoted_by": valid.one_of("promoted_by", promoted_by, PROMOTED_BY),
        "promoted_at": valid.aware("promoted_at", promoted_at),
        "reason": reason,
        "metrics": valid.json_text(f"metrics of the promotion of {symbol}/{to_model_id}", metrics),
    }
    with transaction(bind) as conn:
        upsert(conn, promotions, [row], ("symbol", "to_model_id", "promoted_at"))


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
        "as_of": valid.aware("as_of", as_of),
        "started_at": valid.aware("started_at", started_at),
        "finished_at": valid.aware("finished_at", finished_at, optional=True),
        "status": valid.one_of("run status", status, RUN_STATUSES),
        "symbols_total": valid.count("symbols_total", symbols_total),
        "symbols_succeeded": valid.count("symbols_succeeded", symbols_succeeded),
        "symbols_failed": valid.count("symbols_failed", symbols_failed),
        "symbols_skipped": valid.count("symbols_skipped", symbols_skipped),
        "detail": valid.json_text(f"detail of run {run_id}", detail),
    }
    with transaction(bind) as conn:
        upsert(conn, runs, [row], ("run_id",))


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
    symbols_total: int | None = None,
) -> None:
    """Close a run started with record_run, keeping its kind, as_of and started_at; `symbols_total` when
    given replaces the one recorded at the start (a run learns its universe after it has started)."""
    values: dict[str, Any] = {
        "finished_at": valid.aware("finished_at", finished_at),
        "status": valid.one_of("run status", status, RUN_STATUSES),
        "symbols_succeeded": valid.count("symbols_succeeded", symbols_succeeded),
        "symbols_failed": valid.count("symbols_failed", symbols_failed),
        "symbols_skipped": valid.count("symbols_skipped", symbols_skipped),
    }
    if detail is not None:
        values["detail"] = valid.json_text(f"detail of run {run_id}", detail)
    if symbols_total is not None:
        values["symbols_total"] = valid.count("symbols_total", symbols_total)
    with transaction(bind) as conn:
        result = conn.execute(runs.update().where(runs.c.run_id == run_id).values(**values))
        if result.rowcount == 0:
            raise ValueError(f"run {run_id!r} was never started; call record_run first")


def equity_row(
    *,
    run_key: str,
    mode: str,
    trade_day: date,
    equity: float,
    pnl_pct: float,
    trades: int,
    loss_cap_hit_ms: int | None = None,
) -> dict[str, Any]:
    """One daily_equity row, checked: a UTC day, finite numbers, a known mode, a loss-cap time inside the day."""
    valid.day("trade_day", trade_day)
    if loss_cap_hit_ms is not None:
        start = int(datetime(trade_day.year, trade_day.month, trade_day.day, tzinfo=UTC).timestamp() * 1000)
        if isinstance(loss_cap_hit_ms, bool) or not isinstance(loss_cap_hit_ms, int) or not (
            start <= loss_cap_hit_ms < start + 86_400_000
        ):
            raise ValueError(
                f"loss_cap_hit_ms on {trade_day} must be epoch milliseconds inside that UTC day, got {loss_cap_hit_ms!r}"
            )
    return {
        "loss_cap_hit_ms": loss_cap_hit_ms,
        "run_key": valid.name("run_key", run_key, max_length=128),
        "trade_day": trade_day,
        "mode": valid.one_of("mode", mode, TRADE_MODES),
        "equity": valid.finite(f"equity on {trade_day}", equity),
        "pnl_pct": valid.finite(f"pnl_pct on {trade_day}", pnl_pct),
        "trades": valid.count(f"trades on {trade_day}", trades),
    }


def record_daily_equity(
    bind: Bind,
    *,
    trade_day: date,
    mode: str,
    equity: float,
    pnl_pct: float,
    trades: int,
    run_key: str | None = None,
    loss_cap_hit_ms: int | None = None,
) -> None:
    """Insert or replace the end-of-day equity of one run on one UTC day.

    `run_key` defaults to the mode: 'paper' and 'live' are the keys of Hamilton's default runs.
    """
    row = equity_row(
        run_key=mode if run_key is None else run_key,
        mode=mode,
        trade_day=trade_day,
        equity=equity,
        pnl_pct=pnl_pct,
        trades=trades,
        loss_cap_hit_ms=loss_cap_hit_ms,
    )
    with transaction(bind) as conn:
        upsert(conn, daily_equity, [row], ("run_key", "trade_day"))


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
    with transaction(bind) as conn:
        return [dict(row._mapping) for row in conn.execute(stmt)]


def promotions_on(bind: Bind, day: date) -> list[dict[str, Any]]:
    """Every promotion during one UTC day, oldest first, with its metrics decoded."""
    start = datetime.combine(day, time(0, 0), tzinfo=UTC)
    stmt = (
        select(promotions)
        .where(promotions.c.promoted_at >= start, promotions.c.promoted_at < start + timedelta(days=1))
        .order_by(promotions.c.promoted_at, promotions.c.symbol)
    )
    with transaction(bind) as conn:
        rows = [dict(row._mapping) for row in conn.execute(stmt)]
    for row in rows:
        row["metrics"] = json.loads(row["metrics"]) if row["metrics"] else None
    return rows


def promotions_since(bind: Bind, since: datetime, *, limit: int = 20) -> list[dict[str, Any]]:
    """The newest promotions at or after `since` (newest first, at most `limit`), with their metrics decoded."""
    stmt = (
        select(promotions)
        .where(promotions.c.promoted_at >= valid.aware("since", since))
        .order_by(promotions.c.promoted_at.desc(), promotions.c.symbol)
        .limit(limit)
    )
    with transaction(bind) as conn:
        rows = [dict(row._mapping) for row in conn.execute(stmt)]
    for row in rows:
        row["metrics"] = json.loads(row["metrics"]) if row["metrics"] else None
    return rows


def pnl_by_day(bind: Bind, run_key: str = "paper") -> list[dict[str, Any]]:
    """End-of-day equity and return per UTC day of one run (default: the paper run), oldest first."""
    stmt = (
        select(daily_equity.c.trade_day, daily_equity.c.equity, daily_equity.c.pnl_pct, daily_equity.c.trades)
        .where(daily_equity.c.run_key == run_key)
        .order_by(daily_equity.c.trade_day)
    )
    with transaction(bind) as conn:
        return [dict(row._mapping) for row in conn.execute(stmt)]


def get_run(bind: Bind, run_id: str) -> dict[str, Any] | None:
    """One run's row with its detail decoded, or None."""
    with transaction(bind) as conn:
        row = conn.execute(select(runs).where(runs.c.run_id == run_id)).first()
    if row is None:
        return None
    out = dict(row._mapping)
    out["detail"] = json.loads(out["detail"]) if out["detail"] else None
    return out


def last_run(bind: Bind, kind: str) -> dict[str, Any] | None:
    """The run of `kind` (engine, mechanic, ...) with the newest as-of, its detail decoded; None when none ran."""
    stmt = (
        select(runs)
        .where(runs.c.kind == kind)
        .order_by(runs.c.as_of.desc(), runs.c.started_at.desc())
        .limit(1)
    )
    with transaction(bind) as conn:
        row = conn.execute(stmt).first()
    if row is None:
        return None
    out = dict(row._mapping)
    out["detail"] = json.loads(out["detail"]) if out["detail"] else None
    return out


def record_trial(
    bind: Bind,
    *,
    symbol: str,
    model_id: str,
    as_of: datetime,
    evaluated_at: datetime,
    oos_bars: int,
    oos_trades: int,
    oos_sharpe: float | None,
    net_pnl_pct: float | None,
    model_trials: int,
    promoted: bool,
    reason: str,
) -> None:
    """Record one evaluated challenger; a re-run of the same hour replaces its row (it is not a new trial)."""
    row = {
        "symbol": valid.symbol(symbol),
        "model_id": valid.name("model_id", model_id, max_length=64),
        "as_of": valid.aware("as_of", as_of),
        "evaluated_at": valid.aware("evaluated_at", evaluated_at),
        "oos_bars": valid.count("oos_bars", oos_bars),
        "oos_trades": valid.count("oos_trades", oos_trades),
        "oos_sharpe": valid.finite("oos_sharpe", oos_sharpe, optional=True),
        "net_pnl_pct": valid.finite("net_pnl_pct", net_pnl_pct, optional=True),
        "model_trials": valid.count("model_trials", model_trials),
        "promoted": bool(promoted),
        "reason": reason,
    }
    with transaction(bind) as conn:
        upsert(conn, trials, [row], ("symbol", "model_id"))


def trial_count(bind: Bind, symbol: str) -> int:
    """How many challengers were ever evaluated for `symbol` (the Mechanic's deflated-Sharpe N)."""
    stmt = select(func.count()).select_from(trials).where(trials.c.symbol == valid.symbol(symbol))
    with transaction(bind) as conn:
        return int(conn.execute(stmt).scalar_one())


def trials_of(bind: Bind, symbol: str) -> list[dict[str, Any]]:
    """Every trial of one coin, oldest first."""
    stmt = select(trials).where(trials.c.symbol == valid.symbol(symbol)).order_by(trials.c.as_of)
    with transaction(bind) as conn:
        return [dict(row._mapping) for row in conn.execute(stmt)]


def get_model(bind: Bind, symbol: str, model_id: str) -> dict[str, Any] | None:
    """One recorded model's row (path, sha256 of model.bin, status, ...), or None when it is not recorded."""
    stmt = select(models).where(models.c.symbol == valid.symbol(symbol), models.c.model_id == model_id)
    with transaction(bind) as conn:
        row = conn.execute(stmt).first()
    return None if row is None else dict(row._mapping)


def models_with_status(bind: Bind, status: str) -> set[tuple[str, str]]:
    """(symbol, model_id) of every model in `status`: housekeeping spares the database's champions too."""
    valid.one_of("model status", status, MODEL_STATUSES)
    stmt = select(models.c.symbol, models.c.model_id).where(models.c.status == status)
    with transaction(bind) as conn:
        return {(row.symbol, row.model_id) for row in conn.execute(stmt)}


def models_of(bind: Bind, symbol: str, *, limit: int = 50, scope: str = "oos") -> list[dict[str, Any]]:
    """One coin's recorded models, newest first, each with its metrics of `scope` as a dict (name -> value)."""
    stmt = (
        select(models)
        .where(models.c.symbol == valid.symbol(symbol))
        .order_by(models.c.trained_as_of.desc(), models.c.model_id.desc())
        .limit(limit)
    )
    with transaction(bind) as conn:
        rows = [dict(row._mapping) for row in conn.execute(stmt)]
        ids = [row["model_id"] for row in rows]
        metrics: dict[str, dict[str, float]] = {model_id: {} for model_id in ids}
        if ids:
            columns = (model_metrics.c.model_id, model_metrics.c.metric_name, model_metrics.c.metric_value)
            found = conn.execute(
                select(*columns).where(
                    model_metrics.c.symbol == symbol,
                    model_metrics.c.model_id.in_(ids),
                    model_metrics.c.scope == scope,
                )
            )
            for model_id, name, value in found:
                metrics[model_id][name] = value
    for row in rows:
        row["metrics"] = metrics[row["model_id"]]
    return rows


def promotion_history(bind: Bind, *, limit: int = 100, symbol: str | None = None) -> list[dict[str, Any]]:
    """Champion pointer moves (rollbacks included), newest first, with their metrics decoded."""
    stmt = select(promotions).order_by(promotions.c.promoted_at.desc(), promotions.c.symbol).limit(limit)
    if symbol is not None:
        stmt = stmt.where(promotions.c.symbol == valid.symbol(symbol))
    with transaction(bind) as conn:
        rows = [dict(row._mapping) for row in conn.execute(stmt)]
    for row in rows:
        row["metrics"] = json.loads(row["metrics"]) if row["metrics"] else None
    return rows


def recorded_symbols(bind: Bind) -> list[str]:
    """Every coin with at least one recorded model, sorted."""
    with transaction(bind) as conn:
        return list(conn.execute(select(models.c.symbol).distinct().order_by(models.c.symbol)).scalars())
