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
    DecisionSettings,
    decide,
    hold_until_horizon,
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
