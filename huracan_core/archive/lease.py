"""The publish lease: the nightly Engine and the hourly Mechanic never publish the same coins at once.

Both move champion pointers, rewrite the roster and append to the promotions history. Each move is already
a compare-and-swap, so no update is lost; the lease is about decisions: a Mechanic comparing a challenger
with a champion the Engine is replacing at that moment would judge against a stale champion. One JSON file
in the archive (`leases/publish.json`, changed only by compare-and-swap, so it works on S3 as well as on a
local folder, across machines and outside Airflow) lists who is publishing which coins until when. A
holder that died leaves an entry that expires after its time to live.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from huracan_core.archive import paths
from huracan_core.archive.storage import Storage
from huracan_core.exceptions import ConcurrentWriteError, CorruptFileError, HuracanError

log = logging.getLogger(__name__)


class LeaseBusyError(HuracanError):
    """Another job is publishing some of the same coins and did not finish in time."""


def _holders(storage: Storage, current: Any | None) -> dict[str, dict[str, Any]]:
    if current is None:
        return {}
    if not isinstance(current, dict) or not isinstance(current.get("holders"), dict):
        raise CorruptFileError(f"{storage.url(paths.publish_lease())} is not a lease file; remove it by hand")
    return dict(current["holders"])


def _live(holders: dict[str, dict[str, Any]], now: datetime) -> dict[str, dict[str, Any]]:
    return {h: e for h, e in holders.items() if datetime.fromisoformat(e["expires_at"]) > now}


def try_acquire(
    storage: Storage, holder: str, symbols: Sequence[str], *, ttl_s: float, now: datetime
) -> dict[str, list[str]]:
    """Take the lease on `symbols` for `holder` unless a live holder has some of them.

    Returns {} when taken, else {other holder: the coins both want}. Expired entries are dropped.
    """
    wanted = set(symbols)
    blocked: dict[str, list[str]] = {}

    def change(current: Any | None) -> dict[str, Any]:
        blocked.clear()
        holders = _live(_holders(storage, current), now)
        for other, entry in holders.items():
            if other != holder:
                shared = sorted(wanted & set(entry.get("symbols", [])))
                if shared:
                    blocked[other] = shared
        if blocked:
            raise _Blocked
        holders[holder] = {
            "symbols": sorted(wanted),
            "since": now.isoformat(),
            "expires_at": (now + timedelta(seconds=ttl_s)).isoformat(),
        }
        return {"holders": holders}

    try:
        storage.update_json(paths.publish_lease(), change)
    except _Blocked:
        return dict(blocked)
    except ConcurrentWriteError:
        return {"(another writer)": sorted(wanted)}
    return {}


def release(storage: Storage, holder: str) -> None:
    """Drop `holder`'s entry (retried: a lost compare-and-swap only means someone else changed the file)."""

    def change(current: Any | None) -> dict[str, Any]:
        holders = _holders(storage, current)
        holders.pop(holder, None)
        return {"holders": holders}

    for _ in range(20):
        try:
            storage.update_json(paths.publish_lease(), change)
            return
        except ConcurrentWriteError:
            time.sleep(0.05)
    log.warning("Could not release the publish lease of %s; it expires by itself", holder)


@contextlib.contextmanager
def publish_lease(
    storage: Storage,
    holder: str,
    symbols: Sequence[str],
    *,
    ttl_s: float = 3_600.0,
    wait_s: float = 600.0,
    poll_s: float = 1.0,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Iterator[None]:
    """Hold the publish lease on `symbols` for the block; wait up to `wait_s` for other holders.

    Raises LeaseBusyError naming the holder when it is still busy after `wait_s`; nothing is published.
    """
    deadline = time.monotonic() + wait_s
    announced = False
    while True:
        blocked = try_acquire(storage, holder, symbols, ttl_s=ttl_s, now=clock())
        if not blocked:
            break
        if time.monotonic() >= deadline:
            who = "; ".join(f"{h} ({', '.join(s)})" for h, s in blocked.items())
            raise LeaseBusyError(
                f"{holder} cannot publish: {who} {'is' if len(blocked) == 1 else 'are'} publishing the same "
                f"coins (lease {storage.url(paths.publish_lease())}); waited {wait_s:g} s"
            )
        if not announced:
            log.info("Waiting for %s to finish publishing before %s publishes", ", ".join(blocked), holder)
            announced = True
        time.sleep(poll_s)
    try:
        yield
    finally:
        release(storage, holder)


class _Blocked(Exception):
    """Raised inside the compare-and-swap to leave the lease file unchanged."""
