"""The resume ledger remembers what each as-of run finished, and concurrent writers never lose entries."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from huracan_core.archive import Storage
from huracan_core.engine.resume import LEDGER_FORMAT, ResumeLedger
from huracan_core.exceptions import CorruptFileError
from tests.stubs.scheduler_work import mark_in_ledger

KEY = "engine_runs/2025-01-01/ledger.json"


def test_marked_symbols_are_done_for_their_date_only(tmp_path: Path) -> None:
    ledger = ResumeLedger(Storage(tmp_path), KEY)
    assert ledger.done("2025-01-01") == set()

    ledger.mark_done("2025-01-01", "BTCUSDT", {"model_id": "20250101_020000Z"})
    ledger.mark_many("2025-01-01", {"ETHUSDT": {"model_id": "a"}, "SOLUSDT": {"model_id": "b"}})

    assert ledger.done("2025-01-01") == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
    assert ledger.entries("2025-01-01")["BTCUSDT"] == {"model_id": "20250101_020000Z"}
    assert ledger.done("2025-01-02") == set()


def test_clear_forgets_one_date_and_keeps_the_others(tmp_path: Path) -> None:
    ledger = ResumeLedger(Storage(tmp_path), KEY)
    ledger.mark_done("2025-01-01", "BTCUSDT", {})
    ledger.mark_done("2025-01-02", "ETHUSDT", {})

    ledger.clear("2025-01-01")

    assert ledger.done("2025-01-01") == set()
    assert ledger.done("2025-01-02") == {"ETHUSDT"}


def test_unmark_forgets_only_the_given_symbols(tmp_path: Path) -> None:
    ledger = ResumeLedger(Storage(tmp_path), KEY)
    ledger.mark_many("2025-01-01", {"BTCUSDT": {}, "ETHUSDT": {}})

    ledger.unmark("2025-01-01", ["ETHUSDT"])

    assert ledger.done("2025-01-01") == {"BTCUSDT"}


def test_the_ledger_is_a_readable_json_file_in_the_archive(tmp_path: Path) -> None:
    storage = Storage(tmp_path)
    ResumeLedger(storage, KEY).mark_done("2025-01-01", "BTCUSDT", {"model_id": "m1"})

    assert storage.read_json(KEY) == {
        "format": LEDGER_FORMAT,
        "runs": {"2025-01-01": {"BTCUSDT": {"model_id": "m1"}}},
    }


def test_a_file_that_is_not_a_ledger_is_refused_naming_it(tmp_path: Path) -> None:
    storage = Storage(tmp_path)
    storage.write_json(KEY, ["not", "a", "ledger"])

    with pytest.raises(CorruptFileError, match=r"ledger\.json is not a resume ledger"):
        ResumeLedger(storage, KEY).done("2025-01-01")


def test_two_processes_marking_one_ledger_at_once_lose_no_entries(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    count = 15
    writers = [
        ctx.Process(target=mark_in_ledger, args=(str(tmp_path), KEY, "2025-01-01", prefix, count, start))
        for prefix in ("AAA", "BBB")
    ]
    for writer in writers:
        writer.start()
    start.set()
    for writer in writers:
        writer.join(timeout=60)
        assert writer.exitcode == 0

    done = ResumeLedger(Storage(tmp_path), KEY).done("2025-01-01")
    expected = {f"{prefix}{i:02d}USDT" for prefix in ("AAA", "BBB") for i in range(count)}
    assert done == expected
