"""Embeddings of a coin's windows by a frozen encoder, computed once per distinct input and reused.

In a walk-forward fold the two learned engines embed the same windows with the same shared encoder and the
same train-only normaliser several times: XGBoost for its inputs when it fits and when it signals, the
neural head when `fit` scores its validation rows and when it signals. Embedding is most of the nightly
engine's time, so each distinct input is embedded once. The key is a digest of the encoder's weights
(each engine rebuilds its own copy of the shared encoder from its stored tensors, so object identity would
never match) and of the normalised values and window ends, never timestamps alone: the lookahead analysis
feeds frames with the same timestamps and other values, and must get their own embeddings.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np
import polars as pl
import torch

from huracan_core.models.encoder import SharedEncoder
from huracan_core.models.train import embed
from huracan_core.models.windows import (
    Normaliser,
    feature_matrix,
    usable_rows,
    window_end_mask,
    windows_ending_at,
)
from huracan_core.segments import segment_ids

# Kept newest-first up to this many bytes of embeddings: 180 days of 15m bars are about 1 MB per frame, so a
# batch of 16 coins x 4 folds x (training + signal frames) fits many times over.
MAX_BYTES = 256 * 2**20

_cache: OrderedDict[tuple[int, bytes, bytes], tuple[np.ndarray, np.ndarray]] = OrderedDict()


def _weights_digest(encoder: SharedEncoder) -> bytes:
    digest = hashlib.blake2b(digest_size=20)
    for name, tensor in encoder.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.digest()


def frame_embeddings(
    encoder: SharedEncoder,
    frame: pl.DataFrame,
    normaliser: Normaliser,
    window: int,
    device: torch.device | str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(rows [m] int64, emb [m, D] float32): the embedding of every usable window of `frame`, by its last row.

    The same windows as `make_windows(frame, normaliser, window)` (a window needs every bar in it out of
    warm-up with finite features), embedded by `embed`.
    """
    raw = feature_matrix(frame, normaliser.columns)
    usable = usable_rows(frame, normaliser.columns, raw)
    ends = np.flatnonzero(window_end_mask(usable, window, segment_ids(frame))).astype(np.int64)
    z = normaliser.apply(raw)  # [n, F] float32
    digest = hashlib.blake2b(np.ascontiguousarray(z).tobytes(), digest_size=20)
    digest.update(ends.tobytes())
    key = (window, _weights_digest(encoder), digest.digest())
    hit = _cache.get(key)
    if hit is not None:
        _cache.move_to_end(key)
        return hit
    if ends.size:
        emb = embed(encoder, windows_ending_at(z, ends, window), device)
    else:
        emb = np.zeros((0, encoder.config.embed_dim), dtype=np.float32)
    emb.setflags(write=False)  # shared between callers
    ends.setflags(write=False)
    _cache[key] = (ends, emb)
    while len(_cache) > 1 and sum(e.nbytes + r.nbytes for r, e in _cache.values()) > MAX_BYTES:
        _cache.popitem(last=False)
    return ends, emb
