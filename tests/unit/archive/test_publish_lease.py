"""The publish lease keeps the Engine and the Mechanic from publishing the same coins at once (local and S3)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from huracan_core.archive.lease import LeaseBusyError, publish_lease, try_acquire
from huracan_core.archive.storage import Storage

NOW = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)


def test_a_holder_blocks_others_on_shared_coins_only(storage: Storage) -> None:
    assert try_acquire(storage, "engine:1", ["BTCUSDT", "ETHUSDT"], ttl_s=600, now=NOW) == {}
    assert try_acquire(storage, "mechanic:1", ["ETHUSDT", "SOLUSDT"], ttl_s=600, now=NOW) == {
        "engine:1": ["ETHUSDT"]
    }
    assert try_acquire(storage, "mechanic:2", ["SOLUSDT"], ttl_s=600, now=NOW) == {}


def test_an_expired_holder_no_longer_blocks(storage: Storage) -> None:
    assert try_acquire(storage, "engine:dead", ["BTCUSDT"], ttl_s=60, now=NOW) == {}
    later = NOW + timedelta(seconds=61)
    assert try_acquire(storage, "mechanic:1", ["BTCUSDT"], ttl_s=60, now=later) == {}


def test_a_busy_lease_fails_with_the_holders_name_and_publishes_nothing(storage: Storage) -> None:
    assert (
        try_acquire(storage, "engine:20261205_020000Z", ["BTCUSDT"], ttl_s=600, now=datetime.now(UTC)) == {}
    )
    ran = []
    busy = pytest.raises(LeaseBusyError, match=r"engine:20261205_020000Z \(BTCUSDT\)")
    with busy, publish_lease(storage, "mechanic:x", ["BTCUSDT"], wait_s=0.2, poll_s=0.05):
        ran.append(True)
    assert ran == []


def test_the_second_publisher_waits_until_the_first_releases(storage: Storage) -> None:
    order: list[str] = []
    inside = threading.Event()

    def engine() -> None:
        with publish_lease(storage, "engine:1", ["BTCUSDT"], wait_s=5):
            inside.set()
            order.append("engine in")
            time.sleep(0.5)
            order.append("engine out")

    thread = threading.Thread(target=engine)
    thread.start()
    inside.wait(5)
    with publish_lease(storage, "mechanic:1", ["BTCUSDT"], wait_s=10, poll_s=0.05):
        order.append("mechanic in")
    thread.join()
    assert order == ["engine in", "engine out", "mechanic in"]
    # Released: the lease file lists no holder afterwards.
    assert storage.read_json("leases/publish.json") == {"holders": {}}
