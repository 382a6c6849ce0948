"""The shared encoder warm-starts only from an encoder that never saw today's out-of-sample bars."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest

from huracan_core.archive import Storage
from huracan_core.engine.nightly import candles_step, encoder_step, plan_step
from huracan_core.engine.train import SharedEncoderResult, encoder_reach_ms, load_encoder, save_encoder
from huracan_core.models.encoder import EncoderConfig, SharedEncoder

DAY_MS = 86_400_000


def overrides(root: Path, lookback_days: int) -> dict[str, Any]:
    return {
        "general.archive": str(root / "archive"),
        "general.database": f"sqlite:///{root / 'huracan.db'}",
        "general.log_dir": str(root / "logs"),
        "general.symbols": ["BTCUSDT", "ETHUSDT"],
        "data.source": "synthetic",
        "engine.lookback_days": lookback_days,
        "engine.device": "cpu",
    }


def night(root: Path, as_of: str, lookback_days: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The universe, candle and encoder steps of one night; returns the encoder step and the saved meta."""
    more = overrides(root, lookback_days)
    plan = plan_step(None, as_of, more)
    step = encoder_step(None, plan, candles_step(None, plan, more), more)
    meta = json.loads((root / "archive" / step["encoder_key"] / "encoder.json").read_text(encoding="utf-8"))
    return step, meta


@pytest.fixture(scope="module")
def first_night(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("encoders")
    _, meta = night(root, "2026-01-14T02:00", 30)
    return root, meta


def test_an_encoder_records_how_far_its_training_data_reaches(
    first_night: tuple[Path, dict[str, Any]],
) -> None:
    _, meta = first_night
    assert meta["warm_start_from"] is None and meta["warm_start_refused"] is None
    assert meta["data_seen_until_ms"] == meta["cutoff_ms"]


def test_the_next_night_with_the_same_lookback_warm_starts_and_inherits_the_reach(
    first_night: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    root, first = first_night
    shutil.copytree(root / "archive", tmp_path / "archive")  # this night continues the first in its own archive
    step, meta = night(tmp_path, "2026-01-15T02:00", 30)
    assert step["warm_start_from"] == meta["warm_start_from"] == "encoders/20260114_020000Z"
    assert meta["warm_started"] is True and meta["warm_start_refused"] is None
    assert meta["cutoff_ms"] == first["cutoff_ms"] + DAY_MS  # the window moved one day
    assert meta["data_seen_until_ms"] == meta["cutoff_ms"]


def test_a_longer_lookback_the_next_night_refuses_the_encoder_that_saw_its_oos_bars(
    first_night: tuple[Path, dict[str, Any]], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root, first = first_night
    shutil.copytree(root / "archive", tmp_path / "archive")
    with caplog.at_level(logging.WARNING):
        step, meta = night(tmp_path, "2026-01-15T02:00", 60)
    # 60 days put today's cutoff 18 days before yesterday's: yesterday's encoder knows today's OOS bars.
    assert meta["cutoff_ms"] < first["data_seen_until_ms"]
    assert step["warm_start_from"] is None and meta["warm_start_from"] is None
    assert meta["warm_started"] is False
    refused = meta["warm_start_refused"]
    assert refused == step["warm_start_refused"]
    assert refused["from"] == "encoders/20260114_020000Z"
    assert "2025-12-27 02:00 UTC" in refused["reason"]  # yesterday's reach: 2025-12-15 + 12 days
    assert meta["data_seen_until_ms"] == meta["cutoff_ms"]
    assert (
        "Not warm-starting from encoders/20260114_020000Z: it learned from bars up to 2025-12-27 02:00 UTC, "
        "after today's cutoff 2025-12-10 02:00 UTC; training the encoder from scratch"
    ) in caplog.text



@pytest.mark.parametrize(("warm_started", "seen_until"), [(True, 5_000), (False, 1_000)])
def test_a_warm_started_encoder_inherits_the_reach_of_the_one_it_started_from(
    tmp_path: Path, warm_started: bool, seen_until: int
) -> None:
    result = SharedEncoderResult(
        encoder=SharedEncoder(EncoderConfig(n_features=3)),
        columns=["a", "b", "c"],
        cutoff_ms=1_000,
        windows_per_second=1.0,
        epochs=1,
        warm_started=warm_started,
    )
    storage = Storage(tmp_path)
    key = save_encoder(storage, "20260115_020000Z", result, {}, inherited_reach_ms=5_000)
    _, meta = load_encoder(storage, key)
    assert meta["data_seen_until_ms"] == encoder_reach_ms(meta) == seen_until


def test_an_encoder_saved_before_reaches_were_recorded_reaches_its_cutoff() -> None:
    assert encoder_reach_ms({"cutoff_ms": 1_000}) == 1_000
    assert encoder_reach_ms({"cutoff_ms": 1_000, "data_seen_until_ms": 2_000}) == 2_000
    assert encoder_reach_ms({}) is None
