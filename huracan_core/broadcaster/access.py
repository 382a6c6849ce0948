"""Who may command the bot: deny by default, decided once per update, every refusal logged and counted.

A command is obeyed only when its sender's user id is in `telegram.allowed_user_ids` AND it was sent in
`telegram.chat_id` or a chat of `telegram.allowed_chat_ids`. An empty list means nobody. A refusal is
logged with the user id and chat id (so an operator can find the id to allow) and never acted on.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

log = logging.getLogger("huracan.telegram.access")

_CHAT_ID = re.compile(r"^-?\d+$")


@dataclass(frozen=True)
class Verdict:
    """The access decision for one update: allowed, or refused with the reason (for the log, never the user)."""

    allowed: bool
    reason: str = ""


@dataclass(frozen=True)
class AccessPolicy:
    """The allow-lists; both must contain the update's user and chat. Empty sets refuse everyone."""

    user_ids: frozenset[int]
    chat_ids: frozenset[int]

    @classmethod
    def from_settings(
        cls,
        *,
        allowed_user_ids: Iterable[int],
        chat_id: str | int | None,
        allowed_chat_ids: Iterable[int] = (),
    ) -> AccessPolicy:
        """The policy of `telegram.*`: `chat_id` (numeric, e.g. -1001234567890 or a user id) plus the list.

        A `chat_id` that is not numeric (a @channel name) cannot match a chat a command comes from, so
        commands are then accepted only in `allowed_chat_ids`.
        """
        chats = {int(c) for c in allowed_chat_ids}
        if chat_id is not None and _CHAT_ID.match(str(chat_id).strip()):
            chats.add(int(str(chat_id).strip()))
        return cls(user_ids=frozenset(int(u) for u in allowed_user_ids), chat_ids=frozenset(chats))

    def decide(self, user_id: int | None, chat_id: int | None) -> Verdict:
        """Allowed only for a listed user in a listed chat; anything unknown is refused."""
        if user_id is None:
            return Verdict(False, "no sender (not a message from a user)")
        if user_id not in self.user_ids:
            why = (
                "telegram.allowed_user_ids is empty"
                if not self.user_ids
                else "not in telegram.allowed_user_ids"
            )
            return Verdict(False, f"user {why}")
        if chat_id is None or chat_id not in self.chat_ids:
            return Verdict(False, "chat is not telegram.chat_id nor in telegram.allowed_chat_ids")
        return Verdict(True)


class RefusalCounter:
    """Counts refused updates per user id (thread-safe); `record` logs each one with the user and chat ids."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_user: Counter[int | None] = Counter()

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._by_user.values())

    def of(self, user_id: int | None) -> int:
        with self._lock:
            return self._by_user[user_id]

    def record(self, *, user_id: int | None, chat_id: int | None, what: str, reason: str) -> int:
        """Count one refusal and log it; returns the total so far. `what` is the command or button, cut short."""
        with self._lock:
            self._by_user[user_id] += 1
            total = sum(self._by_user.values())
        log.warning(
            "Refused Telegram %s from user id %s in chat %s: %s (refusal %d since start; nothing was done)",
            what[:40],
            user_id if user_id is not None else "unknown",
            chat_id if chat_id is not None else "unknown",
            reason,
            total,
        )
        return total
