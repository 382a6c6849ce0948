"""The one way Huracan builds a python-telegram-bot `Bot`: at `telegram.api_base_url`, token kept out of logs.

The Bot API's URLs carry the token (`<root>/bot<token>/<method>`), and httpx logs every request URL at
INFO, python-telegram-bot its base URL at DEBUG. `protect_token` rewrites every log record of this process
so that the token never reaches a handler, whatever logger or level wrote it.
"""

from __future__ import annotations

import logging
import re
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


def redact(text: str) -> str:
    """`text` with every known token and anything shaped like a bot token replaced by <token>."""
    for token in _tokens:
        text = text.replace(token, MASK)
    return _TOKEN_SHAPE.sub(MASK, text)


def protect_token(token: str) -> None:
    """Mask `token` in every log record this process creates from now on (idempotent).

    Installed again when another library has since replaced the record factory (Airflow's logging setup
    does), so a later call always leaves the mask in force."""
    global _factory
    with _lock:
        if token:
            _tokens.add(token)
        if _factory is not None and logging.getLogRecordFactory() is _factory:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            try:
                message = record.getMessage()
            except Exception:  # a broken format string: leave it to the handler to report
                return record
            masked = redact(message)
            if masked != message or record.args:
                record.msg, record.args = masked, None
            if record.exc_info and record.exc_info[0] is not None:
                # The exception itself goes: a handler that renders exc_info on its own (rich's tracebacks)
                # would print the token from its message; every formatter prints exc_text instead.
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
            if record.stack_info:
                record.stack_info = redact(record.stack_info)
            return record

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
