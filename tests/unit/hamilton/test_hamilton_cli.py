"""`huracan hamilton status | health` through Typer's CliRunner, on an archive in a temp folder."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from huracan_core.archive import Storage, paths
from huracan_core.cli import app
from huracan_core.hamilton.guardrails import GuardrailState
from huracan_core.hamilton.status import GuardrailsStatus, write_status
from tests.unit.hamilton.status_builders import make_status

runner = CliRunner()


@pytest.fixture
def archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty archive; no config file or HURACAN_* variable leaks in (embedded defaults: 15m bars)."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("HURACAN"):
            monkeypatch.delenv(name)
    return tmp_path / "archive"


def ago(seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_the_hamilton_commands_are_registered_on_the_huracan_command() -> None:
    code, output = invoke("hamilton", "--help")
    assert code == 0 and "status" in output and "health" in output


def test_status_without_a_status_file_exits_1_and_says_where_it_looked(archive: Path) -> None:
    code, output = invoke("hamilton", "status", "--archive", str(archive))
    assert code == 1
    assert "No Hamilton status at" in output and "hamilton_status.json" in output


def test_status_shows_mode_heartbeat_money_positions_guardrails_selection_and_errors(archive: Path) -> None:
    write_status(Storage(archive), make_status(heartbeat=ago(12)))
    code, output = invoke("hamilton", "status", "--archive", str(archive))
    assert code == 0, output
    assert "Hamilton paper (clock live), run paper-20261205T100000Z" in output
    assert "Heartbeat 12 s ago" in output and "STALE:" not in output
    assert "Equity    10,012.50 USDT" in output and "cash 9,013.40 USDT" in output
    assert "Loss cap  not hit (day 2026-12-05, day started at 10,000.00 USDT)" in output
    assert "Selection list: list of 3, set by tester" in output
    for text in ("Positions", "BTCUSDT", "long", "10.0%", "97,000", "20261205_020000Z",
                 "STALE_DATA", "SOLUSDT", "no champion",
                 "database unreachable; 1 trade kept in the journal", "1 trade(s) journaled"):
        assert text in output, text


def test_status_flags_a_heartbeat_older_than_three_bars_and_a_hit_loss_cap(archive: Path) -> None:
    cap = GuardrailsStatus.from_state(GuardrailState(day="2026-12-05", day_start_equity=10_000.0, loss_cap_hit=True))
    write_status(Storage(archive), make_status(heartbeat=ago(3 * 3600), guardrails=cap, positions={}, paused=True,
                                               pause_reason="exchange maintenance"))
    code, output = invoke("hamilton", "status", "--archive", str(archive))
    assert code == 0, output
    assert "Heartbeat 3 h 00 min ago" in output and "STALE: older than 45 min 00 s" in output
    assert "HIT: no new entries until 00:00 UTC" in output
    assert "Paused    YES (exchange maintenance)" in output
    assert "Positions none" in output


def test_status_of_a_corrupt_file_exits_1_naming_it(archive: Path) -> None:
    Storage(archive).write_bytes(paths.hamilton_status(), b"not json")
    code, output = invoke("hamilton", "status", "--archive", str(archive))
    assert code == 1 and "hamilton_status.json" in output and "not a valid Hamilton status" in output


def test_health_passes_with_a_fresh_heartbeat(archive: Path) -> None:
    write_status(Storage(archive), make_status(heartbeat=ago(5)))
    code, output = invoke("hamilton", "health", "--archive", str(archive))
    assert code == 0 and output.startswith("healthy: heartbeat 5 s old (limit 2,700 s)")


def test_health_fails_with_the_age_when_the_heartbeat_is_older_than_max_age(archive: Path) -> None:
    write_status(Storage(archive), make_status(heartbeat=ago(120)))
    code, output = invoke("hamilton", "health", "--archive", str(archive), "--max-age", "60")
    assert code == 1 and output.startswith("unhealthy: heartbeat 120 s old (limit 60 s)")
    assert invoke("hamilton", "health", "--archive", str(archive), "--max-age", "600")[0] == 0


def test_health_defaults_to_three_bars_of_the_configured_timeframe(
    archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_status(Storage(archive), make_status(heartbeat=ago(200)))
    assert invoke("hamilton", "health", "--archive", str(archive))[0] == 0  # 15m: 2,700 s
    monkeypatch.setenv("HURACAN__GENERAL__TIMEFRAME", "1m")
    code, output = invoke("hamilton", "health", "--archive", str(archive))
    assert code == 1 and "(limit 180 s)" in output


def test_health_without_a_status_file_fails(archive: Path) -> None:
    code, output = invoke("hamilton", "health", "--archive", str(archive))
    assert code == 1 and "no Hamilton status file" in output


def test_health_reads_the_archive_from_the_config_file(archive: Path, tmp_path: Path) -> None:
    write_status(Storage(archive), make_status(heartbeat=ago(5)))
    config = tmp_path / "elsewhere.yaml"
    config.write_text(f"general:\n  archive: {archive}\n")
    assert invoke("hamilton", "health", "--config", str(config))[0] == 0
