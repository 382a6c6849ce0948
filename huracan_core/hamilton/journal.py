"""Hamilton's journal: what a run must remember to survive `kill -9`, written one closed bar at a time.

Each bar's effects (the run's state, its trades, fills, order statuses and the day's equity) go to the
database in ONE transaction, so a crash leaves the whole bar or none of it, and rerunning the same command
resumes after the last committed bar (`load`). A live order's intent is committed on its own before the
order is sent, so reconciliation can always find it. While the database is unreachable, bar commits wait
in memory, in order, and are applied first on the next call: nothing is lost, nothing is reordered.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from huracan_core.db import rows as valid
from huracan_core.db import trading
from huracan_core.db.connection import translate
from huracan_core.db.queries import equity_row, pnl_by_day
from huracan_core.db.rows import transaction
from huracan_core.exceptions import DatabaseUnavailableError
from huracan_core.hamilton.orders import Fill, OrderIntent

log = logging.getLogger("huracan.hamilton")

EQUITY_FIELDS = ("trade_day", "equity", "pnl_pct", "trades")
EQUITY_OPTIONAL = ("loss_cap_hit_ms",)  # when the daily loss cap stopped entries that day, if it did
# OrderIntent fields the orders table does not keep: an intent's dict can be passed as an order row.
_INTENT_ONLY = frozenset(f.name for f in fields(OrderIntent)) - {
    "client_order_id",
    *trading.ORDER_PAYLOAD_FIELDS,
}
_T = TypeVar("_T")


@dataclass(frozen=True)
class _BarCommit:
    """One bar's writes, checked and encoded, ready to apply (now or after an outage)."""

    bar_ms: int
    state_json: str
    trades: tuple[dict[str, Any], ...]
    fills: tuple[dict[str, Any], ...]
    orders: tuple[dict[str, Any], ...]
    equity: dict[str, Any] | None
    at: datetime


@dataclass(frozen=True)
class _StatusChange:
    """One order's new status, checked, ready to apply."""

    row: dict[str, Any]
    at: datetime


def _wall_clock() -> datetime:
    # Audit stamps only (created_at, updated_at): never read back for a decision, so not injected.
    return datetime.now(UTC)


class Journal:
    """The durable state of one Hamilton run (`run_key`, in one `mode`) in the database.

    Plain data in and out. Writes are idempotent: re-committing a bar, re-recording an intent or re-sending
    a fill changes nothing, so a resumed run can safely redo the bar it was in when it died.

    Queued writes (an outage) live in this object only: a process killed during an outage loses them, and
    its rerun redoes those bars from the last committed one, as after any crash. A queued write that the
    database refuses once reachable (another process moved this run on; an order never journaled) is
    raised on every later call and stays queued: the run must stop, not skip it. One thread per Journal.
    """

    def __init__(self, db_engine: Engine, run_key: str, mode: str) -> None:
        self.run_key, self.mode = trading.run_of(run_key, mode)
        self._engine = db_engine
        self._pending: deque[_BarCommit | _StatusChange] = deque()
        self._last_error: str | None = None
        # Newest bar this journal knows of (loaded, committed or queued): refuses a rewind even offline.
        self._last_bar_ms: int | None = None

    @property
    def pending_commits(self) -> int:
        """Writes (bar commits and order status changes) waiting in memory for the database to return."""
        return len(self._pending)

    @property
    def last_error(self) -> str | None:
        """Why the last write had to wait (the database error), or None once writes go through again."""
        return self._last_error

    # --- resume ---------------------------------------------------------------------------------------
    def load(self) -> dict[str, Any] | None:
        """{"bar_ms": int, "state": dict} of the last committed bar, or None for a new run.

        Queued commits go first; if the database is still unreachable, the newest queued bar is the answer
        (this process made it); with nothing queued, DatabaseUnavailableError.
        """
        try:
            self._drain()
            stored = trading.read_state(self._engine, self.run_key)
        except Exception as exc:
            reason = self._outage(exc)
            if reason is None:
                raise
            self._last_error = reason
            newest = next((item for item in reversed(self._pending) if isinstance(item, _BarCommit)), None)
            if newest is None:
                raise DatabaseUnavailableError(f"cannot load run {self.run_key!r}: {reason}") from None
            return {"bar_ms": newest.bar_ms, "state": json.loads(newest.state_json)}
        if stored is None:
            return None
        if stored["mode"] != self.mode:
            raise ValueError(
                f"run {self.run_key!r} is a {stored['mode']} run; it cannot resume in {self.mode} mode "
                "(use another run key)"
            )
        self._last_bar_ms = stored["bar_ms"]
        return {"bar_ms": stored["bar_ms"], "state": stored["state"]}

    # --- writes ---------------------------------------------------------------------------------------
    def commit_bar(
        self,
        bar_ms: int,
        state: Mapping[str, Any],
        *,
        trades: Sequence[Mapping[str, Any]] = (),
        fills: Sequence[Fill] = (),
        orders: Sequence[Mapping[str, Any]] = (),
        equity: Mapping[str, Any] | None = None,
    ) -> None:
        """Record bar `bar_ms` as fully processed, with everything it changed, in one transaction.

        `state` is the run's state after the bar (JSON-able). `trades` are live_trades rows (open or closed;
        replaced by trade_id), `fills` are inserted once (a fill already stored is ignored), `orders` set
        statuses (a row with symbol, side, quantity, bar_ms, model_id and leg also creates its order; an
        OrderIntent's dict plus "status" will do), `equity` replaces the day's row
        ({"trade_day": date, "equity", "pnl_pct", "trades"}, optionally "loss_cap_hit_ms"). The same bar again is accepted (a resumed run
        redoing it); an older bar is refused with ValueError. When the database is unreachable this does
        not raise: the commit waits in memory (see `pending_commits`, `last_error`).
        """
        item = self._bar_commit(bar_ms, state, trades, fills, orders, equity)
        if self._last_bar_ms is not None and item.bar_ms < self._last_bar_ms:
            raise ValueError(
                f"bar {item.bar_ms} of run {self.run_key!r} is older than its last committed bar "
                f"{self._last_bar_ms}; a resumed run never rewinds (reset the run to replay it from scratch)"
            )
        self._write_or_queue(item)
        self._last_bar_ms = item.bar_ms

    def record_intent(self, intent: OrderIntent) -> None:
        """Journal an order before it is sent, in its own transaction; raises if that cannot be done.

        Idempotent on client_order_id: the same intent again does nothing (whatever status the order has
        reached since); a different intent under the same id is a ValueError. An unreachable database is a
        DatabaseUnavailableError: a live order must never be sent without its intent on record.
        """
        if not isinstance(intent, OrderIntent):
            raise TypeError(f"record_intent takes an OrderIntent, got {type(intent).__name__}")
        payload = {key: getattr(intent, key) for key in ("client_order_id", *trading.ORDER_PAYLOAD_FIELDS)}
        row = trading.order_row({**payload, "status": "intent"}, run_key=self.run_key, mode=self.mode)
        at = _wall_clock()
        try:
            self._drain()
            with transaction(self._engine) as conn:
                trading.save_intent(conn, row, at=at)
        except Exception as exc:
            reason = self._outage(exc)
            if reason is None:
                raise
            self._last_error = reason
            raise DatabaseUnavailableError(
                f"intent of order {intent.client_order_id} (run {self.run_key!r}) is not journaled, so the "
                f"order must not be sent: {reason}"
            ) from None
        self._last_error = None

    def update_order(
        self,
        client_order_id: str,
        status: str,
        *,
        exchange_order_id: str | None = None,
        reason: str | None = None,
    ) -> None:
        """Set a journaled order's status; like a bar commit, it waits in memory while the database is away.

        An order never journaled is a ValueError (when applied: at once, or on the flush after an outage).
        """
        row = trading.order_row(
            {
                "client_order_id": client_order_id,
                "status": status,
                "exchange_order_id": exchange_order_id,
                "reason": reason,
            },
            run_key=self.run_key,
            mode=self.mode,
        )
        self._write_or_queue(_StatusChange(row, _wall_clock()))

    def reset(self) -> None:
        """Delete everything of this run (state, trades, orders, fills, equity), queued writes included.

        For a user who asks to replay a run again from scratch; other runs are untouched.
        """
        try:
            with transaction(self._engine) as conn:
                trading.delete_run(conn, self.run_key)
        except Exception as exc:
            reason = self._outage(exc)
            if reason is None:
                raise
            self._last_error = reason
            raise DatabaseUnavailableError(f"cannot reset run {self.run_key!r}: {reason}") from None
        self._pending.clear()
        self._last_bar_ms = None
        self._last_error = None

    # --- reads (queued writes go first, so a read sees everything this run did) -------------------------
    def orders(self, statuses: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """This run's orders, oldest decision bar first; only the given statuses when asked."""
        return self._read(lambda: trading.read_orders(self._engine, self.run_key, statuses))

    def trades(
        self,
        *,
        symbol: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        closed_only: bool = False,
    ) -> list[dict[str, Any]]:
        """This run's trades by entry_time then symbol; since_ms <= entry_time < until_ms when given."""
        return self._read(
            lambda: trading.read_trades(
                self._engine,
                self.run_key,
                symbol=symbol,
                since_ms=since_ms,
                until_ms=until_ms,
                closed_only=closed_only,
            )
        )

    def trades_on(self, day: date) -> list[dict[str, Any]]:
        """Closed trades whose exit bar (exit_time) opened on UTC day `day`: that day's trade log."""
        start, end = trading.day_bounds_ms(day)
        return self._read(
            lambda: trading.read_trades(self._engine, self.run_key, exit_since_ms=start, exit_until_ms=end)
        )

    def equity_curve(self) -> list[dict[str, Any]]:
        """{"trade_day", "equity", "pnl_pct", "trades"} per UTC day of this run, oldest first."""
        return self._read(lambda: pnl_by_day(self._engine, self.run_key))

    # --- machinery ------------------------------------------------------------------------------------
    def _bar_commit(
        self,
        bar_ms: int,
        state: Mapping[str, Any],
        trades: Sequence[Mapping[str, Any]],
        fills: Sequence[Fill],
        orders: Sequence[Mapping[str, Any]],
        equity: Mapping[str, Any] | None,
    ) -> _BarCommit:
        """Check and encode everything before touching the database, so a bad bar is refused whole."""
        bar = valid.epoch_ms("bar_ms", bar_ms)
        if not isinstance(state, Mapping):
            raise ValueError(f"state of bar {bar} must be a mapping, got {type(state).__name__}")
        state_json = valid.json_text(f"state of bar {bar}", state)
        trade_rows = tuple(trading.trade_row(t, run_key=self.run_key, mode=self.mode) for t in trades)
        order_rows = tuple(
            trading.order_row(
                {k: v for k, v in o.items() if k not in _INTENT_ONLY}, run_key=self.run_key, mode=self.mode
            )
            for o in orders
        )
        equity_fields = None
        if equity is not None:
            if set(equity) - set(EQUITY_OPTIONAL) != set(EQUITY_FIELDS):
                raise ValueError(
                    f"equity of bar {bar} has fields {', '.join(sorted(equity))}; expected exactly "
                    f"{', '.join(EQUITY_FIELDS)} (and optionally {', '.join(EQUITY_OPTIONAL)})"
                )
            equity_fields = equity_row(run_key=self.run_key, mode=self.mode, **equity)
        return _BarCommit(
            bar_ms=bar,
            state_json=state_json,  # type: ignore[arg-type]
            trades=trade_rows,
            fills=self._fill_rows(fills),
            orders=order_rows,
            equity=equity_fields,
            at=_wall_clock(),
        )

    def _fill_rows(self, fills: Sequence[Fill]) -> tuple[dict[str, Any], ...]:
        """Fills as rows; fill_id is the fill's own (exchange trade id) when it has one, else
        client_order_id:filled_at_ms:n (n counts fills of that order at that instant in this call), so the
        same fills committed again get the same ids and are ignored."""
        out = []
        seen: Counter[tuple[str, int]] = Counter()
        for fill in fills:
            try:
                coid, at_ms = fill.client_order_id, fill.filled_at_ms
                fields_ = {
                    "client_order_id": coid,
                    "symbol": fill.symbol,
                    "side": fill.side,
                    "quantity": fill.quantity,
                    "price": fill.price,
                    "fee_quote": fill.fee_quote,
                    "filled_at": at_ms,
                }
            except AttributeError as exc:
                raise ValueError(f"fills must be Fill objects, got {type(fill).__name__}: {exc}") from None
            own_id = getattr(fill, "fill_id", None)
            if own_id is None:
                own_id = f"{coid}:{at_ms}:{seen[(coid, at_ms)]}"
                seen[(coid, at_ms)] += 1
            out.append(trading.fill_row({**fields_, "fill_id": own_id}, run_key=self.run_key, mode=self.mode))
        return tuple(out)

    def _apply(self, item: _BarCommit | _StatusChange) -> None:
        with transaction(self._engine) as conn:
            if isinstance(item, _BarCommit):
                self._apply_bar(conn, item)
            else:
                trading.set_status(conn, item.row, at=item.at)

    def _apply_bar(self, conn: Connection, item: _BarCommit) -> None:
        trading.write_state(
            conn,
            run_key=self.run_key,
            mode=self.mode,
            bar_ms=item.bar_ms,
            state_json=item.state_json,
            updated_at=item.at,
        )
        trading.save_trades(conn, item.trades)
        trading.save_fills(conn, item.fills)
        trading.save_orders(conn, item.orders, at=item.at)
        if item.equity is not None:
            trading.save_equity(conn, item.equity)

    def _drain(self) -> None:
        """Apply queued writes oldest first; the first that fails raises and stays queued, with those after it."""
        applied = 0
        while self._pending:
            self._apply(self._pending[0])
            self._pending.popleft()
            applied += 1
        if applied:
            log.info("Database reachable again: %d queued writes of run %s applied", applied, self.run_key)
            self._last_error = None

    def _write_or_queue(self, item: _BarCommit | _StatusChange) -> None:
        """Queued writes first, then `item`; on an outage `item` joins the queue instead of raising."""
        try:
            self._drain()
            self._apply(item)
        except Exception as exc:
            reason = self._outage(exc)
            if reason is None:
                raise
            self._last_error = reason
            self._pending.append(item)
            what = f"bar {item.bar_ms}" if isinstance(item, _BarCommit) else "an order status"
            log.warning(
                "Database unreachable (%s); %s of run %s kept in memory, %d writes waiting",
                reason,
                what,
                self.run_key,
                len(self._pending),
            )
            return
        self._last_error = None

    def _outage(self, exc: BaseException) -> str | None:
        """The reason when `exc` means "the database cannot be reached right now", else None."""
        if isinstance(exc, DatabaseUnavailableError):
            return str(exc)
        if isinstance(exc, DBAPIError):
            translated = translate(exc, self._engine.url)
            if isinstance(translated, DatabaseUnavailableError):
                return str(translated)
            if translated is None and isinstance(exc, OperationalError):
                text = str(exc.orig if exc.orig is not None else exc).strip()
                return f"database error: {text.splitlines()[0] if text else type(exc).__name__}"
        return None

    def _read(self, read: Callable[[], _T]) -> _T:
        try:
            self._drain()
            return read()
        except Exception as exc:
            reason = self._outage(exc)
            if reason is None:
                raise
            self._last_error = reason
            raise DatabaseUnavailableError(f"cannot read run {self.run_key!r}: {reason}") from None
