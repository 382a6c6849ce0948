"""The fence: an engine that raises or returns malformed output becomes an EngineError naming it,
and the other engines carry on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl
import pytest

from huracan_core.alphas import (
    RULE_ENGINES,
    AlphaEngine,
    check_signals,
    fit_engine_fenced,
    fit_states,
    rule_engines,
    run_engine_fenced,
    run_engines,
)
from huracan_core.alphas.base import signal_frame
from huracan_core.exceptions import EngineError


class Broken(AlphaEngine):
    """Fixture engine: raises or returns whatever `mode` asks for."""

    name = "broken"
    description = "Misbehaves on purpose."
    regimes = frozenset({"RANGE"})
    inputs = ("close",)
    horizon_bars = 3
    lookback_bars = 1

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def fit(self, frame: pl.DataFrame) -> dict[str, Any]:
        if self.mode == "fit_raises":
            raise RuntimeError("boom in fit")
        state = self.base_state(frame)
        if self.mode == "nan_state":
            state["edge"] = float("nan")
        return state

    def signal(self, frame: pl.DataFrame, state: Mapping[str, Any]) -> pl.DataFrame:
        n = frame.height
        zeros = np.zeros(n)
        good = signal_frame(np.zeros(n, dtype=np.int8), zeros, zeros, self.horizon_bars)
        if self.mode == "raises":
            raise ZeroDivisionError("division by zero inside the rule")
        if self.mode == "short":
            return good[:-1]
        if self.mode == "wrong_dtype":
            return good.with_columns(pl.col("direction").cast(pl.Int64))
        if self.mode == "extra_column":
            return good.with_columns(pl.lit(1.0).alias("score"))
        if self.mode == "nan_confidence":
            return good.with_columns(pl.Series("confidence", np.full(n, np.nan)))
        if self.mode == "confidence_above_one":
            return good.with_columns(pl.lit(1.5).alias("confidence"))
        if self.mode == "direction_two":
            return good.with_columns(pl.lit(2, dtype=pl.Int8).alias("direction"))
        if self.mode == "infinite_edge":
            return good.with_columns(pl.lit(float("inf")).alias("edge_bps"))
        if self.mode == "null_edge":
            return good.with_columns(pl.lit(None, dtype=pl.Float64).alias("edge_bps"))
        if self.mode == "pandas":
            return good.to_dict()
        if self.mode == "reordered":
            return good.select(reversed(good.columns))
        return good


@pytest.fixture
def frame() -> pl.DataFrame:
    return pl.DataFrame({"timestamp": [1, 2, 3], "open": [1.0, 2.0, 3.0], "close": [1.0, 2.0, 3.0]})


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("raises", "ZeroDivisionError: division by zero inside the rule"),
        ("short", "2 rows for 3 input rows"),
        ("wrong_dtype", "'direction' has dtype Int64"),
        ("extra_column", "unexpected \\['score'\\]"),
        ("nan_confidence", "confidence contains NaN"),
        ("confidence_above_one", "confidence outside \\[0, 1\\]"),
        ("direction_two", "direction outside"),
        ("infinite_edge", "edge_bps contains NaN or infinity"),
        ("null_edge", "'edge_bps' has 3 null"),
        ("pandas", "returned dict"),
    ],
)
def test_misbehaving_engine_becomes_an_engine_error_naming_it(
    mode: str, message: str, frame: pl.DataFrame
) -> None:
    with pytest.raises(EngineError, match=message) as info:
        run_engine_fenced(Broken(mode), frame, {})
    assert info.value.engine == "broken"
    assert "engine 'broken'" in str(info.value)


def test_well_formed_output_passes_and_comes_back_in_contract_order(frame: pl.DataFrame) -> None:
    out = run_engine_fenced(Broken("reordered"), frame, {})
    assert out.columns == ["direction", "edge_bps", "confidence", "horizon_bars"]


def test_fit_errors_and_non_json_states_are_fenced(frame: pl.DataFrame) -> None:
    with pytest.raises(EngineError, match="fit raised RuntimeError: boom in fit"):
        fit_engine_fenced(Broken("fit_raises"), frame)
    with pytest.raises(EngineError, match="not strict JSON"):
        fit_engine_fenced(Broken("nan_state"), frame)


def test_one_failing_engine_is_set_aside_and_the_others_carry_on(market: pl.DataFrame) -> None:
    engines = [*rule_engines(), Broken("raises")]
    train = market[:1500]
    states, fit_errors = fit_states(engines, train)
    assert fit_errors == {}
    del states["leader"]  # a missing state is an error for that engine only
    run = run_engines(engines, market, states)
    assert set(run.errors) == {"broken", "leader"}
    assert "no fitted state" in str(run.errors["leader"])
    assert len(run.signals) == 20
    for name, out in run.signals.items():
        check_signals(name, out, market.height)


def test_all_engines_are_fresh_instances_matching_the_registry() -> None:
    first, second = rule_engines(), rule_engines()
    assert [e.name for e in first] == list(RULE_ENGINES)
    assert all(a is not b for a, b in zip(first, second, strict=True))
    assert all(isinstance(e, RULE_ENGINES[e.name]) for e in first)


def test_the_registry_holds_23_engines_the_21_rules_and_the_two_learned_ones() -> None:
    from huracan_core.alphas import ENGINES

    assert len(ENGINES) == 23
    assert list(ENGINES)[-2:] == ["xgboost", "neural"]
    assert all(ENGINES[name].learned for name in ("xgboost", "neural"))
    assert not any(cls.learned for cls in RULE_ENGINES.values())
