"""One decision rule for backtest and live: net edge floor, spread cap, size from confidence."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from huracan_core.config import load_config  # noqa: E402
from huracan_core.decision import (  # noqa: E402
    BELOW_EDGE_THRESHOLD,
    INVALID_INPUT,
    NO_SIGNAL,
    SPREAD_TOO_WIDE,
    TRADE,
    Decision,
    DecisionSettings,
    decide,
    hold_until_horizon,
    nan_to_num,
)
from huracan_core.evaluation.backtest import backtest  # noqa: E402
from huracan_core.exceptions import DataIntegrityError  # noqa: E402
from tests.stubs.signals import candles_from_opens  # noqa: E402

S = DecisionSettings(edge_threshold_bps=10.0, spread_threshold_bps=20.0)


def test_trades_only_when_the_edge_beats_round_trip_costs_plus_the_floor() -> None:
    d = decide([35.0, 30.0, -35.0, 29.0], 1.0, 10.0, 2.0, S)  # net = |edge| - 20
    assert d.expected_net_edge_bps.tolist() == [15.0, 10.0, 15.0, 9.0]
    assert d.side.tolist() == [1, 0, -1, 0]  # 10 is not above the 10 bps floor
    assert d.reason.tolist() == [TRADE, BELOW_EDGE_THRESHOLD, TRADE, BELOW_EDGE_THRESHOLD]


def test_a_spread_wider_than_the_threshold_blocks_the_trade() -> None:
    d = decide(100.0, 1.0, 5.0, [10.0, 10.5], S)  # full spread 20 (ok) and 21 (too wide)
    assert d.side.tolist() == [1, 0]
    assert d.reason.tolist() == [TRADE, SPREAD_TOO_WIDE]


def test_no_signal_and_invalid_inputs_never_trade() -> None:
    d = decide(
        [0.0, float("nan"), 100.0, 100.0],
        [1.0, 1.0, 1.0, float("nan")],
        [5.0, 5.0, float("nan"), 5.0],
        1.0,
        S,
    )
    assert d.side.tolist() == [0, 0, 0, 0]
    assert d.reason.tolist() == [NO_SIGNAL, NO_SIGNAL, INVALID_INPUT, INVALID_INPUT]
    assert d.row(2)["expected_net_edge_bps"] is None


def test_size_grows_with_confidence_within_the_position_limit() -> None:
    s = DecisionSettings(edge_threshold_bps=0.0, spread_threshold_bps=50.0, max_position=0.5, min_size=0.2)
    d = decide(np.full(3, 50.0), [0.0, 0.5, 1.0], 1.0, 1.0, s)
    assert d.size.tolist() == pytest.approx([0.1, 0.3, 0.5])


edges = arrays(np.float64, 25, elements=st.floats(-200, 200))
unit = arrays(np.float64, 25, elements=st.floats(0, 1))
bps = arrays(np.float64, 25, elements=st.floats(0, 30))


@settings(max_examples=40, deadline=None)
@given(edges, unit, bps, bps)
def test_one_row_gives_the_same_decision_as_that_row_of_the_vectorised_call(
    edge: np.ndarray, conf: np.ndarray, cost: np.ndarray, spread: np.ndarray
) -> None:
    batch = decide(pl.Series(edge), pl.Series(conf), cost, spread, S)
    for i in range(edge.size):
        one = decide(float(edge[i]), float(conf[i]), float(cost[i]), float(spread[i]), S)
        assert len(one) == 1
        assert one.row(0) == batch.row(i)
    traded = batch.side != 0
    assert ((batch.size[traded] > 0) & (batch.size[traded] <= S.max_position)).all()
    assert (batch.size[~traded] == 0).all()
    assert (batch.side[traded] == np.sign(edge[traded])).all()


def test_settings_come_from_the_hamilton_config_section() -> None:
    cfg = load_config(
        overrides={"hamilton.edge_threshold_bps": 7.5, "hamilton.spread_threshold_bps": 12.0}, env={}
    )
    s = DecisionSettings.from_config(cfg)
    assert (s.edge_threshold_bps, s.spread_threshold_bps, s.max_position) == (7.5, 12.0, 1.0)
    assert DecisionSettings.from_config(cfg.hamilton) == s


def test_a_decision_is_held_for_its_horizon_and_replaced_by_a_newer_one() -> None:
    d = decide(
        [30.0, 0, 0, 0, 0, 0, -30.0, 0, 30.0, 0, 0, 0],
        1.0,
        0.0,
        0.0,
        DecisionSettings(edge_threshold_bps=5.0),
    )
    target = hold_until_horizon(d, 3)
    assert target.tolist() == [1, 1, 1, 0, 0, 0, -1, -1, 1, 1, 1, 0]


def test_held_decisions_enter_at_the_next_open_in_the_backtest() -> None:
    opens = np.array([100.0, 100.0, 100.0, 110.0, 110.0, 110.0, 110.0])
    d = decide([0, 0, 40.0, 0, 0, 0, 0], 1.0, 5.0, 1.0, S)  # decided at bar 2's close, after its jump
    r = backtest(candles_from_opens(opens), hold_until_horizon(d, 2), 5.0)
    assert r.bars["position"].to_list() == [0, 0, 0, 1, 1, 0, 0]
    assert r.bars["gross"].sum() == 0.0  # the jump inside bar 2 is not earned


def test_mismatched_input_lengths_are_a_named_error() -> None:
    with pytest.raises(DataIntegrityError, match="mismatched shapes"):
        decide([1.0, 2.0], [0.5, 0.5, 0.5], 1.0, 1.0, S)


# --- the one-row fast path -------------------------------------------------------------------------------
# Values where the rule's branches meet: NaN, infinities, signed zeros, overflow of 2 * cost, the smallest
# subnormal, and exact ties with the thresholds below (|edge| - 2 cost == 10, 2 * spread == 20).
_SPECIAL = [
    float("nan"), float("inf"), -float("inf"), 0.0, -0.0, 1e308, -1e308, 5e-324, -5e-324, 1.0, -1.0,
    30.0, -30.0, 10.0, 5.0, 20.0, 0.5,
]  # fmt: skip
_FAST_SETTINGS = [
    S,
    DecisionSettings(edge_threshold_bps=0.0, spread_threshold_bps=50.0, max_position=0.5, min_size=0.2),
    DecisionSettings(edge_threshold_bps=20.0, spread_threshold_bps=1e-9, max_position=0.3, min_size=1.0),
    # volatility targeting: the cap binds at vol above 40 / 30 (and never at tiny vols)
    DecisionSettings(target_volatility_pct=40.0),
    DecisionSettings(edge_threshold_bps=0.0, max_position=0.5, min_size=0.2, target_volatility_pct=30.0),
]


def _bits(d: Decision) -> tuple:
    """Everything a Decision holds, NaN-safe and with the sign of zero (bytes of each float array)."""
    return (
        d.side.dtype, d.side.tobytes(), d.size.dtype, d.size.tobytes(),
        d.expected_net_edge_bps.dtype, d.expected_net_edge_bps.tobytes(), d.reason.dtype, d.reason.tolist(),
    )  # fmt: skip


def _value(rng: np.random.Generator) -> float:
    draw = rng.random()
    if draw < 0.35:
        return float(rng.choice(_SPECIAL))
    if draw < 0.45:
        return float(rng.integers(-40, 41))  # whole numbers: ties with the thresholds
    return float(rng.normal(0.0, 40.0))


def test_the_one_row_fast_path_returns_exactly_what_the_array_path_returns() -> None:
    rng = np.random.default_rng(11)
    paths = 0
    capped = 0
    for _ in range(20_000):
        edge, conf, cost, spread, vol = (_value(rng) for _ in range(5))
        if rng.random() < 0.5:  # mostly valid inputs, so TRADE and the thresholds are well covered
            conf, cost, spread = abs(conf) % 1.5, abs(cost) % 12.0, abs(spread) % 12.0
            vol = abs(vol) * 3.0  # annualised percent: mostly 0-200, the cap binding on about half
        settings = _FAST_SETTINGS[int(rng.integers(len(_FAST_SETTINGS)))]
        with np.errstate(over="ignore"):  # 2 * 1e308: the array path warns, both give inf
            array = decide(
                np.array([edge]), np.array([conf]), np.array([cost]), np.array([spread]), settings,
                volatility_pct=np.array([vol]),
            )  # fmt: skip
        for scalars in (
            (edge, conf, cost, spread),
            (np.float64(edge), np.float64(conf), np.float64(cost), np.float64(spread)),
        ):
            one = decide(*scalars, settings, volatility_pct=vol)
            assert _bits(one) == _bits(array), (edge, conf, cost, spread, vol, settings)
        paths += int(array.side[0] != 0)
        confidence_size = settings.max_position * (settings.min_size + (1 - settings.min_size) * min(max(conf, 0), 1))
        capped += int(array.side[0] != 0 and array.size[0] < confidence_size)
    assert paths > 2_000  # trades happened, not only refusals
    assert capped > 500  # and the volatility cap set the size of many of them


def test_whole_numbers_and_numpy_integers_take_the_fast_path_with_the_same_answer() -> None:
    for edge, conf, cost, spread in [
        (35, 1, 10, 2),
        (0, 1, 5, 1),
        (-50, 0, 1, 1),
        (40, 1, -1, 1),
        (30, 1, 5, 10),
    ]:
        array = decide(np.array([edge]), [conf], [cost], [spread], S)
        assert _bits(decide(edge, conf, cost, spread, S)) == _bits(array)
        assert _bits(decide(np.int64(edge), np.int32(conf), cost, spread, S)) == _bits(array)
        assert _bits(decide(np.float32(edge), conf, np.float16(cost), spread, S)) == _bits(array)


def test_nan_to_num_helper_equals_numpys_for_every_kind_of_input() -> None:
    rng = np.random.default_rng(3)
    special = np.array(_SPECIAL)
    for _ in range(500):
        shape = (int(rng.integers(0, 4)), int(rng.integers(1, 30)))
        x = rng.normal(0, 100, shape)
        if rng.random() < 0.6:
            mask = rng.random(shape) < 0.2
            x[mask] = rng.choice(special, int(mask.sum()))
        if rng.random() < 0.3:
            x = np.asfortranarray(x)
        for nan in (0.0, -np.inf):
            got, want = nan_to_num(x, nan=nan), np.nan_to_num(x, nan=nan)
            assert got.dtype == want.dtype and got.shape == want.shape
            assert got.tobytes() == want.tobytes()
            assert (got is x) == bool(np.isfinite(x).all())  # a finite input is returned, not copied
    for odd in (np.array([1, 2, 3]), np.array([True, False]), [1.0, float("nan")], np.float32([np.inf, 1.0])):
        assert np.asarray(nan_to_num(odd)).tobytes() == np.nan_to_num(np.asarray(odd)).tobytes()
