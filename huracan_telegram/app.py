"""The bot process: python-telegram-bot's Application, long polling, exactly one poller per token.

`run_bot(config)` checks the settings, takes the poller lease in the archive (keyed by the token's sha256,
never the token), starts polling with pending updates dropped, and serves commands until SIGINT/SIGTERM.
It stops with a clear message (exit code 1) when another poller holds the lease or Telegram answers
409 Conflict (a poller elsewhere), and it never lets the token reach a log line or a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from datetime import time as dtime
from typing import Any

from telegram import BotCommand, Update
from telegram.error import Conflict, InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from huracan_core.archive import Storage, paths
from huracan_core.archive.service_lease import (
    LeaseHeldError,
    LeaseHolder,
    LeaseLostError,
    acquire_lease,
    read_lease,
    release_lease,
    renew_lease,
)
from huracan_core.config import HuracanConfig
from huracan_core.db import upgrade
from huracan_core.exceptions import ConfigError, HuracanError
from huracan_telegram import handlers, texts
from huracan_telegram.bot_api import api_urls, protect_token, redact
from huracan_telegram.delivery import deliver_forever

log = logging.getLogger("huracan.telegram")

LEASE_TTL_S = 60.0  # a poller that died frees its token this long after its last renewal
LEASE_RENEW_S = 15.0  # renewed four times per time to live: one failed write (an S3 blip) is harmless
UPDATES = ("message", "callback_query")  # what the bot asks Telegram for; everything else is never sent


def route_library_logs(level: int = logging.WARNING) -> None:
    """Send python-telegram-bot's and its HTTP client's warnings to Huracan's log handlers (console and
    logs/telegram.log); their INFO lines (one per request, with the URL) are not wanted."""
    ours = [h for h in logging.getLogger("huracan").handlers]
    for name in ("telegram", "httpx", "httpcore", "apscheduler"):
        library = logging.getLogger(name)
        library.setLevel(level)
        for handler in ours:
            if handler not in library.handlers:
                library.addHandler(handler)
        library.propagate = not ours


def check_settings(config: HuracanConfig) -> str:
    """The token, or ConfigError naming what is missing: the bot refuses to start half-configured."""
    t = config.telegram
    token = t.token.get_secret_value() if t.token is not None else ""
    if not token:
        raise ConfigError(
            "telegram.token is not set: create a bot with @BotFather and put its token in the environment "
            "variable HURACAN_TELEGRAM_TOKEN (never in config.yaml)"
        )
    if not t.chat_id:
        raise ConfigError(
            "telegram.chat_id is not set: the chat the bot answers and reports to (HURACAN_TELEGRAM_CHAT_ID); "
            "your own user id for a private chat, or a group's id like -1001234567890"
        )
    if not t.allowed_user_ids:
        raise ConfigError(
            "telegram.allowed_user_ids is empty, so nobody may command the bot: list your Telegram user id "
            "(config.yaml, or HURACAN__TELEGRAM__ALLOWED_USER_IDS=123456789)"
        )
    return token


def lease_key(token: str) -> str:
    """The poller lease of this token: named by the first 16 hex digits of its sha256, never the token."""
    return paths.service_lease(f"telegram-{hashlib.sha256(token.encode()).hexdigest()[:16]}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a live process of another user
        return True
    return True


_RUNNING_HERE: set[str] = set()  # holder ids of the bots running in this process


def _dead_here(holder: LeaseHolder) -> bool:
    """An entry left by a poller of this host that is gone: its process has exited, or it had our pid but is
    not one of ours (a restarted container keeps its host name and often its pid)."""
    if holder.host != socket.gethostname() or holder.holder_id in _RUNNING_HERE:
        return False
    return holder.pid == os.getpid() or not _pid_alive(holder.pid)


def build_application(config: HuracanConfig, state: handlers.BotState | None = None) -> Application:
    """The Application with every handler: the access guard first (group -1), then the commands and buttons;
    the daily summary job at telegram.daily_summary_utc unless notify.daily_summary is off."""
    token = check_settings(config)
    protect_token(token)  # before the Bot exists: python-telegram-bot logs its URL (with the token) at DEBUG
    base_url, base_file_url = api_urls(config)
    app = ApplicationBuilder().token(token).base_url(base_url).base_file_url(base_file_url).build()
    app.bot_data["huracan"] = state if state is not None else handlers.BotState.from_config(config)
    app.add_handler(TypeHandler(Update, handlers.guard), group=-1)
    only_new = filters.UpdateType.MESSAGE  # an edited old /trade must not run again
    for name, build in handlers.SIMPLE_COMMANDS.items():
        app.add_handler(CommandHandler(name, handlers.command(name, build), filters=only_new))
    app.add_handler(CommandHandler("trade", handlers.on_trade, filters=only_new))
    app.add_handler(CommandHandler("daily", handlers.on_daily, filters=only_new))
    app.add_handler(CallbackQueryHandler(handlers.on_trade_button, pattern=r"^trade:"))
    app.add_handler(MessageHandler(filters.COMMAND & only_new, handlers.on_unknown))
    app.add_error_handler(handlers.on_error)
    if config.telegram.notify.daily_summary != "off" and app.job_queue is not None:
        hour, minute = (int(part) for part in config.telegram.daily_summary_utc.split(":"))
        app.job_queue.run_daily(
            handlers.daily_job, time=dtime(hour, minute, tzinfo=UTC), name="daily summary"
        )
    return app


class _Outcome:
    """Why the bot stops: the first failure wins; a plain stop (signal, `stop` event) is exit code 0."""

    def __init__(self) -> None:
        self.code = 0
        self.reason: str | None = None
        self.stop = asyncio.Event()

    def fail(self, message: str, code: int = 1) -> None:
        if self.reason is None:
            self.code, self.reason = code, redact(message)
            log.error("%s", self.reason)
        self.stop.set()


async def _keep_lease(storage: Storage, key: str, holder: LeaseHolder, outcome: _Outcome) -> None:
    while not outcome.stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(outcome.stop.wait(), LEASE_RENEW_S)
            return
        try:
            holder = await asyncio.to_thread(
                renew_lease, storage, key, holder, ttl_s=LEASE_TTL_S, now=datetime.now(UTC)
            )
        except LeaseLostError as exc:
            outcome.fail(f"Stopping: {exc}")
        except (HuracanError, OSError) as exc:
            log.warning("Could not renew the poller lease (%s: %s); retrying", type(exc).__name__, exc)


async def _watch(stop: threading.Event, outcome: _Outcome) -> None:
    while not stop.is_set() and not outcome.stop.is_set():
        await asyncio.sleep(0.05)
    outcome.stop.set()


async def _serve(
    app: Application,
    outcome: _Outcome,
    *,
    stop: threading.Event | None,
    install_signals: bool,
    on_started: Callable[[Application], Any] | None,
    background: list[asyncio.Task[Any]],
) -> None:
    loop = asyncio.get_running_loop()
    if install_signals:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, outcome.stop.set)
    base = app.bot_data["huracan"].config.telegram.api_base_url
    delivery: asyncio.Task[None] | None = None
    try:
        await app.initialize()
    except TelegramError as exc:
        if isinstance(exc, InvalidToken):
            outcome.fail(
                "Telegram refused the bot token (401 Unauthorized): check HURACAN_TELEGRAM_TOKEN (@BotFather)"
            )
        else:
            outcome.fail(f"Cannot reach the Telegram Bot API at {base}: {type(exc).__name__}: {exc}")
        with contextlib.suppress(Exception):
            await app.shutdown()
        return
    try:
        try:
            await app.bot.set_my_commands([BotCommand(name, what) for name, what, _ in texts.COMMANDS])
        except TelegramError as exc:  # the menu is a convenience; the commands work without it
            log.warning("Could not set the bot's command menu: %s: %s", type(exc).__name__, exc)

        def on_poll_error(exc: TelegramError) -> None:
            if isinstance(exc, Conflict):
                outcome.fail(
                    "Another program is polling this bot's token (Telegram answered 409 Conflict: "
                    f"{exc.message}); only one poller per token may run: stop the other one, then start this again"
                )
            else:
                log.warning("Polling Telegram failed (%s: %s); retrying", type(exc).__name__, exc)

        try:
            assert app.updater is not None
            await app.updater.start_polling(
                drop_pending_updates=True, allowed_updates=list(UPDATES), error_callback=on_poll_error
            )
        except Conflict as exc:
            on_poll_error(exc)
            return
        except NetworkError as exc:
            outcome.fail(f"Cannot reach the Telegram Bot API at {base}: {type(exc).__name__}: {exc}")
            return
        await app.start()
        # The notifications every other process queued in the database outbox, sent by this process alone.
        delivery = asyncio.create_task(
            deliver_forever(app.bot, app.bot_data["huracan"].config, stop=outcome.stop)
        )
        me = app.bot.username
        log.info("Telegram bot @%s is polling; commands only from telegram.allowed_user_ids", me)
        if stop is not None:
            background.append(asyncio.create_task(_watch(stop, outcome)))
        if on_started is not None:
            on_started(app)
        await outcome.stop.wait()
    finally:
        outcome.stop.set()
        if delivery is not None:  # finish the message being sent before the HTTP client closes
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(delivery, 10)
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await app.shutdown()


async def _main(
    config: HuracanConfig,
    state: handlers.BotState,
    *,
    stop: threading.Event | None,
    install_signals: bool,
    on_started: Callable[[Application], Any] | None,
) -> int:
    token = check_settings(config)
    storage, key = state.storage, lease_key(token)
    outcome = _Outcome()
    try:  # the outbox and the tables the commands read; Hamilton and the Engine migrate the same way
        await asyncio.to_thread(upgrade, config.general.database)
    except (HuracanError, OSError) as exc:
        log.warning("Could not migrate the database (%s); commands that read it will say so", exc)
    try:
        holder = await asyncio.to_thread(
            acquire_lease,
            storage,
            key,
            holder_id=uuid.uuid4().hex,
            host=socket.gethostname(),
            pid=os.getpid(),
            what="huracan telegram",
            ttl_s=LEASE_TTL_S,
            now=datetime.now(UTC),
            take_over=_dead_here,
        )
    except LeaseHeldError as exc:
        outcome.fail(
            f"Another `huracan telegram` is already polling this bot (lease {storage.url(key)} held by "
            f"{exc.holder.describe()}); stop it first"
        )
        return outcome.code
    _RUNNING_HERE.add(holder.holder_id)
    background: list[asyncio.Task[Any]] = [asyncio.create_task(_keep_lease(storage, key, holder, outcome))]
    try:
        app = build_application(config, state)
        await _serve(
            app,
            outcome,
            stop=stop,
            install_signals=install_signals,
            on_started=on_started,
            background=background,
        )
    finally:
        outcome.stop.set()
        for task in background:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 10)
        try:
            await asyncio.to_thread(release_lease, storage, key, holder)
        except (HuracanError, OSError) as exc:  # it expires by itself
            log.warning("Could not release the poller lease (%s: %s)", type(exc).__name__, exc)
        _RUNNING_HERE.discard(holder.holder_id)
        state.close()
    return outcome.code


def run_bot(
    config: HuracanConfig,
    *,
    stop: threading.Event | None = None,
    state: handlers.BotState | None = None,
    install_signals: bool = True,
    on_started: Callable[[Application], Any] | None = None,
) -> int:
    """Serve the bot until SIGINT/SIGTERM (or `stop` is set); the exit code: 0 stopped, 1 could not run.

    ConfigError when the token, chat_id or allowed_user_ids is missing. `state` and `on_started` (called in
    the event loop once polling runs) are for tests.
    """
    protect_token(check_settings(config))  # from now on no log record of this process shows the token
    state = state if state is not None else handlers.BotState.from_config(config)
    return asyncio.run(
        _main(config, state, stop=stop, install_signals=install_signals, on_started=on_started)
    )


def poller_health(config: HuracanConfig, *, now: datetime) -> tuple[bool, str]:
    """(healthy, message): this host holds the token's poller lease and renewed it in time (the healthcheck)."""
    token = check_settings(config)
    storage = Storage(config.general.archive)
    key = lease_key(token)
    holder = read_lease(storage, key)
    if holder is None:
        return False, f"unhealthy: no bot holds the poller lease {storage.url(key)}"
    if not holder.live(now):
        return False, f"unhealthy: the poller lease expired ({holder.describe()})"
    if holder.host != socket.gethostname():
        return False, f"unhealthy: the bot polling this token runs elsewhere ({holder.describe()})"
    age = (now - holder.renewed_at).total_seconds()
    return True, f"healthy: polling as {holder.describe()}, lease renewed {age:.0f} s ago"
