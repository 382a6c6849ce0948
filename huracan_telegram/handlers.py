"""The bot's handlers: the access guard that runs first, one handler per command, the Confirm/Cancel buttons
of /trade and the daily summary job. Each reads or writes through `huracan_core.broadcaster` (plain data,
in a worker thread) and only formats the answer (`texts.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import ApplicationHandlerStop, ContextTypes

from huracan_core.archive import Storage
from huracan_core.broadcaster import commands as cmd
from huracan_core.broadcaster import outbox
from huracan_core.broadcaster.access import AccessPolicy, RefusalCounter
from huracan_core.broadcaster.daily_summary import DailySummary, daily_summary, equity_chart_png, summary_day
from huracan_core.config import HuracanConfig
from huracan_core.db import connect
from huracan_core.exceptions import HuracanError
from huracan_telegram import texts
from huracan_telegram.bot_api import redact

log = logging.getLogger("huracan.telegram")

CONFIRM_TTL = timedelta(minutes=5)  # a /trade question left unanswered this long no longer applies
_BUTTON = re.compile(r"^trade:(confirm|cancel):([A-Za-z0-9_-]{8,32})$")


@dataclass
class PendingTrade:
    """A /trade waiting for its Confirm: only this user, in this chat, on this message, may answer it."""

    user_id: int
    chat_id: int
    choice: cmd.TradeChoice
    asked_at: datetime
    message_id: int | None = None


@dataclass
class BotState:
    """What every handler shares: settings, archive, database, the allow-list and the open questions."""

    config: HuracanConfig
    storage: Storage
    policy: AccessPolicy
    refusals: RefusalCounter = field(default_factory=RefusalCounter)
    pending: dict[str, PendingTrade] = field(default_factory=dict)  # nonce -> question
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    _db: Engine | None = None

    @classmethod
    def from_config(cls, config: HuracanConfig, **kwargs: Any) -> BotState:
        t = config.telegram
        policy = AccessPolicy.from_settings(
            allowed_user_ids=t.allowed_user_ids, chat_id=t.chat_id, allowed_chat_ids=t.allowed_chat_ids
        )
        return cls(config=config, storage=Storage(config.general.archive), policy=policy, **kwargs)

    @property
    def db(self) -> Engine:
        # Opened on first use: the bot answers /help and /champions even while the database is away.
        if self._db is None:
            self._db = connect(self.config.general.database)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.dispose()
            self._db = None

    @property
    def quote(self) -> str:
        return self.config.general.quote


def state_of(context: ContextTypes.DEFAULT_TYPE) -> BotState:
    return context.application.bot_data["huracan"]


def _sanitized(text: str, limit: int = 32) -> str:
    """A user's text made safe for one log line: printable, no line breaks, short."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in text)
    return clean[:limit] + ("..." if len(clean) > limit else "")


def _what(update: Update) -> str:
    if update.callback_query is not None:
        return "button"
    message = update.effective_message
    if message is not None and message.text:
        first = message.text.split(maxsplit=1)[0]
        return f"command {_sanitized(first)}" if first.startswith("/") else "message"
    return "update"


async def guard(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Group -1, before any handler: refuse (log with the user id, count, stop) unless the allow-list says yes."""
    state = state_of(context)
    user, chat = update.effective_user, update.effective_chat
    user_id = user.id if user is not None else None
    chat_id = chat.id if chat is not None else None
    verdict = state.policy.decide(user_id, chat_id)
    if verdict.allowed:
        return
    what = _what(update)
    if what.startswith(("command", "button")):
        state.refusals.record(user_id=user_id, chat_id=chat_id, what=what, reason=verdict.reason)
    else:  # chatter in a group the bot is in is no attempt to command it: dropped, not logged as one
        log.debug("Ignored a %s from user id %s in chat %s: %s", what, user_id, chat_id, verdict.reason)
    raise ApplicationHandlerStop


async def _reply(update: Update, text: str) -> None:
    message = update.effective_message
    if message is not None:
        await message.reply_text(texts.fit(text), parse_mode=ParseMode.HTML, do_quote=False)


async def _answer(update: Update, what: str, build: Callable[[], str]) -> None:
    """Run `build` in a worker thread (it reads files and the database) and reply with its text; a Huracan
    error (storage or database away, a corrupt file) becomes a short message naming it."""
    try:
        text = await asyncio.to_thread(build)
    except cmd.CommandError as exc:
        text = texts.error_text(str(exc))
    except (HuracanError, OSError) as exc:
        log.warning("%s failed: %s: %s", what, type(exc).__name__, exc)
        text = texts.error_text(f"{what} failed: {type(exc).__name__}: {redact(str(exc))[:500]}")
    await _reply(update, text)


def command(
    name: str, build: Callable[[BotState, Update, list[str]], str]
) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]:
    """A command handler whose answer is `build(state, update, args)`, run in a worker thread."""

    async def handle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        state = state_of(context)
        args = list(context.args or [])
        await _answer(update, f"/{name}", lambda: build(state, update, args))

    handle.__name__ = f"on_{name}"
    return handle


# --- commands answered by one function (in a worker thread) ---------------------------------------
def help_answer(state: BotState, update: Update, args: list[str]) -> str:
    return texts.help_text()


def status_answer(state: BotState, update: Update, args: list[str]) -> str:
    db = None
    with contextlib.suppress(HuracanError):
        db = state.db
    view = cmd.status_view(state.storage, db, now=state.clock(), timeframe=state.config.general.timeframe)
    return texts.status_text(view, quote=state.quote, refusals=state.refusals.total)


def champions_answer(state: BotState, update: Update, args: list[str]) -> str:
    symbols = state.config.hamilton.symbols
    return texts.champions_text(cmd.champions_view(state.storage, configured=symbols))


def pnl_answer(state: BotState, update: Update, args: list[str]) -> str:
    days = cmd.parse_days(args, default=7, maximum=cmd.MAX_PNL_DAYS, what="/pnl")
    view = cmd.pnl_view(state.storage, state.db, days=days, now=state.clock())
    return texts.pnl_text(view, quote=state.quote)


def promotions_answer(state: BotState, update: Update, args: list[str]) -> str:
    days = cmd.parse_days(args, default=7, maximum=cmd.MAX_PROMOTION_DAYS, what="/promotions")
    return texts.promotions_text(cmd.promotions_view(state.db, days=days, now=state.clock()))


# --- /daily and the daily job ---------------------------------------------------------------------
def parse_daily_day(args: list[str], now: datetime) -> date:
    """No argument: the UTC day that ended last; `today`; or a date YYYY-MM-DD."""
    if not args:
        return summary_day(now)
    if len(args) == 1 and args[0].lower() == "today":
        return now.astimezone(UTC).date()
    if len(args) == 1:
        try:
            return date.fromisoformat(args[0])
        except ValueError:
            pass
    raise cmd.CommandError(
        f"/daily takes nothing, 'today' or a date like 2026-12-04 (got {' '.join(args)!r})"
    )


def build_daily(state: BotState, day: date) -> tuple[DailySummary, bytes | None]:
    summary = daily_summary(state.storage, state.db, day=day)
    title = f"Equity and drawdown, run {summary.run_key or '-'}, to {day.isoformat()} (UTC)"
    return summary, equity_chart_png(summary.curve, title=title, quote=state.quote)


async def send_daily(
    bot: Any,
    chat_id: int | str,
    summary: DailySummary,
    png: bytes | None,
    *,
    quote: str,
    silent: bool = False,
) -> None:
    caption = texts.daily_caption(summary, quote=quote)
    if png is not None:
        await bot.send_photo(
            chat_id=chat_id,
            photo=png,
            caption=caption,
            parse_mode=ParseMode.HTML,
            disable_notification=silent,
        )
    else:
        await bot.send_message(
            chat_id=chat_id, text=caption, parse_mode=ParseMode.HTML, disable_notification=silent
        )


async def on_daily(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    state = state_of(context)
    try:
        day = parse_daily_day(list(context.args or []), state.clock())
        summary, png = await asyncio.to_thread(build_daily, state, day)
    except cmd.CommandError as exc:
        await _reply(update, texts.error_text(str(exc)))
        return
    except (HuracanError, OSError) as exc:
        log.warning("/daily failed: %s: %s", type(exc).__name__, exc)
        await _reply(
            update, texts.error_text(f"/daily failed: {type(exc).__name__}: {redact(str(exc))[:500]}")
        )
        return
    chat = update.effective_chat
    assert chat is not None  # the guard let it through, so it came from an allowed chat
    await send_daily(context.bot, chat.id, summary, png, quote=state.quote)


async def daily_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """The scheduled summary of the UTC day that just ended, queued in the outbox as a `daily_summary`
    notification (telegram.notify.daily_summary: on, silent or off), so an outage only delays it."""
    state = state_of(context)
    day = summary_day(state.clock())
    try:
        summary, png = await asyncio.to_thread(build_daily, state, day)
    except Exception as exc:  # the job runs again tomorrow; the bot must keep answering commands
        log.error("The daily summary of %s could not be made: %s: %s", day, type(exc).__name__, exc)
        return
    text = texts.plain(texts.daily_caption(summary, quote=state.quote))
    queued = await asyncio.to_thread(outbox.enqueue, "daily_summary", text, photo=png, config=state.config)
    if queued:
        log.info("Daily summary of %s queued for chat %s", day, state.config.telegram.chat_id)


# --- /pause and /resume ---------------------------------------------------------------------------
def _pause(paused: bool) -> Callable[[BotState, Update, list[str]], str]:
    def build(state: BotState, update: Update, args: list[str]) -> str:
        user = update.effective_user
        assert user is not None  # the guard refuses updates without a sender
        reason = " ".join(args) if paused else None
        change = cmd.set_pause(
            state.storage, paused=paused, user_id=user.id, now=state.clock(), reason=reason
        )
        log.info(
            "%s by telegram:%s (%s)",
            "Paused" if paused else "Resumed",
            user.id,
            _sanitized(reason or "-", 80),
        )
        return texts.pause_text(change)

    return build


# --- /trade and its buttons -----------------------------------------------------------------------
async def on_trade(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Parse, show what would be traded now, and ask Confirm / Cancel (Confirm first)."""
    state = state_of(context)
    user, chat, message = update.effective_user, update.effective_chat, update.effective_message
    assert user is not None and chat is not None and message is not None
    try:
        choice = cmd.parse_trade(list(context.args or []))
    except cmd.CommandError as exc:
        await _reply(update, texts.trade_usage_error(str(exc)))
        return
    now = state.clock()
    try:
        plan = await asyncio.to_thread(cmd.plan_trade, state.storage, choice, user_id=user.id, now=now)
    except (HuracanError, OSError) as exc:
        await _reply(
            update, texts.error_text(f"/trade failed: {type(exc).__name__}: {redact(str(exc))[:500]}")
        )
        return
    # One open question per user and chat: a newer /trade makes the older buttons stale.
    for nonce, pending in list(state.pending.items()):
        stale = now - pending.asked_at > CONFIRM_TTL
        if stale or (pending.user_id == user.id and pending.chat_id == chat.id):
            del state.pending[nonce]
    nonce = secrets.token_urlsafe(12)
    question = PendingTrade(user.id, chat.id, choice, now)
    state.pending[nonce] = question
    buttons = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Confirm", callback_data=f"trade:confirm:{nonce}"),
                InlineKeyboardButton("Cancel", callback_data=f"trade:cancel:{nonce}"),
            ]
        ]
    )
    minutes = int(CONFIRM_TTL.total_seconds() // 60)
    sent = await message.reply_text(
        texts.trade_question(plan, expires_min=minutes),
        parse_mode=ParseMode.HTML,
        reply_markup=buttons,
        do_quote=False,
    )
    question.message_id = sent.message_id


async def on_trade_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Confirm writes the selector (as asked, at the moment of the Confirm); Cancel writes nothing. A button
    whose question is unknown, answered, replaced, expired, or pressed by someone else changes nothing."""
    state = state_of(context)
    query = update.callback_query
    assert query is not None
    match = _BUTTON.match(query.data or "")
    message = query.message
    pending = state.pending.get(match.group(2)) if match else None
    if (
        match is None
        or pending is None
        or message is None
        or message.chat.id != pending.chat_id
        or (pending.message_id is not None and message.message_id != pending.message_id)
    ):
        log.info("Ignored a /trade button from user id %s: unknown, answered or replaced", query.from_user.id)
        await query.answer("This question is no longer open: nothing changed.", show_alert=True)
        return
    if query.from_user.id != pending.user_id:
        log.info(
            "Ignored a /trade button from user id %s: the question is user %s's",
            query.from_user.id,
            pending.user_id,
        )
        await query.answer("Only the user who sent this /trade can answer it.", show_alert=True)
        return
    nonce, action = match.group(2), match.group(1)
    del state.pending[nonce]  # answered once: a second press finds nothing
    now = state.clock()
    if now - pending.asked_at > CONFIRM_TTL:
        await query.answer("Expired: nothing changed.")
        await query.edit_message_text(texts.trade_expired())
        return
    if action == "cancel":
        await query.answer("Cancelled.")
        await query.edit_message_text(texts.trade_cancelled())
        return
    try:
        plan = await asyncio.to_thread(
            cmd.apply_trade, state.storage, pending.choice, user_id=pending.user_id, now=now
        )
    except (HuracanError, OSError, ValueError) as exc:
        log.error("The selector could not be written: %s: %s", type(exc).__name__, exc)
        await query.answer("Failed: nothing changed.", show_alert=True)
        await query.edit_message_text(
            texts.error_text(
                f"/trade failed, nothing changed: {type(exc).__name__}: {redact(str(exc))[:500]}"
            )
        )
        return
    log.info(
        "Selector written by telegram:%s: %s; trades now %s",
        pending.user_id,
        pending.choice.describe(),
        ", ".join(plan.selection.symbols) or "nothing",
    )
    await query.answer("Done.")
    await query.edit_message_text(texts.trade_done(plan), parse_mode=ParseMode.HTML)


async def on_unknown(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _reply(update, "Unknown command. /help lists what I understand.")


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A handler crashed: log it (the token redacted) and tell the user, briefly, that it failed."""
    error = context.error
    log.error("A Telegram handler failed: %s: %s", type(error).__name__, error, exc_info=error)
    if isinstance(update, Update) and update.effective_message is not None:
        try:
            await _reply(
                update, texts.error_text(f"that failed: {type(error).__name__}; the log has the details")
            )
        except Exception:  # the network may be what failed
            log.debug("Could not report the failure to the chat", exc_info=True)


SIMPLE_COMMANDS: dict[str, Callable[[BotState, Update, list[str]], str]] = {
    "help": help_answer,
    "start": help_answer,
    "status": status_answer,
    "champions": champions_answer,
    "pnl": pnl_answer,
    "promotions": promotions_answer,
    "pause": _pause(True),
    "resume": _pause(False),
}
