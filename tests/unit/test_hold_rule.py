"""The hold rule has two forms, vectorised for the backtest and bar by bar for Hamilton; they must agree."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from huracan_core.decision import Decision, HoldState, hold_until_horizon
from huracan_core.exceptions import ConfigError, DataIntegrityError


def random_decisions(rng: np.random.Generator, n: int, trade_share: float) -> Decision:
    """Sides -1/0/+1 (a TRADE on about `trade_share` of the bars) with random sizes, as `decide` returns."""
    traded = rng.random(n) < trade_share
    side = np.where(traded, rng.choice([-1, 1], size=n), 0).astype(np.int8)
    size = np.where(traded, rng.uniform(0.05, 1.0, size=n), 0.0)
    reason = np.where(traded, "TRADE", "NO_SIGNAL").astype(object)
    return Decision(side=side, size=size, expected_net_edge_bps=np.zeros(n), reason=reason)


def restored(state: HoldState) -> HoldState:
    """The state after a save and a restart: through JSON text, as Hamilton would persist it."""
    return HoldState.from_dict(json.loads(json.dumps(state.to_dict())))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("horizon", [1, 2, 3, 8, 50])
def test_stepping_bar_by_bar_gives_exactly_the_vectorised_targets(seed: int, horizon: int) -> None:
    rng = np.random.default_rng(seed * 1000 + horizon)
    for trade_share in (0.02, 0.2, 0.8):  # long flat stretches, mixed, nearly always trading
        decisions = random_decisions(rng, 2_000, trade_share)
        expected = hold_until_horizon(decisions, horizon)
        restarts = set(rng.choice(len(decisions), size=40, replace=False).tolist())
        state = HoldState(horizon)
        stepped = []
        for i in range(len(decisions)):
            if i in restarts:
                state = restored(state)
            stepped.append(state.step(int(decisions.side[i]), float(decisions.size[i])))
        assert np.array_equal(np.array(stepped), expected)
        assert restored(state).target == state.target == expected[-1]


def test_a_restored_state_goes_on_where_the_saved_one_stopped() -> None:
    state = HoldState(3)
    assert [state.step(1, 0.5), state.step(0, 0.0)] == [0.5, 0.5]
    again = restored(state)
    assert again.to_dict() == {"horizon": 3, "last_trade_target": 0.5, "bars_since_trade": 1}
    assert [again.step(0, 0.0), again.step(0, 0.0), again.step(-1, 0.25)] == [0.5, 0.0, -0.25]


@pytest.mark.parametrize("horizon", [0, -2, 2.5, None, "3", True])
def test_invalid_horizons_are_refused_by_both_forms_with_the_same_error(horizon: Any) -> None:
    decisions = random_decisions(np.random.default_rng(0), 10, 0.5)
    with pytest.raises(ConfigError, match=r"horizon=.* must be an integer >= 1 bar"):
        hold_until_horizon(decisions, horizon)
    with pytest.raises(ConfigError, match=r"horizon=.* must be an integer >= 1 bar"):
        HoldState(horizon)


@pytest.mark.parametrize(
    "data",
    [
        {"horizon": 3, "last_trade_target": 0.5},
        {"horizon": 0, "last_trade_target": 0.5, "bars_since_trade": 1},
        {"horizon": 3, "last_trade_target": float("nan"), "bars_since_trade": 1},
        {"horizon": 3, "last_trade_target": 0.5, "bars_since_trade": 4},
        {"horizon": 3, "last_trade_target": 0.5, "bars_since_trade": "1"},
        {"horizon": 3, "last_trade_target": "half", "bars_since_trade": 1},
    ],
)
def test_a_malformed_saved_state_is_refused_rather_than_guessed(data: dict[str, Any]) -> None:
    with pytest.raises(DataIntegrityError, match="hold state"):
        HoldState.from_dict(data)
