"""Champion pointers move atomically, only onto verified bundles, and never over another promoter."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path
from typing import Any

import pytest

from huracan_core.archive import paths
from huracan_core.archive.pointers import (
    POINTER_FIELDS,
    append_promotion,
    read_pointer,
    read_promotions,
    write_pointer,
)
from huracan_core.archive.storage import Storage
from huracan_core.exceptions import BundleVerificationError, ConcurrentWriteError, CorruptFileError

OLD, NEW, RIVAL = "20250101_020000Z", "20250102_020000Z", "20250102_030000Z"


def make_pointer(model_id: str, previous: str | None, *, by: str = "engine") -> dict[str, Any]:
    return {
        "symbol": "BTCUSDT",
        "model_id": model_id,
        "path": paths.model_dir("BTCUSDT", model_id),
        "model_sha256": "ab" * 32,
        "feature_recipe_hash": "recipe-1f2e",
        "promoted_at": "2025-01-02T02:30:00+00:00",
        "promoted_by": by,
        "previous_model_id": previous,
        "metrics": {"net_edge_bps": 4.2, "sharpe": 1.3},
    }


def test_a_symbol_without_champion_has_no_pointer(storage: Storage) -> None:
    assert read_pointer(storage, "BTCUSDT") is None


def test_first_pointer_is_written_whole_and_read_back(storage: Storage) -> None:
    write_pointer(storage, "BTCUSDT", make_pointer(OLD, None), expected_model_id=None)
    assert read_pointer(storage, "BTCUSDT") == make_pointer(OLD, None)
    assert storage.list("champion/BTCUSDT") == ["champion/BTCUSDT/latest.json"]  # no temp files


def test_pointer_moves_when_it_still_names_the_expected_model(storage: Storage) -> None:
    write_pointer(storage, "BTCUSDT", make_pointer(OLD, None), expected_model_id=None)
    write_pointer(storage, "BTCUSDT", make_pointer(NEW, OLD, by="mechanic"), expected_model_id=OLD)
    assert read_pointer(storage, "BTCUSDT")["model_id"] == NEW


def test_pointer_keeps_old_target_when_bundle_verification_fails(storage: Storage) -> None:
    write_pointer(storage, "BTCUSDT", make_pointer(OLD, None), expected_model_id=None)
    before = storage.read_bytes(paths.champion_pointer("BTCUSDT"))
    checked: list[str] = []

    def corrupt_bundle(path: str) -> None:
        checked.append(path)
        raise BundleVerificationError(f"{path}/model.bin: sha256 mismatch")

    with pytest.raises(BundleVerificationError, match="sha256 mismatch"):
        write_pointer(
            storage, "BTCUSDT", make_pointer(NEW, OLD), expected_model_id=OLD, verify=corrupt_bundle
        )
    assert checked == [paths.model_dir("BTCUSDT", NEW)]
    assert storage.read_bytes(paths.champion_pointer("BTCUSDT")) == before


def test_pointer_conflict_raises_and_leaves_the_other_promoters_pointer(storage: Storage) -> None:
    write_pointer(storage, "BTCUSDT", make_pointer(OLD, None), expected_model_id=None)
    write_pointer(storage, "BTCUSDT", make_pointer(RIVAL, OLD, by="mechanic"), expected_model_id=OLD)
    before = storage.read_bytes(paths.champion_pointer("BTCUSDT"))

    with pytest.raises(ConcurrentWriteError, match=rf"BTCUSDT now names '{RIVAL}', not the expected '{OLD}'"):
        write_pointer(storage, "BTCUSDT", make_pointer(NEW, OLD), expected_model_id=OLD)
    assert storage.read_bytes(paths.champion_pointer("BTCUSDT")) == before


def test_a_first_promotion_does_not_overwrite_an_existing_champion(storage: Storage) -> None:
    write_pointer(storage, "BTCUSDT", make_pointer(OLD, None), expected_model_id=None)
    with pytest.raises(ConcurrentWriteError):
        write_pointer(storage, "BTCUSDT", make_pointer(NEW, None), expected_model_id=None)
    assert read_pointer(storage, "BTCUSDT")["model_id"] == OLD


def test_two_promoters_racing_from_the_same_champion_end_with_exactly_one_winner(storage: Storage) -> None:
    write_pointer(storage, "BTCUSDT", make_pointer(OLD, None), expected_model_id=None)
    barrier = threading.Barrier(2)
    outcome: dict[str, str] = {}

    def promote(model_id: str) -> None:
        rival_storage = Storage(storage.root)
        rival_storage.exists("champion")  # build the client before the start line
        barrier.wait()
        try:
            write_pointer(rival_storage, "BTCUSDT", make_pointer(model_id, OLD), expected_model_id=OLD)
            outcome[model_id] = "won"
        except ConcurrentWriteError:
            outcome[model_id] = "refused"

    threads = [threading.Thread(target=promote, args=(m,)) for m in (NEW, RIVAL)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcome.values()) == ["refused", "won"]
    winner = next(m for m, result in outcome.items() if result == "won")
    assert read_pointer(storage, "BTCUSDT")["model_id"] == winner


@pytest.mark.parametrize("field", POINTER_FIELDS)
def test_a_pointer_missing_a_field_is_refused_naming_it(tmp_path: Path, field: str) -> None:
    pointer = make_pointer(OLD, None)
    del pointer[field]
    with pytest.raises(ValueError, match=rf"missing field\(s\): {field}"):
        write_pointer(Storage(tmp_path), "BTCUSDT", pointer, expected_model_id=None)
    assert not Storage(tmp_path).exists(paths.champion_pointer("BTCUSDT"))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("promoted_by", "someone", "promoted_by.*engine, mechanic, rollback"),
        ("model_id", "latest", "model id 'latest'"),
        ("model_sha256", "abc", "model_sha256"),
        ("promoted_at", "2025-01-02T02:30:00", "timezone"),
        ("metrics", None, "metrics"),
        ("previous_model_id", OLD, "previous_model_id"),
    ],
)
def test_a_malformed_pointer_is_refused_naming_the_field(
    tmp_path: Path, field: str, value: Any, message: str
) -> None:
    pointer = make_pointer(NEW, None) | {field: value}
    with pytest.raises(ValueError, match=message):
        write_pointer(Storage(tmp_path), "BTCUSDT", pointer, expected_model_id=None)


def test_a_pointer_for_another_symbol_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="ETHUSDT"):
        write_pointer(Storage(tmp_path), "ETHUSDT", make_pointer(OLD, None), expected_model_id=None)


def test_reading_a_pointer_in_a_foreign_format_is_a_corrupt_file(tmp_path: Path) -> None:
    storage = Storage(tmp_path)
    storage.write_json(paths.champion_pointer("BTCUSDT"), {"model": "best.pkl"})
    with pytest.raises(CorruptFileError, match=r"latest\.json is not a valid champion pointer.*model_id"):
        read_pointer(storage, "BTCUSDT")


def _record(model_id: str, previous: str | None) -> dict[str, Any]:
    return {
        "symbol": "BTCUSDT",
        "model_id": model_id,
        "previous_model_id": previous,
        "promoted_at": "2025-01-02T02:30:00+00:00",
        "promoted_by": "mechanic",
        "old_metrics": {"net_edge_bps": 1.0},
        "new_metrics": {"net_edge_bps": 4.2},
    }


def test_promotions_are_appended_oldest_first(storage: Storage) -> None:
    assert read_promotions(storage) == []
    append_promotion(storage, _record(OLD, None))
    append_promotion(storage, _record(NEW, OLD))
    assert [r["model_id"] for r in read_promotions(storage)] == [OLD, NEW]


def test_a_promotion_record_without_its_fields_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="promoted_by"):
        append_promotion(
            Storage(tmp_path),
            {"symbol": "BTCUSDT", "model_id": OLD, "previous_model_id": None, "promoted_at": "x"},
        )


def _append_records(root: str, writer: str, count: int, start: Any) -> None:
    storage = Storage(root)
    start.wait()
    for i in range(count):
        append_promotion(storage, _record(OLD, None) | {"writer": writer, "seq": i})


def test_promotions_stay_append_only_across_two_processes(tmp_path: Path) -> None:
    root = str(tmp_path / "archive")
    Storage(root).write_json(paths.promotions_log(), [_record(OLD, None) | {"writer": "earlier", "seq": 0}])
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    procs = [ctx.Process(target=_append_records, args=(root, w, 15, start)) for w in ("a", "b")]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0

    history = read_promotions(Storage(root))
    assert history[0]["writer"] == "earlier"  # the old entry is kept, at the head
    for writer in ("a", "b"):
        assert [r["seq"] for r in history if r["writer"] == writer] == list(range(15))
    assert len(history) == 31


def test_concurrent_appends_on_s3_all_land(s3_bucket: Any) -> None:
    root = s3_bucket.url("archive")
    barrier = threading.Barrier(3)

    def appender(writer: str) -> None:
        storage = Storage(root)
        storage.exists("champion")
        barrier.wait()
        for i in range(5):
            append_promotion(storage, _record(OLD, None) | {"writer": writer, "seq": i})

    threads = [threading.Thread(target=appender, args=(w,)) for w in ("a", "b", "c")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    history = read_promotions(Storage(root))
    for writer in ("a", "b", "c"):
        assert [r["seq"] for r in history if r["writer"] == writer] == list(range(5))
