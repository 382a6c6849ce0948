"""The bot's control files: the selector and the pause round-trip, bad files are named, only champions trade."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from huracan_core.archive import Storage, paths
from huracan_core.exceptions import CorruptFileError, DataIntegrityError
from huracan_core.hamilton import control
from huracan_core.hamilton.control import (
    NOT_PAUSED,
    PauseState,
    SymbolsSelector,
    choose_symbols,
    read_pause,
    read_selector,
    select_symbols,
    write_pause,
    write_selector,
)
from tests.unit.hamilton.status_builders import make_roster, roster_entry

WHEN = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
BOT = "telegram:123456789"
# Ranking: BTC, ETH, (XRP not trade_ok), SOL, ADA.
ROSTER = make_roster(
    roster_entry("BTCUSDT"),
    roster_entry("ETHUSDT"),
    roster_entry("XRPUSDT", trade_ok=False, reason="Sharpe 0.20 < 0.5"),
    roster_entry("SOLUSDT"),
    roster_entry("ADAUSDT"),
)


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return Storage(tmp_path / "archive")


def selector(**fields: Any) -> SymbolsSelector:
    return SymbolsSelector(**{"updated_by": BOT, "updated_at": WHEN, **fields})


# --- the selector file ---------------------------------------------------------------------------
def test_a_written_selector_reads_back_equal(storage: Storage) -> None:
    for written in (selector(mode="top", n=5), selector(mode="list", symbols=["BTCUSDT", "ETHUSDT"]),
                    selector(mode="off"), selector(mode="all")):
        write_selector(storage, written)
        assert read_selector(storage) == written


def test_the_selector_file_holds_plain_json_at_the_contract_path(storage: Storage, tmp_path: Path) -> None:
    write_selector(storage, selector(mode="top", n=3))
    on_disk = json.loads((tmp_path / "archive" / "control" / "symbols_selector.json").read_text())
    assert on_disk == {"mode": "top", "n": 3, "symbols": [], "updated_by": BOT, "updated_at": "2026-12-05T10:00:00Z"}


def test_no_selector_file_reads_as_none(storage: Storage) -> None:
    assert read_selector(storage) is None


def test_symbols_are_upper_cased_stripped_of_slashes_and_deduplicated() -> None:
    chosen = selector(mode="list", symbols=["btcusdt", " ETH/USDT ", "BTCUSDT"])
    assert chosen.symbols == ["BTCUSDT", "ETHUSDT"]


def test_updated_at_in_another_timezone_is_stored_in_utc() -> None:
    chosen = selector(mode="off", updated_at=datetime(2026, 12, 5, 12, 0, tzinfo=timezone(timedelta(hours=2))))
    assert chosen.updated_at == WHEN and chosen.updated_at.tzinfo == UTC


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"mode": "top"}, r"n: required with mode 'top'"),
        ({"mode": "top", "n": 0}, r"n: must be a whole number >= 1"),
        ({"mode": "top", "n": True}, r"n: must be a whole number"),
        ({"mode": "top", "n": "5"}, r"n: must be a whole number"),
        ({"mode": "list"}, r"symbols: required with mode 'list'"),
        ({"mode": "list", "symbols": []}, r"symbols: required with mode 'list'"),
        ({"mode": "list", "symbols": ["BTC-USD"]}, r"symbols: symbol 'BTC-USD' is not like BTCUSDT"),
        ({"mode": "list", "symbols": "BTCUSDT"}, r"symbols: must be a list"),
        ({"mode": "list", "symbols": ["BTCUSDT"], "n": 2}, r"n: only allowed with mode 'top'"),
        ({"mode": "off", "symbols": ["BTCUSDT"]}, r"symbols: only allowed with mode 'list'"),
        ({"mode": "some"}, r"mode: allowed: 'top', 'list', 'off' or 'all'"),
        ({"mode": "off", "updated_at": "2026-12-05T10:00:00"}, r"updated_at: must carry a timezone"),
        ({"mode": "off", "updated_at": "yesterday"}, r"updated_at: must be an ISO-8601 time"),
        ({"mode": "off", "updated_by": " "}, r"updated_by: must name who set it"),
        ({"mode": "off", "paused": True}, r"paused: unknown field"),
    ],
)
def test_an_invalid_selector_file_is_a_data_integrity_error_naming_file_and_field(
    storage: Storage, fields: dict[str, Any], message: str
) -> None:
    raw = {"updated_by": BOT, "updated_at": "2026-12-05T10:00:00Z", **fields}
    storage.write_json(paths.symbols_selector(), raw)
    with pytest.raises(DataIntegrityError, match=r"symbols_selector\.json is not a valid symbols selector: .*" + message):
        read_selector(storage)
    with pytest.raises(ValidationError):  # the bot gets the same refusal before it writes anything
        SymbolsSelector.model_validate(raw)


@pytest.mark.parametrize("content", [b"", b"{\"mode\": \"top\", ", b"\xff\xfe", b"[\"top\", 5]"])
def test_an_unreadable_selector_file_is_a_corrupt_file_error_naming_the_file(storage: Storage, content: bytes) -> None:
    storage.write_bytes(paths.symbols_selector(), content)
    with pytest.raises(CorruptFileError, match=rf"{re.escape(storage.url(paths.symbols_selector()))} is not a valid"):
        read_selector(storage)


# --- which symbols are traded --------------------------------------------------------------------
def test_top_n_takes_the_first_n_trade_ok_champions_in_roster_order() -> None:
    assert select_symbols(selector(mode="top", n=3), ROSTER, configured=None) == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]


def test_top_n_beyond_the_roster_takes_every_trade_ok_champion_and_says_so() -> None:
    chosen = choose_symbols(selector(mode="top", n=10), ROSTER, configured=None)
    assert chosen.symbols == ["BTCUSDT", "ETHUSDT", "SOLUSDT", "ADAUSDT"]
    assert "only 4 available" in chosen.how and BOT in chosen.how


def test_list_keeps_listed_symbols_with_a_trade_ok_champion_and_says_why_others_were_dropped() -> None:
    chosen = choose_symbols(selector(mode="list", symbols=["SOLUSDT", "XRPUSDT", "DOGEUSDT", "BTCUSDT"]),
                            ROSTER, configured=None)
    assert chosen.symbols == ["SOLUSDT", "BTCUSDT"]  # the listed order, not the roster's
    assert chosen.dropped == {
        "XRPUSDT": "champion 20261205_020000Z is not trade_ok: Sharpe 0.20 < 0.5",
        "DOGEUSDT": "no champion",
    }


def test_off_trades_nothing_even_with_champions() -> None:
    assert select_symbols(selector(mode="off"), ROSTER, configured=["BTCUSDT"]) == []


def test_all_trades_every_trade_ok_champion_in_roster_order() -> None:
    assert select_symbols(selector(mode="all"), ROSTER, configured=["BTCUSDT"]) == [
        "BTCUSDT", "ETHUSDT", "SOLUSDT", "ADAUSDT"
    ]


def test_without_a_selector_the_configured_symbols_with_a_trade_ok_champion_are_traded() -> None:
    chosen = choose_symbols(None, ROSTER, configured=["ethusdt", "XRPUSDT", "DOGEUSDT", "BTCUSDT"])
    assert chosen.symbols == ["ETHUSDT", "BTCUSDT"]
    assert set(chosen.dropped) == {"XRPUSDT", "DOGEUSDT"}
    assert chosen.mode == "configured"


def test_without_a_selector_or_configured_symbols_every_trade_ok_champion_is_traded() -> None:
    chosen = choose_symbols(None, ROSTER, configured=None)
    assert chosen.symbols == ["BTCUSDT", "ETHUSDT", "SOLUSDT", "ADAUSDT"]
    assert chosen.mode == "all" and "no selector file" in chosen.how


def test_without_a_roster_nothing_is_traded_whatever_is_wanted() -> None:
    assert select_symbols(selector(mode="all"), None, configured=None) == []
    assert select_symbols(selector(mode="top", n=3), None, configured=None) == []
    chosen = choose_symbols(selector(mode="list", symbols=["BTCUSDT"]), None, configured=None)
    assert chosen.symbols == [] and "no champion roster" in chosen.dropped["BTCUSDT"]


def test_a_champion_is_traded_only_when_trade_ok_is_exactly_true() -> None:
    roster = make_roster({"symbol": "BTCUSDT", "trade_ok": "yes"}, {"symbol": "ETHUSDT"}, roster_entry("SOLUSDT"))
    assert select_symbols(None, roster, configured=None) == ["SOLUSDT"]


def test_a_malformed_roster_is_a_data_integrity_error() -> None:
    with pytest.raises(DataIntegrityError, match="'champions' must be a list"):
        select_symbols(None, {"champions": {"BTCUSDT": {}}}, configured=None)


def test_the_selection_is_plain_data_for_the_status_file() -> None:
    chosen = choose_symbols(selector(mode="list", symbols=["BTCUSDT", "DOGEUSDT"]), ROSTER, configured=None)
    data = chosen.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["symbols"] == ["BTCUSDT"] and data["mode"] == "list"


# --- the pause -----------------------------------------------------------------------------------
def test_no_pause_file_means_not_paused(storage: Storage) -> None:
    assert read_pause(storage) == NOT_PAUSED
    assert read_pause(storage).paused is False


def test_a_pause_survives_a_restart_because_it_is_a_file(storage: Storage, tmp_path: Path) -> None:
    write_pause(storage, PauseState(paused=True, updated_by=BOT, updated_at=WHEN, reason="exchange maintenance"))
    after_restart = Storage(tmp_path / "archive")  # a new process sees only the archive
    state = read_pause(after_restart)
    assert state.paused is True and state.reason == "exchange maintenance" and state.updated_by == BOT
    write_pause(after_restart, PauseState(paused=False, updated_by=BOT, updated_at=WHEN + timedelta(hours=1)))
    assert read_pause(storage).paused is False


def test_a_pause_must_say_who_set_it_and_when(storage: Storage) -> None:
    with pytest.raises(ValueError, match="who set it and when"):
        write_pause(storage, PauseState(paused=True))
    assert not storage.exists(paths.pause_file())


def test_an_invalid_pause_file_is_a_data_integrity_error_naming_the_file(storage: Storage) -> None:
    storage.write_json(paths.pause_file(), {"paused": "maybe", "updated_by": BOT, "updated_at": "2026-12-05T10:00:00Z"})
    with pytest.raises(DataIntegrityError, match=r"control/pause\.json is not a valid pause file: paused: must be true"):
        read_pause(storage)


# --- the documented formats stay true ------------------------------------------------------------
def json_examples(text: str) -> list[dict[str, Any]]:
    """Every `{...}` block of a text that starts with a control file's first field, parsed."""
    blocks = re.findall(r"^ *(\{\"(?:mode|paused)\".*?\})\s*$", text, flags=re.MULTILINE | re.DOTALL)
    return [json.loads(block) for block in blocks]


def test_the_examples_in_the_module_doc_are_valid_control_files() -> None:
    examples = json_examples(control.__doc__ or "")
    assert len(examples) == 2
    SymbolsSelector.model_validate(examples[0])
    assert PauseState.model_validate(examples[1]).paused is True

