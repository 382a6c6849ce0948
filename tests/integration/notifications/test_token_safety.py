"""The bot token never reaches a log: not at DEBUG, not when Telegram refuses it, not in the outbox."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, select
from telegram.error import InvalidToken

from huracan_core.broadcaster.outbox import enqueue
from huracan_core.config import HuracanConfig
from huracan_core.db.tables import notifications
from huracan_telegram.bot_api import make_bot, redact
from huracan_telegram.delivery import deliver_pending
from tests.stubs.fake_telegram import FakeTelegram


class _CurrentStderr(logging.StreamHandler):
    """A handler writing to whatever sys.stderr is when a record comes (pytest swaps it per phase)."""

    @property
    def stream(self) -> object:  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


@pytest.fixture
def everything_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every logger at DEBUG, and a stderr handler so that capfd sees formatted lines and tracebacks too."""
    caplog.set_level(logging.DEBUG)
    handler = _CurrentStderr()
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    logging.getLogger().addHandler(handler)
    try:
        yield
    finally:
        logging.getLogger().removeHandler(handler)


def test_a_refused_token_is_logged_and_stored_without_the_token(
    migrated: Engine,
    fake_telegram: FakeTelegram,
    config_for: Callable[..., HuracanConfig],
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    everything_logged: None,
) -> None:
    wrong = "555555:WRONG-TOKEN-abcdefghijklmnopqrstuvwxyz"
    config = config_for(token=wrong)
    enqueue("failures", "❌ night failed", config=config)

    async def one_pass() -> int:
        async with make_bot(config) as bot:
            return await deliver_pending(bot, config)

    with pytest.raises(InvalidToken):  # initialising the bot (getMe) is refused too; its message holds
        asyncio.run(one_pass())  # the token: whoever logs it goes through the masked log records
    try:
        asyncio.run(one_pass())
    except InvalidToken as exc:  # a process that logs that error with its traceback
        logging.getLogger("huracan.telegram").exception("bot did not start: %s", exc)
    bot = make_bot(config)
    assert asyncio.run(deliver_pending(bot, config)) == 0
    assert [c["status"] for c in fake_telegram.calls] == [401, 401, 401]
    with migrated.connect() as conn:
        stored = conn.execute(select(notifications.c.last_error, notifications.c.sent_at)).one()
    assert stored.sent_at is None and "token was refused" in stored.last_error
    out, err = capfd.readouterr()
    assert "huracan.telegram ERROR bot did not start" in err  # the stderr handler saw the traceback too
    logged = caplog.text + out + err
    assert "token was refused" in logged  # the refusal itself is reported ...
    assert "bot did not start: The token `<token>` was rejected" in logged
    assert "<token>" in logged  # ... and python-telegram-bot's DEBUG line with the URL was masked
    assert wrong not in logged and wrong not in stored.last_error
    assert "WRONG-TOKEN" not in logged


def test_redact_masks_known_tokens_and_anything_shaped_like_one() -> None:
    text = "POST https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage"
    assert redact(text) == "POST https://api.telegram.org/bot<token>/sendMessage"
