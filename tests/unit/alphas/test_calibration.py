"""Calibration: forward moves enter at the next bar's open, edges keep their sign, thin sides abstain."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from huracan_core.alphas import RULE_ENGINES, apply_calibration, calibrate_sides, forward_move_bps
from huracan_core.alphas.calibration import net_edge_bps
from tests.stubs.alpha_frames import add_features, candles_from_closes


def test_forward_move_enters_at_next_open_and_exits_horizon_bars_later() -> None:
    frame = pl.DataFrame({"open": [100.0, 101.0, 102.0, 104.04, 90.0]})
    moves = forward_move_bps(frame, 2).to_list()
    assert moves[0] == pytest.approx((104.04 / 101.0 - 1) * 1e4)
    assert moves[1] == pytest.approx((90.0 / 102.0 - 1) * 1e4)
    assert moves[2:] == [None, None, None]  # the window would run past the frame: no label


def test_forward_move_needs_an_open_column() -> None:
    with pytest.raises(ValueError, match="'open'"):
        forward_move_bps(pl.DataFrame({"close": [1.0, 2.0]}), 1)


def test_net_edge_label_pays_the_costs_known_before_each_fill_and_keeps_the_side() -> None:
    frame = pl.DataFrame(
        {
            "open": [100.0, 100.0, 101.0, 99.0, 98.0, 100.0],
            # A fill at bar t's open pays the estimate of bar t-1 (known at its close); the fill bars' own
            # estimates (1000) read candles that close after the fill and are never charged.
            "cost_bps": [10.0, 1000.0, 15.0, 1000.0, 5.0, 1000.0],
        }
    )
    label = net_edge_bps(frame, 2).to_list()
    assert label[0] == pytest.approx(-(100.0 - 10.0 - 15.0))  # -100 bps from bar 1 to 3: a short's net edge
    assert label[1] == 0.0  # -297 bps move, but 1000 + 1000 bps of fills: neither side pays its costs
    assert label[2] == pytest.approx((100.0 / 99.0 - 1) * 1e4 - 15.0 - 5.0)  # long, fills at bars 3 and 5
    assert label[3:] == [None, None, None]


def test_net_edge_label_needs_the_cost_column() -> None:
    with pytest.raises(ValueError, match="cost_bps"):
        net_edge_bps(pl.DataFrame({"open": [1.0, 2.0, 3.0]}), 1)


def test_side_statistics_are_mean_price_moves_with_hit_rates_and_counts() -> None:
    raw = np.array([1, 1, 1, -1, -1, 0, 1], dtype=np.int8)
    fwd = np.array([10.0, -4.0, 6.0, -8.0, 2.0, 100.0, np.nan])
    stats = calibrate_sides(raw, fwd, min_count=2)
    assert stats["n_long"] == 3 and stats["n_short"] == 2  # the NaN (end of window) is not counted
    assert stats["edge_long_bps"] == pytest.approx(4.0)
    assert stats["edge_short_bps"] == pytest.approx(-3.0)  # price move: negative = the short was right
    assert stats["hit_long"] == pytest.approx(2 / 3) and stats["hit_short"] == pytest.approx(0.5)


def test_side_with_fewer_signals_than_min_count_has_zero_edge_and_abstains() -> None:
    raw = np.array([1] * 5 + [-1] * 40, dtype=np.int8)
    fwd = np.concatenate([np.full(5, 50.0), np.full(40, -20.0)])
    stats = calibrate_sides(raw, fwd, min_count=30)
    assert not stats["long_active"] and stats["edge_long_bps"] == 0.0
    assert stats["short_active"] and stats["edge_short_bps"] == pytest.approx(-20.0)
    out = apply_calibration(np.array([1, -1, 0], dtype=np.int8), np.array([0.9, 0.5, 0.0]), stats, 4)
    assert out["direction"].to_list() == [0, -1, 0]
    assert out["edge_bps"].to_list() == [0.0, -20.0, 0.0]
    assert out["confidence"].to_list() == [0.0, 0.5, 0.0]


def test_a_long_rule_that_was_wrong_abstains_and_never_votes_against_its_evidence() -> None:
    stats = calibrate_sides(np.ones(50, dtype=np.int8), np.full(50, -7.5), min_count=30)
    assert stats["edge_long_bps"] == -7.5 and stats["net_long_bps"] == -7.5  # calibrated, kept signed
    assert not stats["long_active"]
    out = apply_calibration(np.array([1], dtype=np.int8), np.array([1.0]), stats, 8)
    assert out["direction"].to_list() == [0]
    assert out["edge_bps"].to_list() == [0.0]


def test_a_side_whose_move_does_not_pay_its_round_trip_abstains() -> None:
    raw = np.array([1] * 40 + [-1] * 40, dtype=np.int8)
    fwd = np.concatenate([np.full(40, 7.5), np.full(40, -30.0)])
    stats = calibrate_sides(raw, fwd, min_count=30, round_trip=np.full(80, 10.0))
    assert stats["net_long_bps"] == pytest.approx(-2.5) and not stats["long_active"]
    assert stats["net_short_bps"] == pytest.approx(20.0) and stats["short_active"]
    assert stats["round_trip_short_bps"] == pytest.approx(10.0) and stats["costs_known"]


def test_fading_a_steady_uptrend_calibrates_a_positive_price_move_on_the_short_side_which_abstains() -> None:
    """mean_reversion_zscore shorts stretched highs; in a relentless uptrend prices kept rising after
    them, so its short side carries a POSITIVE edge (expected price rise) - the rule is shown wrong, and
    that side sends no signal at all."""
    rng = np.random.default_rng(5)
    closes = 100 * np.exp(np.cumsum(0.004 + rng.normal(0, 0.003, 2000)))
    frame = add_features(candles_from_closes(closes))
    engine = RULE_ENGINES["mean_reversion_zscore"]()
    state = engine.fit(frame)
    assert state["n_short"] >= state["min_count"] and state["edge_short_bps"] > 0
    assert not state["short_active"]
    out = engine.signal(frame, state)
    assert (out["direction"] != -1).all()


def test_trend_calibrated_on_a_clean_uptrend_has_a_positive_long_edge() -> None:
    rng = np.random.default_rng(2)
    closes = 100 * np.exp(np.cumsum(0.003 + rng.normal(0, 0.001, 600)))
    frame = add_features(candles_from_closes(closes))
    state = RULE_ENGINES["trend"]().fit(frame)
    assert state["long_active"] and state["edge_long_bps"] > 0
    assert not state["short_active"] and state["n_short"] == 0
    assert math.isclose(state["hit_long"], 1.0)
