"""What changes under a running Hamilton takes effect at the next bar: a pointer moved to a bad bundle is
refused (the old champion keeps trading, the refusal is announced; on SQLite with a local archive and on
PostgreSQL with an S3 archive), the symbols selector is obeyed (a coin that leaves it is closed at the next
open), and the manual pause stops new entries but never exits.
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
from tests.stubs.hamilton_world import (
    AS_OF,
    BTC_DECIDED_MS,
    LIVE_START_MS,
    PARITY_ENV,
    Backend,
    SimulatedClock,
    copy_archive,
)

pytestmark = pytest.mark.slow

TF = timeframe_ms("15m")
START = int(AS_OF.timestamp() * 1000) + DAY_MS


def _config(home: Path, archive: str, db: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    for key, value in PARITY_ENV.items():
        monkeypatch.setenv(key, value)
    return load_config(
        None,
        overrides={"general.archive": archive, "general.database": db, "general.log_dir": str(home / "logs")},
    )


def _trades(archive: Path) -> pl.DataFrame:
    files = sorted((archive / "live_logs/trades").glob("*.parquet"))
    return pl.concat([pl.read_parquet(p) for p in files], how="diagonal") if files else pl.DataFrame()


def test_a_pointer_moved_to_a_corrupt_bundle_is_refused_and_the_old_champion_trades_on(
    backend: Backend, monkeypatch: pytest.MonkeyPatch, announced: list[logging.LogRecord]
) -> None:
    world = backend.world()
    storage = world.storage
    good = read_pointer(storage, "BTCUSDT")
    bad_folder = paths.model_dir("BTCUSDT", "20260302_020000Z")
    for name in ("config.json", "metrics.json", "costs.json", "sha256.txt"):
        storage.write_bytes(f"{bad_folder}/{name}", storage.read_bytes(f"{good['path']}/{name}"))
    data = bytearray(storage.read_bytes(f"{good['path']}/model.bin"))
    data[len(data) // 2] ^= 0xFF  # one flipped byte: sha256.txt no longer matches
    storage.write_bytes(f"{bad_folder}/model.bin", bytes(data))
    moved = False

    def move_pointer(now_ms: int) -> None:
        nonlocal moved
        if not moved and now_ms > LIVE_START_MS + 2 * TF:  # at 08:15, before the champion buys BTC at 09:15
            bad = {**good, "model_id": "20260302_020000Z", "path": bad_folder,
                   "promoted_at": datetime.now(UTC).isoformat(), "previous_model_id": good["model_id"]}  # fmt: skip
            storage.write_bytes(paths.champion_pointer("BTCUSDT"), json.dumps(bad).encode())
            moved = True

    config = _config(world.home, world.archive, world.db, monkeypatch)
    summary = run_hamilton(
        config, HamiltonRequest(mode="paper", clock="live", max_bars=12), source=PlantedEdgeSource(7),
        clock=SimulatedClock(LIVE_START_MS, on_bar=move_pointer),
    )  # fmt: skip
    assert moved and summary.bars == 12
    assert [e["model_id"] for e in summary.refused_champions] == ["20260302_020000Z"]
    assert "model.bin" in summary.refused_champions[0]["refused"]
    assert any("champion 20260302_020000Z refused" in r.getMessage() for r in announced)
    status = read_status(storage)
    assert status is not None and status.champions["BTCUSDT"] == good["model_id"]  # the old one trades on
    btc = status.positions["BTCUSDT"]  # bought after the refusal, by the old champion
    assert btc.entry_time == BTC_DECIDED_MS + TF and btc.model_id == good["model_id"]


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

    config = _config(tmp_path, str(archive), f"sqlite:///{tmp_path / 'h.db'}", monkeypatch)
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
