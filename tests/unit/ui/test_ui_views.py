"""The Huracan page's data: what each view reads from the archive and the database, its empty states, and a
broken file or an unreachable database turned into one section's message instead of a failed page."""

from __future__ import annotations

import json
import socket
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from huracan_core.archive import Storage, paths
from huracan_core.db import connect, record_daily_equity, upgrade
from huracan_core.hamilton.control import SymbolsSelector, write_selector
from huracan_core.hamilton.status import write_status
from huracan_core.ui import views
from tests.stubs.huracan_archive import write_archive
from tests.stubs.huracan_rows import NEW, OLD, seed_database
from tests.unit.hamilton.status_builders import make_status

NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return Storage(str(tmp_path / "archive"))


@pytest.fixture
def world(storage: Storage, tmp_path: Path) -> tuple[Storage, Engine]:
    """The stub archive and a SQLite database with the matching rows."""
    engine = connect(f"sqlite:///{tmp_path / 'huracan.db'}")
    upgrade(engine)
    seed_database(engine, now=NOW)
    write_archive(storage, now=NOW)
    return storage, engine


def _overview(storage: Storage, db: Engine, **more: Any) -> dict[str, Any]:
    return views.overview(
        storage, db, now=NOW, timeframe="15m", default_run_key="paper", configured=None, **more
    )


def test_champions_follow_the_roster_with_their_out_of_sample_metrics_and_buy_and_hold(
    world: tuple[Storage, Engine],
) -> None:
    storage, _ = world
    table = views.champions(storage)
    assert [row["symbol"] for row in table["champions"]] == ["ETHUSDT", "BTCUSDT"]
    eth, btc = table["champions"]
    assert eth["model_id"] == NEW and eth["trade_ok"] is True and eth["promoted_by"] == "engine"
    assert (eth["net_pnl_pct"], eth["sharpe"], eth["deflated_sharpe"], eth["max_drawdown_pct"], eth["trades"]) == (
        3.3, 2.1, 0.9, 2.0, 52,
    )  # fmt: skip
    assert eth["buy_and_hold_net_pnl_pct"] == 1.2 and eth["recent_net_pnl_pct"] == 1.65
    assert btc["model_id"] == OLD and btc["promoted_by"] == "rollback" and btc["previous_model_id"] == NEW
    assert btc["trade_ok"] is False and btc["reason"] == "Sharpe 1.40 < 1.5"
    assert table["trade_ok"] == ["ETHUSDT"]


def test_a_pointer_the_roster_does_not_list_yet_comes_last_and_is_not_trade_ok(
    world: tuple[Storage, Engine],
) -> None:
    storage, _ = world
    pointer = storage.read_json(paths.champion_pointer("ETHUSDT"))
    storage.write_json(
        paths.champion_pointer("SOLUSDT"), {**pointer, "symbol": "SOLUSDT", "path": "models/SOLUSDT/x"}
    )
    rows = views.champions(storage)["champions"]
    assert [r["symbol"] for r in rows] == ["ETHUSDT", "BTCUSDT", "SOLUSDT"]
    assert rows[-1]["trade_ok"] is False and rows[-1]["reason"] == "not in the roster yet"
    assert rows[-1]["buy_and_hold_net_pnl_pct"] is None  # no metrics.json in that folder


def test_a_corrupt_pointer_names_its_file_in_its_row_and_the_others_still_show(
    world: tuple[Storage, Engine],
) -> None:
    storage, _ = world
    storage.write_json(paths.champion_pointer("BTCUSDT"), {"symbol": "BTCUSDT"})
    eth, btc = views.champions(storage)["champions"]
    assert eth["trade_ok"] is True
    assert btc["trade_ok"] is False and "champion/BTCUSDT/latest.json" in btc["reason"]
    assert "missing field" in btc["reason"]


def test_last_night_says_what_was_trained_promoted_refused_and_skipped_and_how_long_it_took(
    world: tuple[Storage, Engine],
) -> None:
    storage, db = world
    asked: list[str] = []

    def find_dag_run(as_of: str) -> dict[str, Any]:
        asked.append(as_of)
        return {"run_id": "scheduled__2026-11-24T02:00:00+00:00", "state": "success",
                "start_date": "2026-11-24T02:00:05+00:00", "end_date": "2026-11-24T02:31:05+00:00"}  # fmt: skip

    night = views.last_night(storage, db, find_dag_run=find_dag_run)["run"]
    assert asked == ["2026-11-24T02:00:00+00:00"]
    assert night["date"] == "2026-11-24" and night["run_id"] == "20261124_020000Z"
    assert night["trained"] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"] and night["promoted"] == ["ETHUSDT"]
    assert night["not_promoted"] == {
        "BTCUSDT": "kept champion 20261123_020000Z: champion better",
        "SOLUSDT": "gates failed: Sharpe -0.30 < 0.5",
    }
    assert night["skipped"] == {"RAREUSDT": "Low volume. Skipped."} and night["failed"] == {}
    # The runs table has this night (17 minutes); it wins over the DAG run, which is still linked.
    assert night["duration_s"] == 17 * 60 and night["status"] == "succeeded"
    assert night["dag_run"]["run_id"] == "scheduled__2026-11-24T02:00:00+00:00"


def test_a_night_run_by_airflow_takes_its_duration_and_state_from_the_dag_run(
    storage: Storage, tmp_path: Path
) -> None:
    write_archive(storage, now=NOW)
    empty = connect(f"sqlite:///{tmp_path / 'empty.db'}")
    upgrade(empty)
    run = {"run_id": "manual__1", "state": "success", "start_date": "2026-11-24T02:00:05+00:00",
           "end_date": "2026-11-24T02:31:05+00:00"}  # fmt: skip
    night = views.last_night(storage, empty, find_dag_run=lambda as_of: run)["run"]
    assert night["duration_s"] == 31 * 60 and night["status"] == "success"
    assert views.last_night(storage, empty)["run"]["duration_s"] is None


def test_promotions_are_newest_first_with_the_rollback_and_every_reason(
    world: tuple[Storage, Engine],
) -> None:
    storage, db = world
    moves = views.promotions(storage, db)
    assert moves["total"] == 4 and moves["warning"] is None
    assert [
        (m["symbol"], m["promoted_by"], m["from_model_id"], m["to_model_id"]) for m in moves["promotions"]
    ] == [
        ("BTCUSDT", "rollback", NEW, OLD),
        ("BTCUSDT", "mechanic", OLD, NEW),
        ("ETHUSDT", "engine", None, NEW),
        ("BTCUSDT", "engine", None, OLD),
    ]
    reasons = [m["reason"] for m in moves["promotions"]]
    # The rollback's reason is in its archive record; the Mechanic's comes from the database's promotions row.
    assert reasons[0].startswith("automatic: 25 trades") and reasons[1] == "paired lower bound 0.8 bps > 0"
    assert moves["promotions"][0]["rollback"] is True


def test_a_coins_model_history_has_its_models_moves_and_trials(world: tuple[Storage, Engine]) -> None:
    storage, db = world
    history = views.model_history(storage, db, "BTCUSDT")
    assert history["champion_model_id"] == OLD
    assert [(m["model_id"], m["status"], m["sharpe"]) for m in history["models"]] == [
        (NEW, "retired", 0.9),
        (OLD, "champion", 1.4),
    ]
    assert history["models"][0]["trained_as_of"].startswith("2026-11-24T02:00:00")
    assert len(history["promotions"]) == 3 and history["trials"] == 2
    assert views.coins(storage, db) == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]


def test_hamilton_shows_its_status_health_and_the_equity_curve_with_its_drawdown(
    world: tuple[Storage, Engine],
) -> None:
    storage, db = world
    write_status(storage, make_status(heartbeat=NOW - timedelta(minutes=5), run_key="paper"))
    record_daily_equity(
        db, trade_day=date(2026, 11, 25), mode="paper", equity=9_915.33, pnl_pct=-1.01, trades=3
    )
    shown = views.hamilton(storage, db, now=NOW, timeframe="15m", default_run_key="live")
    assert shown["run_key"] == "paper" and shown["health"]["ok"] is True
    assert shown["status"]["positions"]["BTCUSDT"]["side"] == "long"
    curve = shown["equity_curve"]
    assert [(p["day"], p["equity"]) for p in curve] == [
        ("2026-11-23", 10_000.0),
        ("2026-11-24", 10_016.5),
        ("2026-11-25", 9_915.33),
    ]
    assert curve[1]["drawdown_pct"] == 0.0
    assert curve[2]["drawdown_pct"] == pytest.approx((9_915.33 / 10_016.5 - 1) * 100)
    stale = views.hamilton(
        storage, db, now=NOW + timedelta(hours=2), timeframe="15m", default_run_key="paper"
    )
    assert stale["health"]["ok"] is False


def test_the_selector_section_shows_the_file_and_what_it_selects_from_the_roster_now(
    world: tuple[Storage, Engine],
) -> None:
    storage, _ = world
    assert views.selector(storage, configured=None)["selector"] is None
    write_selector(storage, SymbolsSelector(mode="list", symbols=["BTCUSDT", "ETHUSDT"], updated_by="telegram:7",
                                            updated_at=NOW))  # fmt: skip
    shown = views.selector(storage, configured=None)
    assert shown["selector"]["mode"] == "list" and shown["selector"]["updated_by"] == "telegram:7"
    assert shown["selection"]["symbols"] == ["ETHUSDT"]
    assert "not trade_ok" in shown["selection"]["dropped"]["BTCUSDT"]
    assert shown["pause"]["paused"] is False


def test_an_empty_archive_and_database_give_empty_sections_not_errors(
    storage: Storage, migrated: Engine
) -> None:
    page = _overview(storage, migrated)
    json.dumps(page)  # what the JSON endpoints send
    assert page["champions"] == {"updated_at": None, "champions": [], "trade_ok": []}
    assert page["last_night"] == {"run": None, "engine_status": None}
    assert page["promotions"] == {"promotions": [], "total": 0, "warning": None}
    assert page["hamilton"]["status"] is None and page["hamilton"]["equity_curve"] == []
    assert page["selector"]["selector"] is None and page["selector"]["selection"]["symbols"] == []
    assert page["models"] == {}


def test_the_overview_of_a_populated_world_is_plain_json(world: tuple[Storage, Engine]) -> None:
    storage, db = world
    page = _overview(storage, db, find_dag_run=lambda as_of: None)
    decoded = json.loads(json.dumps(page))
    assert not [name for name, value in decoded.items() if isinstance(value, dict) and "error" in value]
    assert set(decoded["models"]) == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}


def test_a_broken_file_becomes_its_sections_error_and_the_rest_of_the_page_still_reads(
    world: tuple[Storage, Engine],
) -> None:
    storage, db = world
    (Path(storage.root) / paths.champion_roster()).write_text("{ not json")
    (Path(storage.root) / paths.hamilton_status()).write_text('{"mode": "paper"}')
    page = _overview(storage, db)
    assert "champion/champion.json" in page["champions"]["error"]
    assert "hamilton_status.json" in page["hamilton"]["error"]
    assert "champion/champion.json" in page["selector"]["error"]
    assert page["promotions"]["total"] == 4 and page["last_night"]["run"]["run_id"] == "20261124_020000Z"


def test_an_unreachable_database_is_named_where_it_is_needed_and_the_archive_still_shows(
    world: tuple[Storage, Engine],
) -> None:
    storage, _ = world
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there once the probe is closed
    down = connect(f"postgresql+psycopg2://huracan:secret-pw@127.0.0.1:{port}/huracan", connect_timeout_s=2)
    page = _overview(storage, down)
    assert [r["symbol"] for r in page["champions"]["champions"]] == ["ETHUSDT", "BTCUSDT"]
    assert f"127.0.0.1:{port}" in page["promotions"]["warning"] and page["promotions"]["total"] == 4
    assert f"127.0.0.1:{port}" in page["hamilton"]["equity_error"]
    assert f"127.0.0.1:{port}" in page["models"]["error"]
    assert page["last_night"]["run"]["trained"] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert "secret-pw" not in json.dumps(page)


def test_a_database_without_tables_yet_leaves_its_rows_out_with_a_note_not_errors(
    storage: Storage, tmp_path: Path
) -> None:
    write_archive(storage, now=NOW)
    new_install = connect(f"sqlite:///{tmp_path / 'new.db'}")
    page = _overview(storage, new_install)
    assert "has no Huracan tables yet" in page["database_note"]
    assert not [k for k, v in page.items() if isinstance(v, dict) and "error" in v]
    assert [r["symbol"] for r in page["champions"]["champions"]] == ["ETHUSDT", "BTCUSDT"]
    assert page["promotions"]["total"] == 4 and page["promotions"]["warning"] is None
    assert page["models"]["BTCUSDT"]["models"] == [] and len(page["models"]["BTCUSDT"]["promotions"]) == 3
    assert page["hamilton"]["equity_curve"] == [] and page["hamilton"]["equity_error"] is None
    migrated_engine = connect(f"sqlite:///{tmp_path / 'huracan.db'}")
    upgrade(migrated_engine)
    assert views.database_note(migrated_engine) is None
