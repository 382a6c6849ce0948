"""Horizons scaled to the timeframe and chosen per coin on training rows only, counted in the trials."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from huracan_core.alphas.base import EngineStateError
from huracan_core.alphas.registry import rule_engines
from huracan_core.alphas.trend_following import TrendEngine
from huracan_core.config import load_config
from huracan_core.decision import DecisionSettings
from huracan_core.engine.train import walk_forward_settings
from huracan_core.evaluation.horizon_choice import t_stat, traded_net_bps
from huracan_core.evaluation.research import (
    ResearchFrame,
    WalkForwardSettings,
    build_research_frame,
    choose_horizon,
    count_trials,
    evaluate_walk_forward,
    walk_forward_plan,
)
from huracan_core.evaluation.walk_forward_lookahead import noise_future
from huracan_core.exceptions import ConfigError
from huracan_core.meta import GateTable
from huracan_core.timeframe import horizon_candidates
from tests.stubs.horizon_markets import drift_market, swing_market

DEFAULTS = ["1h", "4h", "12h", "1d", "3d"]  # the README's suggested list (the setting is off by default)
CANDIDATES = (4, 16, 48, 96, 288)  # the suggested list at 15m


# --- candidates ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("timeframe", "bars"),
    [("5m", (12, 48, 144, 288, 864)), ("15m", (4, 16, 48, 96, 288)), ("1h", (1, 4, 12, 24, 72))],
)
def test_the_suggested_horizons_are_one_hour_to_three_days_in_bars_of_the_timeframe(
    timeframe: str, bars: tuple[int, ...]
) -> None:
    assert horizon_candidates(timeframe, DEFAULTS) == bars
    config = load_config(overrides={"general.timeframe": timeframe, "engine.horizons": DEFAULTS}, env={})
    assert walk_forward_settings(config).horizons == bars


def test_the_choice_is_off_by_default_every_engine_keeps_its_own_horizon() -> None:
    """Off until its score survives the planted market out of sample (README, "Horizons chosen per coin")."""
    config = load_config(None, env={})
    assert config.engine.horizons == [] and walk_forward_settings(config).horizons == ()


def test_shorter_than_a_bar_is_dropped_a_fraction_of_a_bar_is_rounded_and_duplicates_collapse() -> None:
    assert horizon_candidates("1h", ["30m", "90m", "150m", "60m", "1h"]) == (1, 2, 3)
    assert horizon_candidates("1d", DEFAULTS) == (1, 3)
    assert horizon_candidates("15m", []) == ()


def test_bad_durations_and_horizons_all_below_a_bar_are_refused_naming_them() -> None:
    with pytest.raises(ConfigError, match=r"engine\.horizons.*'4x'.*'0h'"):
        load_config(overrides={"engine.horizons": ["1h", "4x", "0h"]}, env={})
    with pytest.raises(ConfigError, match=r"engine\.horizons \['1h', '4h'\] are all shorter than one 1d bar"):
        load_config(overrides={"engine.horizons": ["1h", "4h"], "general.timeframe": "1d"}, env={})
    assert walk_forward_settings(load_config(overrides={"engine.horizons": []}, env={})).horizons == ()


# --- engines at an instance horizon ------------------------------------------------------------------
def test_an_engine_at_another_horizon_labels_at_it_and_refuses_a_state_of_another_horizon() -> None:
    rf = build_research_frame(drift_market(2000, 0), "SOLUSDT", "15m")
    frame = rf.frame.slice(rf.first_valid)
    base, long = TrendEngine(), TrendEngine(horizon_bars=96)
    assert (base.horizon_bars, long.horizon_bars, base.with_horizon(48).horizon_bars) == (16, 96, 48)
    assert TrendEngine.horizon_bars == 16  # the class default is untouched
    state = long.fit(frame)
    assert state["horizon_bars"] == 96
    assert long.signal(frame, state)["horizon_bars"].unique().to_list() == [96]
    assert long.fit(frame) != base.fit(frame)  # calibrated on 96-bar moves, not 16-bar ones
    with pytest.raises(EngineStateError, match="horizon_bars=96"):
        base.signal(frame, state)
    with pytest.raises(ValueError, match="horizon_bars must be a whole number >= 1"):
        TrendEngine(horizon_bars=0)


# --- the choice ------------------------------------------------------------------------------------------
def test_trades_are_one_at_a_time_each_held_the_horizon() -> None:
    direction = np.array([1, 1, 1, 0, -1, -1, 0, 0])
    forward = np.array([10.0, 20.0, 30.0, 0.0, -40.0, -50.0, np.nan, 0.0])
    cost = np.full(8, 2.0)
    # h=3: trade at 0 (+10-2), next free at 3 -> trade at 4 (+40-2); row 5 is inside that hold.
    assert traded_net_bps(direction, forward, cost, 3).tolist() == [8.0, 38.0]
    assert traded_net_bps(direction, forward, cost, 1).tolist() == [8.0, 18.0, 28.0, 38.0, 48.0]
    assert t_stat(np.array([8.0, 38.0])) == pytest.approx(23.0 / (np.std([8.0, 38.0], ddof=1) / np.sqrt(2)))
    assert t_stat(np.array([5.0])) == 0.0


def _rf(candles: pl.DataFrame) -> ResearchFrame:
    return build_research_frame(candles, "SOLUSDT", "15m")


def test_a_swing_that_pays_within_hours_picks_the_shortest_horizon_and_drifts_of_days_a_long_one() -> None:
    for seed in (0, 1):
        swing = choose_horizon(_rf(swing_market(4000, seed)), CANDIDATES, WalkForwardSettings())
        assert swing.bars == 4, swing.to_dict()
        drift = choose_horizon(_rf(drift_market(4000, seed)), CANDIDATES, WalkForwardSettings())
        assert drift.bars >= 48, drift.to_dict()  # 12 hours or more
        assert drift.scores[4] <= 0 < drift.scores[drift.bars]  # an hour of drift does not pay its costs


def test_the_choice_reads_only_the_first_folds_training_rows() -> None:
    candles = drift_market(4000, 2)
    rf = _rf(candles)
    settings = WalkForwardSettings(horizons=CANDIDATES)
    choice = choose_horizon(rf, CANDIDATES, settings)
    assert choice.dropped == (288,)  # 42 days are too short to walk forward with 3-day holds
    first = walk_forward_plan(rf, [], replace(settings, horizons=choice.candidates))[0]
    train_end = rf.first_valid + first.train[-1].stop  # candle row after the last training row
    cut = int(candles["timestamp"][train_end - 1])
    noised = choose_horizon(_rf(noise_future(candles, cut, np.random.default_rng(0))), CANDIDATES, settings)
    assert (noised.bars, dict(noised.scores)) == (choice.bars, dict(choice.scores))
    # Noise from a day before the training end on changes labelled training rows, and so the scores.
    earlier = int(candles["timestamp"][train_end - 96])
    moved = choose_horizon(
        _rf(noise_future(candles, earlier, np.random.default_rng(0))), CANDIDATES, settings
    )
    assert dict(moved.scores) != dict(choice.scores)


# --- N of the deflated Sharpe ---------------------------------------------------------------------------
def test_picking_among_k_horizons_multiplies_the_trials_by_k() -> None:
    gate = GateTable(allowed={}, stats={"trend": {"TREND": {"n": 40}, "RANGE": {"n": 3}}}, min_signals=30)
    states = {"trend": {"long_active": True}, "range": {"long_active": False}}
    one = count_trials(gate, states)
    five = count_trials(gate, states, 5)
    assert (one["total"], one["horizon_candidates"]) == (5, 1)
    assert (five["total"], five["horizon_candidates"]) == (25, 5)


def test_an_evaluation_trades_every_engine_at_the_chosen_horizon_and_counts_each_candidate() -> None:
    rf = _rf(drift_market(4000, 0))
    settings = WalkForwardSettings(n_folds=3, horizons=CANDIDATES)
    ev = evaluate_walk_forward(rf, rule_engines(), decision=DecisionSettings(), settings=settings)
    chosen = ev.horizon
    assert chosen is not None and chosen.bars >= 48
    assert ev.hold_bars == chosen.bars == ev.metrics["horizon"]["bars"]
    assert {e.horizon_bars for e in ev.engines} == {chosen.bars}
    assert {s["horizon_bars"] for s in ev.states.values()} == {chosen.bars}
    assert [c["bars"] for c in ev.metrics["horizon"]["candidates"]] == list(chosen.candidates)
    trials = ev.metrics["trial_breakdown"]
    k = len(chosen.candidates)
    assert trials["horizon_candidates"] == k == 4
    assert (
        trials["total"] == k * (trials["gate_cells"] + trials["calibrated_choices"]) == ev.metrics["trials"]
    )
