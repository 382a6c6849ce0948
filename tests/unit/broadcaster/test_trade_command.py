"""/trade, /pause and /resume as plain data: arguments are parsed or refused by name, the plan uses Hamilton's
own selection rule, and the files written are the ones Hamilton's readers accept. Access is deny by default."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from huracan_core.archive import Storage, paths
from huracan_core.broadcaster.access import AccessPolicy, RefusalCounter
from huracan_core.broadcaster.commands import (
    CommandError,
    TradeChoice,
    apply_trade,
    parse_trade,
    plan_trade,
    set_pause,
)
from huracan_core.hamilton.control import read_pause, read_selector, select_symbols
from tests.unit.hamilton.status_builders import make_roster, roster_entry

NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
ROSTER = make_roster(
    roster_entry("BTCUSDT"),
    roster_entry("XRPUSDT", trade_ok=False, reason="Sharpe 0.20 < 0.5"),
    roster_entry("ETHUSDT"),
    roster_entry("SOLUSDT"),
)


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    storage = Storage(tmp_path / "archive")
    storage.write_json(paths.champion_roster(), ROSTER)
    return storage


@pytest.mark.parametrize(
    ("args", "choice"),
    [
        (["10"], TradeChoice("top", n=10)),
        (["off"], TradeChoice("off")),
        (["OFF"], TradeChoice("off")),
        (["all"], TradeChoice("all")),
        (["BTCUSDT,ETHUSDT"], TradeChoice("list", symbols=("BTCUSDT", "ETHUSDT"))),
        (["btc/usdt,", "ETHUSDT", "btcusdt"], TradeChoice("list", symbols=("BTCUSDT", "ETHUSDT"))),
        (["SOLUSDT"], TradeChoice("list", symbols=("SOLUSDT",))),
    ],
)
def test_trade_arguments_become_a_selector_choice(args: list[str], choice: TradeChoice) -> None:
    assert parse_trade(args) == choice


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], r"say what to trade: /trade N"),
        (["0"], r"N must be 1 or more \(got 0\); /trade off stops opening trades"),
        (["-3"], r"N must be 1 or more \(got -3\)"),
        (["5", "BTCUSDT"], r"'5' cannot be mixed with other arguments"),
        (["BTCUSDT", "off"], r"'off' cannot be mixed"),
        (["BTC-USD"], r"symbol 'BTC-USD' is not like BTCUSDT"),
    ],
)
def test_wrong_trade_arguments_are_refused_naming_the_problem(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        parse_trade(args)


def test_a_plan_says_what_would_be_traded_and_writes_nothing(storage: Storage) -> None:
    plan = plan_trade(storage, TradeChoice("top", n=2), user_id=42, now=NOW)
    assert plan.selection.symbols == ["BTCUSDT", "ETHUSDT"] and plan.roster_found
    listed = plan_trade(storage, parse_trade(["XRPUSDT,SOLUSDT,DOGEUSDT"]), user_id=42, now=NOW)
    assert listed.selection.symbols == ["SOLUSDT"]
    assert listed.selection.dropped == {
        "XRPUSDT": "champion 20261205_020000Z is not trade_ok: Sharpe 0.20 < 0.5",
        "DOGEUSDT": "no champion",
    }
    assert read_selector(storage) is None


@pytest.mark.parametrize("args", [["3"], ["off"], ["all"], ["ETHUSDT,BTCUSDT"]])
def test_an_applied_choice_is_the_selector_hamilton_reads_with_who_and_when(
    storage: Storage, args: list[str]
) -> None:
    plan = apply_trade(storage, parse_trade(args), user_id=42, now=NOW)
    selector = read_selector(storage)
    assert selector == plan.selector
    assert selector.updated_by == "telegram:42" and selector.updated_at == NOW
    assert select_symbols(selector, ROSTER, configured=None) == plan.selection.symbols


def test_with_no_roster_nothing_is_traded_and_the_plan_says_so(tmp_path: Path) -> None:
    plan = plan_trade(Storage(tmp_path / "empty"), TradeChoice("top", n=5), user_id=1, now=NOW)
    assert not plan.roster_found and plan.selection.symbols == []


def test_pause_and_resume_write_the_file_hamilton_honours(storage: Storage) -> None:
    change = set_pause(storage, paused=True, user_id=7, now=NOW, reason="  exchange maintenance ")
    assert not change.before.paused
    assert read_pause(storage) == change.after
    assert change.after.reason == "exchange maintenance" and change.after.updated_by == "telegram:7"
    lifted = set_pause(storage, paused=False, user_id=8, now=NOW, reason="ignored")
    assert lifted.before.paused and not read_pause(storage).paused and lifted.after.reason is None


def test_an_unreadable_pause_file_is_reported_as_such_and_replaced(storage: Storage) -> None:
    storage.write_bytes(paths.pause_file(), b"{not json")
    change = set_pause(storage, paused=False, user_id=7, now=NOW)
    assert change.before is None and not read_pause(storage).paused


# --- access --------------------------------------------------------------------------------------
def test_access_needs_a_listed_user_in_a_listed_chat() -> None:
    policy = AccessPolicy.from_settings(allowed_user_ids=[1, 2], chat_id="-100500", allowed_chat_ids=[9])
    assert policy.decide(1, -100500).allowed and policy.decide(2, 9).allowed
    assert policy.decide(3, -100500).reason == "user not in telegram.allowed_user_ids"
    assert policy.decide(1, 1).reason == "chat is not telegram.chat_id nor in telegram.allowed_chat_ids"
    assert not policy.decide(None, -100500).allowed and not policy.decide(1, None).allowed


def test_empty_lists_mean_nobody() -> None:
    nobody = AccessPolicy.from_settings(allowed_user_ids=[], chat_id="5", allowed_chat_ids=[])
    assert nobody.decide(5, 5).reason == "user telegram.allowed_user_ids is empty"
    no_chat = AccessPolicy.from_settings(allowed_user_ids=[5], chat_id=None)
    assert not no_chat.decide(5, 5).allowed
    channel = AccessPolicy.from_settings(allowed_user_ids=[5], chat_id="@huracan_news")
    assert channel.chat_ids == frozenset()


def test_each_refusal_is_counted_and_logged_with_the_user_and_chat(caplog: pytest.LogCaptureFixture) -> None:
    counter = RefusalCounter()
    with caplog.at_level(logging.WARNING, logger="huracan.telegram.access"):
        counter.record(
            user_id=666, chat_id=-1, what="command /trade", reason="user not in telegram.allowed_user_ids"
        )
        assert counter.record(user_id=666, chat_id=-1, what="button", reason="x") == 2
    assert counter.of(666) == 2 and counter.total == 2
    assert "Refused Telegram command /trade from user id 666 in chat -1" in caplog.records[0].getMessage()
