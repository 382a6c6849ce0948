"""Shapes of the shared encoder, and batched heads equal to per-coin computation."""

from __future__ import annotations

import pytest
import torch

from huracan_core.models.encoder import SIZES, CoinHeads, EncoderConfig, SharedEncoder


def test_encoder_maps_windows_to_embeddings():
    cfg = EncoderConfig(n_features=5, window=12, hidden=8, embed_dim=6, dilations=(1, 2))
    out = SharedEncoder(cfg)(torch.randn(7, 12, 5))
    assert out.shape == (7, 6)


def test_encoder_refuses_the_wrong_number_of_features():
    with pytest.raises(ValueError, match="expects 5 features, got 4"):
        SharedEncoder(EncoderConfig(n_features=5))(torch.randn(2, 32, 4))


def test_batched_heads_equal_each_coins_head_applied_alone():
    torch.manual_seed(0)
    heads = CoinHeads(n_coins=4, embed_dim=6, head_hidden=5)
    with torch.no_grad():
        heads.target_scale.copy_(torch.tensor([10.0, 20.0, 30.0, 40.0]))
    emb = torch.randn(32, 6)
    coin = torch.randint(0, 4, (32,))
    batched = heads(emb, coin)
    assert batched.shape == (32,)
    for i in range(32):
        c = int(coin[i])
        h = torch.nn.functional.gelu(emb[i] @ heads.w1[c] + heads.b1[c])
        alone = ((h * heads.w2[c]).sum() + heads.b2[c]) * heads.target_scale[c]
        torch.testing.assert_close(batched[i], alone)


def test_head_subset_keeps_the_chosen_coins_predictions():
    torch.manual_seed(1)
    heads = CoinHeads(3, 4, 4)
    emb = torch.randn(5, 4)
    one = heads.subset([2])
    torch.testing.assert_close(one(emb, torch.zeros(5, dtype=torch.long)), heads(emb, torch.full((5,), 2)))


def test_config_round_trips_through_json_dict_and_rejects_unknown_keys():
    cfg = SIZES["large"]
    assert EncoderConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown key"):
        EncoderConfig.from_dict({"hidden": 4, "layers": 3})


def test_default_receptive_field_covers_the_window():
    cfg = EncoderConfig()
    assert cfg.receptive_field >= cfg.window - 1
