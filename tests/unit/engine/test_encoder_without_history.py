"""When every usable coin was listed after the shared encoder's cutoff, the night goes on without an encoder."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from huracan_core.engine import nightly
from huracan_core.engine.train import encoder_cutoff_ms
from huracan_core.market.lake import LakeSource
from huracan_core.market.synthetic import SyntheticSource
from huracan_core.timeframe import DAY_MS

AS_OF = datetime(2026, 1, 15, 2, 0, tzinfo=UTC)
END_MS = int(AS_OF.timestamp() * 1000)


def test_no_encoder_is_trained_when_every_coin_was_listed_after_its_cutoff(tmp_path: Path) -> None:
    lake = LakeSource(tmp_path / "lake")
    market = SyntheticSource(seed=7)
    lake.write("BTCUSDT", "15m", market.fetch("BTCUSDT", "15m", END_MS - 12 * DAY_MS, END_MS))
    lake.write("SOLUSDT", "15m", market.fetch("SOLUSDT", "15m", END_MS - 4 * DAY_MS, END_MS))
    overrides = {
        "general.archive": str(tmp_path / "archive"),
        "general.timeframe": "15m",
        "data.source": "lake",
        "data.lake_dir": str(tmp_path / "lake"),
        "data.gates.min_history_days": 2,
        "engine.lookback_days": 10,
    }
    start, end = END_MS - 10 * DAY_MS, END_MS
    plan = {
        "as_of": AS_OF.isoformat(),
        "run_id": "20260115_020000Z",
        "window": {"start_ms": start, "end_ms": end},
    }
    assert encoder_cutoff_ms(start, end) < END_MS - 4 * DAY_MS  # SOLUSDT has no bar before the cutoff
    out = nightly.encoder_step(None, plan, {"ok": ["SOLUSDT"]}, overrides)
    assert out["encoder_key"] is None
    assert "no coin has enough bars before the encoder cutoff" in out["reason"]
    assert not (tmp_path / "archive" / "encoders").exists()
