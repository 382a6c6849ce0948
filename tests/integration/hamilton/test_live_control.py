"""What changes under a running Hamilton takes effect at the next bar: a pointer moved to a bad bundle is
refused (the old champion keeps trading, the refusal is announced), the symbols selector is obeyed (a coin
that leaves it is closed at the next open), and the manual pause stops new entries but never exits.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from huracan_core.archive import Storage, paths
from huracan_core.archive.pointers import read_pointer
from huracan_core.config import load_config
from huracan_core.hamilton.control import PauseState, SymbolsSelector, write_pause, write_selector
from huracan_core.hamilton.run import HamiltonRequest, run_hamilton
from huracan_core.hamilton.status import read_status
from huracan_core.market.planted import PlantedEdgeSource
from huracan_core.timeframe import DAY_MS, timeframe_ms
from tests.stubs.hamilton_world import AS_OF, PARITY_ENV, SimulatedClock, copy_archive

pytestmark = pytest.mark.slow

TF = timeframe_ms("15m")
START = int(AS_OF.timestamp() * 1000) + DAY_MS


def _config(tmp: Path, archive: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    for key, value in PARITY_ENV.items():
        monkeypatch.setenv(key, value)
    return load_config(
        None,
        overrides={"general.archive": str(archive), "general.database": f"sqlite:///{tmp / 'h.db'}",
                   "general.log_dir": str(tmp / "logs")},
    )  # fmt: skip


def _trades(archive: Path) -> pl.DataFrame:
    files = sorted((archive / "live_logs/trades").glob("*.parquet"))
    return pl.concat([pl.read_parquet(p) for p in files], how="diagonal") if files else pl.DataFrame()


def test_a_pointer_moved_to_a_corrupt_bundle_is_refused_and_the_old_champion_trades_on(
    champion_archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    archive = copy_archive(champion_archive, tmp_path / "archive")
    storage = Storage(archive)
    good = read_pointer(storage, "BTCUSDT")
    bad_folder = paths.model_dir("BTCUSDT", "20260302_020000Z")
    for name in ("model.bin", "config.json", "metrics.json", "costs.json", "sha256.txt"):
        storage.write_bytes(f"{bad_folder}/{name}", storage.read_bytes(f"{good['path']}/{name}"))
    model = archive / bad_folder / "model.bin"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte: sha256.txt no longer matches
    model.write_bytes(bytes(data))
    moved = False

    def move_pointer(now_ms: int) -> None:
        nonlocal moved
        if not moved and now_ms > START + 24 * TF:
            bad = {**good, "model_id": "20260302_020000Z", "path": bad_folder,
                   "promoted_at": datetime.now(UTC).isoformat(), "previous_model_id": good["model_id"]}  # fmt: skip
            (archive / paths.champion_pointer("BTCUSDT")).write_text(json.dumps(bad))
            moved = True

    caplog.set_level(logging.INFO)
    config = _config(tmp_path, archive, monkeypatch)
    summary = run_hamilton(
        config, HamiltonRequest(mode="paper", clock="live", max_bars=96), source=PlantedEdgeSource(7),
        clock=SimulatedClock(START, on_bar=move_pointer),
    )  # fmt: skip
    assert moved and summary.bars == 96
    assert [e["model_id"] for e in summary.refused_champions] == ["20260302_020000Z"]
    assert "model.bin" in summary.refused_champions[0]["refused"]
    assert "champion 20260302_020000Z refused" in caplog.text
    status = read_status(storage)
    assert status is not None and status.champions["BTCUSDT"] == good["model_id"]  # the old one trades on
    btc = _trades(archive).filter(pl.col("symbol") == "BTCUSDT")
    assert btc.height == 0 or (btc["model_id"] == good["model_id"]).all()


def test_the_selector_and_the_pause_take_effect_at_the_next_bar(
    champion_archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = copy_archive(champion_archive, tmp_path / "archive")
    storage = Storage(archive)
    now = datetime(2026, 3, 2, tzinfo=UTC)
    write_selector(
        storage,
        SymbolsSelector(mode="list", symbols=["BTCUSDT", "ETHUSDT"], updated_by="test", updated_at=now),
    )
    events: dict[str, int] = {}

    def control(now_ms: int) -> None:
        bar = (now_ms - START) // TF
        if bar == 96 and "off" not in events:  # day two: only ETH from now on
            write_selector(
                storage, SymbolsSelector(mode="list", symbols=["ETHUSDT"], updated_by="test", updated_at=now)
            )
            events["off"] = now_ms // TF * TF - TF  # the first bar decided under the new selection
        if bar == 192 and "pause" not in events:  # day three: paused
            write_pause(storage, PauseState(paused=True, updated_by="test", updated_at=now, reason="testing"))
            events["pause"] = now_ms // TF * TF - TF

    config = _config(tmp_path, archive, monkeypatch)
    run_hamilton(
        config, HamiltonRequest(mode="paper", clock="live", max_bars=4 * 96), source=PlantedEdgeSource(7),
        clock=SimulatedClock(START, on_bar=control),
    )  # fmt: skip
    trades = _trades(archive)
    btc = trades.filter(pl.col("symbol") == "BTCUSDT")
    # BTC left the selection: nothing of it opens after, and what it held closed at the next open.
    assert (btc["entry_time"] <= events["off"]).all()
    assert (btc["exit_time"] <= events["off"] + TF).all()
    # Paused: no position opens after the pause (exits still happen).
    assert (trades["entry_time"] <= events["pause"] + TF).all()
    assert trades.filter(pl.col("entry_time") < events["off"]).height > 0, "nothing traded before: vacuous"
    status = read_status(storage)
    assert status is not None and status.selection.symbols == ["ETHUSDT"] and status.paused
    assert "BTCUSDT" not in status.positions
