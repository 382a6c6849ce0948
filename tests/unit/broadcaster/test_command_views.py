"""What /status, /champions, /pnl, /promotions and /daily read, as plain data: from the archive and the
database, with every unreadable part named instead of a crash, and a PNG of equity and drawdown."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from huracan_core.archive import Storage, paths
from huracan_core.broadcaster.commands import (
    CommandError,
    DayPnl,
    champions_view,
    last_night,
    parse_days,
    pnl_view,
    promotions_view,
    status_view,
)
from huracan_core.broadcaster.daily_summary import daily_summary, drawdown_pct, equity_chart_png, summary_day
from huracan_core.db import connect, record_promotion, record_run, upgrade
from huracan_core.hamilton.control import SymbolsSelector, write_selector
from tests.stubs.telegram_bot import RANKING, TRADE_OK, make_world

NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    return make_world(tmp_path_factory.mktemp("views"), now=NOW)


@pytest.fixture
def db(world) -> Engine:
    engine = connect(world.db)
    yield engine
    engine.dispose()


def test_status_gathers_hamilton_the_control_files_and_the_last_night(world, db: Engine) -> None:
    view = status_view(world.storage, db, now=NOW, timeframe="15m")
    assert view.hamilton is not None and view.hamilton.run_key == "paper"
    assert view.heartbeat_age_s == 90 and not view.stale and view.stale_after_s == 2700
    assert not view.pause.paused and view.selector is None and view.problems == ()
    assert view.night.status == "succeeded" and view.night.source == "database"
    assert view.night.promoted == ("ETHUSDT",)  # from the night's summary, which the row lacks


def test_status_names_what_it_could_not_read_and_shows_the_rest(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "archive")
    storage.write_bytes(paths.hamilton_status(), b"{broken")
    storage.write_json(paths.pause_file(), {"paused": "maybe"})
    view = status_view(storage, None, now=NOW, timeframe="15m")
    assert view.hamilton is None and view.pause is None and view.night is None and view.stale
    assert len(view.problems) == 2
    assert (
        view.problems[0].startswith("Hamilton status: ")
        and "hamilton_status.json is not a valid" in view.problems[0]
    )
    assert view.problems[1].startswith("pause file: ")


def test_last_night_prefers_the_newer_of_the_runs_table_and_the_archive_summary(
    tmp_path: Path, world
) -> None:
    storage = Storage(tmp_path / "archive")
    assert last_night(storage, None) is None
    engine = connect(f"sqlite:///{tmp_path / 'h.db'}")
    upgrade(engine)
    night = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
    record_run(engine, run_id="engine-x", kind="engine", as_of=night, started_at=night, status="failed",
               symbols_total=3, symbols_failed=3)  # fmt: skip
    record_run(
        engine, run_id="mechanic-x", kind="mechanic", as_of=night + timedelta(days=1), started_at=night
    )
    assert last_night(storage, engine).status == "failed"
    # Airflow's nightly DAG writes no runs row, only the summary: a newer summary wins.
    storage.write_bytes(
        paths.daily_summary(date(2026, 12, 4)),
        world.storage.read_bytes(paths.daily_summary(date(2026, 12, 4))),
    )
    newer = last_night(storage, engine)
    assert newer.source == "summary" and newer.as_of.date() == date(2026, 12, 4) and newer.succeeded == 12
    engine.dispose()


def test_champions_come_in_ranking_order_marked_traded_under_the_selector(tmp_path: Path, world) -> None:
    storage = Storage(tmp_path / "archive")
    storage.write_bytes(paths.champion_roster(), world.storage.read_bytes(paths.champion_roster()))
    view = champions_view(storage, configured=None)
    assert [r.symbol for r in view.rows] == list(RANKING)
    assert [r.symbol for r in view.rows if r.traded] == list(TRADE_OK)  # no selector: every trade_ok champion
    write_selector(storage, SymbolsSelector(mode="top", n=2, updated_by="telegram:1", updated_at=NOW))
    view = champions_view(storage, configured=None)
    assert [r.symbol for r in view.rows if r.traded] == ["BTCUSDT", "ETHUSDT"]
    assert next(r for r in view.rows if r.symbol == "XRPUSDT").reason == "Sharpe 0.20 < 0.5"
    assert not champions_view(Storage(tmp_path / "none"), configured=None).roster_found


def test_pnl_covers_the_last_days_with_the_change_and_the_closed_trades(world, db: Engine) -> None:
    view = pnl_view(world.storage, db, days=7, now=NOW)
    assert view.run_key == "paper" and len(view.rows) == 7 and view.rows[-1].day == NOW.date()
    assert view.equity_before is not None
    assert view.change == pytest.approx(view.rows[-1].equity - view.equity_before)
    assert view.change_pct == pytest.approx(100 * (1.005**6 * 0.98 - 1))
    assert (view.trades_closed, view.wins) == (3, 2)
    assert view.best == ("BTCUSDT", 1.25) and view.worst == ("ETHUSDT", -0.4)
    one_day = pnl_view(world.storage, db, days=1, now=NOW)
    assert one_day.trades_closed == 0 and len(one_day.rows) == 1


def test_pnl_without_any_trading_run_says_so(tmp_path: Path) -> None:
    engine = connect(f"sqlite:///{tmp_path / 'h.db'}")
    upgrade(engine)
    assert pnl_view(Storage(tmp_path / "a"), engine, days=7, now=NOW).run_key is None
    engine.dispose()


@pytest.mark.parametrize(("args", "days"), [([], 7), (["30"], 30), (["1"], 1)])
def test_days_arguments(args: list[str], days: int) -> None:
    assert parse_days(args, default=7, maximum=366, what="/pnl") == days


@pytest.mark.parametrize("args", [["0"], ["367"], ["week"], ["1", "2"]])
def test_wrong_days_arguments_are_refused(args: list[str]) -> None:
    with pytest.raises(CommandError, match=r"/pnl takes a number of days from 1 to 366"):
        parse_days(args, default=7, maximum=366, what="/pnl")


def test_promotions_of_the_last_days_newest_first_with_a_limit(tmp_path: Path) -> None:
    engine = connect(f"sqlite:///{tmp_path / 'h.db'}")
    upgrade(engine)
    for hours in range(5):
        record_promotion(engine, symbol="BTCUSDT", from_model_id=None, to_model_id=f"2026120{hours}_020000Z",
                         promoted_by="mechanic", promoted_at=NOW - timedelta(hours=hours), reason="paired test")  # fmt: skip
    view = promotions_view(engine, days=1, now=NOW, limit=3)
    assert [r.to_model_id for r in view.rows] == ["20261200_020000Z", "20261201_020000Z", "20261202_020000Z"]
    assert view.more and view.rows[0].promoted_at == NOW
    assert promotions_view(engine, days=1, now=NOW + timedelta(days=2)).rows == ()
    engine.dispose()


def test_the_daily_summary_of_a_day_and_its_chart(world, db: Engine) -> None:
    day = summary_day(NOW)
    assert day == date(2026, 12, 4)
    summary = daily_summary(world.storage, db, day=day)
    assert summary.run_key == "paper" and summary.day_row.day == day and summary.day_row.pnl_pct == 0.5
    assert summary.pnl.trades_closed == 3 and [p.symbol for p in summary.promotions] == ["ETHUSDT"]
    assert summary.night is not None and summary.night.succeeded == 12
    assert len(summary.curve) == 20 and summary.max_drawdown_pct == pytest.approx(-2.0)
    png = equity_chart_png(summary.curve, title="Equity and drawdown")
    assert png is not None and png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5_000
    assert equity_chart_png([], title="none") is None
    one = equity_chart_png([DayPnl(day, 100.0, 0.0, 0)], title="one day")
    assert one is not None and one.startswith(b"\x89PNG")


def test_drawdown_is_the_fall_from_the_running_peak() -> None:
    assert drawdown_pct([100, 110, 99, 121]) == pytest.approx([0, 0, -10, 0])
