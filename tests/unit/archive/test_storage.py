"""The storage API behaves the same on a local folder and on s3://bucket/prefix."""

from __future__ import annotations

import json

import polars as pl
import pytest

from huracan_core.archive.storage import Storage, dumps_json


def test_bytes_written_are_read_back(storage: Storage) -> None:
    storage.write_bytes("models/BTCUSDT/20250101_020000Z/model.bin", b"\x00\x01weights")
    assert storage.read_bytes("models/BTCUSDT/20250101_020000Z/model.bin") == b"\x00\x01weights"


def test_overwriting_replaces_the_whole_content(storage: Storage) -> None:
    storage.write_bytes("a.bin", b"a much longer first version")
    storage.write_bytes("a.bin", b"short")
    assert storage.read_bytes("a.bin") == b"short"


def test_json_round_trips_and_is_stored_stably(storage: Storage) -> None:
    value = {"symbol": "BTCUSDT", "metrics": {"sharpe": 1.5, "trades": 12}, "note": "héllo"}
    storage.write_json("champion/BTCUSDT/latest.json", value)
    assert storage.read_json("champion/BTCUSDT/latest.json") == value
    # Sorted keys and a trailing newline: the same value always hashes the same.
    assert storage.read_bytes("champion/BTCUSDT/latest.json") == dumps_json(value)


def test_parquet_round_trips_a_candle_frame(storage: Storage) -> None:
    frame = pl.DataFrame(
        {
            "timestamp": [1_700_000_000_000, 1_700_000_060_000],
            "open": [1.0, 2.0],
            "high": [1.5, 2.5],
            "low": [0.5, 1.5],
            "close": [1.2, 2.2],
            "volume": [10.0, 20.0],
        }
    )
    storage.write_parquet("live_logs/trades/20250101.parquet", frame)
    back = storage.read_parquet("live_logs/trades/20250101.parquet")
    assert back.equals(frame)
    assert back.schema == frame.schema


def test_exists_tells_present_from_absent_keys(storage: Storage) -> None:
    assert not storage.exists("engine_status.json")
    storage.write_json("engine_status.json", {"state": "idle"})
    assert storage.exists("engine_status.json")
    assert storage.exists("")  # the root itself, once something is in it


def test_reading_a_missing_key_raises_file_not_found_naming_it(storage: Storage) -> None:
    with pytest.raises(FileNotFoundError, match=r"champion/ETHUSDT/latest\.json"):
        storage.read_json("champion/ETHUSDT/latest.json")


def test_list_gives_immediate_children_or_everything_below(storage: Storage) -> None:
    storage.write_bytes("models/BTCUSDT/20250101_020000Z/model.bin", b"1")
    storage.write_bytes("models/BTCUSDT/20250102_020000Z/model.bin", b"2")
    storage.write_bytes("models/ETHUSDT/20250101_020000Z/model.bin", b"3")
    storage.write_json("engine_status.json", {})

    assert storage.list("models") == ["models/BTCUSDT", "models/ETHUSDT"]
    assert storage.list("models/BTCUSDT") == [
        "models/BTCUSDT/20250101_020000Z",
        "models/BTCUSDT/20250102_020000Z",
    ]
    assert storage.list("models", recursive=True) == [
        "models/BTCUSDT/20250101_020000Z/model.bin",
        "models/BTCUSDT/20250102_020000Z/model.bin",
        "models/ETHUSDT/20250101_020000Z/model.bin",
    ]
    assert storage.list() == ["engine_status.json", "models"]
    assert storage.list("challengers") == []


def test_list_never_shows_temp_or_lock_files(storage: Storage) -> None:
    storage.update_json("champion/promotions.json", lambda current: [1])
    storage.write_json("champion/BTCUSDT/latest.json", {"model_id": "x"})
    if not storage.is_s3:  # an interrupted local write leaves a temp file behind
        (storage.fs.open(storage.url("champion/.tmp-abandoned"), "wb")).close()
    assert storage.list("champion", recursive=True) == [
        "champion/BTCUSDT/latest.json",
        "champion/promotions.json",
    ]
    assert ".locks" not in storage.list()


def test_delete_removes_a_key_or_a_folder_and_ignores_missing_keys(storage: Storage) -> None:
    storage.write_bytes("challengers/BTCUSDT/20250101_020000Z/model.bin", b"1")
    storage.write_bytes("challengers/BTCUSDT/20250101_020000Z/config.json", b"{}")
    storage.write_bytes("keep.json", b"{}")

    storage.delete("challengers/BTCUSDT/20250101_020000Z/model.bin")
    assert storage.list("challengers/BTCUSDT/20250101_020000Z") == [
        "challengers/BTCUSDT/20250101_020000Z/config.json"
    ]
    storage.delete("challengers", recursive=True)
    assert not storage.exists("challengers/BTCUSDT/20250101_020000Z/config.json")
    storage.delete("never/written.json")
    assert storage.read_bytes("keep.json") == b"{}"


def test_atomic_json_writes_leave_no_temp_files_behind(storage: Storage, tmp_path) -> None:
    for i in range(5):
        storage.write_json("champion/champion.json", {"round": i})
    storage.update_json("champion/champion.json", lambda current: {"round": current["round"] + 1})
    assert storage.read_json("champion/champion.json") == {"round": 5}
    if storage.is_s3:
        stored = storage.fs.find(storage.url("").removeprefix("s3://"))
    else:
        stored = [str(p) for p in (tmp_path / "archive").rglob("*") if p.is_file()]
    assert not [name for name in stored if ".tmp-" in name]


def test_update_json_creates_then_appends_in_order(storage: Storage) -> None:
    def append(item: str):
        return lambda current: [*(current or []), item]

    assert storage.update_json("champion/promotions.json", append("first")) == ["first"]
    storage.update_json("champion/promotions.json", append("second"))
    storage.update_json("champion/promotions.json", append("third"))
    assert storage.read_json("champion/promotions.json") == ["first", "second", "third"]


def test_update_json_writes_nothing_when_the_change_refuses(storage: Storage) -> None:
    storage.write_json("control/symbols_selector.json", {"symbols": ["BTCUSDT"]})

    def refuse(current):
        raise ValueError("not today")

    with pytest.raises(ValueError, match="not today"):
        storage.update_json("control/symbols_selector.json", refuse)
    assert storage.read_json("control/symbols_selector.json") == {"symbols": ["BTCUSDT"]}


def test_keys_climbing_out_of_the_root_are_refused(storage: Storage) -> None:
    with pytest.raises(ValueError, match=r"\.\."):
        storage.write_bytes("../outside.json", b"{}")


def test_s3_objects_land_under_the_prefix(s3_bucket) -> None:
    storage = Storage(s3_bucket.url("prod/huracan"))
    storage.write_json("champion/champion.json", {"ok": True})
    assert s3_bucket.keys() == ["prod/huracan/champion/champion.json"]
    assert json.loads(s3_bucket.get("prod/huracan/champion/champion.json")) == {"ok": True}
