"""Hamilton's tables (trade log, run state, orders, fills) as checked rows, writers and readers.

Every row belongs to one run (`run_key`: 'paper', 'live', 'replay:2024-12-01:2025-01-01', ...) and every
write is keyed so that replaying a bar writes the same rows again instead of new ones. The Journal in
`huracan_core.hamilton.journal` composes these into one transaction per bar; nothing here reads the clock.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, select

from huracan_core.db import rows as valid
from huracan_core.db.rows import Bind, insert_missing, native_insert, transaction, upsert
from huracan_core.db.tables import (
    ORDER_SIDES,
    ORDER_STATUSES,
    TRADE_MODES,
    TRADE_SIDES,
    daily_equity,
    fills,
    hamilton_state,
    live_trades,
    orders,
)

DAY_MS = 86_400_000
# Written when a trade opens; a closed trade also needs the exit group and the trade's results.
TRADE_ENTRY_FIELDS = (
    "trade_id", "symbol", "side", "size", "max_size", "quantity", "opened_at", "entry_time", "entry_price",
    "entry_fill_price", "entry_cost_bps", "fee_bps", "spread_bps", "slippage_bps",
)  # fmt: skip
TRADE_EXIT_FIELDS = ("closed_at", "exit_time", "exit_price", "exit_fill_price")
TRADE_RESULT_FIELDS = ("costs_bps", "gross_pnl_pct", "net_pnl_pct", "bars_held")
TRADE_LABEL_FIELDS = ("engine_mix", "regime", "guardrail_reason", "model_id")
ORDER_PAYLOAD_FIELDS = ("symbol", "side", "quantity", "bar_ms", "model_id", "leg")
ORDER_STATUS_FIELDS = ("status", "exchange_order_id", "reason")
FILL_FIELDS = ("fill_id", "client_order_id", "symbol", "side", "quantity", "price", "fee_quote", "filled_at")


def run_of(run_key: str, mode: str) -> tuple[str, str]:
    """A run key (non-empty, at most 128 characters) and its mode (paper, live or replay), checked."""
    if not isinstance(run_key, str) or not run_key or len(run_key) > 128:
        raise ValueError(f"run_key must be a non-empty string of at most 128 characters, got {run_key!r}")
    return run_key, valid.one_of("mode", mode, TRADE_MODES)


def _own_run(what: str, fields: Mapping[str, Any], run_key: str, mode: str) -> None:
    """A row may repeat its run's key and mode, never name another run's."""
    for key, expected in (("run_key", run_key), ("mode", mode)):
        if key in fields and fields[key] != expected:
            raise ValueError(
                f"{what} says {key} {fields[key]!r}, but it is written to run {run_key!r} ({mode})"
            )


def _unknown(what: str, fields: Mapping[str, Any], known: Sequence[str]) -> None:
    extra = sorted(set(fields) - set(known) - {"run_key", "mode"})
    if extra:
        raise ValueError(f"{what} has unknown fields {', '.join(extra)}; known: {', '.join(known)}")


def _engine_mix(what: str, value: Any) -> str | None:
    """JSON text as in the parquet trade log; a mapping is encoded, a string must already be JSON."""
    if value is None or isinstance(value, Mapping):
        return valid.json_text(what, value)
    if not isinstance(value, str):
        raise ValueError(f"{what} must be JSON text or a mapping, got {value!r}")
    try:
        json.loads(value)
    except ValueError:
        raise ValueError(f"{what} {value!r} is not JSON text") from None
    return value


# --- rows ---------------------------------------------------------------------------------------------
def trade_row(fields: Mapping[str, Any], *, run_key: str, mode: str) -> dict[str, Any]:
    """One live_trades row, checked: entry fields always, the exit group all or nothing, results when closed."""
    run_key, mode = run_of(run_key, mode)
    trade_id = valid.name("trade_id", fields.get("trade_id"), max_length=128)
    what = f"trade {trade_id} of run {run_key}"
    _unknown(
        what, fields, (*TRADE_ENTRY_FIELDS, *TRADE_EXIT_FIELDS, *TRADE_RESULT_FIELDS, *TRADE_LABEL_FIELDS)
    )
    _own_run(what, fields, run_key, mode)
    missing = [key for key in TRADE_ENTRY_FIELDS if fields.get(key) is None]
    if missing:
        raise ValueError(f"{what} lacks {', '.join(missing)}")
    given_exit = [key for key in TRADE_EXIT_FIELDS if fields.get(key) is not None]
    if given_exit and len(given_exit) != len(TRADE_EXIT_FIELDS):
        raise ValueError(
            f"{what}: {', '.join(TRADE_EXIT_FIELDS)} are given together (a closed trade) or not at all "
            f"(an open one); got only {', '.join(given_exit)}"
        )
    closed = bool(given_exit)
    if closed:
        lacking = [key for key in TRADE_RESULT_FIELDS if fields.get(key) is None]
        if lacking:
            raise ValueError(f"{what} is closed but lacks {', '.join(lacking)}")

    def num(key: str, **kw: bool) -> float | None:
        return valid.finite(f"{key} of {what}", fields.get(key), optional=True, **kw)

    row: dict[str, Any] = {
        "run_key": run_key,
        "trade_id": trade_id,
        "symbol": valid.symbol(fields["symbol"]),
        "side": valid.one_of(f"side of {what}", fields["side"], TRADE_SIDES),
        "size": num("size", positive=True),
        "max_size": num("max_size", positive=True),
        "quantity": num("quantity", positive=True),
        "opened_at": valid.aware(f"opened_at of {what}", fields["opened_at"]),
        "closed_at": valid.aware(f"closed_at of {what}", fields.get("closed_at"), optional=True),
        "entry_time": valid.epoch_ms(f"entry_time of {what}", fields["entry_time"]),
        "exit_time": valid.epoch_ms(f"exit_time of {what}", fields.get("exit_time"), optional=True),
        "entry_price": num("entry_price", positive=True),
        "exit_price": num("exit_price", positive=True),
        "entry_fill_price": num("entry_fill_price", positive=True),
        "exit_fill_price": num("exit_fill_price", positive=True),
        "entry_cost_bps": num("entry_cost_bps"),
        "costs_bps": num("costs_bps"),
        "fee_bps": num("fee_bps"),
        "spread_bps": num("spread_bps"),
        "slippage_bps": num("slippage_bps"),
        "gross_pnl_pct": num("gross_pnl_pct"),
        "net_pnl_pct": num("net_pnl_pct"),
        "bars_held": valid.count(f"bars_held of {what}", fields.get("bars_held"), optional=True),
        "engine_mix": _engine_mix(f"engine_mix of {what}", fields.get("engine_mix")),
        "regime": valid.name(f"regime of {what}", fields.get("regime"), max_length=32, optional=True),
        "guardrail_reason": valid.name(
            f"guardrail_reason of {what}", fields.get("guardrail_reason"), max_length=10_000, optional=True
        ),
        "model_id": valid.name(f"model_id of {what}", fields.get("model_id"), max_length=64, optional=True),
        "mode": mode,
    }
    if row["max_size"] < row["size"]:
        raise ValueError(f"{what}: max_size {row['max_size']} is below size {row['size']}")
    if closed:
        if row["closed_at"] < row["opened_at"]:
            raise ValueError(f"{what}: closed_at {row['closed_at'].isoformat()} is before opened_at")
        if row["exit_time"] < row["entry_time"]:
            raise ValueError(f"{what}: exit_time {row['exit_time']} is before entry_time {row['entry_time']}")
    return row


def order_row(fields: Mapping[str, Any], *, run_key: str, mode: str) -> dict[str, Any]:
    """An orders row or a status change: client_order_id and status always, the payload all or nothing."""
    run_key, mode = run_of(run_key, mode)
    coid = valid.name("client_order_id", fields.get("client_order_id"), max_length=64)
    what = f"order {coid} of run {run_key}"
    _unknown(what, fields, ("client_order_id", *ORDER_PAYLOAD_FIELDS, *ORDER_STATUS_FIELDS))
    _own_run(what, fields, run_key, mode)
    row: dict[str, Any] = {
        "run_key": run_key,
        "client_order_id": coid,
        "status": valid.one_of(f"status of {what}", fields.get("status"), ORDER_STATUSES),  # type: ignore[arg-type]
        "exchange_order_id": valid.name(
            f"exchange_order_id of {what}", fields.get("exchange_order_id"), max_length=64, optional=True
        ),
        "reason": valid.name(f"reason of {what}", fields.get("reason"), max_length=10_000, optional=True),
    }
    given = [key for key in ORDER_PAYLOAD_FIELDS if fields.get(key) is not None]
    if given and len(given) != len(ORDER_PAYLOAD_FIELDS):
        missing = [key for key in ORDER_PAYLOAD_FIELDS if key not in given]
        raise ValueError(f"{what}: a new order needs {', '.join(missing)} too (or give only its status)")
    if given:
        row.update(
            symbol=valid.symbol(fields["symbol"]),
            side=valid.one_of(f"side of {what}", fields["side"], ORDER_SIDES),
            quantity=valid.finite(f"quantity of {what}", fields["quantity"], positive=True),
            bar_ms=valid.epoch_ms(f"bar_ms of {what}", fields["bar_ms"]),
            model_id=valid.name(f"model_id of {what}", fields["model_id"], max_length=64),
            leg=valid.name(f"leg of {what}", fields["leg"], max_length=16),
            mode=mode,
        )
    return row


def fill_row(fields: Mapping[str, Any], *, run_key: str, mode: str) -> dict[str, Any]:
    """One fills row, checked."""
    run_key, mode = run_of(run_key, mode)
    fill_id = valid.name("fill_id", fields.get("fill_id"), max_length=128)
    what = f"fill {fill_id} of run {run_key}"
    _unknown(what, fields, FILL_FIELDS)
    _own_run(what, fields, run_key, mode)
    return {
        "run_key": run_key,
        "fill_id": fill_id,
        "client_order_id": valid.name(
            f"client_order_id of {what}", fields.get("client_order_id"), max_length=64
        ),
        "symbol": valid.symbol(fields.get("symbol")),  # type: ignore[arg-type]
        "side": valid.one_of(f"side of {what}", fields.get("side"), ORDER_SIDES),  # type: ignore[arg-type]
        "quantity": valid.finite(f"quantity of {what}", fields.get("quantity"), positive=True),
        "price": valid.finite(f"price of {what}", fields.get("price"), positive=True),
        "fee_quote": valid.finite(f"fee_quote of {what}", fields.get("fee_quote")),
        "filled_at": valid.epoch_ms(f"filled_at of {what}", fields.get("filled_at")),
        "mode": mode,
    }


def _distinct(what: str, rows: Sequence[Mapping[str, Any]], key: str) -> None:
    seen: set[Any] = set()
    for row in rows:
        if row[key] in seen:
            raise ValueError(f"{what} {row[key]!r} is given twice in one write")
        seen.add(row[key])


# --- writers (inside the caller's transaction) -------------------------------------------------------
def write_state(
    conn: Connection, *, run_key: str, mode: str, bar_ms: int, state_json: str, updated_at: datetime
) -> None:
    """Move run `run_key` to bar `bar_ms`: the same bar again is fine, an older bar or another mode is refused.

    One conditional upsert, so two writers of one run cannot both pass a read-then-write check.
    """
    row = {"run_key": run_key, "mode": mode, "bar_ms": bar_ms, "state": state_json, "updated_at": updated_at}
    stmt = native_insert(conn, hamilton_state).values(row)
    stmt = stmt.on_conflict_do_update(
        index_elements=["run_key"],
        set_={
            "bar_ms": stmt.excluded.bar_ms,
            "state": stmt.excluded.state,
            "updated_at": stmt.excluded.updated_at,
        },
        where=and_(
            hamilton_state.c.bar_ms <= stmt.excluded.bar_ms, hamilton_state.c.mode == stmt.excluded.mode
        ),
    )
    if conn.execute(stmt).rowcount:
        return
    stored = conn.execute(
        select(hamilton_state.c.bar_ms, hamilton_state.c.mode).where(hamilton_state.c.run_key == run_key)
    ).one()
    if stored.mode != mode:
        raise ValueError(
            f"run {run_key!r} is a {stored.mode} run; it cannot continue in {mode} mode (use another run key)"
        )
    raise ValueError(
        f"bar {bar_ms} of run {run_key!r} is older than its last committed bar {stored.bar_ms}; "
        "a resumed run never rewinds (reset the run to replay it from scratch)"
    )


def save_trades(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert or replace each trade by (run_key, trade_id): open rows first, the same row closed later."""
    _distinct("trade_id", rows, "trade_id")
    upsert(conn, live_trades, rows, ("run_key", "trade_id"))


def save_fills(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert the fills not stored yet; a fill seen before (same fill_id) is ignored, never doubled."""
    insert_missing(conn, fills, rows, ("run_key", "fill_id"))


# One order by its key, and the statements that read or set it, built once with bound parameters: a replay
# journals thousands of orders per commit, and building and cache-keying a fresh statement for each was
# most of the commit's time. (Update parameters may not share a column's name, hence the prefixes.)
_ONE_ORDER = (
    orders.c.run_key == bindparam("key_run_key"),
    orders.c.client_order_id == bindparam("key_client_order_id"),
)
_READ_PAYLOAD = select(*(orders.c[key] for key in ORDER_PAYLOAD_FIELDS)).where(*_ONE_ORDER)
_SET_STATUS = (
    orders.update()
    .where(*_ONE_ORDER)
    .values(status=bindparam("new_status"), reason=bindparam("new_reason"), updated_at=bindparam("new_at"))
)
_SET_STATUS_AND_EXCHANGE_ID = _SET_STATUS.values(exchange_order_id=bindparam("new_exchange_order_id"))


def _order_key(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"key_run_key": row["run_key"], "key_client_order_id": row["client_order_id"]}


def _same_payload(conn: Connection, row: Mapping[str, Any]) -> None:
    stored = conn.execute(_READ_PAYLOAD, _order_key(row)).one()
    differ = [key for key in ORDER_PAYLOAD_FIELDS if stored._mapping[key] != row[key]]
    if differ:
        detail = ", ".join(f"{key} {stored._mapping[key]!r} stored, {row[key]!r} given" for key in differ)
        raise ValueError(f"order {row['client_order_id']} of run {row['run_key']} differs: {detail}")


def save_intent(conn: Connection, row: Mapping[str, Any], *, at: datetime) -> None:
    """Store an order's intent once; the same intent again does nothing, a different one is refused."""
    insert_missing(conn, orders, [{**row, "status": "intent", "created_at": at, "updated_at": at}],
                   ("run_key", "client_order_id"))  # fmt: skip
    _same_payload(conn, row)


def save_orders(conn: Connection, rows: Sequence[Mapping[str, Any]], *, at: datetime) -> None:
    """Create the orders given with their payload (if new), then set every order's status.

    A status-only row must name an order already stored. exchange_order_id, once known, is kept when a later
    row leaves it out; reason always follows the latest status.
    """
    _distinct("client_order_id", rows, "client_order_id")
    for row in rows:
        if "symbol" in row:
            insert_missing(conn, orders, [{**row, "created_at": at, "updated_at": at}],
                           ("run_key", "client_order_id"))  # fmt: skip
            _same_payload(conn, row)
        set_status(conn, row, at=at)


def set_status(conn: Connection, row: Mapping[str, Any], *, at: datetime) -> None:
    """Set one stored order's status (and exchange order id, reason); an unknown order is an error."""
    params = {**_order_key(row), "new_status": row["status"], "new_reason": row.get("reason"), "new_at": at}
    if row.get("exchange_order_id") is not None:
        params["new_exchange_order_id"] = row["exchange_order_id"]
        result = conn.execute(_SET_STATUS_AND_EXCHANGE_ID, params)
    else:  # an exchange order id once known is kept: the column is left out of the update
        result = conn.execute(_SET_STATUS, params)
    if result.rowcount == 0:
        raise ValueError(
            f"order {row['client_order_id']} of run {row['run_key']} is not journaled; record its intent "
            "first, or give symbol, side, quantity, bar_ms, model_id and leg to create it"
        )


def save_equity(conn: Connection, row: Mapping[str, Any]) -> None:
    upsert(conn, daily_equity, [row], ("run_key", "trade_day"))


def record_trade(bind: Bind, *, mode: str, run_key: str | None = None, **trade: Any) -> None:
    """Insert or replace one trade of a run (default run: the mode's); call when it opens and when it closes."""
    row = trade_row(trade, run_key=mode if run_key is None else run_key, mode=mode)
    with transaction(bind) as conn:
        save_trades(conn, [row])


def delete_run(conn: Connection, run_key: str) -> None:
    """Every row of one run, in every Hamilton table."""
    for table in (fills, orders, live_trades, daily_equity, hamilton_state):
        conn.execute(delete(table).where(table.c.run_key == run_key))


# --- readers ------------------------------------------------------------------------------------------
def read_state(bind: Bind, run_key: str) -> dict[str, Any] | None:
    """{"bar_ms", "mode", "state" (decoded), "updated_at"} of one run, or None when it never committed."""
    with transaction(bind) as conn:
        row = conn.execute(select(hamilton_state).where(hamilton_state.c.run_key == run_key)).first()
    if row is None:
        return None
    out = dict(row._mapping)
    out["state"] = json.loads(out["state"])
    return out


def read_orders(bind: Bind, run_key: str, statuses: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Orders of one run, oldest decision bar first; only the given statuses when asked."""
    stmt = select(orders).where(orders.c.run_key == run_key)
    if statuses is not None:
        for status in statuses:
            valid.one_of("order status", status, ORDER_STATUSES)
        stmt = stmt.where(orders.c.status.in_(list(statuses)))
    stmt = stmt.order_by(orders.c.bar_ms, orders.c.created_at, orders.c.client_order_id)
    with transaction(bind) as conn:
        return [dict(row._mapping) for row in conn.execute(stmt)]


def read_fills(bind: Bind, run_key: str) -> list[dict[str, Any]]:
    """Fills of one run in time order."""
    stmt = select(fills).where(fills.c.run_key == run_key).order_by(fills.c.filled_at, fills.c.fill_id)
    with transaction(bind) as conn:
        return [dict(row._mapping) for row in conn.execute(stmt)]


def read_trades(
    bind: Bind,
    run_key: str,
    *,
    symbol: str | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    closed_only: bool = False,
    exit_since_ms: int | None = None,
    exit_until_ms: int | None = None,
) -> list[dict[str, Any]]:
    """Trades of one run ordered by entry_time, then symbol; windows are half-open [since, until) in epoch ms.

    since_ms/until_ms select by entry_time, exit_since_ms/exit_until_ms by exit_time (closed trades only).
    """
    c = live_trades.c
    stmt = select(live_trades).where(c.run_key == run_key)
    if symbol is not None:
        stmt = stmt.where(c.symbol == valid.symbol(symbol))
    if since_ms is not None:
        stmt = stmt.where(c.entry_time >= valid.epoch_ms("since_ms", since_ms))
    if until_ms is not None:
        stmt = stmt.where(c.entry_time < valid.epoch_ms("until_ms", until_ms))
    if closed_only or exit_since_ms is not None or exit_until_ms is not None:
        stmt = stmt.where(c.exit_time.is_not(None))
    if exit_since_ms is not None:
        stmt = stmt.where(c.exit_time >= valid.epoch_ms("exit_since_ms", exit_since_ms))
    if exit_until_ms is not None:
        stmt = stmt.where(c.exit_time < valid.epoch_ms("exit_until_ms", exit_until_ms))
    stmt = stmt.order_by(c.entry_time, c.symbol, c.trade_id)
    with transaction(bind) as conn:
        return [dict(row._mapping) for row in conn.execute(stmt)]


def day_bounds_ms(day: date) -> tuple[int, int]:
    """[start, end) of one UTC day in epoch ms."""
    valid.day("day", day)
    start = datetime.combine(day, time(0, 0), tzinfo=UTC)
    return int(start.timestamp() * 1000), int((start + timedelta(days=1)).timestamp() * 1000)


def realised_trades(
    bind: Bind,
    *,
    symbol: str,
    model_id: str,
    exit_after_ms: int,
    exit_until_ms: int,
    modes: Sequence[str] = ("paper", "live"),
) -> list[dict[str, Any]]:
    """Closed trades of one model on one coin with exit_time in (exit_after_ms, exit_until_ms], oldest exit first.

    Across every run of the given modes: a model's realised record is what it did with money, paper or real,
    whichever run traded it; replays ('replay' mode) re-trade the past and are not evidence of it.
    """
    for mode in modes:
        valid.one_of("mode", mode, TRADE_MODES)
    c = live_trades.c
    stmt = (
        select(live_trades)
        .where(
            c.symbol == valid.symbol(symbol),
            c.model_id == model_id,
            c.mode.in_(list(modes)),
            c.exit_time.is_not(None),
            c.net_pnl_pct.is_not(None),
            c.exit_time > valid.epoch_ms("exit_after_ms", exit_after_ms),
            c.exit_time <= valid.epoch_ms("exit_until_ms", exit_until_ms),
        )
        .order_by(c.exit_time, c.run_key, c.trade_id)
    )
    with transaction(bind) as conn:
        return [dict(row._mapping) for row in conn.execute(stmt)]


def loss_cap_days(
    bind: Bind, *, hit_after_ms: int, hit_until_ms: int, modes: Sequence[str] = ("paper", "live")
) -> dict[date, int]:
    """UTC days on which Hamilton's daily loss cap stopped new entries, with when (the earliest run's time),
    for runs of the given modes, hit in (hit_after_ms, hit_until_ms]."""
    for mode in modes:
        valid.one_of("mode", mode, TRADE_MODES)
    c = daily_equity.c
    stmt = (
        select(c.trade_day, c.loss_cap_hit_ms)
        .where(
            c.mode.in_(list(modes)),
            c.loss_cap_hit_ms.is_not(None),
            c.loss_cap_hit_ms > valid.epoch_ms("hit_after_ms", hit_after_ms),
            c.loss_cap_hit_ms <= valid.epoch_ms("hit_until_ms", hit_until_ms),
        )
        .order_by(c.trade_day, c.loss_cap_hit_ms)
    )
    days: dict[date, int] = {}
    with transaction(bind) as conn:
        for row in conn.execute(stmt):
            days.setdefault(row.trade_day, int(row.loss_cap_hit_ms))
    return days
