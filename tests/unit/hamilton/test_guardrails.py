"""Guardrails refuse new entries for each rule at its exact boundary, in a documented order; the daily loss cap
holds for the rest of the UTC day through restarts and recoveries and clears at midnight."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from huracan_core.config import load_config
from huracan_core.exceptions import DataIntegrityError
from huracan_core.hamilton.guardrails import (
    BLOCK_CODES,
    GuardrailSettings,
    GuardrailState,
    entry_block,
    is_entry,
    roll_day,
    utc_day,
)
from huracan_core.timeframe import DAY_MS

BAR = 900_000  # 15m in ms
SETTINGS = GuardrailSettings(
    daily_loss_cap_pct=1.0, max_open_positions=3, max_notional_per_coin=2_000.0, max_model_age_days=7.0,
    stale_data_bars=2, timeframe="15m",
)
MIDNIGHT = int(datetime(2026, 12, 5, tzinfo=UTC).timestamp() * 1000)
NOW = MIDNIGHT + 10 * 3_600_000 + 30 * 60_000 + 5_000  # 10:30:05 UTC, just after the 10:15 bar closed


def ms(hour: int, minute: int = 0, *, day: int = 5) -> int:
    return int(datetime(2026, 12, day, hour, minute, tzinfo=UTC).timestamp() * 1000)


def check(state: GuardrailState | None = None, **changes: Any) -> str | None:
    """The block code for an entry that passes every rule unless `changes` breaks one."""
    args: dict[str, Any] = {
        "symbol": "BTCUSDT",
        "now_ms": NOW,
        "last_bar_ms": NOW - 5_000 - BAR,  # the 10:15 bar, closed at 10:30
        "model_trained_as_of_ms": NOW - DAY_MS,
        "open_positions": 0,
        "already_open": False,
        "notional_after": 1_000.0,
        "paused": False,
    }
    args.update(changes)
    settings = args.pop("settings", SETTINGS)
    block = entry_block(settings, state or GuardrailState(day="2026-12-05", day_start_equity=10_000.0), **args)
    return None if block is None else block.code


def test_settings_come_from_the_hamilton_section_and_the_timeframe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no config.yaml here: embedded defaults plus these keys
    config = load_config(None, env={}, overrides={
        "general.timeframe": "1h", "hamilton.daily_loss_cap_pct": 2.5, "hamilton.max_open_positions": 4,
        "hamilton.max_notional_per_coin": 500, "hamilton.max_model_age_days": 3, "hamilton.stale_data_bars": 5,
    })
    assert GuardrailSettings.from_config(config) == GuardrailSettings(
        daily_loss_cap_pct=2.5, max_open_positions=4, max_notional_per_coin=500.0, max_model_age_days=3.0,
        stale_data_bars=5, timeframe="1h",
    )


def test_an_entry_that_breaks_no_rule_is_allowed() -> None:
    assert check() is None


# --- each rule, at its boundary ------------------------------------------------------------------
def test_a_pause_blocks_every_entry() -> None:
    assert check(paused=True) == "PAUSED"


def test_a_hit_loss_cap_blocks_entries_and_says_how_much_was_lost() -> None:
    state = GuardrailState(day="2026-12-05", day_start_equity=10_000.0, loss_cap_hit=True,
                           loss_cap_hit_at_ms=ms(9), loss_cap_hit_equity=9_890.0)
    block = entry_block(SETTINGS, state, symbol="BTCUSDT", now_ms=NOW, last_bar_ms=ms(10, 15),
                        model_trained_as_of_ms=NOW, open_positions=0, already_open=False, notional_after=10.0,
                        paused=False)
    assert block is not None and block.code == "DAILY_LOSS_CAP"
    assert "1.10% below the day's start 10,000.00" in block.reason and "00:00 UTC" in block.reason


def test_data_exactly_stale_data_bars_old_is_allowed_and_one_millisecond_more_is_stale() -> None:
    assert check(last_bar_ms=NOW - 2 * BAR) is None
    assert check(last_bar_ms=NOW - 2 * BAR - 1) == "STALE_DATA"


def test_one_missed_bar_is_stale_with_the_default_of_two_bars() -> None:
    # At 10:30:05 the newest closed bar should be 10:15; holding only 10:00 means its open is 2 bars + 5 s old.
    assert check(last_bar_ms=ms(10, 15)) is None
    assert check(last_bar_ms=ms(10, 0)) == "STALE_DATA"


def test_a_symbol_without_any_closed_bar_has_stale_data() -> None:
    assert check(last_bar_ms=None) == "STALE_DATA"


def test_stale_data_counts_bars_of_the_configured_timeframe() -> None:
    hourly = replace(SETTINGS, timeframe="1h")
    assert check(settings=hourly, last_bar_ms=NOW - 2 * 3_600_000) is None
    assert check(settings=hourly, last_bar_ms=NOW - 2 * 3_600_000 - 1) == "STALE_DATA"


def test_a_model_exactly_max_model_age_days_old_is_allowed_and_older_is_stale() -> None:
    assert check(model_trained_as_of_ms=NOW - 7 * DAY_MS) is None
    assert check(model_trained_as_of_ms=NOW - 7 * DAY_MS - 1) == "STALE_MODEL"


def test_a_model_without_a_training_time_is_stale() -> None:
    assert check(model_trained_as_of_ms=None) == "STALE_MODEL"


def test_a_new_coin_may_open_below_the_position_limit_and_not_at_it() -> None:
    assert check(open_positions=2) is None
    assert check(open_positions=3) == "MAX_POSITIONS"


def test_increasing_a_coin_already_held_does_not_count_it_against_the_position_limit() -> None:
    assert check(open_positions=3, already_open=True) is None
    assert check(open_positions=4, already_open=True) == "MAX_POSITIONS"  # the limit was lowered meanwhile


def test_a_position_limit_of_zero_blocks_every_entry() -> None:
    assert check(settings=replace(SETTINGS, max_open_positions=0)) == "MAX_POSITIONS"


def test_a_position_exactly_at_the_notional_cap_is_allowed_and_above_it_is_not() -> None:
    assert check(notional_after=2_000.0) is None
    assert check(notional_after=2_000.01) == "MAX_NOTIONAL"
    assert check(notional_after=-2_000.01) == "MAX_NOTIONAL"  # a short's size counts too


def test_open_positions_below_one_for_a_held_coin_is_a_caller_bug() -> None:
    with pytest.raises(ValueError, match="cannot be below 1"):
        check(open_positions=0, already_open=True)


def test_when_every_rule_fails_the_documented_precedence_picks_the_reason() -> None:
    hit = GuardrailState(day="2026-12-05", day_start_equity=10_000.0, loss_cap_hit=True)
    failing: dict[str, Any] = {
        "paused": True, "last_bar_ms": ms(8), "model_trained_as_of_ms": NOW - 30 * DAY_MS,
        "open_positions": 3, "notional_after": 5_000.0,
    }
    seen = [check(hit, **failing)]
    seen.append(check(hit, **{**failing, "paused": False}))
    failing["paused"] = False
    seen.append(check(**failing))
    seen.append(check(**{**failing, "last_bar_ms": ms(10, 15)}))
    failing["last_bar_ms"] = ms(10, 15)
    seen.append(check(**{**failing, "model_trained_as_of_ms": NOW}))
    failing["model_trained_as_of_ms"] = NOW
    seen.append(check(**{**failing, "open_positions": 0}))
    assert tuple(seen) == BLOCK_CODES


# --- exits and reductions are never entries -------------------------------------------------------
@pytest.mark.parametrize(
    ("current", "target", "entry"),
    [
        (0.0, 1.0, True),  # open
        (1.0, 2.0, True),  # increase
        (1.0, 1.0, False),  # hold
        (2.0, 1.0, False),  # reduce
        (1.0, 0.0, False),  # close
        (0.0, 0.0, False),
        (1.0, -1.0, True),  # flip: the close always happens, the short is an entry
        (-2.0, -1.0, False),  # reduce a short
        (-1.0, -2.0, True),  # increase a short
    ],
)
def test_only_opening_increasing_or_flipping_is_an_entry(current: float, target: float, entry: bool) -> None:
    assert is_entry(current, target) is entry


# --- the daily loss cap and the UTC day -----------------------------------------------------------
def test_the_first_roll_starts_the_day_from_the_current_equity() -> None:
    state = roll_day(GuardrailState(), now_ms=ms(9), equity=10_000.0, settings=SETTINGS)
    assert (state.day, state.day_start_equity, state.loss_cap_hit) == ("2026-12-05", 10_000.0, False)


def test_a_loss_just_under_the_cap_does_not_hit_it_and_exactly_the_cap_does() -> None:
    state = roll_day(GuardrailState(), now_ms=ms(9), equity=10_000.0, settings=SETTINGS)
    state = roll_day(state, now_ms=ms(10), equity=9_900.01, settings=SETTINGS)
    assert not state.loss_cap_hit
    state = roll_day(state, now_ms=ms(11), equity=9_900.0, settings=SETTINGS)
    assert state.loss_cap_hit and state.loss_cap_hit_at_ms == ms(11) and state.loss_cap_hit_equity == 9_900.0


def test_the_cap_stays_hit_when_equity_recovers_and_through_a_json_round_trip() -> None:
    state = roll_day(GuardrailState(), now_ms=ms(0), equity=10_000.0, settings=SETTINGS)
    state = roll_day(state, now_ms=ms(9), equity=9_800.0, settings=SETTINGS)
    state = roll_day(state, now_ms=ms(10), equity=10_500.0, settings=SETTINGS)
    assert state.loss_cap_hit
    restarted = GuardrailState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert restarted == state
    later = roll_day(restarted, now_ms=ms(23, 45), equity=10_600.0, settings=SETTINGS)
    assert later.loss_cap_hit and later.loss_cap_hit_at_ms == ms(9)
    assert check(later) == "DAILY_LOSS_CAP"


def test_the_cap_clears_at_midnight_utc_and_the_new_day_starts_from_that_equity() -> None:
    state = roll_day(GuardrailState(), now_ms=ms(9), equity=10_000.0, settings=SETTINGS)
    state = roll_day(state, now_ms=ms(10), equity=9_000.0, settings=SETTINGS)
    last_ms_of_day = ms(0, day=6) - 1
    assert roll_day(state, now_ms=last_ms_of_day, equity=9_500.0, settings=SETTINGS).loss_cap_hit
    next_day = roll_day(state, now_ms=ms(0, day=6), equity=9_050.0, settings=SETTINGS)
    assert (next_day.day, next_day.day_start_equity, next_day.loss_cap_hit) == ("2026-12-06", 9_050.0, False)
    assert next_day.loss_cap_hit_at_ms is None


def test_a_clock_stepping_back_to_the_previous_day_never_clears_a_cap() -> None:
    state = roll_day(GuardrailState(), now_ms=ms(1, day=6), equity=10_000.0, settings=SETTINGS)
    state = roll_day(state, now_ms=ms(2, day=6), equity=9_000.0, settings=SETTINGS)
    assert roll_day(state, now_ms=ms(23, 59), equity=10_000.0, settings=SETTINGS) == state


def test_a_day_starting_without_equity_hits_the_cap_at_once() -> None:
    assert roll_day(GuardrailState(), now_ms=ms(9), equity=0.0, settings=SETTINGS).loss_cap_hit


def test_equity_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        roll_day(GuardrailState(), now_ms=ms(9), equity=float("nan"), settings=SETTINGS)


def test_utc_day_uses_utc_not_the_local_clock() -> None:
    assert utc_day(ms(0, day=6) - 1) == "2026-12-05"
    assert utc_day(ms(0, day=6)) == "2026-12-06"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"day": "2026-12-05", "day_start_equity": 1.0}, "missing field.*loss_cap_hit"),
        ({"day": "2026-12-05", "day_start_equity": 1.0, "loss_cap_hit": False, "cap": 1}, "unknown field.*cap"),
        ({"day": "05/12/2026", "day_start_equity": 1.0, "loss_cap_hit": False}, "'day' must be YYYY-MM-DD"),
        ({"day": "2026-12-05", "day_start_equity": 1.0, "loss_cap_hit": "yes"}, "'loss_cap_hit' must be true"),
        ({"day": "2026-12-05", "day_start_equity": "1", "loss_cap_hit": False}, "'day_start_equity' must be a number"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_a_persisted_state_that_cannot_be_trusted_is_a_data_integrity_error(data: Any, message: str) -> None:
    with pytest.raises(DataIntegrityError, match=message):
        GuardrailState.from_dict(data)


def test_a_persisted_day_must_be_an_exact_iso_date_because_days_are_compared_as_text() -> None:
    for bad in ("2026-12-5", "20261205", "2026-13-01"):
        with pytest.raises(DataIntegrityError, match="'day' must be YYYY-MM-DD"):
            GuardrailState.from_dict({"day": bad, "day_start_equity": 1.0, "loss_cap_hit": False})
