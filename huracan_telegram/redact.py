"""Keep the bot token out of every log line, error and message of the process.

The Bot API puts the token in every URL (`/bot<token>/getUpdates`), and HTTP libraries log URLs and put
them in exceptions. While the bot runs, every log record of the process is redacted when it is created
(its message and its traceback), whatever logger emits it and whichever handler prints it; `redact` does
the same for any text the bot shows or raises.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

MASK = "<bot-token>"

_lock = threading.Lock()
_secrets: dict[str, int] = {}  # secret -> how many active `hidden` blocks registered it
_previous_factory: Any = None


def _forms(secret: str) -> list[str]:
    # The token as written and as it appears percent-encoded in a URL (the colon becomes %3A).
    return sorted({secret, quote(secret, safe=""), quote(secret)}, key=len, reverse=True)


def redact(text: str) -> str:
    """`text` with every registered secret replaced by <bot-token>."""
    with _lock:
        secrets = list(_secrets)
    for secret in secrets:
        for form in _forms(secret):
            text = text.replace(form, MASK)
    return text


def _redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record: logging.LogRecord = _previous_factory(*args, **kwargs)
    try:
        message = record.getMessage()
    except Exception:  # a malformed call: keep the raw message, still redacted
        message = str(record.msg)
    record.msg, record.args = redact(message), None
    if record.exc_info and record.exc_info[0] is not None:
        record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


@contextmanager
def hidden(secret: str) -> Iterator[None]:
    """Redact `secret` from every log record created while the block runs (nested and concurrent blocks
    are fine: the record factory is installed once and removed when the last block ends)."""
    global _previous_factory
    if not secret:
        yield
        return
    with _lock:
        if not _secrets:
            _previous_factory = logging.getLogRecordFactory()
            logging.setLogRecordFactory(_redacting_factory)
        _secrets[secret] = _secrets.get(secret, 0) + 1
    try:
        yield
    finally:
        with _lock:
            _secrets[secret] -= 1
            if not _secrets[secret]:
                del _secrets[secret]
            if not _secrets:
                logging.setLogRecordFactory(_previous_factory)
                _previous_factory = None
