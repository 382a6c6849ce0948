"""The service lease lets one instance run: a live holder refuses others, renewal keeps it, expiry or a
known-dead holder frees it, and a holder that lost it is told so (local folder and S3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from huracan_core.archive import paths
from huracan_core.archive.service_lease import (
    LeaseHeldError,
    LeaseLostError,
    acquire_lease,
    read_lease,
    release_lease,
    renew_lease,
)
from huracan_core.archive.storage import Storage
from huracan_core.exceptions import CorruptFileError

NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
KEY = paths.service_lease("telegram-0123456789abcdef")


def take(storage: Storage, holder_id: str, *, now: datetime = NOW, host: str = "bot-1", **kw: object):
    return acquire_lease(storage, KEY, holder_id=holder_id, host=host, pid=7, what="huracan telegram",
                         ttl_s=60, now=now, **kw)  # type: ignore[arg-type]  # fmt: skip


def test_a_live_holder_refuses_a_second_instance_and_is_named(storage: Storage) -> None:
    first = take(storage, "a")
    with pytest.raises(
        LeaseHeldError,
        match=r"huracan telegram is already running: host bot-1 pid 7 since 2026-12-05 10:00:00 UTC",
    ) as caught:
        take(storage, "b", host="bot-2", now=NOW + timedelta(seconds=30))
    assert caught.value.holder == first
    assert read_lease(storage, KEY) == first


def test_renewal_keeps_the_lease_past_its_first_time_to_live(storage: Storage) -> None:
    holder = take(storage, "a")
    holder = renew_lease(storage, KEY, holder, ttl_s=60, now=NOW + timedelta(seconds=50))
    with pytest.raises(LeaseHeldError):
        take(storage, "b", now=NOW + timedelta(seconds=90))
    assert holder.since == NOW and holder.expires_at == NOW + timedelta(seconds=110)


def test_an_expired_or_known_dead_holder_is_replaced_and_the_old_one_learns_it_lost(storage: Storage) -> None:
    old = take(storage, "a")
    new = take(storage, "b", now=NOW + timedelta(seconds=61))
    with pytest.raises(LeaseLostError, match="no longer ours"):
        renew_lease(storage, KEY, old, ttl_s=60, now=NOW + timedelta(seconds=62))
    third = take(storage, "c", now=NOW + timedelta(seconds=70), take_over=lambda h: h.holder_id == "b")
    assert read_lease(storage, KEY) == third != new


def test_release_frees_the_lease_but_never_someone_elses(storage: Storage) -> None:
    old = take(storage, "a")
    release_lease(storage, KEY, old)
    assert read_lease(storage, KEY) is None
    new = take(storage, "b")
    release_lease(storage, KEY, old)  # a late release of an old holder leaves the new one alone
    assert read_lease(storage, KEY) == new


def test_a_file_that_is_not_a_lease_is_refused_by_name(tmp_path) -> None:
    storage = Storage(tmp_path / "archive")
    storage.write_json(KEY, ["not", "a", "lease"])
    with pytest.raises(CorruptFileError, match="is not a service lease file"):
        take(storage, "a")


def test_lease_names_are_checked() -> None:
    with pytest.raises(ValueError, match="lower-case letters"):
        paths.service_lease("../escape")
