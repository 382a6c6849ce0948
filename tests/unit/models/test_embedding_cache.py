"""Embeddings are computed once per distinct input and never served for another input or other weights."""

from __future__ import annotations

import numpy as np
import polars as pl
import torch

from huracan_core.models.embedding_cache import frame_embeddings
from huracan_core.models.encoder import EncoderConfig, SharedEncoder
from huracan_core.models.train import embed
from huracan_core.models.windows import Normaliser, make_windows
from tests.stubs.model_data import planted_frame

COLUMNS = ["f0", "f1", "f2"]


def _encoder() -> SharedEncoder:
    torch.manual_seed(0)
    return SharedEncoder(
        EncoderConfig(n_features=3, window=8, hidden=8, embed_dim=4, dilations=(1, 2))
    ).eval()


def test_same_windows_and_values_as_make_windows_then_embed():
    frame, _ = planted_frame(120, seed=1, warmup=5)
    frame = frame.with_columns(
        pl.when(pl.int_range(120) == 50).then(None).otherwise(pl.col("f1")).alias("f1")
    )
    norm = Normaliser.fit(frame, COLUMNS)
    encoder = _encoder()
    rows, emb = frame_embeddings(encoder, frame, norm, 8)
    windows = make_windows(frame, norm, 8)
    np.testing.assert_array_equal(rows, windows.rows)
    np.testing.assert_array_equal(emb, embed(encoder, windows.X))


def test_a_repeat_is_served_from_the_cache_and_other_values_are_not():
    frame, _ = planted_frame(120, seed=2)
    norm = Normaliser.fit(frame, COLUMNS)
    encoder = _encoder()
    first = frame_embeddings(encoder, frame, norm, 8)
    assert frame_embeddings(encoder, frame.clone(), norm, 8)[1] is first[1]  # equal input: the same array
    twin = SharedEncoder(encoder.config)
    twin.load_state_dict(encoder.state_dict())  # another engine's copy of the same weights
    assert frame_embeddings(twin.eval(), frame, norm, 8)[1] is first[1]
    # same timestamps, later bars replaced (what the lookahead analysis does): new embeddings after the cut
    noisy = frame.with_columns(
        pl.when(pl.int_range(120) >= 100).then(pl.col("f0") + 1.0).otherwise(pl.col("f0"))
    )
    rows, emb = frame_embeddings(encoder, noisy, norm, 8)
    changed = ~np.isclose(emb, first[1]).all(axis=1)
    assert changed[rows >= 100].all() and not changed[rows < 100].any()
    # another normaliser is another input
    other = Normaliser.fit(frame.head(60), COLUMNS)
    assert frame_embeddings(encoder, frame, other, 8)[1] is not first[1]


def test_weights_changed_in_place_are_never_served_stale_embeddings():
    frame, _ = planted_frame(120, seed=3)
    norm = Normaliser.fit(frame, COLUMNS)
    encoder = _encoder()
    before = frame_embeddings(encoder, frame, norm, 8)[1]
    with torch.no_grad():
        next(encoder.parameters()).add_(0.5)
    after = frame_embeddings(encoder, frame, norm, 8)[1]
    assert after is not before and not np.allclose(after, before)
    np.testing.assert_array_equal(after, embed(encoder, make_windows(frame, norm, 8).X))
