"""The one retry helper: exponential backoff on TemporaryError-like failures, with the last reason kept."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


def retry(
    fn: Callable[[], T],
    *,
    what: str,
    retry_on: tuple[type[BaseException], ...],
    attempts: int = 4,
    base_delay_s: float = 0.5,
    max_delay_s: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call `fn` until it succeeds or `attempts` are spent; re-raise the last error.

    Backoff doubles from `base_delay_s` (seconds) and is capped at `max_delay_s`, so a flaky exchange
    is not hammered and a dead one fails in bounded time.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    delay = base_delay_s
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except retry_on as exc:
            if attempt == attempts:
                raise
            log.warning("%s failed (attempt %d of %d): %s; retrying in %.1fs", what, attempt, attempts, exc, delay)
            sleep(delay)
            delay = min(delay * 2, max_delay_s)
    raise AssertionError("unreachable")
