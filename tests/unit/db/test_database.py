"""The database layer on SQLite and PostgreSQL: migrations, idempotent writers, README SQL, clear failures."""

from __future__ import annotations

import os
import socket
import time as clock
from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
import typer
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, func, inspect, select
from typer.testing import CliRunner

from huracan_core.cli import db as db_cli
from huracan_core.db import (
    README_SQL,
    DatabaseAccessError,
    DatabaseNotMigratedError,
    best_models,
    check_reachable,
    connect,
    current_revision,
    finish_run,
    get_run,
    head_revision,
    metadata,
    open_database,
    pnl_by_day,
    promotions_on,
    record_daily_equity,
    record_metrics,
    record_model,
    record_promotion,
    record_run,
    record_trade,
    upgrade,
)
from huracan_core.db.tables import (
    ALL_TABLES,
    daily_equity,
    live_trades,
    model_metrics,
    models,
    promotions,
    runs,
)
from huracan_core.exceptions import DatabaseUnavailableError

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
SECRET = "s3cret-pw-never-shown"


def _count(engine: Engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _model(engine: Engine, symbol: str, model_id: str, sharpe: float, *, status: str = "trained") -> None:
    record_model(
        engine,
        symbol=symbol,
        model_id=model_id,
        path=f"models/{symbol}/{model_id}",
        sha256="a" * 64,
        feature_recipe_hash="r" * 64,
        config_hash="c" * 64,
        trained_as_of=T0,
        created_at=T0 + timedelta(minutes=5),
        status=status,
    )
    record_metrics(engine, symbol=symbol, model_id=model_id, metrics={"sharpe": sharpe, "net_edge_bps": 3.5})


def _trade(trade_id: str, *, closed: bool, symbol: str = "BTCUSDT", hours: int = 2) -> dict:
    """A live_trades row as Hamilton writes it: open, or the same trade closed an hour later."""
    opened = T0 + timedelta(hours=hours)
    row = {
        "trade_id": trade_id,
        "symbol": symbol,
        "side": "long",
        "size": 0.5,
        "max_size": 0.5,
        "quantity": 0.01,
        "opened_at": opened,
        "entry_time": int(opened.timestamp() * 1000),
        "entry_price": 90_000.0,
        "entry_fill_price": 90_013.5,
        "entry_cost_bps": 13.5,
        "fee_bps": 10.0,
        "spread_bps": 1.5,
        "slippage_bps": 2.0,
        "model_id": "20261124_020000Z",
        "engine_mix": '{"breakout":0.7,"trend":0.3}',
        "regime": "TREND",
    }
    if closed:
        closed_at = opened + timedelta(hours=1)
        row.update(
            closed_at=closed_at,
            exit_time=int(closed_at.timestamp() * 1000),
            exit_price=90_900.0,
            exit_fill_price=90_887.7,
            costs_bps=13.5,
            gross_pnl_pct=0.5,
            net_pnl_pct=0.365,
            bars_held=1,
        )
    return row


def _cli() -> typer.Typer:
    root = typer.Typer()
    root.add_typer(db_cli.app, name="db")
    return root


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> CliRunner:
    """A CliRunner in an empty folder with no Huracan config or overrides in the environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HURACAN_CONFIG", raising=False)
    for name in list(os.environ):
        if name.startswith("HURACAN__"):
            monkeypatch.delenv(name)
    return CliRunner()


def _flat(text: str) -> str:
    return " ".join(text.split())


# --- migrations -------------------------------------------------------------------------------------
def test_upgrade_creates_every_table_exactly_as_tables_py_declares(db_url: str) -> None:
    assert current_revision(db_url) is None
    assert upgrade(db_url) == head_revision()
    engine = connect(db_url)
    try:
        names = set(inspect(engine).get_table_names())
        assert {table.name for table in ALL_TABLES} | {"alembic_version"} <= names
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
        assert diffs == []
    finally:
        engine.dispose()


def test_second_upgrade_is_a_no_op_that_keeps_the_rows(migrated: Engine) -> None:
    record_run(migrated, run_id="engine-2026-11-24", kind="engine", as_of=T0, started_at=T0)
    assert upgrade(migrated) == head_revision()
    assert current_revision(migrated) == head_revision()
    assert _count(migrated, runs) == 1


def test_unmigrated_database_says_to_run_huracan_db_upgrade(db_url: str) -> None:
    with pytest.raises(DatabaseNotMigratedError, match="huracan db upgrade"):
        open_database(db_url)
    engine = connect(db_url)
    try:
        with pytest.raises(DatabaseNotMigratedError, match="huracan db upgrade"):
            record_run(engine, run_id="r1", kind="engine", as_of=T0, started_at=T0)
    finally:
        engine.dispose()


# --- writers ----------------------------------------------------------------------------------------
def test_every_writer_called_twice_leaves_one_row_with_the_latest_values(migrated: Engine) -> None:
    for attempt in range(2):
        _model(migrated, "BTCUSDT", "20261124_020000Z", sharpe=1.0 + attempt)
        record_promotion(
            migrated,
            symbol="BTCUSDT",
            from_model_id=None,
            to_model_id="20261124_020000Z",
            promoted_by="engine",
            promoted_at=T0 + timedelta(hours=1),
            reason=f"first champion (attempt {attempt})",
            metrics={"to": {"sharpe": 1.0 + attempt}},
        )
        record_trade(migrated, mode="paper", **_trade("t-1", closed=bool(attempt)))
        record_daily_equity(
            migrated, trade_day=T0.date(), mode="paper", equity=10_000.0 + attempt, pnl_pct=0.5, trades=1
        )
    for table in (models, promotions, live_trades, daily_equity):
        assert _count(migrated, table) == 1, table.name
    assert _count(migrated, model_metrics) == 2
    assert best_models(migrated)[0]["metric_value"] == 2.0
    [promotion] = promotions_on(migrated, T0.date())
    assert promotion["reason"] == "first champion (attempt 1)"
    assert pnl_by_day(migrated, "paper")[0]["equity"] == 10_001.0
    with migrated.connect() as conn:
        trade = conn.execute(select(live_trades)).one()._mapping
    assert trade["exit_price"] == 90_900.0
    assert trade["closed_at"] == T0 + timedelta(hours=3)


def test_a_rerun_with_the_same_run_id_replaces_the_run_instead_of_adding_one(migrated: Engine) -> None:
    run = {"run_id": "engine-2026-11-24", "kind": "engine", "as_of": T0, "symbols_total": 3}
    record_run(migrated, **run, started_at=T0)
    finish_run(
        migrated,
        run_id="engine-2026-11-24",
        finished_at=T0 + timedelta(minutes=40),
        status="partial",
        symbols_succeeded=2,
        symbols_failed=0,
        symbols_skipped=1,
        detail={"skipped": {"SOLUSDT": "Low volume. Skipped."}},
    )
    record_run(migrated, **run, started_at=T0 + timedelta(days=1))  # Airflow clears and re-runs the date
    assert _count(migrated, runs) == 1
    again = get_run(migrated, "engine-2026-11-24")
    assert again is not None
    assert (again["status"], again["finished_at"], again["detail"]) == ("running", None, None)
    assert again["started_at"] == T0 + timedelta(days=1)
    finish_run(
        migrated,
        run_id="engine-2026-11-24",
        finished_at=T0 + timedelta(days=1, minutes=30),
        status="succeeded",
        symbols_succeeded=3,
        symbols_failed=0,
        symbols_skipped=0,
    )
    done = get_run(migrated, "engine-2026-11-24")
    assert done is not None and done["status"] == "succeeded" and done["symbols_total"] == 3


def test_times_come_back_as_the_same_aware_utc_instant(migrated: Engine) -> None:
    plus_two = datetime(2026, 11, 24, 7, 30, tzinfo=timezone(timedelta(hours=2)))
    record_run(migrated, run_id="r", kind="mechanic", as_of=plus_two, started_at=plus_two)
    row = get_run(migrated, "r")
    assert row is not None
    assert row["as_of"] == datetime(2026, 11, 24, 5, 30, tzinfo=UTC)
    assert row["as_of"].utcoffset() == timedelta(0)


def test_bad_values_are_refused_with_the_value_named(migrated: Engine) -> None:
    with pytest.raises(ValueError, match=r"naive|timezone-aware"):
        record_run(migrated, run_id="r", kind="engine", as_of=datetime(2026, 11, 24), started_at=T0)
    with pytest.raises(ValueError, match="'BTC/USDT'"):
        _model(migrated, "BTC/USDT", "m1", sharpe=1.0)
    with pytest.raises(ValueError, match="'demo'"):
        record_daily_equity(migrated, trade_day=T0.date(), mode="demo", equity=1.0, pnl_pct=0.0, trades=0)
    with pytest.raises(ValueError, match=r"'sharpe'.*nan"):
        _model(migrated, "ETHUSDT", "m1", sharpe=float("nan"))
    with pytest.raises(ValueError, match="call record_model first"):
        record_metrics(migrated, symbol="XRPUSDT", model_id="never", metrics={"sharpe": 1.0})
    assert _count(migrated, model_metrics) == 0


# --- readers and README SQL ---------------------------------------------------------------------------
def _sample(engine: Engine) -> tuple[datetime, datetime]:
    today = datetime.now(UTC).date()
    early_today = datetime.combine(today, time(0, 0, 1), tzinfo=UTC)
    yesterday = early_today - timedelta(hours=3)
    _model(engine, "BTCUSDT", "20261124_020000Z", sharpe=1.4, status="champion")
    _model(engine, "ETHUSDT", "20261124_020000Z", sharpe=2.1, status="champion")
    _model(engine, "SOLUSDT", "20261124_020000Z", sharpe=-0.3)
    record_metrics(
        engine, symbol="SOLUSDT", model_id="20261124_020000Z", metrics={"sharpe": 9.9}, scope="regime:TREND"
    )
    record_promotion(
        engine,
        symbol="ETHUSDT",
        from_model_id="20261123_020000Z",
        to_model_id="20261124_020000Z",
        promoted_by="mechanic",
        promoted_at=early_today,
        reason="challenger beat champion",
        metrics={"sharpe": 2.1},
    )
    record_promotion(
        engine,
        symbol="BTCUSDT",
        from_model_id=None,
        to_model_id="20261124_020000Z",
        promoted_by="engine",
        promoted_at=yesterday,
        reason="first champion",
    )
    record_daily_equity(
        engine, trade_day=date(2026, 11, 23), mode="paper", equity=10_050.0, pnl_pct=0.5, trades=4
    )
    record_daily_equity(
        engine, trade_day=date(2026, 11, 24), mode="paper", equity=9_949.5, pnl_pct=-1.0, trades=2
    )
    record_daily_equity(
        engine, trade_day=date(2026, 11, 24), mode="live", equity=500.0, pnl_pct=0.1, trades=1
    )
    return early_today, yesterday


def test_readme_queries_return_the_expected_rows(migrated: Engine) -> None:
    _sample(migrated)
    with migrated.connect() as conn:
        best = conn.exec_driver_sql(README_SQL["best_models"]).all()
        today = conn.exec_driver_sql(README_SQL["promotions_today"]).all()
        curve = conn.exec_driver_sql(README_SQL["equity_curve"]).all()
    assert [(r.symbol, r.sharpe) for r in best] == [("ETHUSDT", 2.1), ("BTCUSDT", 1.4), ("SOLUSDT", -0.3)]
    assert [(r.symbol, r.to_model_id, r.promoted_by) for r in today] == [
        ("ETHUSDT", "20261124_020000Z", "mechanic")
    ]
    assert [(str(r.trade_day)[:10], r.pnl_pct, r.trades) for r in curve] == [
        ("2026-11-23", 0.5, 4),
        ("2026-11-24", -1.0, 2),
    ]


def _hamilton_sample(engine: Engine) -> None:
    """Trades around the README's day 2026-11-24 UTC: closed just inside and just outside it, and open ones."""
    day_start = datetime(2026, 11, 24, tzinfo=UTC)
    edge = _trade("inside-first", closed=True, symbol="ETHUSDT")
    edge.update(
        opened_at=day_start - timedelta(hours=1),
        entry_time=int((day_start - timedelta(hours=1)).timestamp() * 1000),
    )
    edge.update(closed_at=day_start, exit_time=int(day_start.timestamp() * 1000))
    record_trade(engine, mode="paper", **edge)
    record_trade(engine, mode="paper", **_trade("inside", closed=True, hours=20))  # closes 2026-11-24 23:00
    after = _trade("next-day", closed=True, symbol="SOLUSDT", hours=21)  # closes 2026-11-25 00:00
    record_trade(engine, mode="paper", **after)
    record_trade(engine, mode="live", **_trade("other-run", closed=True, hours=5))
    record_trade(engine, mode="paper", **_trade("open-btc", closed=False, hours=22))
    record_trade(engine, mode="replay", run_key="replay:2026-11-01:2026-12-01", **_trade("r", closed=False))


def test_readme_hamilton_queries_return_the_expected_rows_in_any_session_time_zone(
    migrated: Engine,
) -> None:
    _hamilton_sample(migrated)
    # psql sessions outside UTC must see the same day; SQLite has no session time zone.
    zones = ["UTC", "Asia/Tokyo", "America/New_York"] if migrated.dialect.name == "postgresql" else [None]
    for zone in zones:
        with migrated.connect() as conn:
            if zone is not None:
                conn.exec_driver_sql(f"SET TIME ZONE '{zone}'")
            open_now = conn.exec_driver_sql(README_SQL["open_positions"]).all()
            of_day = conn.exec_driver_sql(README_SQL["trades_of_a_day"]).all()
        assert [(r.run_key, r.symbol, r.side) for r in open_now] == [
            ("paper", "BTCUSDT", "long"),
            ("replay:2026-11-01:2026-12-01", "BTCUSDT", "long"),
        ], zone
        assert [(r.symbol, r.net_pnl_pct) for r in of_day] == [("ETHUSDT", 0.365), ("BTCUSDT", 0.365)], zone


def test_readers_agree_with_the_readme_and_decode_their_values(migrated: Engine) -> None:
    early_today, yesterday = _sample(migrated)
    assert [(r["symbol"], r["metric_value"]) for r in best_models(migrated, limit=2)] == [
        ("ETHUSDT", 2.1),
        ("BTCUSDT", 1.4),
    ]
    assert best_models(migrated, metric="sharpe", scope="regime:TREND")[0]["symbol"] == "SOLUSDT"
    [today] = promotions_on(migrated, early_today.date())
    assert today["promoted_at"] == early_today and today["metrics"] == {"sharpe": 2.1}
    [before] = promotions_on(migrated, yesterday.date())
    assert before["symbol"] == "BTCUSDT" and before["from_model_id"] is None
    assert [(r["trade_day"], r["equity"]) for r in pnl_by_day(migrated, "paper")] == [
        (date(2026, 11, 23), 10_050.0),
        (date(2026, 11, 24), 9_949.5),
    ]


# --- failures -----------------------------------------------------------------------------------------
def test_unreachable_server_names_host_and_port_within_seconds() -> None:
    port = _free_port()
    engine = connect(f"postgresql+psycopg2://huracan:{SECRET}@127.0.0.1:{port}/huracan")
    started = clock.monotonic()
    with pytest.raises(DatabaseUnavailableError) as caught:
        check_reachable(engine)
    assert clock.monotonic() - started < 5
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message and "server is running" in message
    assert SECRET not in message


def test_a_server_that_accepts_but_never_answers_times_out_within_seconds() -> None:
    # A listening socket that is never read: TCP connects, the PostgreSQL handshake never completes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        engine = connect(f"postgresql+psycopg2://huracan@127.0.0.1:{port}/huracan", connect_timeout_s=2)
        started = clock.monotonic()
        with pytest.raises(DatabaseUnavailableError, match=f"127.0.0.1:{port}"):
            check_reachable(engine)
        assert clock.monotonic() - started < 4


def test_a_sqlite_file_in_an_unwritable_place_is_a_clear_error(tmp_path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(DatabaseAccessError, match="cannot create folder"):
        connect(f"sqlite:///{blocker / 'sub' / 'huracan.db'}")


@pytest.mark.postgres
def test_a_database_that_does_not_exist_is_an_access_error_naming_it(
    postgres_server: tuple[str, str],
) -> None:
    user, _ = postgres_server
    with pytest.raises(DatabaseAccessError, match=r"huracan_missing_db.*does not exist"):
        open_database(f"postgresql+psycopg2://{user}@127.0.0.1:5432/huracan_missing_db")


def test_cli_on_an_unreachable_server_prints_one_clear_error_without_traceback_or_password(
    cli_env: CliRunner,
) -> None:
    port = _free_port()
    result = cli_env.invoke(
        _cli(), ["db", "upgrade", "--db", f"postgresql+psycopg2://u:{SECRET}@127.0.0.1:{port}/h"]
    )
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    output = _flat(result.output)
    assert "DatabaseUnavailableError" in output and f"127.0.0.1:{port}" in output
    assert "Traceback" not in output and SECRET not in output


def test_cli_upgrade_migrates_a_fresh_database_and_current_reports_head(
    cli_env: CliRunner, db_url: str
) -> None:
    url = db_url.replace("postgresql+psycopg2://postgres@", f"postgresql+psycopg2://postgres:{SECRET}@")
    url = url.replace("postgresql+psycopg2://root@", f"postgresql+psycopg2://root:{SECRET}@")
    before = cli_env.invoke(_cli(), ["db", "current", "--db", url])
    assert before.exit_code == 1 and "not migrated" in before.output and "huracan db upgrade" in before.output
    first = cli_env.invoke(_cli(), ["db", "upgrade", "--db", url])
    assert first.exit_code == 0, first.output
    assert f"revision {head_revision()}" in _flat(first.output)
    second = cli_env.invoke(_cli(), ["db", "upgrade", "--db", url])
    assert second.exit_code == 0 and "nothing to do" in _flat(second.output)
    after = cli_env.invoke(_cli(), ["db", "current", "--db", url])
    assert after.exit_code == 0 and f"revision {head_revision()} (head)" in _flat(after.output)
    for result in (before, first, second, after):
        assert SECRET not in result.output
    if url.startswith("postgresql"):
        assert ":***@" in first.output
