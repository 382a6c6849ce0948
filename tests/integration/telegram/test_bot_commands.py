"""The bot through the real python-telegram-bot stack against a fake Bot API server: every command answers an
allowed user; everyone else is refused, logged and counted, and changes nothing; /trade writes the selector
Hamilton reads only after its own Confirm; one poller per token; the token never reaches a log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import telegram
from telegram.error import Conflict

from huracan_core.archive import paths
from huracan_core.hamilton.control import read_pause, read_roster, read_selector, select_symbols
from huracan_telegram import handlers
from tests.stubs.fake_telegram import FakeTelegram
from tests.stubs.telegram_bot import (
    ALICE,
    BOB,
    GROUP,
    MALLORY,
    OTHER_GROUP,
    TRADE_OK,
    BotWorld,
    RunningBot,
    bot_config,
    make_world,
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> BotWorld:
    return make_world(tmp_path_factory.mktemp("bot"))


@pytest.fixture
def fresh_world(tmp_path: Path) -> BotWorld:
    """A world of its own, for tests that write control files."""
    return make_world(tmp_path)


def _buttons(tg: FakeTelegram) -> tuple[int, list[dict[str, Any]]]:
    """(message id, buttons in order) of the newest message that carries an inline keyboard."""
    for call in reversed(tg.sent("sendMessage")):
        markup = call["params"].get("reply_markup")
        if markup:
            return call["response"]["message_id"], [b for row in markup["inline_keyboard"] for b in row]
    raise AssertionError("no message with buttons")


def _press(tg: FakeTelegram, *, user_id: int, chat_id: int, message_id: int, data: str) -> str:
    """Press a button and return the bot's answerCallbackQuery text."""
    answered = len(tg.sent("answerCallbackQuery"))
    tg.push_callback(user_id=user_id, chat_id=chat_id, message_id=message_id, data=data)
    tg.wait_for(lambda t: len(t.sent("answerCallbackQuery")) > answered)
    return str(tg.sent("answerCallbackQuery")[-1]["params"].get("text", ""))


def test_every_command_answers_an_allowed_user(world: BotWorld) -> None:
    with FakeTelegram() as tg, RunningBot(bot_config(tg, world), tg) as bot:
        # Pending updates are dropped at start, and the client's menu lists the commands.
        assert (
            tg.sent() == []
            and next(c for c in tg.calls if c["method"] == "deleteWebhook")["params"]["drop_pending_updates"]
            is True
        )
        assert [c["command"] for c in tg.commands][:3] == ["trade", "status", "champions"]

        (help_text,) = bot.ask("/help")
        for name in ("trade", "status", "champions", "pnl", "daily", "promotions", "pause", "resume"):
            assert f"/{name}" in help_text
        (status,) = bot.ask("/status")
        assert "Hamilton</b> paper" in status and "heartbeat 1 min ago" in status
        assert "Equity 10,012.50 USDT" in status and "BTCUSDT long 10%" in status
        assert "STALE_DATA" in status and "Daily loss cap: not hit" in status
        assert "Last night</b>: ✅" in status and "12 trained, 1 failed, 1 skipped of 14" in status
        (champions,) = bot.ask("/champions")
        assert (
            "12 trade_ok of 14" in champions
            and "XRPUSDT" in champions
            and "Sharpe 0.20 &lt; 0.5" in champions
        )
        (pnl,) = bot.ask("/pnl")
        assert "run paper, last 7 day(s)" in pnl and "Trades closed: 3, 2 won (67%)" in pnl
        assert "Best BTCUSDT +1.25%" in pnl and "USDT" in pnl
        (pnl30,) = bot.ask("/pnl 30")
        assert "last 30 day(s)" in pnl30
        (bad,) = bot.ask("/pnl lots")
        assert "/pnl takes a number of days from 1 to 366" in bad
        (promotions,) = bot.ask("/promotions")
        assert "ETHUSDT: 20261101_020000Z → 20261204_020000Z by engine" in promotions
        assert "SOLUSDT" not in promotions  # 30 days old
        assert "rollback" in bot.ask("/promotions 31")[0]
        (daily,) = bot.ask("/daily")
        photo = tg.sent("sendPhoto")[-1]["params"]
        assert photo["photo_bytes"] > 5_000 and photo["caption"] == daily
        assert (
            f"Daily summary {world.today - timedelta(days=1)}" in daily and "Trades closed 3, 2 won" in daily
        )
        assert "Promotions: ETHUSDT (engine)" in daily and "Max drawdown over 20 days: -2.00%" in daily
        (question,) = bot.ask("/trade 3")
        assert "BTCUSDT, ETHUSDT, SOLUSDT" in question
        (usage,) = bot.ask("/trade 0")
        assert "N must be 1 or more" in usage and "Usage:" in usage
        assert "Unknown command" in bot.ask("/launch")[0]
        # In an allowed group, an allowed user is answered there.
        assert "Huracan bot" in bot.ask("/help", user_id=BOB, chat_id=GROUP)[0]
        assert bot.state.refusals.total == 0
    assert bot.finish() == 0


def test_an_unlisted_users_trade_is_refused_logged_counted_and_changes_nothing(
    fresh_world: BotWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with FakeTelegram() as tg, RunningBot(bot_config(tg, fresh_world), tg) as bot:
        tg.push_message(user_id=MALLORY, chat_id=GROUP, text="hello all", chat_type="supergroup")  # chatter
        bot.refused("/trade 10", user_id=MALLORY, chat_id=MALLORY)
        bot.refused("/trade 10", user_id=MALLORY, chat_id=ALICE)  # even in the allowed chat
        bot.refused("/pause", user_id=MALLORY, chat_id=GROUP)
        assert (
            bot.state.refusals.of(MALLORY) == 3
        )  # updates are handled in order: the chatter was not counted
        assert "Huracan bot" in bot.ask("/help")[0]  # processed after the refusals: they were all handled
    assert tg.texts(MALLORY) == [] and tg.texts(GROUP) == [] and len(tg.texts(ALICE)) == 1
    assert read_selector(fresh_world.storage) is None
    assert not fresh_world.storage.exists(paths.pause_file())
    refusals = [r.getMessage() for r in caplog.records if r.name == "huracan.telegram.access"]
    assert len(refusals) == 3
    assert all(f"user id {MALLORY}" in line and "nothing was done" in line for line in refusals)
    assert "command /trade" in refusals[0] and f"in chat {MALLORY}" in refusals[0]


def test_nobody_may_command_with_an_empty_allow_list_or_in_a_chat_not_allowed(world: BotWorld) -> None:
    with FakeTelegram() as tg, RunningBot(bot_config(tg, world), tg) as bot:
        bot.refused("/status", user_id=ALICE, chat_id=OTHER_GROUP)  # allowed user, chat nobody listed
        bot.refused("/status", user_id=ALICE, chat_id=BOB)  # her messages in bob's private chat
        assert "Hamilton" in bot.ask("/status", user_id=ALICE, chat_id=GROUP)[0]
    assert tg.texts(OTHER_GROUP) == [] and tg.texts(BOB) == []
    assert bot.state.refusals.of(ALICE) == 2


def test_trade_10_then_confirm_writes_the_selector_hamiltons_reader_accepts(fresh_world: BotWorld) -> None:
    storage = fresh_world.storage
    with FakeTelegram() as tg, RunningBot(bot_config(tg, fresh_world), tg) as bot:
        (question,) = bot.ask("/trade 10")
        assert "Trade <b>the top 10 trade_ok champions</b>" in question
        assert ", ".join(TRADE_OK[:10]) in question  # the answer says what will be traded
        message_id, buttons = _buttons(tg)
        assert [b["text"] for b in buttons] == ["Confirm", "Cancel"]  # Confirm first
        assert read_selector(storage) is None  # asking writes nothing
        assert (
            _press(tg, user_id=ALICE, chat_id=ALICE, message_id=message_id, data=buttons[0]["callback_data"])
            == "Done."
        )
        tg.wait_for(lambda t: bool(t.sent("editMessageText")))
        done = tg.sent("editMessageText")[-1]["params"]
        assert (
            done["message_id"] == message_id and "✅ Done" in done["text"] and "XRPUSDT" not in done["text"]
        )
        # A second press of the same button finds nothing to do.
        again = _press(
            tg, user_id=ALICE, chat_id=ALICE, message_id=message_id, data=buttons[0]["callback_data"]
        )
        assert "no longer open" in again
    selector = read_selector(storage)  # Hamilton's own reader validates the file
    assert selector is not None and (selector.mode, selector.n, selector.symbols) == ("top", 10, [])
    assert selector.updated_by == f"telegram:{ALICE}"
    assert abs((datetime.now(UTC) - selector.updated_at).total_seconds()) < 60
    assert select_symbols(selector, read_roster(storage), configured=None) == list(TRADE_OK[:10])


def test_cancel_a_forged_a_stale_or_someone_elses_button_changes_nothing(fresh_world: BotWorld) -> None:
    storage = fresh_world.storage
    with FakeTelegram() as tg, RunningBot(bot_config(tg, fresh_world), tg) as bot:
        bot.ask("/trade BTCUSDT,ETHUSDT", chat_id=GROUP)
        first_id, first = _buttons(tg)
        bot.ask("/trade off", chat_id=GROUP)  # replaces the first question
        second_id, second = _buttons(tg)
        confirm_first = first[0]["callback_data"]
        assert "no longer open" in _press(
            tg, user_id=ALICE, chat_id=GROUP, message_id=first_id, data=confirm_first
        )
        forged = "trade:confirm:" + "A" * 16
        assert "no longer open" in _press(tg, user_id=ALICE, chat_id=GROUP, message_id=second_id, data=forged)
        # The old nonce on the new message (a replayed button) does not apply either.
        assert "no longer open" in _press(
            tg, user_id=ALICE, chat_id=GROUP, message_id=second_id, data=confirm_first
        )
        # Bob is allowed, but the question is Alice's.
        confirm = second[0]["callback_data"]
        assert "Only the user who sent" in _press(
            tg, user_id=BOB, chat_id=GROUP, message_id=second_id, data=confirm
        )
        # Mallory's press is refused by the guard before any handler (not answered, counted).
        before = bot.state.refusals.total
        tg.push_callback(user_id=MALLORY, chat_id=GROUP, message_id=second_id, data=confirm)
        tg.wait_for(lambda t: bot.state.refusals.total > before)
        assert read_selector(storage) is None
        assert (
            _press(tg, user_id=ALICE, chat_id=GROUP, message_id=second_id, data=second[1]["callback_data"])
            == "Cancelled."
        )
        tg.wait_for(lambda t: "Cancelled: nothing changed." in t.texts(GROUP))
        assert "no longer open" in _press(
            tg, user_id=ALICE, chat_id=GROUP, message_id=second_id, data=confirm
        )
    assert read_selector(storage) is None


def test_an_unanswered_question_expires(fresh_world: BotWorld) -> None:
    now = [datetime.now(UTC)]
    with FakeTelegram() as tg, RunningBot(bot_config(tg, fresh_world), tg, clock=lambda: now[0]) as bot:
        bot.ask("/trade all")
        message_id, buttons = _buttons(tg)
        now[0] += handlers.CONFIRM_TTL + timedelta(seconds=1)
        assert "Expired" in _press(
            tg, user_id=ALICE, chat_id=ALICE, message_id=message_id, data=buttons[0]["callback_data"]
        )
    assert read_selector(fresh_world.storage) is None


def test_pause_then_resume_round_trip_through_hamiltons_reader(fresh_world: BotWorld) -> None:
    storage = fresh_world.storage
    with FakeTelegram() as tg, RunningBot(bot_config(tg, fresh_world), tg) as bot:
        (paused,) = bot.ask("/pause exchange maintenance")
        assert "⏸ Paused" in paused and "Before: not paused" in paused
        state = read_pause(storage)
        assert (
            state.paused
            and state.reason == "exchange maintenance"
            and state.updated_by == f"telegram:{ALICE}"
        )
        assert "Pause file: paused (exchange maintenance)" in bot.ask("/status")[0]
        (resumed,) = bot.ask("/resume", user_id=BOB, chat_id=GROUP)
        assert (
            "▶️ Resumed" in resumed and "Before: paused (exchange maintenance) by telegram:111111" in resumed
        )
    state = read_pause(storage)
    assert not state.paused and state.updated_by == f"telegram:{BOB}" and state.reason is None


def test_a_second_poller_of_the_same_token_refuses_to_start(
    world: BotWorld, caplog: pytest.LogCaptureFixture
) -> None:
    with FakeTelegram() as tg, RunningBot(bot_config(tg, world), tg) as first:
        second = RunningBot(bot_config(tg, world), tg).start(wait=False)
        assert second.finish() == 1
        message = next(r.getMessage() for r in caplog.records if "already polling" in r.getMessage())
        assert "Another `huracan telegram` is already polling this bot" in message
        assert "held by host" in message and "pid" in message and "stop it first" in message
        assert "Huracan bot" in first.ask("/help")[0]  # the first one polls on, undisturbed
        assert len([c for c in tg.calls if c["method"] == "getMe"]) == 1  # the second never reached Telegram
    assert first.finish() == 0


def test_a_poller_elsewhere_makes_the_bot_stop_with_a_clear_message(
    world: BotWorld, caplog: pytest.LogCaptureFixture
) -> None:
    with FakeTelegram() as tg:
        bot = RunningBot(bot_config(tg, world), tg).start()

        async def foreign_poller() -> None:  # the same token, used by something without our lease
            async with telegram.Bot(tg.token, base_url=f"{tg.base_url}/bot") as other:
                for _ in range(20):
                    if bot.stop.is_set() or not bot._thread.is_alive():
                        return
                    with contextlib.suppress(Conflict):
                        await other.get_updates(timeout=1)

        foreign = threading.Thread(target=lambda: asyncio.run(foreign_poller()))
        foreign.start()
        bot._thread.join(20)
        foreign.join(20)
        assert bot.finish() == 1
    lines = [r.getMessage() for r in caplog.records if "409 Conflict" in r.getMessage()]
    assert lines and "Another program is polling this bot's token" in lines[0]
    assert "only one poller per token" in lines[0]


def test_the_daily_job_sends_the_summary_with_the_equity_chart(world: BotWorld) -> None:
    def now_please(app: Any) -> None:
        app.job_queue.run_once(handlers.daily_job, 0)

    with FakeTelegram() as tg, RunningBot(bot_config(tg, world, notify={"daily_summary": "silent"}), tg,
                                          on_started=now_please):  # fmt: skip
        tg.wait_for(lambda t: bool(t.sent("sendPhoto")))
    photo = tg.sent("sendPhoto")[0]["params"]
    assert str(photo["chat_id"]) == str(ALICE) and photo["disable_notification"] is True
    assert photo["caption"].startswith(f"Daily summary {world.today - timedelta(days=1)} (UTC)")


def test_the_token_never_appears_in_logs_even_when_telegram_refuses_it(
    world: BotWorld, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    with FakeTelegram(token="987654:SECRET-abcdefghijklmnop") as tg:
        with RunningBot(bot_config(tg, world), tg) as bot:
            bot.ask("/status")
            tg.fail_next(1, status=500, methods=("sendMessage",))
            tg.push_message(
                user_id=ALICE, chat_id=ALICE, text="/help"
            )  # its answer fails: an error is logged
            tg.wait_for(lambda t: any(c["status"] == 500 for c in t.calls))
            bot.ask("/champions")
        assert bot.finish() == 0
        wrong = bot_config(tg, world, token="987654:SECRET-zyxwvutsrqponmlk")  # revoked: Telegram answers 401
        refused = RunningBot(wrong, tg).start(wait=False)
        assert refused.finish() == 1
    output = capfd.readouterr()
    text = caplog.text + output.out + output.err
    assert "Telegram refused the bot token (401 Unauthorized)" in caplog.text
    assert "A Telegram handler failed" in caplog.text and "<token>" in caplog.text  # URLs were logged, masked
    for secret in ("SECRET-abcdefghijklmnop", "SECRET-zyxwvutsrqponmlk"):
        assert secret not in text
        assert secret not in repr([r.__dict__ for r in caplog.records])


@pytest.mark.postgres
def test_status_and_pnl_read_hamilton_and_the_night_from_postgresql(
    tmp_path: Path, postgres_server: tuple[str, str]
) -> None:
    user, name = postgres_server
    world = make_world(tmp_path, db=f"postgresql+psycopg2://{user}@127.0.0.1:5432/{name}")
    with FakeTelegram() as tg, RunningBot(bot_config(tg, world), tg) as bot:
        assert "12 trained, 1 failed, 1 skipped of 14" in bot.ask("/status")[0]
        assert "Trades closed: 3, 2 won" in bot.ask("/pnl 3")[0]
