"""The nightly Engine's shared parts, observed: the shared encoder learns only from bars before its cutoff,
and each fold's batched neural heads only from that fold's training rows, never across a hole in them.

The walk-forward parts every coin fits on its own are watched in test_walk_forward_provenance.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl
import pytest

from huracan_core.alphas.learned import NeuralEngine
from huracan_core.config import load_config
from huracan_core.engine import train as engine_train
from huracan_core.engine.coin_model import coin_engines
from huracan_core.engine.train import (
    encoder_cutoff_ms,
    train_batch_heads,
    train_shared_encoder,
    walk_forward_settings,
)
from huracan_core.evaluation.research import build_research_frame, walk_forward_plan
from huracan_core.market import SyntheticSource
from huracan_core.timeframe import timeframe_ms

END = int(datetime(2026, 2, 1, tzinfo=UTC).timestamp() * 1000)
DAY = 86_400_000
BAR = timeframe_ms("15m")
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")


def _reach(frame: pl.DataFrame, rows: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Timestamps of the labelled rows and of the last bar each label reads; and the labels' gaps in bars."""
    ts = frame["timestamp"].to_numpy()
    idx = np.flatnonzero(rows)
    reach = ts[np.minimum(idx + 1 + horizon, ts.size - 1)]
    return reach, (reach - ts[idx]) // BAR - (1 + horizon)


def test_the_shared_encoder_and_the_batched_heads_never_see_a_bar_they_must_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = SyntheticSource(seed=5)
    start = END - 45 * DAY
    candles = {s: source.fetch(s, "15m", start, END) for s in SYMBOLS}
    frames = {s: build_research_frame(candles[s], s, "15m", refs=candles) for s in SYMBOLS}
    cutoff = encoder_cutoff_ms(start, END)
    horizon = NeuralEngine.horizon_bars
    seen: list[tuple[str, np.ndarray, np.ndarray]] = []

    def windows(original: Callable[..., Any]) -> Callable[..., Any]:
        def spy(
            frame: pl.DataFrame, normaliser: Any, window: int, *, rows: Any = None, targets: Any = None
        ) -> Any:
            out = original(frame, normaliser, window, rows=rows, targets=targets)
            used = np.zeros(frame.height, dtype=bool)
            used[out.rows] = True
            seen.append(("encoder", *_reach(frame, used, horizon)))
            return out

        return spy

    monkeypatch.setattr(engine_train, "make_windows", windows(engine_train.make_windows))
    encoder = train_shared_encoder(frames, cutoff_ms=cutoff, seed=3, device="cpu")
    assert seen and all(kind == "encoder" for kind, _, _ in seen)
    for _, reach, gap in seen:
        assert reach.max() < cutoff, "a shared-encoder label reads a bar at or after the cutoff"
        assert (gap == 0).all()

    heads_inputs: list[tuple[np.ndarray, np.ndarray]] = []
    original_fit_inputs = NeuralEngine.fit_inputs

    def fit_inputs(self: NeuralEngine, frame: pl.DataFrame) -> Any:
        prepared = original_fit_inputs(self, frame)
        if not isinstance(prepared, str):
            used = (prepared.fit_rows | prepared.valid_rows) & np.isfinite(prepared.y)
            heads_inputs.append(_reach(frame, used, horizon))
        return prepared

    monkeypatch.setattr(NeuralEngine, "fit_inputs", fit_inputs)
    config = load_config(None, overrides={"engine.lookback_days": 45, "engine.folds": 3})
    heads = train_batch_heads(
        frames, config, encoder=encoder.encoder, columns=encoder.columns, cutoff_ms=cutoff, device="cpu"
    )
    assert all(heads[s] for s in SYMBOLS), "every coin got its batched heads"
    engines = coin_engines(encoder.encoder, encoder.columns, 3)
    expected = []  # test start of each (coin, fold), in the order train_batch_heads prepares them
    for symbol in SYMBOLS:
        rf = frames[symbol]
        ts = rf.frame["timestamp"].to_numpy()[rf.first_valid :]
        for split in walk_forward_plan(rf, engines, walk_forward_settings(config), cutoff):
            expected.append(int(ts[split.test.start]))
            assert int(ts[split.test.start]) >= cutoff
    assert len(heads_inputs) == len(expected)
    for (reach, gap), test_start in zip(heads_inputs, expected, strict=True):
        assert reach.max() < test_start, "a head's label reads its fold's test range"
        assert (gap == 0).all(), "a head's label spans a hole of its training rows"
