"""The hourly Mechanic DAG end to end under dag.test(): the real Mechanic steps on a small synthetic market.

The nightly Engine's encoder steps first give the Mechanic a shared encoder as of Tuesday 02:00; then the
05:00 hour builds three coins' challengers in two mapped batches. Backfilling 04:00 and re-running 05:00
show that an hour replaces only its own outputs. While the nightly Engine holds the publish lease on the
same coins, the 07:00 hour's publish task waits, fails naming the Engine and publishes nothing; once the
lease is released, re-running that one task publishes the hour.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.stubs.airflow_env import load_dag, rerun_task, write_nightly_config

pytestmark = pytest.mark.slow

DAG_ID = "huracan_mechanic_hourly"
SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
NIGHT = datetime(2025, 3, 4, 2, 0, tzinfo=UTC)
HOUR = datetime(2025, 3, 4, 5, 0, tzinfo=UTC)
HOUR_ID = "20250304_050000Z"
EARLIER_HOUR = datetime(2025, 3, 4, 4, 0, tzinfo=UTC)
EARLIER_ID = "20250304_040000Z"
BLOCKED_HOUR = datetime(2025, 3, 4, 7, 0, tzinfo=UTC)
BLOCKED_ID = "20250304_070000Z"
ENGINE_HOLDER = "engine:20250304_020000Z"
# Seconds the publish task waits for the lease in these tests (mechanic.lease_wait_seconds; 900 by default).
LEASE_WAIT_S = 2


@dataclass
class Hour:
    run: Any
    dag: Any
    config: Path
    archive: Path
    database: Path
    broadcast: list[str]


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture(scope="module")
def heard() -> Any:
    lines = _Lines()
    broadcaster = logging.getLogger("huracan.broadcaster")
    broadcaster.addHandler(lines)
    # The test Airflow logs at WARNING; success lines are INFO.
    level, broadcaster.level = broadcaster.level, logging.INFO
    try:
        yield lines
    finally:
        broadcaster.removeHandler(lines)
        broadcaster.setLevel(level)


@pytest.fixture(scope="module")
def hour(airflow_home: Path, tmp_path_factory: pytest.TempPathFactory, heard: _Lines) -> Any:
    from huracan_core.engine.nightly import candles_step, encoder_step, plan_step

    folder = tmp_path_factory.mktemp("hourly")
    # retries 0: a failed publish fails the run at once instead of waiting for its retry under dag.test().
    config = write_nightly_config(
        folder / "config", symbols=SYMBOLS, coins_per_batch=2, lookback_days=60, folds=2, retries=0,
        extra_yaml=f"mechanic:\n  lease_wait_seconds: {LEASE_WAIT_S}\n",
    )  # fmt: skip
    night = plan_step(str(config), NIGHT.isoformat())
    encoder = encoder_step(str(config), night, candles_step(str(config), night))
    assert encoder["encoder_key"] == "encoders/20250304_020000Z"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HURACAN_CONFIG", str(config))
        dag = load_dag(DAG_ID)
        run = dag.test(logical_date=HOUR)
        yield Hour(
            run, dag, config, folder / "config" / "archive", folder / "config" / "huracan.db", heard.lines
        )


def _trials(database: Path, model_id: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(database) as db:
        return db.execute(
            "SELECT symbol, model_id, evaluated_at, reason FROM trials WHERE model_id = ? ORDER BY symbol",
            (model_id,),
        ).fetchall()


def _files(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file()
    }


def test_the_hour_succeeds_with_one_mapped_challenger_task_per_batch_named_by_its_coins(hour: Hour) -> None:
    assert hour.run.state == "success"
    mapped = [ti for ti in hour.run.get_task_instances() if ti.task_id == "challenge_batch"]
    assert sorted(ti.map_index for ti in mapped) == [0, 1]
    assert sorted(ti.rendered_map_index for ti in mapped) == ["BTCUSDT, ETHUSDT", "SOLUSDT"]
    assert {ti.state for ti in mapped} == {"success"}
    assert {ti.pool for ti in mapped} == {"cpu"}


def test_challengers_verify_and_the_hour_is_published_and_recorded_as_trials(hour: Hour) -> None:
    from huracan_core.archive import Storage, paths
    from huracan_core.models.bundle import verify_bundle

    storage = Storage(hour.archive)
    for symbol in SYMBOLS:
        folder = hour.archive / "challengers" / symbol / HOUR_ID
        assert (folder / "sha256.txt").exists() and (folder / "model.bin").exists()
        assert "model.bin" in verify_bundle(storage, paths.challenger_dir(symbol, HOUR_ID))
    published = json.loads((hour.archive / "mechanic" / "runs" / HOUR_ID / "published.json").read_text())
    assert published["run_id"] == HOUR_ID
    assert published["challengers"] == SYMBOLS
    plan = json.loads((hour.archive / "mechanic" / "runs" / HOUR_ID / "plan.json").read_text())
    assert plan["encoder_key"] == "encoders/20250304_020000Z", "the challengers did not stand on the encoder"
    trials = _trials(hour.database, HOUR_ID)
    assert [row[:2] for row in trials] == [(s, HOUR_ID) for s in SYMBOLS]
    assert "evaluated; not published yet" not in {row[3] for row in trials}, "publish left the trials open"


def test_every_task_and_the_run_report_through_the_broadcaster(hour: Hour) -> None:
    lines = hour.broadcast
    assert f"✅ {DAG_ID}.plan succeeded." in lines
    assert f"✅ {DAG_ID}.challenge_batch [BTCUSDT, ETHUSDT] succeeded." in lines
    assert f"✅ {DAG_ID}.challenge_batch [SOLUSDT] succeeded." in lines
    assert f"✅ {DAG_ID}.publish succeeded." in lines
    assert f"✅ {DAG_ID} run {hour.run.run_id} succeeded." in lines


def test_rerunning_an_hour_replaces_only_that_hours_challengers_and_trials(hour: Hour) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HURACAN_CONFIG", str(hour.config))
        assert hour.dag.test(logical_date=EARLIER_HOUR).state == "success"
        earlier = {s: _files(hour.archive / "challengers" / s / EARLIER_ID) for s in SYMBOLS}
        rerun = {s: _files(hour.archive / "challengers" / s / HOUR_ID) for s in SYMBOLS}
        earlier_trials = _trials(hour.database, EARLIER_ID)
        before = _trials(hour.database, HOUR_ID)

        again = hour.dag.test(logical_date=HOUR)

    assert again.state == "success"
    for symbol in SYMBOLS:
        folders = sorted(p.name for p in (hour.archive / "challengers" / symbol).iterdir())
        assert folders == [EARLIER_ID, HOUR_ID]
        assert _files(hour.archive / "challengers" / symbol / EARLIER_ID) == earlier[symbol]
        rewritten = _files(hour.archive / "challengers" / symbol / HOUR_ID)
        assert rewritten.keys() == rerun[symbol].keys()
        assert rewritten["sha256.txt"][1] != rerun[symbol]["sha256.txt"][1], "the hour was not rebuilt"
    after = _trials(hour.database, HOUR_ID)
    # The same trials (one per coin for the hour), evaluated again: replaced, not added.
    assert [row[:2] for row in after] == [row[:2] for row in before]
    assert [row[2] for row in after] != [row[2] for row in before]
    assert _trials(hour.database, EARLIER_ID) == earlier_trials


def test_publish_waits_for_the_engines_lease_fails_naming_it_and_publishes_after_release(hour: Hour) -> None:
    from huracan_core.archive import Storage
    from huracan_core.archive.lease import release, try_acquire

    storage = Storage(hour.archive)
    # The nightly Engine is publishing one of the hour's coins (an hour's ttl: it is alive throughout).
    assert try_acquire(storage, ENGINE_HOLDER, ["ETHUSDT"], ttl_s=3_600, now=datetime.now(UTC)) == {}
    published = hour.archive / "mechanic" / "runs" / BLOCKED_ID / "published.json"
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("HURACAN_CONFIG", str(hour.config))
            blocked = hour.dag.test(logical_date=BLOCKED_HOUR)

        assert blocked.state == "failed"
        states = {ti.task_id: ti.state for ti in blocked.get_task_instances()}
        assert states["publish"] == "failed"
        waited = next(ti for ti in blocked.get_task_instances() if ti.task_id == "publish").duration
        assert waited >= LEASE_WAIT_S, f"publish gave up after {waited} s without waiting for the lease"
        assert states["challenge_batch"] == "success"
        failure = [line for line in hour.broadcast if line.startswith(f"❌ {DAG_ID}.publish failed")]
        assert failure, hour.broadcast[-5:]
        assert "LeaseBusyError" in failure[-1] and ENGINE_HOLDER in failure[-1] and "ETHUSDT" in failure[-1]
        assert f"waited {LEASE_WAIT_S} s" in failure[-1]
        assert not published.exists()
        # Evaluating counted the trials (the deflated Sharpe's N); no verdict was recorded on them.
        assert {row[3] for row in _trials(hour.database, BLOCKED_ID)} == {"evaluated; not published yet"}
        assert not list((hour.archive / "champion").glob("*/latest.json"))
    finally:
        release(storage, ENGINE_HOLDER)

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HURACAN_CONFIG", str(hour.config))
        rerun = rerun_task(hour.dag, blocked, "publish")

    assert rerun.state == "success"
    instances = rerun.get_task_instances()
    assert {ti.task_id: ti.try_number for ti in instances if ti.task_id != "challenge_batch"} == {
        "plan": 1, "batches": 1, "publish": 2,
    }  # fmt: skip
    assert json.loads(published.read_text())["challengers"] == SYMBOLS
    trials = _trials(hour.database, BLOCKED_ID)
    assert [row[:2] for row in trials] == [(s, BLOCKED_ID) for s in SYMBOLS]
    assert "evaluated; not published yet" not in {row[3] for row in trials}
    lease = json.loads((hour.archive / "leases" / "publish.json").read_text())
    assert lease["holders"] == {}
