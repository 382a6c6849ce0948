"""Racing writers of one JSON key: every update is either applied or refused loudly, never lost."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from huracan_core.archive.storage import Storage
from huracan_core.exceptions import ConcurrentWriteError

if TYPE_CHECKING:  # spawned writer processes import this module: keep moto and boto3 out of them
    from tests.stubs.s3 import S3Bucket

KEY = "champion/promotions.json"


def _append(item: str):
    return lambda current: [*(current or []), item]


def _append_many(root: str, writer: str, count: int, start: Any, results: Any) -> None:
    """Process body: append `count` tagged items, report which were applied and which refused."""
    storage = Storage(root)
    applied, refused = [], []
    start.wait()
    for i in range(count):
        item = f"{writer}-{i}"
        try:
            storage.update_json(KEY, _append(item))
            applied.append(item)
        except ConcurrentWriteError:
            refused.append(item)
    results.put((writer, applied, refused))


def _assert_nothing_lost(stored: list[str], outcomes: list[tuple[str, list[str], list[str]]]) -> None:
    applied = [item for _, ok, _ in outcomes for item in ok]
    refused = [item for _, _, no in outcomes for item in no]
    assert sorted(stored) == sorted(applied), "an applied update is missing, or a refused one was written"
    assert not set(refused) & set(stored)
    for writer, ok, _ in outcomes:  # each writer's own appends keep their order
        assert [item for item in stored if item.startswith(f"{writer}-")] == ok


def test_processes_racing_on_a_local_list_lose_no_append(tmp_path: Path) -> None:
    root = str(tmp_path / "archive")
    ctx = multiprocessing.get_context("spawn")  # no fork of a process running server threads
    start, results = ctx.Barrier(2), ctx.Queue()
    writers = [ctx.Process(target=_append_many, args=(root, f"w{n}", 30, start, results)) for n in range(2)]
    for proc in writers:
        proc.start()
    outcomes = [results.get(timeout=60) for _ in writers]
    for proc in writers:
        proc.join(timeout=30)
        assert proc.exitcode == 0

    stored = Storage(root).read_json(KEY)  # valid JSON, or this raises CorruptFileError
    _assert_nothing_lost(stored, outcomes)
    # Local writers are serialised by the lock, so none is even refused.
    assert len(stored) == 60


def test_threads_racing_on_an_s3_list_lose_no_append(s3_bucket: S3Bucket) -> None:
    root = s3_bucket.url("archive")
    barrier = threading.Barrier(3)
    outcomes: list[tuple[str, list[str], list[str]]] = []

    def writer(name: str) -> None:
        storage = Storage(root)
        storage.exists(KEY)  # build the client before the start line
        applied, refused = [], []
        barrier.wait()
        for i in range(10):
            item = f"{name}-{i}"
            try:
                storage.update_json(KEY, _append(item))
                applied.append(item)
            except ConcurrentWriteError:
                refused.append(item)
        outcomes.append((name, applied, refused))

    threads = [threading.Thread(target=writer, args=(f"t{n}",)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(outcomes) == 3
    stored = Storage(root).read_json(KEY)
    _assert_nothing_lost(stored, outcomes)
    assert stored, "at least one writer must have got through"


def test_a_write_landing_mid_update_makes_the_update_refuse_and_survives(storage: Storage) -> None:
    """Deterministic race: another writer replaces the file while our change is being computed."""
    storage.write_json(KEY, ["old"])
    rival = Storage(storage.root)

    def change_while_rival_writes(current: Any) -> list[str]:
        rival.write_json(KEY, [*current, "rival"])
        return [*current, "ours"]

    with pytest.raises(ConcurrentWriteError, match=r"champion/promotions\.json changed"):
        storage.update_json(KEY, change_while_rival_writes)
    assert storage.read_json(KEY) == ["old", "rival"]


def test_a_key_created_mid_update_is_not_overwritten(storage: Storage) -> None:
    rival = Storage(storage.root)

    def change_while_rival_creates(current: Any) -> list[str]:
        assert current is None
        rival.write_json(KEY, ["rival"])
        return ["ours"]

    with pytest.raises(ConcurrentWriteError):
        storage.update_json(KEY, change_while_rival_creates)
    assert storage.read_json(KEY) == ["rival"]


def test_s3_update_is_a_conditional_put_with_no_window_after_the_read(
    s3_bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rival lands between our last look and our PUT: only S3's If-Match can catch that."""
    storage = Storage(s3_bucket.url("archive"))
    storage.write_json(KEY, ["old"])
    real_call = storage.fs.call_s3

    def rival_then_put(method: str, *args: Any, **kwargs: Any) -> Any:
        if method == "put_object":
            s3_bucket.client().put_object(Bucket=s3_bucket.name, Key=f"archive/{KEY}", Body=b'["rival"]')
        return real_call(method, *args, **kwargs)

    monkeypatch.setattr(storage.fs, "call_s3", rival_then_put)
    with pytest.raises(ConcurrentWriteError):
        storage.update_json(KEY, _append("ours"))
    assert s3_bucket.get(f"archive/{KEY}") == b'["rival"]'
