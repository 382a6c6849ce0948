"""The learned engines ("xgboost", "neural") honour the same signal contract as the rule engines."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from huracan_core.alphas.base import SIGNAL_SCHEMA, InMemoryWeightStore
from huracan_core.alphas.learned import NeuralEngine, XGBoostEngine
from huracan_core.alphas.registry import fit_engine_fenced, run_engine_fenced
from huracan_core.config import CostsConfig
from huracan_core.costs import bar_costs
from huracan_core.features import build_features
from huracan_core.models.encoder import EncoderConfig, SharedEncoder
from tests.stubs.model_data import random_walk_candles

SMALL_NEURAL = {"epochs": 2.0, "hidden": 8.0, "embed_dim": 4.0, "head_hidden": 4.0, "min_valid_rows": 30.0}
SMALL_XGB = {"n_rounds": 40.0, "min_valid_rows": 30.0}


@pytest.fixture(scope="module")
def frame():
    candles = random_walk_candles(1300, seed=2)
    costs = bar_costs(candles, "SOLUSDT", CostsConfig())
    return build_features(candles, symbol="SOLUSDT").with_columns(costs["cost_bps"])


@pytest.fixture(scope="module", params=["xgboost", "neural"])
def fitted(request, frame):
    engine = XGBoostEngine(**SMALL_XGB) if request.param == "xgboost" else NeuralEngine(**SMALL_NEURAL)
    return engine, fit_engine_fenced(engine, frame)


def test_fit_returns_strict_json_metadata_and_keeps_weights_out_of_the_state(fitted):
    engine, state = fitted
    assert state["trained"] is True and state["engine"] == engine.name and engine.learned
    text = json.dumps(state, allow_nan=False)
    assert len(text) < 4000  # metadata only; weights live in the store
    assert state["weights_ref"].startswith("memory://")
    assert state["valid_mae_bps"] > 0 and state["n_valid"] >= 30


def test_signal_has_the_contract_columns_dtypes_and_rows(fitted, frame):
    engine, state = fitted
    out = run_engine_fenced(engine, frame, state)  # raises EngineError on any contract breach
    assert out.schema == SIGNAL_SCHEMA and out.height == frame.height
    direction, edge, conf = (out[c].to_numpy() for c in ("direction", "edge_bps", "confidence"))
    on = direction != 0
    assert on.any()
    assert (np.sign(edge[on]) == direction[on]).all()
    assert (np.abs(edge[on]) > engine.params["noise_floor_bps"]).all()
    assert (edge[~on] == 0).all() and (conf[~on] == 0).all()
    assert ((conf >= 0) & (conf < 1)).all()
    assert (direction[frame["warmup"].to_numpy()] == 0).all()  # no opinion without features


def test_last_row_is_the_same_from_only_the_newest_bars(fitted, frame):
    engine, state = fitted
    full = engine.signal(frame, state).row(-1)
    tail = engine.signal(frame.tail(engine.lookback_bars + 5), state).row(-1)
    assert full[0] == tail[0] and full[3] == tail[3]
    assert tail[1] == pytest.approx(full[1], abs=1e-4) and tail[2] == pytest.approx(full[2], abs=1e-6)


def test_bundle_tensors_are_named_after_the_engine(fitted):
    engine, state = fitted
    tensors = engine.bundle_tensors(state)
    assert tensors and all(name.startswith(f"{engine.name}.") for name in tensors)
    assert all(isinstance(t, torch.Tensor) for t in tensors.values())
    assert f"{engine.name}.normaliser.mean" in tensors
    assert tensors.keys() == engine.last_tensors.keys()


def test_missing_core_input_means_abstention(frame):
    engine = XGBoostEngine(**SMALL_XGB)
    state = engine.fit(frame.drop("rsi_14"))
    assert state["trained"] is False and "rsi_14" in state["reason"]
    out = run_engine_fenced(engine, frame, state)
    assert (out["direction"] == 0).all() and (out["confidence"] == 0).all()


def test_signal_abstains_when_a_trained_column_disappears(fitted, frame):
    engine, state = fitted
    out = engine.signal(frame.drop("adx_14"), state)
    assert (out["direction"] == 0).all()


def test_engines_build_without_arguments_for_the_registry():
    for cls in (XGBoostEngine, NeuralEngine):
        engine = cls()
        assert isinstance(engine.weight_store, InMemoryWeightStore) and engine.learned


def test_xgboost_uses_embeddings_of_a_given_encoder_and_stores_it(frame):
    columns = XGBoostEngine()._columns(frame)
    torch.manual_seed(0)
    encoder = SharedEncoder(
        EncoderConfig(n_features=len(columns), window=8, hidden=8, embed_dim=4, dilations=(1, 2))
    )
    engine = XGBoostEngine(encoder=encoder, **SMALL_XGB)
    state = fit_engine_fenced(engine, frame)
    assert state["uses_embeddings"] is True and state["xgboost"]["n_features"] == len(columns) + 4
    assert any(name.startswith("xgboost.encoder.") for name in engine.bundle_tensors(state))
    # signal needs nothing but the state and the store: a fresh engine sharing the store reproduces it
    fresh = XGBoostEngine(weight_store=engine.weight_store, **SMALL_XGB)
    assert run_engine_fenced(fresh, frame, state).equals(engine.signal(frame, state))


def test_edge_is_the_predicted_net_edge_plus_the_round_trip_decide_charges(fitted, frame):
    engine, state = fitted
    out = engine.signal(frame, state)
    on = out["direction"].to_numpy() != 0
    round_trip = 2.0 * frame["cost_bps"].to_numpy()
    net = out["edge_bps"].to_numpy() - out["direction"].to_numpy() * round_trip
    # what decide() will keep after costs is the model's own net prediction: same side, beyond the floor
    assert (np.sign(net[on]) == out["direction"].to_numpy()[on]).all()
    assert (np.abs(net[on]) > engine.params["noise_floor_bps"]).all()
    assert (np.abs(out["edge_bps"].to_numpy()[on]) > round_trip[on]).all()


def test_no_cost_column_means_no_training_and_no_opinion(fitted, frame):
    engine, state = fitted
    assert "cost_bps" in engine.fit(frame.drop("cost_bps"))["reason"]
    assert (engine.signal(frame.drop("cost_bps"), state)["direction"] == 0).all()
