"""A lease that lets exactly one instance of a long-lived service run, across machines sharing the archive.

The Telegram bot holds one per bot token (only one process may poll a token). Like the publish lease
(`lease.py`), it is one JSON file in the archive changed only by compare-and-swap (`Storage.update_json`),
so it holds on S3 as on a local folder. Unlike it, one holder has the whole lease and keeps it by renewing
it well within its time to live; a holder that died stops renewing and its entry expires. A caller may
also take over an entry it knows to be dead (`take_over`: e.g. same host, process gone).

    {"holder": {"holder_id": "9f1c...", "host": "bot-1", "pid": 7, "what": "huracan telegram",
                "since": "...", "renewed_at": "...", "expires_at": "..."}}     ({"holder": null} once released)
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from huracan_core.archive.storage import Storage
from huracan_core.exceptions import ConcurrentWriteError, CorruptFileError, HuracanError

_ATTEMPTS = 20  # compare-and-swap retries: a lost race only means someone else changed the file


@dataclass(frozen=True)
class LeaseHolder:
    """Who holds a service lease, since when, and until when it is valid without a renewal."""

    holder_id: str
    host: str
    pid: int
    what: str
    since: datetime
    renewed_at: datetime
    expires_at: datetime

    def live(self, now: datetime) -> bool:
        return self.expires_at > now

    def describe(self) -> str:
        """`host bot-1 pid 7 since 2026-12-05 10:00:00 UTC (valid until 10:01:00 UTC unless renewed)`."""
        return (
            f"host {self.host} pid {self.pid} since {self.since.strftime('%Y-%m-%d %H:%M:%S UTC')} "
            f"(valid until {self.expires_at.strftime('%H:%M:%S UTC')} unless renewed)"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "holder_id": self.holder_id,
            "host": self.host,
            "pid": self.pid,
            "what": self.what,
            "since": self.since.isoformat(),
            "renewed_at": self.renewed_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> LeaseHolder:
        def moment(name: str) -> datetime:
            value = datetime.fromisoformat(str(raw[name]))
            return value if value.tzinfo else value.replace(tzinfo=UTC)

        return cls(
            holder_id=str(raw["holder_id"]),
            host=str(raw["host"]),
            pid=int(raw["pid"]),
            what=str(raw.get("what") or "?"),
            since=moment("since"),
            renewed_at=moment("renewed_at"),
            expires_at=moment("expires_at"),
        )


class LeaseHeldError(HuracanError):
    """Another live instance holds the lease; `holder` says which."""

    def __init__(self, message: str, holder: LeaseHolder) -> None:
        super().__init__(message)
        self.holder = holder


class LeaseLostError(HuracanError):
    """Our lease expired and another instance took it (or the file was removed): stop at once."""


def _current(storage: Storage, key: str, raw: Any | None) -> LeaseHolder | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or "holder" not in raw:
        raise CorruptFileError(f"{storage.url(key)} is not a service lease file; remove it by hand")
    if raw["holder"] is None:
        return None
    try:
        return LeaseHolder.from_dict(raw["holder"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptFileError(
            f"{storage.url(key)} is not a service lease file ({exc}); remove it by hand"
        ) from None


def _swap(storage: Storage, key: str, change: Callable[[Any | None], Any]) -> None:
    for attempt in range(_ATTEMPTS):
        try:
            storage.update_json(key, change)
            return
        except ConcurrentWriteError:
            if attempt == _ATTEMPTS - 1:
                raise
            time.sleep(0.05)


def read_lease(storage: Storage, key: str) -> LeaseHolder | None:
    """The recorded holder (live or expired), or None when nobody holds the lease."""
    try:
        raw = storage.read_json(key)
    except FileNotFoundError:
        return None
    return _current(storage, key, raw)


def acquire_lease(
    storage: Storage,
    key: str,
    *,
    holder_id: str,
    host: str,
    pid: int,
    what: str,
    ttl_s: float,
    now: datetime,
    take_over: Callable[[LeaseHolder], bool] = lambda holder: False,
) -> LeaseHolder:
    """Take the lease, or raise LeaseHeldError naming the live holder.

    An expired entry, our own (same holder_id), or one `take_over` declares dead is replaced.
    """
    mine = LeaseHolder(holder_id, host, pid, what, now, now, now + timedelta(seconds=ttl_s))
    other: list[LeaseHolder] = []

    def change(raw: Any | None) -> dict[str, Any]:
        other.clear()
        current = _current(storage, key, raw)
        if (
            current is not None
            and current.holder_id != holder_id
            and current.live(now)
            and not take_over(current)
        ):
            other.append(current)
            raise _Refused
        return {"holder": mine.to_dict()}

    try:
        _swap(storage, key, change)
    except _Refused:
        holder = other[0]
        raise LeaseHeldError(f"{what} is already running: {holder.describe()}", holder) from None
    return mine


def renew_lease(
    storage: Storage, key: str, holder: LeaseHolder, *, ttl_s: float, now: datetime
) -> LeaseHolder:
    """Extend our lease by `ttl_s` from `now`; LeaseLostError when the file no longer names us."""
    renewed = LeaseHolder(
        holder.holder_id,
        holder.host,
        holder.pid,
        holder.what,
        holder.since,
        now,
        now + timedelta(seconds=ttl_s),
    )
    lost: list[str] = []

    def change(raw: Any | None) -> dict[str, Any]:
        lost.clear()
        current = _current(storage, key, raw)
        if current is None or current.holder_id != holder.holder_id:
            lost.append("nobody" if current is None else current.describe())
            raise _Refused
        return {"holder": renewed.to_dict()}

    try:
        _swap(storage, key, change)
    except _Refused:
        raise LeaseLostError(
            f"the lease {storage.url(key)} is no longer ours (now held by {lost[0]}); stopping"
        ) from None
    return renewed


def release_lease(storage: Storage, key: str, holder: LeaseHolder) -> None:
    """Give the lease up if it is still ours (someone else's entry is left alone)."""

    def change(raw: Any | None) -> dict[str, Any]:
        current = _current(storage, key, raw)
        if current is not None and current.holder_id != holder.holder_id:
            raise _Refused
        return {"holder": None}

    with contextlib.suppress(_Refused):
        _swap(storage, key, change)


class _Refused(Exception):
    """Raised inside the compare-and-swap to leave the lease file unchanged."""


__all__ = [
    "LeaseHeldError",
    "LeaseHolder",
    "LeaseLostError",
    "acquire_lease",
    "read_lease",
    "release_lease",
    "renew_lease",
]
