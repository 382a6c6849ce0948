"""The one way Huracan builds a python-telegram-bot `Bot`: at `telegram.api_base_url`, token kept out of logs.

The Bot API's URLs carry the token (`<root>/bot<token>/<method>`), and httpx logs every request URL at
INFO, python-telegram-bot its base URL at DEBUG. `protect_token` rewrites every log record of this process
so that the token never reaches a handler, whatever logger or level wrote it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import sys
import threading
from typing import Any

import telegram

from huracan_core.config import HuracanConfig
from huracan_core.exceptions import ConfigError

MASK = "<token>"
# A bot token wherever it appears: 123456789:AA... (digits, a colon, 30+ URL-safe characters).
_TOKEN_SHAPE = re.compile(r"(?<![0-9])[0-9]{3,}:[A-Za-z0-9_-]{20,}")

_tokens: set[str] = set()
_lock = threading.Lock()
_factory: Any = None  # our record factory, once installed
_handle_patched = False  # logging.Handler.handle masks too


def redact(text: str) -> str:
    """`text` with every known token and anything shaped like a bot token replaced by <token>."""
    for token in _tokens:
        text = text.replace(token, MASK)
    return _TOKEN_SHAPE.sub(MASK, text)


def _scrub(record: logging.LogRecord) -> logging.LogRecord:
    """The record with the token masked in its message, traceback and stack (idempotent)."""
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: leave it to the handler to report
        return record
    masked = redact(message)
    if masked != message or record.args:
        record.msg, record.args = masked, None
    if record.exc_info and record.exc_info[0] is not None:
        # The exception itself goes: a handler that renders exc_info on its own (rich's tracebacks, structlog)
        # would print the token from its message; every formatter prints exc_text instead.
        record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.exc_info = None
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


def protect_token(token: str) -> None:
    """Mask `token` in every log record of this process from now on (idempotent).

    Twice over: when a record is made (the record factory, installed again if another library replaced it)
    and when any handler is about to handle one (`logging.Handler.handle`), which also covers records made
    without the factory (`logging.makeLogRecord`, copies made by other logging set-ups)."""
    global _factory, _handle_patched
    with _lock:
        if token:
            _tokens.add(token)
        if not _handle_patched:
            original_handle = logging.Handler.handle
            original_handle_error = logging.Handler.handleError

            def handle(self: logging.Handler, record: logging.LogRecord) -> Any:
                return original_handle(self, _scrub(record))

            def handle_error(self: logging.Handler, record: logging.LogRecord) -> None:
                # A handler that fails (a closed stream) prints the traceback of the error it hit, chained to
                # the exception being handled then, e.g. PTB's InvalidToken, whose message holds the token.
                printed = io.StringIO()
                with contextlib.redirect_stderr(printed):
                    original_handle_error(self, record)
                if printed.getvalue():
                    sys.stderr.write(redact(printed.getvalue()))

            logging.Handler.handle = handle  # type: ignore[method-assign]
            logging.Handler.handleError = handle_error  # type: ignore[method-assign]
            _handle_patched = True
        if _factory is not None and logging.getLogRecordFactory() is _factory:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            return _scrub(previous(*args, **kwargs))

        logging.setLogRecordFactory(factory)
        _factory = factory
    # One INFO line per HTTP request (with the token in its URL) is noise even when masked.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def api_urls(config: HuracanConfig) -> tuple[str, str]:
    """python-telegram-bot's base_url and base_file_url for `telegram.api_base_url` (PTB appends the token)."""
    root = config.telegram.api_base_url.rstrip("/")
    return f"{root}/bot", f"{root}/file/bot"


def bot_token(config: HuracanConfig) -> str:
    token = config.telegram.token.get_secret_value() if config.telegram.token is not None else ""
    if not token:
        raise ConfigError(
            "telegram.token: not set; export HURACAN_TELEGRAM_TOKEN (config.yaml reads it as ${HURACAN_TELEGRAM_TOKEN})"
        )
    return token


def make_bot(config: HuracanConfig) -> telegram.Bot:
    """A Bot for the configured token and server, with the token masked in this process's logs."""
    token = bot_token(config)
    protect_token(token)
    base_url, base_file_url = api_urls(config)
    return telegram.Bot(token, base_url=base_url, base_file_url=base_file_url)
