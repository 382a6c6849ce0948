"""The base interface also fits learned engines: JSON state with a weights reference, weights elsewhere."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl
import pytest

from huracan_core.alphas import InMemoryWeightStore, LearnedEngine, fit_engine_fenced, run_engine_fenced
from huracan_core.alphas.base import signal_frame


class LinearOnRet1(LearnedEngine):
    """A toy learned engine: least-squares slope of the next open-to-open move on ret_1."""

    name = "toy_linear"
    description = "Least-squares slope of the forward move on the last return."
    regimes = frozenset({"TREND", "RANGE"})
    inputs = ("ret_1",)
    horizon_bars = 1
    lookback_bars = 1

    def fit(self, frame: pl.DataFrame) -> dict[str, Any]:
        x = frame["ret_1"].to_numpy()
        y = (frame["open"].shift(-2) / frame["open"].shift(-1) - 1).to_numpy() * 1e4
        ok = np.isfinite(x) & np.isfinite(y)
        slope = np.array([np.polyfit(x[ok], y[ok], 1)[0]])
        state = self.base_state(frame)
        state["weights_ref"] = self.weight_store.put(f"{self.name}/w", {"slope": slope})
        return state

    def signal(self, frame: pl.DataFrame, state: Mapping[str, Any]) -> pl.DataFrame:
        slope = float(self.load_weights(state)["slope"][0])
        edge = np.nan_to_num(frame["ret_1"].to_numpy() * slope)
        direction = np.sign(edge).astype(np.int8)
        return signal_frame(direction, edge, np.where(direction != 0, 0.5, 0.0), self.horizon_bars)


def test_learned_engine_keeps_weights_out_of_its_json_state(market: pl.DataFrame) -> None:
    store = InMemoryWeightStore()
    engine = LinearOnRet1(weight_store=store)
    state = fit_engine_fenced(engine, market[:1000])
    assert state["learned"] is True
    assert state["weights_ref"] == "memory://toy_linear/w"
    assert "slope" not in json.dumps(state)
    out = run_engine_fenced(engine, market, state)
    assert out.height == market.height and (out["direction"] != 0).any()


def test_learned_engine_without_a_weights_reference_is_refused(market: pl.DataFrame) -> None:
    engine = LinearOnRet1(weight_store=InMemoryWeightStore())
    state = engine.base_state(market)
    with pytest.raises(Exception, match="weights_ref"):
        engine.signal(market, state)


def test_engine_class_with_an_unknown_regime_is_rejected_at_definition() -> None:
    with pytest.raises(TypeError, match="unknown regimes"):

        class Bad(LearnedEngine):  # defining the class is the test
            name = "bad"
            description = "x"
            regimes = frozenset({"SIDEWAYS"})
            inputs = ("close",)
            horizon_bars = 1
            lookback_bars = 1
