"""Every registered engine honours the contract: output shape, abstention, training-window-only
calibration, causality and last-rows-only equality."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from huracan_core.alphas import ALL_REGIMES, RULE_ENGINES, SIGNAL_SCHEMA, check_signals, fit_engine_fenced
from huracan_core.alphas.base import AlphaEngine
from tests.stubs.alpha_causality import causality_violations, last_row_mismatches, noise_after
from tests.stubs.alpha_frames import permissive

NAMES = list(RULE_ENGINES)

# Columns an engine may read, exactly as RESEARCH_CONTRACTS.md names them (candles, default feature recipe,
# frame extras). An engine reading a name outside this list would silently abstain forever.
CONTRACT_COLUMNS = frozenset(
    [
        "timestamp",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "ret_1",
        "ret_4",
        "ret_16",
        "ret_96",
        "rv_16",
        "rv_96",
        "atr_14",
        "parkinson_16",
        "ema_slope_12",
        "ema_slope_48",
        "adx_14",
        "rsi_14",
        "macd",
        "macd_signal",
        "macd_hist",
        "bb_pos_20",
        "bb_width_20",
        "range_pos_48",
        "vol_z_48",
        "vol_ratio_48",
        "vwap_dist_48",
        "tod_sin",
        "tod_cos",
        "dow_sin",
        "dow_cos",
        "beta_btc_96",
        "corr_btc_96",
        "rs_btc_96",
        "beta_eth_96",
        "corr_eth_96",
        "rs_eth_96",
        "regime",
        "btc_close",
        "eth_close",
        "funding_rate",
        "xs_rank_ret_16",
    ]
)


def _cuts(signals: pl.DataFrame, lookback: int, count: int = 6) -> list[int]:
    """Rows to test at: where the engine fires (the interesting case) plus a couple of quiet rows."""
    fired = np.flatnonzero(signals["direction"].to_numpy() != 0)
    fired = fired[fired >= lookback]
    picks = (
        list(fired[np.linspace(0, fired.size - 1, min(count, fired.size)).astype(int)]) if fired.size else []
    )
    return sorted({int(i) for i in picks} | {lookback + 150, signals.height - 2})


@pytest.fixture(scope="module")
def permissive_fits(market: pl.DataFrame) -> dict[str, tuple[AlphaEngine, dict]]:
    """Each engine with min_count 1, fitted on the whole market: every raw signal reaches the output."""
    out = {}
    for name, cls in RULE_ENGINES.items():
        engine = permissive(cls)
        out[name] = (engine, engine.fit(market))
    return out


def test_registry_holds_the_21_rule_engines_in_a_stable_order() -> None:
    assert len(NAMES) == 21
    assert NAMES[:3] == ["trend", "range", "breakout"]
    assert NAMES[-1] == "mean_reversion_zscore"


@pytest.mark.parametrize("name", NAMES)
def test_engine_declares_regimes_inputs_horizon_and_lookback(name: str) -> None:
    cls = RULE_ENGINES[name]
    assert cls.regimes and set(cls.regimes) <= ALL_REGIMES
    assert cls.inputs and all(isinstance(c, str) for c in cls.inputs)
    assert cls.horizon_bars >= 1 and cls.lookback_bars >= 1
    assert cls.description and not cls.learned


@pytest.mark.parametrize("name", NAMES)
def test_engine_reads_only_columns_named_in_the_contract(name: str) -> None:
    cls = RULE_ENGINES[name]
    assert set(cls.inputs) | set(cls.optional_inputs) <= CONTRACT_COLUMNS


@pytest.mark.parametrize("name", NAMES)
def test_signal_has_the_contract_columns_dtypes_and_row_count(name: str, market: pl.DataFrame) -> None:
    engine = RULE_ENGINES[name]()
    state = fit_engine_fenced(engine, market[:1500])
    out = engine.signal(market, state)
    assert out.schema == pl.Schema(SIGNAL_SCHEMA)
    assert out.height == market.height
    check_signals(name, out, market.height)  # raises on any breach
    assert (out["horizon_bars"] == engine.horizon_bars).all()
    json.dumps(state, allow_nan=False)


@pytest.mark.parametrize("name", NAMES)
def test_engine_fires_on_the_synthetic_market(
    name: str, permissive_fits: dict[str, tuple[AlphaEngine, dict]], market: pl.DataFrame
) -> None:
    """Guards the causality tests below against passing vacuously on an engine that never signals."""
    engine, state = permissive_fits[name]
    out = engine.signal(market, state)
    assert (out["direction"] != 0).sum() >= 3
    live = out.filter(pl.col("direction") != 0)
    assert (live["confidence"] > 0).all()
    assert (live["edge_bps"] != 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_state_survives_a_json_round_trip_unchanged_in_effect(
    name: str, permissive_fits: dict[str, tuple[AlphaEngine, dict]], market: pl.DataFrame
) -> None:
    engine, state = permissive_fits[name]
    reloaded = json.loads(json.dumps(state, allow_nan=False))
    assert engine.signal(market, reloaded).equals(engine.signal(market, state))


@pytest.mark.parametrize("name", NAMES)
def test_engine_abstains_when_an_input_is_missing_or_all_null(name: str, market: pl.DataFrame) -> None:
    engine = RULE_ENGINES[name]()
    state = permissive(RULE_ENGINES[name]).fit(market)
    state["params"] = engine.params  # same state layout, default parameters
    column = engine.inputs[-1]
    for frame in (market.drop(column), market.with_columns(pl.lit(None, dtype=pl.Float64).alias(column))):
        out = engine.signal(frame, state)
        assert out.height == market.height
        assert (out["direction"] == 0).all()
        assert (out["edge_bps"] == 0).all() and (out["confidence"] == 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_fit_on_missing_inputs_records_them_and_signals_nothing(name: str, market: pl.DataFrame) -> None:
    engine = RULE_ENGINES[name]()
    frame = market.drop(engine.inputs[0])
    state = fit_engine_fenced(engine, frame)
    assert engine.inputs[0] in state["missing_inputs"]
    assert (engine.signal(market, state)["direction"] == 0).all()


@pytest.mark.parametrize("name", NAMES)
def test_calibration_uses_only_the_training_window(name: str, market: pl.DataFrame) -> None:
    engine = RULE_ENGINES[name]()
    half = market.height // 2
    state = engine.fit(market[:half])
    changed = noise_after(market, half - 1, seed=3)
    assert engine.fit(changed[:half]) == state
    assert state["window"]["rows"] == half
    assert state["window"]["last_timestamp"] == market["timestamp"][half - 1]


@pytest.mark.parametrize("name", NAMES)
def test_signals_are_causal_under_truncation_and_noise_after_the_cut(
    name: str, permissive_fits: dict[str, tuple[AlphaEngine, dict]], market: pl.DataFrame
) -> None:
    engine, state = permissive_fits[name]
    cuts = _cuts(engine.signal(market, state), engine.lookback_bars)
    assert causality_violations(engine, market, state, cuts) == []


@pytest.mark.parametrize("name", NAMES)
def test_last_row_is_the_same_when_fed_only_the_newest_lookback_rows(
    name: str, permissive_fits: dict[str, tuple[AlphaEngine, dict]], market: pl.DataFrame
) -> None:
    engine, state = permissive_fits[name]
    ends = _cuts(engine.signal(market, state), engine.lookback_bars, count=12)
    assert last_row_mismatches(engine, market, state, ends) == []


@pytest.mark.parametrize("name", NAMES)
def test_a_state_from_another_engine_or_other_parameters_is_refused(name: str, market: pl.DataFrame) -> None:
    from huracan_core.alphas import EngineStateError

    engine = RULE_ENGINES[name]()
    state = engine.fit(market[:500])
    other = "trend" if name != "trend" else "range"
    with pytest.raises(EngineStateError, match="made by engine"):
        engine.signal(market, {**state, "engine": other})
    with pytest.raises(EngineStateError, match="params"):
        engine.signal(market, {**state, "params": {**state["params"], "extra": 1}})


def test_unknown_parameter_is_refused_with_the_known_ones_listed() -> None:
    with pytest.raises(ValueError, match=r"unknown parameter.*window_size.*known"):
        RULE_ENGINES["breakout"](window_size=10)
