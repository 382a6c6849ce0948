"""A coin listed inside the lookback is trained on the history it has; one listed days ago is skipped."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from huracan_core.engine.run import EngineRunResult, run_engine
from huracan_core.market.lake import LakeSource
from huracan_core.market.synthetic import SyntheticSource
from huracan_core.timeframe import DAY_MS

AS_OF = datetime(2026, 1, 15, 2, 0, tzinfo=UTC)
MODEL_ID = "20260115_020000Z"
LOOKBACK_DAYS = 16
END_MS = int(AS_OF.timestamp() * 1000)
HALFWAY_MS = END_MS - 8 * DAY_MS  # SOLUSDT's first candle: halfway through the lookback
RECENT_MS = END_MS - 5 * DAY_MS  # XRPUSDT's first candle: five days before the as-of


@pytest.fixture(scope="module")
def listing_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, EngineRunResult]:
    """A lake of the synthetic market where SOLUSDT and XRPUSDT were listed inside the lookback."""
    root = tmp_path_factory.mktemp("listings")
    lake = LakeSource(root / "lake")
    market = SyntheticSource(seed=7)
    start = END_MS - 20 * DAY_MS
    for symbol, listed in (
        ("BTCUSDT", start),
        ("ETHUSDT", start),
        ("SOLUSDT", HALFWAY_MS),
        ("XRPUSDT", RECENT_MS),
    ):
        lake.write(symbol, "15m", market.fetch(symbol, "15m", listed, END_MS))
    overrides: dict[str, Any] = {
        "general.archive": str(root / "archive"),
        "general.database": f"sqlite:///{root / 'huracan.db'}",
        "general.log_dir": str(root / "logs"),
        "general.symbols": ["ETHUSDT", "SOLUSDT", "XRPUSDT"],
        "general.timeframe": "15m",
        "data.source": "lake",
        "data.lake_dir": str(root / "lake"),
        "data.gates.min_history_days": 6,
        "engine.lookback_days": LOOKBACK_DAYS,
        "engine.max_concurrent": 2,
        "engine.folds": 2,
        "engine.retry_backoff_seconds": 0,
    }
    return root, run_engine(None, AS_OF, overrides=overrides)


def read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_a_coin_listed_halfway_through_the_lookback_is_trained_out_of_sample_on_its_own_bars(
    listing_run: tuple[Path, EngineRunResult],
) -> None:
    root, result = listing_run
    assert "SOLUSDT" in result.trained and "ETHUSDT" in result.trained, (result.skipped, result.failed)
    folder = root / "archive/models/SOLUSDT" / MODEL_ID
    assert (folder / "model.bin").is_file()
    metrics, config = read(folder / "metrics.json"), read(folder / "config.json")
    assert metrics["scope"].startswith("out-of-sample")
    encoder = read(root / f"archive/encoders/{MODEL_ID}/encoder.json")
    # Every out-of-sample bar is after the listing, after the encoder's cutoff and before the as-of.
    assert metrics["oos"]["first_bar"] >= max(HALFWAY_MS, encoder["cutoff_ms"])
    assert config["oos_window"]["last_bar"] < END_MS
    assert metrics["oos"]["bars"] > 0


def test_a_coin_listed_five_days_before_the_as_of_is_skipped_with_its_age(
    listing_run: tuple[Path, EngineRunResult],
) -> None:
    _, result = listing_run
    assert result.skipped["XRPUSDT"] == (
        "listed 5 days before the as-of: fewer than data.gates.min_history_days 6"
    )
    assert "XRPUSDT" not in result.trained


def test_the_listing_is_read_from_the_lake_not_guessed(listing_run: tuple[Path, EngineRunResult]) -> None:
    root, _ = listing_run
    sol = LakeSource(root / "lake").read("SOLUSDT", "15m")
    assert int(sol["timestamp"][0]) == HALFWAY_MS
    assert sol.filter(pl.col("timestamp") < HALFWAY_MS).height == 0  # nothing was filled in before it
