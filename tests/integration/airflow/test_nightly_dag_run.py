"""The nightly DAG end to end under dag.test(): the real Engine steps on a small synthetic market.

One run for a Tuesday trains three coins in two mapped batches; a backfill of the Tuesday before then
retrains as of that date and leaves the first night's dated outputs alone. Airflow Variables point the
run at its own archive and database, so the config's own locations must stay empty.
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

from tests.stubs.airflow_env import load_dag, write_nightly_config

pytestmark = pytest.mark.slow

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
TUESDAY = datetime(2025, 3, 4, 2, 0, tzinfo=UTC)
TUESDAY_BEFORE = datetime(2025, 2, 25, 2, 0, tzinfo=UTC)
# XCom carries ids, symbols and small summaries; anything near this size would be data, not a reference.
MAX_XCOM_BYTES = 64_000


@dataclass
class Night:
    run: Any
    folder: Path
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
def night(airflow_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("nightly")
    config = write_nightly_config(
        folder / "config", symbols=SYMBOLS, coins_per_batch=2, market="planted_edge", lookback_days=90, folds=3
    )
    archive, database = folder / "variable-archive", folder / "variable.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HURACAN_CONFIG", str(config))
        patch.setenv("AIRFLOW_VAR_HURACAN_ARCHIVE", str(archive))
        patch.setenv("AIRFLOW_VAR_HURACAN_DATABASE", f"sqlite:///{database}")
        dag = load_dag("huracan_engine_nightly")
        heard = _Lines()
        broadcaster = logging.getLogger("huracan.broadcaster")
        broadcaster.addHandler(heard)
        # The test Airflow logs at WARNING; success lines are INFO.
        level, broadcaster.level = broadcaster.level, logging.INFO
        try:
            run = dag.test(logical_date=TUESDAY)
        finally:
            broadcaster.removeHandler(heard)
            broadcaster.setLevel(level)
        yield Night(run, folder, archive, database, heard.lines), dag, patch


def test_the_night_succeeds_with_one_mapped_training_task_per_batch_named_by_its_coins(night: Any) -> None:
    result, _, _ = night
    assert result.run.state == "success"
    mapped = [ti for ti in result.run.get_task_instances() if ti.task_id == "train_batch"]
    assert sorted(ti.map_index for ti in mapped) == [0, 1]
    assert sorted(ti.rendered_map_index for ti in mapped) == ["BTCUSDT, ETHUSDT", "SOLUSDT"]
    assert {ti.state for ti in mapped} == {"success"}
    assert {(ti.pool, ti.queue) for ti in mapped} == {("gpu", "gpu")}


def test_champions_summary_and_report_are_written_as_of_the_runs_date(night: Any) -> None:
    result, _, _ = night
    archive = result.archive
    for symbol in SYMBOLS:
        assert (archive / "models" / symbol / "20250304_020000Z" / "model.bin").exists()
    # The gates are wide open, but a coin with no out-of-sample trade still cannot become champion.
    published = json.loads((archive / "engine_runs" / "20250304_020000Z" / "published.json").read_text())
    assert published["promoted"], "no coin became champion"
    champions = sorted(p.parent.name for p in (archive / "champion").glob("*/latest.json"))
    assert champions == published["promoted"]
    for symbol in champions:
        pointer = json.loads((archive / "champion" / symbol / "latest.json").read_text())
        assert pointer["model_id"] == "20250304_020000Z"
    roster = json.loads((archive / "champion" / "champion.json").read_text())
    assert sorted(entry["symbol"] for entry in roster["champions"]) == champions
    summary = json.loads((archive / "summaries" / "daily" / "2025-03-04.json").read_text())
    assert summary["symbols_succeeded"] == len(SYMBOLS)
    report = json.loads((archive / "reports" / "2025-03-04" / "daily_report.json").read_text())
    assert report["models_trained"] == len(SYMBOLS)


def test_airflow_variables_override_the_configs_archive_and_database(night: Any) -> None:
    result, _, _ = night
    assert not (result.folder / "config" / "archive").exists()
    assert not (result.folder / "config" / "huracan.db").exists()
    with sqlite3.connect(result.database) as db:
        rows = db.execute("SELECT symbol, model_id FROM models ORDER BY symbol").fetchall()
    assert rows == [(symbol, "20250304_020000Z") for symbol in sorted(SYMBOLS)]


def test_every_task_and_the_run_report_through_the_broadcaster(night: Any) -> None:
    result, _, _ = night
    lines = result.broadcast
    assert "✅ huracan_engine_nightly.train_batch [BTCUSDT, ETHUSDT] succeeded." in lines
    assert "✅ huracan_engine_nightly.report succeeded." in lines
    assert f"✅ huracan_engine_nightly run {result.run.run_id} succeeded." in lines


def test_xcom_carries_only_small_json(night: Any) -> None:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    result, _, _ = night
    with create_session() as session:
        values = session.query(XComModel).filter(XComModel.run_id == result.run.run_id).all()
        sizes = {(x.task_id, x.map_index, x.key): len(json.dumps(x.value)) for x in values}
    assert sizes, "the run pushed no XCom at all"
    too_big = {key: size for key, size in sizes.items() if size > MAX_XCOM_BYTES}
    assert not too_big


def test_a_backfill_retrains_as_of_its_own_date_and_leaves_other_dates_alone(night: Any) -> None:
    result, dag, _ = night
    archive = result.archive
    tuesday_summary = (archive / "summaries" / "daily" / "2025-03-04.json").read_bytes()
    tuesday_report = (archive / "reports" / "2025-03-04" / "daily_report.json").read_bytes()

    backfill = dag.test(logical_date=TUESDAY_BEFORE)

    assert backfill.state == "success"
    for symbol in SYMBOLS:
        models = sorted(p.name for p in (archive / "models" / symbol).iterdir())
        assert models == ["20250225_020000Z", "20250304_020000Z"]
    earlier = json.loads((archive / "summaries" / "daily" / "2025-02-25.json").read_text())
    assert earlier["as_of"].startswith("2025-02-25T02:00")
    assert (archive / "summaries" / "daily" / "2025-03-04.json").read_bytes() == tuesday_summary
    assert (archive / "reports" / "2025-03-04" / "daily_report.json").read_bytes() == tuesday_report
