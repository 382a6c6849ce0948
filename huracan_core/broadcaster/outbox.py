"""The Telegram outbox: notifications wait in the database table `notifications` until the bot sends them.

Writers (Airflow callbacks, the Engine, the Mechanic, Hamilton) only insert a row: one short transaction
that never waits for Telegram and never raises, so a Telegram outage cannot fail a task or delay a bar,
and unsent messages survive process exits. The bot process (`huracan_telegram.delivery`) claims rows in
id order, sends them and marks them sent. No token is ever written here: a row holds the chat id only.

Which config a writer uses: the one passed in, else the process's (`use_config`, set by the entry points:
every Engine and Mechanic step, Hamilton, the CLI). Without either, a notification is only logged.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from huracan_core.config import HuracanConfig, NotifyConfig, mask_url_password
from huracan_core.db.tables import NOTIFICATION_KINDS, notifications

log = logging.getLogger("huracan.broadcaster")

# Telegram's limits: a message text is at most 4096 characters, a photo caption 1024.
MAX_TEXT = 4096
MAX_CAPTION = 1024
CUT_MARK = "…(cut)"
# Every this many inserts, a writer also trims the outbox: it stays bounded while no bot runs.
_TRIM_EVERY = 100
# After the database failed to take a notification, writers skip it for this long (seconds) and only log:
# a database that is down must not cost every announcement a connect timeout.
_PAUSE_AFTER_FAILURE_S = 30.0
# How long a SQLite writer waits for the bot's short transactions (seconds); never the 30 s of the journal.
_SQLITE_BUSY_S = 2.0

KINDS = NOTIFICATION_KINDS


def cut(text: str, limit: int) -> str:
    """`text` shortened to `limit` characters with a visible marker at the end, or unchanged."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(CUT_MARK))] + CUT_MARK


@dataclass(frozen=True)
class Target:
    """Where notifications of this process go: the outbox of this database, for this chat."""

    database: str
    chat_id: str
    notify: NotifyConfig
    max_rows: int

    @classmethod
    def from_config(cls, config: HuracanConfig) -> Target | None:
        """The target when Telegram is configured (token and chat id set), else None: log only."""
        telegram = config.telegram
        if not telegram.enabled or telegram.chat_id is None:
            return None
        return cls(config.general.database, telegram.chat_id, telegram.notify, telegram.outbox_max_rows)


class _ProcessTarget:
    """The process's notification target (like the logging configuration: set once by the entry point)."""

    def __init__(self) -> None:
        self.target: Target | None = None
        self.lock = threading.Lock()
        self.engines: dict[tuple[str, int], Engine] = {}
        self.paused_until: dict[str, float] = {}
        self.inserts = 0


_process = _ProcessTarget()


def use_config(config: HuracanConfig | None) -> None:
    """Send this process's notifications as `config` says (None: log only)."""
    _process.target = None if config is None else Target.from_config(config)


def current_target() -> Target | None:
    return _process.target


@contextmanager
def notifications_to(config: HuracanConfig | None) -> Iterator[None]:
    """`use_config(config)` for a block, then the previous target again (tests, one-off callers)."""
    saved = _process.target
    use_config(config)
    try:
        yield
    finally:
        _process.target = saved


def outbox_engine(url: str) -> Engine:
    """One pooled Engine per database and process (a forked child makes its own), short SQLite waits."""
    from huracan_core.db.connection import connect

    key = (url, os.getpid())
    with _process.lock:
        engine = _process.engines.get(key)
        if engine is None:
            engine = connect(url, connect_timeout_s=2, busy_timeout_s=_SQLITE_BUSY_S)
            _process.engines[key] = engine
        return engine


def _problem(exc: BaseException, url: str) -> str:
    """One line naming what went wrong with the database, without secrets."""
    from huracan_core.db.connection import translate

    if isinstance(exc, DBAPIError):
        named = translate(exc, url)
        if named is not None:
            return str(named)
        first = str(exc.orig if exc.orig is not None else exc).strip().splitlines()
        return f"database {mask_url_password(url)}: {first[0] if first else type(exc).__name__}"
    return f"{type(exc).__name__}: {mask_url_password(str(exc))}"


def enqueue(
    kind: str,
    text: str,
    *,
    photo: bytes | None = None,
    config: HuracanConfig | None = None,
    now: datetime | None = None,
) -> bool:
    """Queue one notification for the bot; True when a row was written. Never raises.

    Nothing is queued when Telegram is not configured or the kind's switch is off. A failure to write is
    one log line naming the problem, and for the next 30 s this database is not tried again.
    """
    try:
        target = Target.from_config(config) if config is not None else _process.target
        if target is None:
            return False
        if kind not in KINDS:
            log.error("notification kind %r is unknown; sent as 'errors' (known: %s)", kind, ", ".join(KINDS))
            kind = "errors"
        mode = getattr(target.notify, kind)
        if mode == "off":
            return False
        paused = _process.paused_until.get(target.database, 0.0)
        if time.monotonic() < paused:
            log.warning("notification not queued (%s): the outbox database failed moments ago", kind)
            return False
        moment = now or datetime.now(UTC)
        limit = MAX_CAPTION if photo is not None else MAX_TEXT
        row = {
            "created_at": moment,
            "kind": kind,
            "text": cut(text, limit),
            "photo": photo,
            "silent": mode == "silent",
            "chat_id": target.chat_id,
            "attempts": 0,
            "last_error": None,
            "next_attempt_at": moment,
        }
        engine = outbox_engine(target.database)
        with engine.begin() as conn:
            conn.execute(insert(notifications).values(**row))
        _process.inserts += 1
        if _process.inserts % _TRIM_EVERY == 0:
            trim(engine, max_rows=target.max_rows, keep_days=None, now=moment)
        return True
    except Exception as exc:  # a notification must never become the caller's failure
        database = getattr(locals().get("target"), "database", "")
        if database:
            _process.paused_until[database] = time.monotonic() + _PAUSE_AFTER_FAILURE_S
        try:
            where = _problem(exc, database) if database else f"{type(exc).__name__}: {exc}"
            log.warning("notification not queued (%s): %s", kind, where)
        except Exception:  # even formatting the problem failed: say so and nothing more
            log.warning("notification not queued (%s): %s", kind, type(exc).__name__)
        return False


# --- the bot's side: claim, mark, trim ------------------------------------------------------------------
@dataclass(frozen=True)
class Pending:
    """One queued notification as the bot reads it."""

    id: int
    kind: str
    text: str
    photo: bytes | None
    silent: bool
    chat_id: str
    attempts: int
    next_attempt_at: datetime
    claimed_by: str | None
    claimed_at: datetime | None


def pending(engine: Engine, *, limit: int = 100) -> list[Pending]:
    """Unsent, not given-up notifications, oldest first (whether due or not: order is kept per chat)."""
    query = (
        select(
            notifications.c.id,
            notifications.c.kind,
            notifications.c.text,
            notifications.c.photo,
            notifications.c.silent,
            notifications.c.chat_id,
            notifications.c.attempts,
            notifications.c.next_attempt_at,
            notifications.c.claimed_by,
            notifications.c.claimed_at,
        )
        .where(notifications.c.sent_at.is_(None), notifications.c.gave_up_at.is_(None))
        .order_by(notifications.c.id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [Pending(**dict(row._mapping)) for row in conn.execute(query)]


def claim(engine: Engine, row_id: int, *, worker: str, now: datetime, stale_before: datetime) -> bool:
    """Take one due row for `worker`; True only for the one process whose UPDATE matched it.

    A claim older than `stale_before` belonged to a bot that died while sending and may be taken over
    (that message may then arrive twice: delivery is at least once).
    """
    statement = (
        update(notifications)
        .where(
            notifications.c.id == row_id,
            notifications.c.sent_at.is_(None),
            notifications.c.gave_up_at.is_(None),
            notifications.c.next_attempt_at <= now,
            or_(notifications.c.claimed_at.is_(None), notifications.c.claimed_at < stale_before),
        )
        .values(claimed_by=worker, claimed_at=now)
    )
    with engine.begin() as conn:
        return conn.execute(statement).rowcount == 1


def mark_sent(engine: Engine, row_id: int, *, worker: str, now: datetime) -> None:
    statement = (
        update(notifications)
        .where(notifications.c.id == row_id, notifications.c.claimed_by == worker)
        .values(sent_at=now, attempts=notifications.c.attempts + 1, claimed_by=None, claimed_at=None)
    )
    with engine.begin() as conn:
        conn.execute(statement)


def mark_failed(
    engine: Engine,
    row_id: int,
    *,
    worker: str,
    error: str,
    now: datetime,
    retry_at: datetime | None,
) -> None:
    """Record a failed attempt: retried from `retry_at`, or given up when it is None."""
    values: dict[str, Any] = {
        "attempts": notifications.c.attempts + 1,
        "last_error": error[:1000],
        "claimed_by": None,
        "claimed_at": None,
    }
    if retry_at is None:
        values["gave_up_at"] = now
    else:
        values["next_attempt_at"] = retry_at
    statement = (
        update(notifications)
        .where(notifications.c.id == row_id, notifications.c.claimed_by == worker)
        .values(**values)
    )
    with engine.begin() as conn:
        conn.execute(statement)


def release(engine: Engine, row_id: int, *, worker: str) -> None:
    """Give a claimed row back untouched (the bot is stopping before it tried)."""
    statement = (
        update(notifications)
        .where(notifications.c.id == row_id, notifications.c.claimed_by == worker)
        .values(claimed_by=None, claimed_at=None)
    )
    with engine.begin() as conn:
        conn.execute(statement)


def trim(engine: Engine, *, max_rows: int, keep_days: float | None, now: datetime) -> tuple[int, int]:
    """Bound the outbox: drop the oldest unsent rows beyond `max_rows`, delete finished rows older than
    `keep_days` (None: keep them). Returns (unsent dropped, finished deleted); a drop is logged."""
    unsent = and_(notifications.c.sent_at.is_(None), notifications.c.gave_up_at.is_(None))
    dropped = deleted = 0
    try:
        with engine.begin() as conn:
            count = conn.execute(select(func.count()).select_from(notifications).where(unsent)).scalar_one()
            excess = int(count) - max_rows
            if excess > 0:
                oldest = select(notifications.c.id).where(unsent).order_by(notifications.c.id).limit(excess)
                ids = [row[0] for row in conn.execute(oldest)]
                dropped = conn.execute(delete(notifications).where(notifications.c.id.in_(ids))).rowcount
            if keep_days is not None:
                cutoff = now - timedelta(days=keep_days)
                finished = or_(
                    and_(notifications.c.sent_at.is_not(None), notifications.c.sent_at < cutoff),
                    and_(notifications.c.gave_up_at.is_not(None), notifications.c.gave_up_at < cutoff),
                )
                deleted = conn.execute(delete(notifications).where(finished)).rowcount
    except SQLAlchemyError as exc:
        log.warning("outbox not trimmed: %s", _problem(exc, engine.url.render_as_string(hide_password=True)))
        return 0, 0
    if dropped:
        log.warning(
            "Telegram outbox over %d unsent notifications: dropped the %d oldest (is `huracan telegram` running?)",
            max_rows,
            dropped,
        )
    return dropped, deleted
