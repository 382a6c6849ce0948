"""train_encoder / train_heads / embed / predict: determinism, warm start, learning a planted signal."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from huracan_core.models.train import embed, predict, train_encoder, train_heads
from tests.stubs.model_data import small_train_config

CFG = small_train_config()


def _test_predictions(trained, test_sets) -> tuple[np.ndarray, np.ndarray]:
    preds, ys = [], []
    for symbol, (X, y) in test_sets.items():
        preds.append(predict(trained.encoder, trained.heads, X, trained.coin_index(symbol)))
        ys.append(y)
    return np.concatenate(preds), np.concatenate(ys)


def test_same_seed_gives_bit_identical_weights_and_predictions_on_cpu(planted_sets):
    train, valid, test = planted_sets
    a = train_encoder(train, valid, CFG, "cpu", seed=3)
    b = train_encoder(train, valid, CFG, "cpu", seed=3)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert np.array_equal(_test_predictions(a, test)[0], _test_predictions(b, test)[0])


def test_different_seed_gives_different_weights(planted_sets):
    train, valid, _ = planted_sets
    a = train_encoder(train, valid, CFG, "cpu", seed=3).state_dict()
    b = train_encoder(train, valid, CFG, "cpu", seed=4).state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a if k.startswith("encoder."))


def test_planted_leading_feature_is_learned_out_of_sample(planted_sets):
    train, valid, test = planted_sets
    trained = train_encoder(train, valid, CFG, "cpu", seed=0)
    pred, y = _test_predictions(trained, test)
    assert np.corrcoef(pred, y)[0, 1] > 0.4  # true correlation of f0 with the move is ~0.7
    assert trained.windows_per_second > 0
    assert trained.history and trained.best_epoch >= 1


def test_pure_noise_gives_no_out_of_sample_correlation(noise_sets):
    train, valid, test = noise_sets
    trained = train_encoder(train, valid, CFG, "cpu", seed=0)
    pred, y = _test_predictions(trained, test)
    corr = np.corrcoef(pred, y)[0, 1] if pred.std() > 0 else 0.0
    assert abs(corr) < 0.12  # ~600 test windows: noise correlations have std ~0.04


def test_warm_start_from_the_last_encoder_starts_at_a_lower_loss(planted_sets):
    train, valid, _ = planted_sets
    first = train_encoder(train, valid, CFG, "cpu", seed=0)
    scratch = train_encoder(train, valid, CFG, "cpu", seed=1)
    warm = train_encoder(
        train, valid, CFG, "cpu", seed=1, init_state=first.state_dict(), init_symbols=first.symbols
    )
    assert warm.initial_loss < scratch.initial_loss
    assert any(k.startswith("heads.") for k in warm.warm_started)
    assert len(warm.warm_started) == len(first.state_dict())


def test_warm_start_skips_heads_of_another_coin_set_but_keeps_the_encoder(planted_sets):
    train, valid, _ = planted_sets
    first = train_encoder(train, valid, CFG, "cpu", seed=0)
    other = train_encoder(
        train, valid, CFG, "cpu", seed=1, init_state=first.state_dict(), init_symbols=("XUSDT",)
    )
    assert other.warm_started and all(k.startswith("encoder.") for k in other.warm_started)


def test_heads_fit_on_a_frozen_encoder_without_touching_it(planted_sets):
    train, valid, test = planted_sets
    trained = train_encoder(train, valid, CFG, "cpu", seed=0)
    before = {k: v.clone() for k, v in trained.encoder.state_dict().items()}
    fresh = train_heads(trained.encoder, train, valid, CFG, "cpu", seed=5)
    assert all(torch.equal(before[k], v) for k, v in trained.encoder.state_dict().items())
    assert fresh.history[fresh.best_epoch - 1]["valid_loss"] < fresh.initial_loss
    symbol = fresh.symbols[0]
    X, y = test[symbol]
    pred = predict(trained.encoder, fresh.heads, X, 0)
    assert np.corrcoef(pred, y)[0, 1] > 0.4


def test_embed_and_predict_shapes(planted_sets):
    train, valid, test = planted_sets
    trained = train_encoder(train, valid, small_train_config(epochs=1), "cpu", seed=0)
    X = test["AAAUSDT"][0]
    assert embed(trained.encoder, X).shape == (X.shape[0], CFG.encoder.embed_dim)
    assert predict(trained.encoder, trained.heads, X, 1).shape == (X.shape[0],)
    with pytest.raises(IndexError):
        predict(trained.encoder, trained.heads, X, 2)


def test_windows_that_do_not_fit_the_config_are_refused(planted_sets):
    train, valid, _ = planted_sets
    with pytest.raises(ValueError, match="encoder config"):
        train_encoder(train, valid, small_train_config(window=16), "cpu", seed=0)


def test_thread_setting_applies_only_while_training(planted_sets):
    train, valid, _ = planted_sets
    before = torch.get_num_threads()
    train_encoder(train, valid, small_train_config(epochs=1), "cpu", seed=0)  # asks for 1 thread
    assert torch.get_num_threads() == before
