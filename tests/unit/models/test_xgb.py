"""Per-coin XGBoost: JSON round trip, determinism, learning a planted signal."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from huracan_core.models.xgb import (
    XGBConfig,
    booster_from_json,
    booster_from_tensor,
    booster_to_json,
    booster_to_tensor,
    train_xgb,
    xgb_inputs,
    xgb_predict,
)

CFG = XGBConfig(n_rounds=60, early_stopping_rounds=10)


def _data(seed: int, n: int = 1200, strength: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4)).astype(np.float32)
    y = strength * 40.0 * X[:, 0] + rng.standard_normal(n) * 40.0
    return X, y


@pytest.fixture(scope="module")
def model():
    X, y = _data(0)
    return train_xgb(X[:900], y[:900], X[900:], y[900:], CFG, seed=1, nthread=1)


def test_json_round_trip_gives_identical_predictions(model):
    X, _ = _data(5, n=300)
    raw = booster_to_json(model.booster)
    assert raw.lstrip().startswith(b"{")  # XGBoost JSON, not a binary blob
    np.testing.assert_array_equal(xgb_predict(booster_from_json(raw), X), model.predict(X))


def test_uint8_tensor_round_trip_gives_identical_predictions(model):
    X, _ = _data(6, n=300)
    tensor = booster_to_tensor(model.booster)
    assert tensor.dtype == torch.uint8 and tensor.ndim == 1
    np.testing.assert_array_equal(xgb_predict(booster_from_tensor(tensor), X), model.predict(X))


def test_same_seed_gives_the_same_model_and_another_seed_a_different_one():
    X, y = _data(0)
    again = [train_xgb(X[:900], y[:900], X[900:], y[900:], CFG, seed=s, nthread=1) for s in (1, 1, 2)]
    probe = _data(9, n=200)[0]
    assert np.array_equal(again[0].predict(probe), again[1].predict(probe))
    assert not np.array_equal(again[0].predict(probe), again[2].predict(probe))


def test_planted_feature_is_learned_and_noise_is_not(model):
    X, y = _data(7, n=800)
    assert np.corrcoef(model.predict(X), y)[0, 1] > 0.4
    Xn, yn = _data(8, strength=0.0)
    noise = train_xgb(Xn[:900], yn[:900], Xn[900:], yn[900:], CFG, seed=1)
    Xt, yt = _data(9, n=800, strength=0.0)
    pred = noise.predict(Xt)
    assert pred.std() == 0 or abs(np.corrcoef(pred, yt)[0, 1]) < 0.12


def test_meta_is_json_ready_and_records_the_target_clip(model):
    meta = model.meta()
    assert meta["n_features"] == 4 and meta["target_clip"][0] < 0 < meta["target_clip"][1]
    assert meta["valid_rmse_bps"] > 0


def test_inputs_join_features_and_embeddings_row_by_row():
    out = xgb_inputs(np.ones((3, 2)), np.zeros((3, 4)))
    assert out.shape == (3, 6) and out.dtype == np.float32
    with pytest.raises(ValueError, match="embedding rows"):
        xgb_inputs(np.ones((3, 2)), np.zeros((2, 4)))
