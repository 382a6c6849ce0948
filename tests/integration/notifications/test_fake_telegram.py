"""The fake Bot API server speaks the protocol python-telegram-bot 22.8 expects, errors included."""

from __future__ import annotations

import asyncio
import time

import pytest
import telegram
from telegram.error import Conflict, EndPointNotFound, InvalidToken, NetworkError, RetryAfter

from tests.stubs.fake_telegram import FakeTelegram


def _bot(tg: FakeTelegram, token: str | None = None) -> telegram.Bot:
    return telegram.Bot(
        token or tg.token, base_url=f"{tg.base_url}/bot", base_file_url=f"{tg.base_url}/file/bot"
    )


def test_ptb_gets_me_sends_a_message_and_a_photo_and_reads_an_update() -> None:
    async def scenario(tg: FakeTelegram) -> None:
        async with _bot(tg) as bot:
            me = await bot.get_me()
            assert me.username == "huracan_test_bot" and me.is_bot
            sent = await bot.send_message(chat_id="-100123", text="hello", disable_notification=True)
            assert sent.text == "hello" and sent.chat.id == -100123 and sent.message_id == 1
            photo = await bot.send_photo(chat_id=42, photo=b"\x89PNG fake bytes", caption="the day")
            assert photo.caption == "the day" and photo.photo[-1].file_size == 15
            edited = await bot.edit_message_text("edited", chat_id=42, message_id=photo.message_id)
            assert edited.text == "edited"
            await bot.set_my_commands([("status", "what runs"), ("trade", "what to trade")])
            assert [c.command for c in await bot.get_my_commands()] == ["status", "trade"]

            update_id = tg.push_message(user_id=7, chat_id=7, text="/status now")
            updates = await bot.get_updates(offset=0, timeout=5)
            assert [u.update_id for u in updates] == [update_id]
            message = updates[0].message
            assert message.text == "/status now" and message.from_user.id == 7
            assert message.entities[0].type == "bot_command" and message.entities[0].length == 7

            callback_id = tg.push_callback(user_id=7, chat_id=42, message_id=photo.message_id, data="ok")
            updates = await bot.get_updates(offset=update_id + 1, timeout=5)
            assert [u.update_id for u in updates] == [callback_id]
            assert updates[0].callback_query.data == "ok"
            assert await bot.answer_callback_query(updates[0].callback_query.id)

    with FakeTelegram() as tg:
        asyncio.run(scenario(tg))
        assert tg.texts() == ["hello", "the day", "edited"]
        assert tg.texts(chat_id=-100123) == ["hello"]
        assert tg.sent("sendMessage")[0]["params"]["disable_notification"] is True
        assert tg.sent("sendPhoto")[0]["params"]["photo_bytes"] == 15


def test_long_polling_answers_as_soon_as_an_update_is_pushed() -> None:
    async def scenario(tg: FakeTelegram) -> float:
        async with _bot(tg) as bot:
            loop = asyncio.get_running_loop()
            loop.call_later(0.3, lambda: tg.push_message(user_id=1, chat_id=1, text="hi"))
            start = time.monotonic()
            updates = await bot.get_updates(timeout=10)
            assert len(updates) == 1
            return time.monotonic() - start

    with FakeTelegram() as tg:
        assert asyncio.run(scenario(tg)) < 5


def test_a_second_poller_makes_the_first_one_fail_with_conflict() -> None:
    async def scenario(tg: FakeTelegram) -> None:
        async with _bot(tg) as first, _bot(tg) as second:
            waiting = asyncio.create_task(first.get_updates(timeout=10))
            await asyncio.sleep(0.3)
            other = asyncio.create_task(second.get_updates(timeout=0))
            with pytest.raises(Conflict, match="terminated by other getUpdates request"):
                await waiting
            assert tuple(await other) == ()

    with FakeTelegram() as tg:
        asyncio.run(scenario(tg))


def test_429_raises_retry_after_with_the_servers_seconds_and_500_a_network_error() -> None:
    async def scenario(tg: FakeTelegram) -> None:
        async with _bot(tg) as bot:
            tg.fail_next(1, status=429, retry_after=3)
            with pytest.raises(RetryAfter) as caught:
                await bot.send_message(chat_id=1, text="a")
            seconds = caught.value.retry_after  # an int in 22.x, a timedelta in a later major version
            assert getattr(seconds, "total_seconds", lambda: seconds)() == 3
            tg.fail_next(1, status=500)
            with pytest.raises(NetworkError, match="Internal Server Error"):
                await bot.send_message(chat_id=1, text="b")
            await bot.send_message(chat_id=1, text="c")

    with FakeTelegram() as tg:
        asyncio.run(scenario(tg))
        assert tg.texts() == ["c"]
        assert [c["status"] for c in tg.calls if c["method"] == "sendMessage"] == [429, 500, 200]


def test_a_wrong_token_is_unauthorized_and_an_unknown_method_not_found() -> None:
    async def scenario(tg: FakeTelegram) -> None:
        with pytest.raises(InvalidToken):
            await _bot(tg, token="999:WRONG").get_me()
        async with _bot(tg) as bot:
            with pytest.raises(EndPointNotFound):  # Telegram's 404 for a method it does not know
                await bot.do_api_request("noSuchMethod")

    with FakeTelegram() as tg:
        asyncio.run(scenario(tg))
        assert [(c["method"], c["status"]) for c in tg.calls] == [
            ("getMe", 401),
            ("getMe", 200),
            ("noSuchMethod", 404),
        ]


def test_a_server_that_goes_down_refuses_connections_and_comes_back_on_the_same_port() -> None:
    async def scenario(tg: FakeTelegram) -> None:
        async with _bot(tg) as bot:
            await bot.send_message(chat_id=1, text="before")
            port = tg.base_url
            tg.go_down()
            with pytest.raises(NetworkError):
                await bot.send_message(chat_id=1, text="during")
            tg.come_back()
            assert tg.base_url == port
            await bot.send_message(chat_id=1, text="after")

    with FakeTelegram() as tg:
        asyncio.run(scenario(tg))
        assert tg.texts() == ["before", "after"]


def test_wait_for_names_the_calls_when_it_times_out() -> None:
    with FakeTelegram() as tg, pytest.raises(AssertionError, match="condition not met"):
        tg.wait_for(lambda t: bool(t.texts()), timeout=0.1)
