"""`huracan telegram` refuses to start half-configured, `huracan telegram health` checks the poller lease, and
the token stays out of its output."""

from __future__ import annotations

import os
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from huracan_core.archive import Storage
from huracan_core.archive.service_lease import acquire_lease
from huracan_core.cli import app
from huracan_telegram import __main__ as module_main
from huracan_telegram.app import lease_key

TOKEN = "424242:ABCdef-SECRET_token"


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in [n for n in os.environ if n.startswith("HURACAN")]:
        monkeypatch.delenv(name)
    path = tmp_path / "config.yaml"
    path.write_text(
        "general:\n"
        f"  archive: {tmp_path / 'archive'}\n"
        "telegram:\n"
        "  token: ${HURACAN_TELEGRAM_TOKEN:-}\n"
        "  chat_id: ${HURACAN_TELEGRAM_CHAT_ID:-}\n"
        "  allowed_user_ids: [111]\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HURACAN_TELEGRAM_CHAT_ID": "111"}, "telegram.token is not set"),
        ({"HURACAN_TELEGRAM_TOKEN": TOKEN}, "telegram.chat_id is not set"),
        (
            {
                "HURACAN_TELEGRAM_TOKEN": TOKEN,
                "HURACAN_TELEGRAM_CHAT_ID": "111",
                "HURACAN__TELEGRAM__ALLOWED_USER_IDS": "[]",
            },
            "telegram.allowed_user_ids is empty, so nobody may command the bot",
        ),
    ],
)
def test_the_bot_refuses_to_start_without_token_chat_or_allow_list(
    config_file: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["telegram", "--config", str(config_file)])
    assert result.exit_code == 2, result.output
    assert "Configuration error" in result.output and message in " ".join(result.output.split())
    assert TOKEN not in result.output


def test_health_follows_the_poller_lease_of_this_host(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HURACAN_TELEGRAM_TOKEN", TOKEN)
    monkeypatch.setenv("HURACAN_TELEGRAM_CHAT_ID", "111")
    runner = CliRunner()
    health = ["telegram", "health", "--config", str(config_file)]
    result = runner.invoke(app, health)
    assert result.exit_code == 1 and "no bot holds the poller lease" in result.output
    storage = Storage(str(config_file.parent / "archive"))
    key = lease_key(TOKEN)
    assert TOKEN.split(":")[1] not in key and key.startswith("leases/telegram-")
    now = datetime.now(UTC)
    acquire_lease(
        storage, key, holder_id="x", host="elsewhere", pid=1, what="huracan telegram", ttl_s=60, now=now
    )
    result = runner.invoke(app, health)
    assert result.exit_code == 1 and "runs elsewhere" in result.output
    acquire_lease(storage, key, holder_id="y", host=socket.gethostname(), pid=os.getpid(), what="huracan telegram",
                  ttl_s=60, now=now, take_over=lambda h: True)  # fmt: skip
    result = runner.invoke(app, health)
    assert result.exit_code == 0 and "healthy: polling as host" in result.output


def test_python_m_huracan_telegram_is_the_cli_command(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(sys, "argv", ["python -m huracan_telegram", "--help"])
    with pytest.raises(SystemExit) as exited:
        module_main.main()
    assert exited.value.code == 0
    assert "Usage: python -m huracan_telegram" in capsys.readouterr().out


def test_the_compose_service_exits_quietly_when_telegram_is_not_configured(config_file: Path) -> None:
    result = CliRunner().invoke(app, ["telegram", "--optional", "--config", str(config_file)])
    assert result.exit_code == 0 and "Telegram is not configured" in result.output
