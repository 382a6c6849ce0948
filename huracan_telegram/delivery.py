"""Delivery: the bot process sends the outbox's notifications to Telegram, in order, until they are sent.

Every other process only writes rows (huracan_core/broadcaster/outbox.py); this loop is the only code that
talks to Telegram for them, so an outage delays messages and nothing else. Per row, oldest first:
claim it (an atomic UPDATE; two bot processes never send one row twice), send it (sendMessage, or
sendPhoto with the text as caption; `silent` without sound), mark it sent. On failure:
- 429 Too Many Requests: the row waits the `retry_after` Telegram asked for; the pass stops (the limit is
  the bot's, not the message's);
- network errors, time-outs, 5xx, a refused token: exponential backoff (1, 2, 4 ... capped at 60 s); the
  pass stops; the row is retried until it goes through;
- a permanent refusal of that message (400 Bad Request, 403 Forbidden, a migrated chat): retried a few
  times, then given up (gave_up_at set, logged as an error).
Order is kept per chat: a row that waits holds back the later rows of its chat. Delivery is at least once:
a bot killed between Telegram's answer and the database's commit sends that message again after restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import warnings
from datetime import UTC, datetime, timedelta

import telegram
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    RetryAfter,
)

from huracan_core.broadcaster import outbox
from huracan_core.config import HuracanConfig
from huracan_telegram.bot_api import redact

log = logging.getLogger("huracan.telegram.delivery")

# Backoff after a network error, a time-out or a 5xx: 1 s, doubled per attempt, at most this (seconds).
MAX_BACKOFF_S = 60.0
# A message Telegram refuses outright (400, 403) is tried this many times in all, then given up.
PERMANENT_ATTEMPTS = 3
# A claim older than this belongs to a bot that died while sending; another may take the row over.
STALE_CLAIM_S = 120.0
# Rows read per pass (the pass stops early at the first error that concerns the whole bot).
BATCH = 100
# deliver_forever trims the outbox (max rows, finished rows older than outbox_keep_days) this often (s).
TRIM_EVERY_S = 60.0

WORKER = f"{socket.gethostname()}:{os.getpid()}"


def _retry_after_seconds(exc: RetryAfter) -> float:
    # PTB 22 keeps a timedelta and warns on reading the int-valued public attribute (a timedelta in a
    # later major version); read the timedelta when it is there.
    value = getattr(exc, "_retry_after", None)
    if not isinstance(value, timedelta):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = exc.retry_after
    return float(value.total_seconds()) if isinstance(value, timedelta) else float(value)


def _backoff(attempts: int) -> float:
    """Seconds before attempt number `attempts + 1` after a temporary failure."""
    return min(MAX_BACKOFF_S, 2.0 ** max(0, attempts - 1))


def _chat(chat_id: str) -> int | str:
    return int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id


async def _send(bot: telegram.Bot, row: outbox.Pending) -> None:
    if row.photo is not None:
        await bot.send_photo(
            chat_id=_chat(row.chat_id),
            photo=row.photo,
            caption=outbox.cut(row.text, outbox.MAX_CAPTION),
            disable_notification=row.silent,
        )
    else:
        await bot.send_message(
            chat_id=_chat(row.chat_id),
            text=outbox.cut(row.text, outbox.MAX_TEXT),
            disable_notification=row.silent,
        )


def _what(row: outbox.Pending) -> str:
    return f"notification {row.id} ({row.kind})"


async def deliver_pending(bot: telegram.Bot, config: HuracanConfig) -> int:
    """One pass over the outbox: send every due notification in order; returns how many were sent.

    Stops at the first failure that concerns the whole bot (rate limit, network, server error, token).
    Database errors propagate (deliver_forever logs them and tries again).
    """
    engine = outbox.outbox_engine(config.general.database)
    rows = await asyncio.to_thread(outbox.pending, engine, limit=BATCH)
    held: set[str] = set()  # chats whose oldest row must go first
    sent = 0
    for row in rows:
        if row.chat_id in held:
            continue
        now = datetime.now(UTC)
        stale_before = now - timedelta(seconds=STALE_CLAIM_S)
        busy = row.claimed_at is not None and row.claimed_at >= stale_before
        if row.next_attempt_at > now or busy:
            held.add(row.chat_id)
            continue
        if not await asyncio.to_thread(
            outbox.claim, engine, row.id, worker=WORKER, now=now, stale_before=stale_before
        ):
            held.add(row.chat_id)  # another bot process took it
            continue
        attempt = row.attempts + 1
        try:
            await _send(bot, row)
        except RetryAfter as exc:
            wait = _retry_after_seconds(exc)
            await _failed(engine, row, f"Too Many Requests: retry after {wait:g} s", retry_in=wait)
            log.warning("Telegram asks to wait %g s (rate limit); %s and later ones wait", wait, _what(row))
            return sent
        except (BadRequest, Forbidden, ChatMigrated) as exc:
            reason = redact(f"{type(exc).__name__}: {exc}")
            if attempt >= PERMANENT_ATTEMPTS:
                await _failed(engine, row, reason, retry_in=None)
                log.error("Telegram refused %s %d times; given up: %s", _what(row), attempt, reason)
            else:
                await _failed(engine, row, reason, retry_in=_backoff(attempt))
                log.warning("Telegram refused %s (attempt %d): %s; trying again", _what(row), attempt, reason)
            held.add(row.chat_id)
            continue
        except InvalidToken as exc:
            reason = redact(f"the bot token was refused ({exc}); fix telegram.token")
            await _failed(engine, row, reason, retry_in=MAX_BACKOFF_S)
            log.error("Telegram: %s; %s and later ones wait", reason, _what(row))
            return sent
        except Exception as exc:  # NetworkError, TimedOut, 5xx, an unreachable server, anything unexpected
            reason = redact(f"{type(exc).__name__}: {exc}")
            delay = _backoff(attempt)
            await _failed(engine, row, reason, retry_in=delay)
            log.warning(
                "Telegram unreachable or failing (%s); %s retried in %g s (attempt %d)",
                reason,
                _what(row),
                delay,
                attempt,
            )
            return sent
        except BaseException:
            await asyncio.shield(asyncio.to_thread(outbox.release, engine, row.id, worker=WORKER))
            raise
        await asyncio.to_thread(outbox.mark_sent, engine, row.id, worker=WORKER, now=datetime.now(UTC))
        sent += 1
    return sent


async def _failed(engine: object, row: outbox.Pending, error: str, *, retry_in: float | None) -> None:
    now = datetime.now(UTC)
    retry_at = None if retry_in is None else now + timedelta(seconds=retry_in)
    await asyncio.to_thread(
        outbox.mark_failed, engine, row.id, worker=WORKER, error=redact(error), now=now, retry_at=retry_at
    )


async def deliver_forever(
    bot: telegram.Bot, config: HuracanConfig, *, stop: asyncio.Event, poll_seconds: float = 1.0
) -> None:
    """Send the outbox's notifications until `stop` is set: a pass, then a pause of `poll_seconds`.

    Never raises for Telegram or the database: each problem is a log line and the next pass tries again.
    The outbox is trimmed every minute (telegram.outbox_max_rows, telegram.outbox_keep_days).
    """
    engine = outbox.outbox_engine(config.general.database)
    last_trim = -TRIM_EVERY_S
    database_failing = False
    while not stop.is_set():
        sent = 0
        try:
            if time.monotonic() - last_trim >= TRIM_EVERY_S:
                last_trim = time.monotonic()
                await asyncio.to_thread(
                    outbox.trim,
                    engine,
                    max_rows=config.telegram.outbox_max_rows,
                    keep_days=config.telegram.outbox_keep_days,
                    now=datetime.now(UTC),
                )
            sent = await deliver_pending(bot, config)
            if database_failing:
                log.info("Telegram delivery: the outbox database answers again")
            database_failing = False
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not database_failing:  # one line per outage, not one per second
                log.warning("Telegram delivery: outbox not read (%s); trying again", redact(_one_line(exc)))
            database_failing = True
        if sent >= BATCH:
            continue  # more may be waiting
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=poll_seconds)


def _one_line(exc: BaseException) -> str:
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
