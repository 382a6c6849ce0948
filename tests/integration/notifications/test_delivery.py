"""The bot's delivery loop against a fake Bot API server: order, retries, rate limits, outages, limits.

Every test queues rows with the writers' own `enqueue` (on SQLite and PostgreSQL) and lets
`deliver_forever` / `deliver_pending` send them over real HTTP.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, select

from huracan_core.broadcaster.outbox import CUT_MARK, MAX_CAPTION, MAX_TEXT, enqueue
from huracan_core.config import HuracanConfig
from huracan_core.db.tables import notifications
from huracan_telegram import delivery
from huracan_telegram.bot_api import make_bot
from huracan_telegram.delivery import deliver_forever, deliver_pending
from tests.integration.notifications.conftest import CHAT
from tests.stubs.fake_telegram import FakeTelegram


def run_delivery(
    config: HuracanConfig,
    tg: FakeTelegram,
    until: Callable[[FakeTelegram], bool],
    *,
    timeout: float = 10.0,
    meanwhile: Callable[[], None] | None = None,
    after: float = 0.0,
) -> None:
    """deliver_forever in the background until `until(tg)`; `meanwhile` is called `after` seconds in."""

    async def main() -> None:
        bot = make_bot(config)
        stop = asyncio.Event()
        task = asyncio.create_task(deliver_forever(bot, config, stop=stop, poll_seconds=0.05))
        if meanwhile is not None:
            asyncio.get_running_loop().call_later(after, meanwhile)
        deadline = time.monotonic() + timeout
        try:
            while not until(tg):
                assert time.monotonic() < deadline, f"not delivered in {timeout} s:\n{tg.summary()}"
                assert not task.done(), f"deliver_forever stopped: {task.exception()!r}"
                await asyncio.sleep(0.02)
        finally:
            stop.set()
            await task
            await bot.shutdown()

    asyncio.run(main())


def rows(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(notifications).order_by(notifications.c.id))]


def test_messages_arrive_in_order_photos_as_captions_and_silent_kinds_without_sound(
    migrated: Engine, fake_telegram: FakeTelegram, config_for: Callable[..., HuracanConfig]
) -> None:
    config = config_for(notify={"trades": "silent"})
    for i in range(5):
        assert enqueue("engine", f"message {i}", config=config)
    assert enqueue("trades", "[PAPER] BTCUSDT long opened", config=config)
    assert enqueue("daily_summary", "the day", photo=b"\x89PNG" + bytes(300), config=config)
    run_delivery(config, fake_telegram, lambda t: len(t.texts()) == 7)
    assert fake_telegram.texts(chat_id=CHAT) == [
        *(f"message {i}" for i in range(5)),
        "[PAPER] BTCUSDT long opened",
        "the day",
    ]
    calls = fake_telegram.sent()
    assert [c["params"].get("disable_notification") for c in calls[4:6]] == [False, True]
    assert calls[6]["method"] == "sendPhoto" and calls[6]["params"]["photo_bytes"] == 304
    assert all(r["sent_at"] is not None and r["attempts"] == 1 for r in rows(migrated))


def test_a_server_error_is_retried_and_the_message_arrives_once_in_its_place(
    migrated: Engine, fake_telegram: FakeTelegram, config_for: Callable[..., HuracanConfig]
) -> None:
    config = config_for()
    fake_telegram.fail_next(1, status=500)
    for text in ("first", "second", "third"):
        enqueue("engine", text, config=config)
    run_delivery(config, fake_telegram, lambda t: len(t.texts()) == 3)
    assert fake_telegram.texts() == ["first", "second", "third"]
    first = rows(migrated)[0]
    assert first["attempts"] == 2 and first["last_error"] == "NetworkError: Internal Server Error"


def test_a_rate_limit_waits_at_least_the_retry_after_telegram_asked_for(
    migrated: Engine, fake_telegram: FakeTelegram, config_for: Callable[..., HuracanConfig]
) -> None:
    config = config_for()
    fake_telegram.fail_next(1, status=429, retry_after=1)
    enqueue("promotions", "promoted", config=config)
    enqueue("promotions", "and another", config=config)
    run_delivery(config, fake_telegram, lambda t: len(t.texts()) == 2)
    sends = [c for c in fake_telegram.calls if c["method"] == "sendMessage"]
    assert [c["status"] for c in sends] == [429, 200, 200]
    assert sends[1]["at"] - sends[0]["at"] >= 1.0
    assert fake_telegram.texts() == ["promoted", "and another"]


def test_a_server_that_is_down_gets_every_message_exactly_once_when_it_is_back(
    migrated: Engine, fake_telegram: FakeTelegram, config_for: Callable[..., HuracanConfig]
) -> None:
    config = config_for()
    fake_telegram.go_down()
    for i in range(4):
        enqueue("trades", f"trade {i}", config=config)
    run_delivery(
        config, fake_telegram, lambda t: len(t.texts()) >= 4, meanwhile=fake_telegram.come_back, after=0.5
    )
    time.sleep(0.2)  # anything sent twice would have arrived by now
    assert fake_telegram.texts() == [f"trade {i}" for i in range(4)]
    assert rows(migrated)[0]["attempts"] >= 2  # it was tried while the server was down


def test_a_message_telegram_refuses_is_given_up_after_three_attempts_and_the_rest_go_on(
    migrated: Engine,
    fake_telegram: FakeTelegram,
    config_for: Callable[..., HuracanConfig],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(delivery, "_backoff", lambda attempts: 0.05)
    config = config_for()
    fake_telegram.fail_next(3, status=400)
    enqueue("errors", "refused", config=config)
    enqueue("errors", "accepted", config=config)
    run_delivery(config, fake_telegram, lambda t: len(t.texts()) == 1)
    assert fake_telegram.texts() == ["accepted"]
    refused = rows(migrated)[0]
    assert refused["gave_up_at"] is not None and refused["attempts"] == 3 and refused["sent_at"] is None
    assert refused["last_error"] == "BadRequest: Chat not found"
    assert any("given up" in r.getMessage() for r in caplog.records)


def test_texts_and_captions_over_telegrams_limits_are_cut_with_a_visible_marker(
    migrated: Engine, fake_telegram: FakeTelegram, config_for: Callable[..., HuracanConfig]
) -> None:
    config = config_for()
    enqueue("errors", "x" * 5000, config=config)
    enqueue("daily_summary", "y" * 2000, photo=b"png", config=config)
    sent = asyncio.run(_one_pass(config))
    assert sent == 2
    text, caption = fake_telegram.texts()
    assert len(text) == MAX_TEXT and text.endswith(CUT_MARK)
    assert len(caption) == MAX_CAPTION and caption.endswith(CUT_MARK)


async def _one_pass(config: HuracanConfig) -> int:
    async with make_bot(config) as bot:
        return await deliver_pending(bot, config)
