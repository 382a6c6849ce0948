"""hamilton_status.json round-trips, a failing write never raises, a bad file is named, and health ages the heartbeat."""

from __future__ import annotations

import json
import logging
import re
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from huracan_core.archive import Storage, paths
from huracan_core.exceptions import CorruptFileError, StorageUnavailableError
from huracan_core.hamilton import status as status_module
from huracan_core.hamilton.control import Selection
from huracan_core.hamilton.guardrails import Block, GuardrailState
from huracan_core.hamilton.status import (
    MAX_ERRORS,
    GuardrailsStatus,
    HamiltonStatus,
    SelectionStatus,
    check_health,
    default_max_age_seconds,
    heartbeat_age_seconds,
    read_status,
    write_status,
)
from tests.unit.hamilton.status_builders import STARTED, make_status

BEAT = STARTED + timedelta(minutes=30, seconds=5)


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return Storage(tmp_path / "archive")


def test_a_written_status_reads_back_equal(storage: Storage) -> None:
    written = make_status(heartbeat=BEAT)
    assert write_status(storage, written) is True
    assert read_status(storage) == written


def test_the_status_file_is_plain_json_with_utc_times_at_the_contract_path(storage: Storage, tmp_path: Path) -> None:
    write_status(storage, make_status(heartbeat=BEAT))
    on_disk = json.loads((tmp_path / "archive" / "hamilton_status.json").read_text())
    assert on_disk["heartbeat"] == "2026-12-05T10:30:05Z"
    assert on_disk["positions"]["BTCUSDT"]["side"] == "long"
    assert on_disk["guardrails"]["blocked"] == {"ETHUSDT": "STALE_DATA: newest closed bar is 2 bars old"}
    assert set(on_disk) >= {"run_key", "mode", "clock", "started_at", "heartbeat", "bar_ms", "last_bar", "positions",
                            "equity", "cash", "guardrails", "paused", "champions", "selection", "errors",
                            "pending_db_commits"}


def test_no_status_file_reads_as_none(storage: Storage) -> None:
    assert read_status(storage) is None


def test_a_status_file_that_is_not_valid_is_a_corrupt_file_error_naming_it(storage: Storage) -> None:
    storage.write_bytes(paths.hamilton_status(), b"{\"run_key\": ")
    with pytest.raises(CorruptFileError, match=re.escape(storage.url(paths.hamilton_status()))):
        read_status(storage)
    storage.write_json(paths.hamilton_status(), {**make_status(heartbeat=BEAT).model_dump(mode="json"), "equity": "lots"})
    with pytest.raises(CorruptFileError, match=r"not a valid Hamilton status: equity: must be a number"):
        read_status(storage)


def test_fields_from_a_newer_writer_are_ignored_by_an_older_reader(storage: Storage) -> None:
    written = make_status(heartbeat=BEAT)
    storage.write_json(paths.hamilton_status(), {**written.model_dump(mode="json"), "funding": {"BTCUSDT": 0.01}})
    assert read_status(storage) == written


def test_a_typo_in_a_field_name_fails_when_the_status_is_built() -> None:
    with pytest.raises(ValidationError, match="equty"):
        make_status(heartbeat=BEAT, equty=1.0)


def test_a_live_account_on_a_replay_clock_is_refused() -> None:
    with pytest.raises(ValidationError, match="mode 'live' trades on the live clock only"):
        make_status(heartbeat=BEAT, mode="live", clock="replay")
    with pytest.raises(ValidationError, match="mode 'replay' runs on the replay clock only"):
        make_status(heartbeat=BEAT, mode="replay", clock="live")
    assert make_status(heartbeat=BEAT, mode="replay", clock="replay").mode == "replay"


def test_a_heartbeat_without_a_timezone_is_refused() -> None:
    with pytest.raises(ValidationError, match="heartbeat"):
        make_status(heartbeat=datetime(2026, 12, 5, 10, 30))


# --- writing never stops trading -----------------------------------------------------------------
def test_a_failing_local_write_returns_false_and_is_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "archive"
    blocker.write_text("a file where the archive folder should be")
    with caplog.at_level(logging.WARNING, logger=status_module.__name__):
        assert write_status(Storage(blocker), make_status(heartbeat=BEAT)) is False
    assert "Could not write the Hamilton status" in caplog.text and "hamilton_status.json" in caplog.text


def test_an_unreachable_s3_archive_returns_false_quickly(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as sock:  # a loopback port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("HURACAN_S3_MAX_ATTEMPTS", "1")
    storage = Storage("s3://huracan-test/archive")
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger=status_module.__name__):
        assert write_status(storage, make_status(heartbeat=BEAT)) is False
    assert time.monotonic() - started < 10
    assert StorageUnavailableError.__name__ in caplog.text


def test_any_exception_from_storage_is_reported_as_false(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(key: str, obj: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(storage, "write_json", broken)
    assert write_status(storage, make_status(heartbeat=BEAT)) is False


# --- building pieces from Hamilton's own objects ---------------------------------------------------
def test_the_guardrails_view_carries_the_day_the_cap_and_each_blocked_reason() -> None:
    state = GuardrailState(day="2026-12-05", day_start_equity=10_000.0, loss_cap_hit=True)
    view = GuardrailsStatus.from_state(state, {"BTCUSDT": Block("DAILY_LOSS_CAP", "cap hit"), "ETHUSDT": "PAUSED"})
    assert view == GuardrailsStatus(day="2026-12-05", day_start_equity=10_000.0, loss_cap_hit=True,
                                    blocked={"BTCUSDT": "DAILY_LOSS_CAP: cap hit", "ETHUSDT": "PAUSED"})


def test_the_selection_view_is_the_selection_as_chosen() -> None:
    chosen = Selection(["BTCUSDT"], "list", "list of 2", {"DOGEUSDT": "no champion"})
    assert SelectionStatus.from_selection(chosen).model_dump() == chosen.to_dict()


def test_only_the_last_errors_are_kept_oldest_first() -> None:
    current = make_status(heartbeat=BEAT, errors=[])
    for i in range(MAX_ERRORS + 3):
        current = current.with_error(f"error {i}", at=BEAT + timedelta(seconds=i))
    assert [e.message for e in current.errors] == [f"error {i}" for i in range(3, MAX_ERRORS + 3)]


# --- heartbeat and health ------------------------------------------------------------------------
def test_heartbeat_age_is_seconds_since_the_heartbeat() -> None:
    current = make_status(heartbeat=BEAT)
    assert heartbeat_age_seconds(current, BEAT + timedelta(seconds=90)) == 90.0
    assert heartbeat_age_seconds(current, BEAT - timedelta(seconds=2)) == -2.0  # writer's clock ahead
    with pytest.raises(ValueError, match="timezone-aware"):
        heartbeat_age_seconds(current, datetime(2026, 12, 5, 11, 0))


def test_health_is_ok_just_under_the_limit_and_not_at_it() -> None:
    current = make_status(heartbeat=BEAT)
    assert check_health(current, now=BEAT + timedelta(seconds=2699.999), max_age_seconds=2700).ok
    verdict = check_health(current, now=BEAT + timedelta(seconds=2700), max_age_seconds=2700)
    assert not verdict.ok and verdict.age_seconds == 2700.0
    assert verdict.message.startswith("unhealthy: heartbeat 2,700 s old (limit 2,700 s)")


def test_health_without_a_status_file_is_not_ok() -> None:
    verdict = check_health(None, now=BEAT, max_age_seconds=60)
    assert not verdict.ok and verdict.age_seconds is None and "no Hamilton status file" in verdict.message


def test_the_default_health_limit_is_three_bars_of_the_timeframe() -> None:
    assert default_max_age_seconds("15m") == 2700.0
    assert default_max_age_seconds("1h") == 10800.0


def test_the_example_in_the_module_doc_is_a_valid_status() -> None:
    text = status_module.__doc__ or ""
    example = json.loads(text[text.index("{\"run_key\""): text.rindex("}") + 1])
    assert HamiltonStatus.model_validate(example).heartbeat == datetime(2026, 12, 5, 10, 30, 5, tzinfo=UTC)
