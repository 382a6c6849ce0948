"""Migration 0002 (Hamilton's journal) on SQLite and PostgreSQL: old rows survive, the schema is tables.py's."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from alembic import command
from sqlalchemy import (
    Column,
    Date,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    func,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError

from huracan_core.db import (
    connect,
    current_revision,
    get_run,
    head_revision,
    pnl_by_day,
    record_metrics,
    record_model,
    record_promotion,
    record_run,
    upgrade,
)
from huracan_core.db.migrate import alembic_config
from huracan_core.db.tables import (
    ALL_TABLES,
    UtcDateTime,
    daily_equity,
    live_trades,
    model_metrics,
    models,
    promotions,
)
from huracan_core.hamilton.journal import Journal

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
OPENED = datetime(2026, 11, 24, 9, 0, 0, 250_000, tzinfo=UTC)  # a fraction of a second, to check the ms
CLOSED = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)

# The two tables 0002 rebuilds, as revision 0001 declared them (only what the inserts below need).
_OLD = MetaData()
LIVE_TRADES_0001 = Table(
    "live_trades",
    _OLD,
    *(Column(name, String()) for name in ("trade_id", "symbol", "side", "mode", "model_id")),
    *(Column(name, Float()) for name in ("size", "entry_price", "exit_price", "fee_bps", "cost_bps")),
    Column("net_pnl_pct", Float()),
    Column("opened_at", UtcDateTime()),
    Column("closed_at", UtcDateTime()),
)
DAILY_EQUITY_0001 = Table(
    "daily_equity",
    _OLD,
    Column("trade_day", Date()),
    Column("mode", String()),
    *(Column(name, Float()) for name in ("equity", "pnl_pct")),
    Column("trades", Integer()),
)


@pytest.fixture
def at_0001(db_url: str) -> Iterator[Engine]:
    """An Engine on a database migrated to 0001 only, holding a row in every 0001 table."""
    engine = connect(db_url)
    upgrade(engine, "0001")
    record_model(
        engine,
        symbol="BTCUSDT",
        model_id="20261124_020000Z",
        path="models/BTCUSDT/20261124_020000Z",
        sha256="a" * 64,
        feature_recipe_hash="r" * 64,
        config_hash="c" * 64,
        trained_as_of=T0,
        created_at=T0,
        status="champion",
    )
    record_metrics(engine, symbol="BTCUSDT", model_id="20261124_020000Z", metrics={"sharpe": 1.5})
    record_promotion(
        engine,
        symbol="BTCUSDT",
        from_model_id=None,
        to_model_id="20261124_020000Z",
        promoted_by="engine",
        promoted_at=T0,
        reason="first champion",
    )
    record_run(engine, run_id="engine-2026-11-24", kind="engine", as_of=T0, started_at=T0)
    # live_trades and daily_equity as 0001's writers wrote them (today's writers speak 0002's columns).
    with engine.begin() as conn:
        conn.execute(
            insert(LIVE_TRADES_0001),
            [
                {
                    "trade_id": "old-closed",
                    "symbol": "BTCUSDT",
                    "side": "long",
                    "size": 0.01,
                    "opened_at": OPENED,
                    "entry_price": 90_000.0,
                    "closed_at": CLOSED,
                    "exit_price": 90_900.0,
                    "fee_bps": 20.0,
                    "cost_bps": 4.0,
                    "net_pnl_pct": 0.76,
                    "mode": "paper",
                    "model_id": "20261124_020000Z",
                },
                {
                    "trade_id": "old-open",
                    "symbol": "ETHUSDT",
                    "side": "short",
                    "size": 2.5,
                    "opened_at": OPENED,
                    "entry_price": 3_000.0,
                    "closed_at": None,
                    "exit_price": None,
                    "fee_bps": None,
                    "cost_bps": None,
                    "net_pnl_pct": None,
                    "mode": "live",
                    "model_id": None,
                },
            ],
        )
        conn.execute(
            insert(DAILY_EQUITY_0001),
            [
                {
                    "trade_day": date(2026, 11, 23),
                    "mode": "paper",
                    "equity": 10_050.0,
                    "pnl_pct": 0.5,
                    "trades": 4,
                },
                {
                    "trade_day": date(2026, 11, 24),
                    "mode": "paper",
                    "equity": 9_949.5,
                    "pnl_pct": -1.0,
                    "trades": 2,
                },
                {
                    "trade_day": date(2026, 11, 24),
                    "mode": "live",
                    "equity": 500.0,
                    "pnl_pct": 0.1,
                    "trades": 1,
                },
            ],
        )
    try:
        yield engine
    finally:
        engine.dispose()


def _downgrade(engine: Engine, revision: str) -> None:
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def _count(engine: Engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def _rows(engine: Engine, table, *order) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(table).order_by(*order))]


def test_upgrading_a_0001_database_with_rows_keeps_every_row_and_maps_the_old_trade_columns(
    at_0001: Engine,
) -> None:
    assert current_revision(at_0001) == "0001"
    assert upgrade(at_0001) == head_revision()  # 0002 rebuilds the trade tables; later revisions add tables
    for table in (models, model_metrics, promotions):
        assert _count(at_0001, table) == 1, table.name
    assert get_run(at_0001, "engine-2026-11-24") is not None
    closed, still_open = _rows(at_0001, live_trades, live_trades.c.trade_id)
    assert closed == {
        "run_key": "paper",
        "trade_id": "old-closed",
        "symbol": "BTCUSDT",
        "side": "long",
        "size": None,  # 0001 never knew the fraction of equity
        "max_size": None,
        "quantity": 0.01,  # 0001's size was base units
        "opened_at": OPENED,
        "closed_at": CLOSED,
        "entry_time": 1_795_510_800_250,
        "exit_time": 1_795_525_200_000,
        "entry_price": 90_000.0,
        "exit_price": 90_900.0,
        "entry_fill_price": 90_000.0,
        "exit_fill_price": 90_900.0,
        "entry_cost_bps": 12.0,  # (20 fee + 4 spread and slippage, both legs) / 2
        "costs_bps": None,
        "fee_bps": 10.0,
        "spread_bps": None,
        "slippage_bps": None,
        "gross_pnl_pct": None,
        "net_pnl_pct": 0.76,
        "bars_held": None,
        "engine_mix": None,
        "regime": None,
        "guardrail_reason": None,
        "model_id": "20261124_020000Z",
        "mode": "paper",
    }
    assert (still_open["run_key"], still_open["trade_id"], still_open["quantity"]) == (
        "live",
        "old-open",
        2.5,
    )
    assert (still_open["closed_at"], still_open["exit_time"], still_open["entry_cost_bps"]) == (
        None,
        None,
        None,
    )
    assert int(OPENED.timestamp() * 1000) == still_open["entry_time"]
    assert [(r["trade_day"], r["equity"]) for r in pnl_by_day(at_0001, "paper")] == [
        (date(2026, 11, 23), 10_050.0),
        (date(2026, 11, 24), 9_949.5),
    ]
    assert [(r["trade_day"], r["equity"]) for r in pnl_by_day(at_0001, "live")] == [
        (date(2026, 11, 24), 500.0)
    ]
    assert _count(at_0001, daily_equity) == 3


def test_a_journal_reads_the_trades_migrated_from_0001(at_0001: Engine) -> None:
    upgrade(at_0001)
    [trade] = Journal(at_0001, "paper", "paper").trades_on(date(2026, 11, 24))
    assert trade["trade_id"] == "old-closed"
    assert Journal(at_0001, "live", "live").trades(closed_only=False)[0]["trade_id"] == "old-open"


def test_primary_keys_and_check_constraints_match_tables_py(migrated: Engine) -> None:
    # Alembic's compare_metadata (test_database) checks columns, types and indexes, not these two.
    inspector = inspect(migrated)
    for table in ALL_TABLES:
        pk = inspector.get_pk_constraint(table.name)
        assert pk["constrained_columns"] == [c.name for c in table.primary_key.columns], table.name
        stored = {c["name"] for c in inspector.get_check_constraints(table.name)}
        declared = {c.name for c in table.constraints if c.__class__.__name__ == "CheckConstraint"}
        assert stored == declared, table.name


@pytest.mark.parametrize(
    ("table", "column", "bad"),
    [("orders", "status", "lost"), ("fills", "side", "long"), ("hamilton_state", "mode", "demo")],
)
def test_the_database_itself_refuses_values_outside_the_allowed_sets(
    migrated: Engine, table: str, column: str, bad: str
) -> None:
    good = {
        "orders": {"run_key": "paper", "client_order_id": "c1", "symbol": "BTCUSDT", "side": "buy",
                   "quantity": 1.0, "bar_ms": 0, "model_id": "m", "leg": "open", "status": "intent",
                   "created_at": T0, "updated_at": T0, "mode": "paper"},
        "fills": {"run_key": "paper", "fill_id": "f1", "client_order_id": "c1", "symbol": "BTCUSDT",
                  "side": "buy", "quantity": 1.0, "price": 1.0, "fee_quote": 0.0, "filled_at": 0,
                  "mode": "paper"},
        "hamilton_state": {"run_key": "paper", "mode": "paper", "bar_ms": 0, "state": "{}", "updated_at": T0},
    }[table]  # fmt: skip
    target = next(t for t in ALL_TABLES if t.name == table)
    with migrated.begin() as conn:
        conn.execute(insert(target), good | {"run_key": "ok"})
    with pytest.raises(IntegrityError), migrated.begin() as conn:
        conn.execute(insert(target), good | {column: bad})


def test_replay_is_a_mode_that_trades_and_equity_accept(migrated: Engine) -> None:
    journal = Journal(migrated, "replay:2026-11-01:2026-12-01", "replay")
    journal.commit_bar(
        1, {}, equity={"trade_day": date(2026, 11, 1), "equity": 1.0, "pnl_pct": 0.0, "trades": 0}
    )
    assert journal.equity_curve()[0]["trade_day"] == date(2026, 11, 1)


def test_downgrade_to_0001_keeps_the_default_runs_rows_and_upgrades_back(at_0001: Engine) -> None:
    upgrade(at_0001)
    Journal(at_0001, "replay:x", "replay").commit_bar(
        5, {}, equity={"trade_day": date(2026, 11, 24), "equity": 2.0, "pnl_pct": 0.0, "trades": 0}
    )
    _downgrade(at_0001, "0001")
    assert current_revision(at_0001) == "0001"
    names = set(inspect(at_0001).get_table_names())
    assert not {"orders", "fills", "hamilton_state"} & names
    with at_0001.connect() as conn:
        trades = conn.execute(
            text("SELECT trade_id, size, fee_bps, cost_bps FROM live_trades ORDER BY trade_id")
        ).all()
        equity = conn.execute(text("SELECT mode, equity FROM daily_equity ORDER BY mode, trade_day")).all()
    assert [tuple(r) for r in trades] == [("old-closed", 0.01, 20.0, 4.0), ("old-open", 2.5, None, None)]
    assert [tuple(r) for r in equity] == [("live", 500.0), ("paper", 10_050.0), ("paper", 9_949.5)]
    assert upgrade(at_0001) == head_revision()
    assert _count(at_0001, live_trades) == 2


def test_an_upgrade_that_fails_half_way_leaves_the_0001_tables_and_rows_intact(tmp_path) -> None:
    # SQLite only: PostgreSQL's DDL is transactional by nature; SQLite's driver would commit each step.
    engine = connect(f"sqlite:///{tmp_path / 'huracan.db'}")
    try:
        upgrade(engine, "0001")
        with engine.begin() as conn:  # a time 0001's writer never wrote: 0002 cannot convert it and stops
            conn.execute(
                text(
                    "INSERT INTO live_trades (trade_id, symbol, side, size, opened_at, entry_price, mode) "
                    "VALUES ('bad', 'BTCUSDT', 'long', 1.0, 'yesterday', 1.0, 'paper')"
                )
            )
        with pytest.raises(IntegrityError, match="entry_time"):
            upgrade(engine)
        assert current_revision(engine) == "0001"
        assert "live_trades_old" not in inspect(engine).get_table_names()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT trade_id, size FROM live_trades")).all() == [("bad", 1.0)]
        with engine.begin() as conn:
            conn.execute(text("UPDATE live_trades SET opened_at = '2026-11-24 09:00:00.000000'"))
        assert upgrade(engine) == head_revision()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT trade_id, quantity, entry_time FROM live_trades")).all() == [
                ("bad", 1.0, 1_795_510_800_000)
            ]
    finally:
        engine.dispose()
