"""Hamilton's journal on SQLite and PostgreSQL: one transaction per bar, resume, idempotence, no duplicates."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from huracan_core.db import trading
from huracan_core.db.tables import daily_equity, fills, hamilton_state, live_trades, orders
from huracan_core.hamilton.journal import Journal
from huracan_core.hamilton.orders import Fill, OrderIntent, client_order_id
from tests.unit.db.databases import db_url, migrated, postgres_server

__all__ = ["db_url", "migrated", "postgres_server"]  # the database fixtures, shared with tests/unit/db

DAY = date(2026, 11, 24)
HOUR_MS = 3_600_000
BAR0 = int(datetime(2026, 11, 24, tzinfo=UTC).timestamp() * 1000)  # 00:00 UTC, the first 1h bar of DAY
MODEL = "20261124_020000Z"


def bar(n: int) -> int:
    """Open time (epoch ms) of the n-th 1h bar of DAY."""
    return BAR0 + n * HOUR_MS


def at(n: int) -> datetime:
    return datetime.fromtimestamp(bar(n) / 1000, tz=UTC)


def trade(trade_id: str, entry: int, exit_: int | None = None, *, symbol: str = "BTCUSDT") -> dict[str, Any]:
    """A trade log row: opened at bar `entry`'s open, closed at bar `exit_`'s open when given."""
    row: dict[str, Any] = {
        "trade_id": trade_id,
        "symbol": symbol,
        "side": "long",
        "size": 0.25,
        "max_size": 0.25,
        "quantity": 0.03,
        "opened_at": at(entry),
        "entry_time": bar(entry),
        "entry_price": 90_000.0,
        "entry_fill_price": 90_012.0,
        "entry_cost_bps": 13.5,
        "fee_bps": 10.0,
        "spread_bps": 1.5,
        "slippage_bps": 2.0,
        "engine_mix": '{"breakout":0.6,"trend":0.4}',
        "regime": "TREND",
        "model_id": MODEL,
    }
    if exit_ is not None:
        row.update(
            closed_at=at(exit_),
            exit_time=bar(exit_),
            exit_price=91_000.0,
            exit_fill_price=90_988.0,
            costs_bps=6.75,
            gross_pnl_pct=0.28,
            net_pnl_pct=0.2125,
            bars_held=exit_ - entry,
        )
    return row


def intent(n: int, leg: str = "open", quantity: float = 0.03) -> OrderIntent:
    return OrderIntent(
        client_order_id=client_order_id("BTCUSDT", bar(n), MODEL, leg),
        symbol="BTCUSDT",
        side="buy" if leg == "open" else "sell",
        quantity=quantity,
        bar_ms=bar(n),
        model_id=MODEL,
        leg=leg,  # type: ignore[arg-type]
        reference_price=90_000.0,
        target_fraction=0.25,
        cost_bps=(10.0, 1.5, 2.0),
    )


def fill(order: OrderIntent, n: int, quantity: float, offset_ms: int = 0) -> Fill:
    return Fill(order.client_order_id, "BTCUSDT", order.side, quantity, 90_012.0, 2.7, bar(n) + offset_ms)


def equity(value: float, trades_: int = 1, day: date = DAY, pnl_pct: float = 0.0) -> dict[str, Any]:
    return {"trade_day": day, "equity": value, "pnl_pct": pnl_pct, "trades": trades_}


def count(engine: Engine, table, run_key: str | None = None) -> int:
    stmt = select(func.count()).select_from(table)
    if run_key is not None:
        stmt = stmt.where(table.c.run_key == run_key)
    with engine.connect() as conn:
        return conn.execute(stmt).scalar_one()


# --- resume -------------------------------------------------------------------------------------------
def test_a_new_run_loads_nothing(migrated: Engine) -> None:
    assert Journal(migrated, "paper", "paper").load() is None


def test_a_resumed_run_loads_exactly_the_last_committed_bar(migrated: Engine) -> None:
    first = Journal(migrated, "paper", "paper")
    for n in range(3):
        state = {
            "bar": n,
            "positions": {"BTCUSDT": {"fraction": 0.1 * n, "entry_ms": bar(0)}},
            "cash": 1e4 / 3,
        }
        first.commit_bar(bar(n), state)
    # A restarted process: a new Journal, nothing in memory.
    resumed = Journal(migrated, "paper", "paper").load()
    assert resumed == {
        "bar_ms": bar(2),
        "state": {
            "bar": 2,
            "positions": {"BTCUSDT": {"fraction": 0.1 * 2, "entry_ms": bar(0)}},
            "cash": 1e4 / 3,
        },
    }
    assert count(migrated, hamilton_state) == 1


def test_a_run_key_keeps_its_mode(migrated: Engine) -> None:
    Journal(migrated, "paper", "paper").commit_bar(bar(1), {})
    live = Journal(migrated, "paper", "live")
    with pytest.raises(ValueError, match="paper run; it cannot resume in live mode"):
        live.load()
    with pytest.raises(ValueError, match="paper run; it cannot continue in live mode"):
        live.commit_bar(bar(2), {})
    assert Journal(migrated, "paper", "paper").load() == {"bar_ms": bar(1), "state": {}}


# --- one transaction per bar --------------------------------------------------------------------------
def test_a_failure_in_the_middle_of_a_bar_leaves_nothing_of_that_bar(
    migrated: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Journal(migrated, "paper", "paper")
    order = intent(1)
    journal.record_intent(order)
    journal.commit_bar(bar(1), {"bar": 1}, trades=[trade("t1", 1)], equity=equity(10_000.0))
    real_save_orders = trading.save_orders

    def orders_then_crash(*args: Any, **kwargs: Any) -> None:
        real_save_orders(*args, **kwargs)  # state, trades, fills and orders are written by now
        raise RuntimeError("process fault before the equity row")

    monkeypatch.setattr(trading, "save_orders", orders_then_crash)
    with pytest.raises(RuntimeError, match="before the equity row"):
        journal.commit_bar(
            bar(2),
            {"bar": 2},
            trades=[trade("t1", 1, 2), trade("t2", 2)],
            fills=[fill(order, 2, 0.03)],
            orders=[{"client_order_id": order.client_order_id, "status": "filled"}],
            equity=equity(10_021.0, trades_=2),
        )
    assert journal.pending_commits == 0  # a bug is not an outage: raised, not queued
    assert Journal(migrated, "paper", "paper").load() == {"bar_ms": bar(1), "state": {"bar": 1}}
    [only] = journal.trades()
    assert (only["trade_id"], only["closed_at"]) == ("t1", None)
    assert count(migrated, fills) == 0
    assert [o["status"] for o in journal.orders()] == ["intent"]
    assert [e["equity"] for e in journal.equity_curve()] == [10_000.0]


def test_recommitting_the_same_bar_changes_nothing_and_an_older_bar_is_refused(migrated: Engine) -> None:
    journal = Journal(migrated, "paper", "paper")
    order = intent(2)
    journal.record_intent(order)
    writes = {
        "trades": [trade("t1", 1, 2), trade("t2", 2)],
        "fills": [fill(order, 3, 0.03)],
        "orders": [{"client_order_id": order.client_order_id, "status": "filled"}],
        "equity": equity(10_021.0, trades_=1),
    }
    journal.commit_bar(bar(2), {"bar": 2}, **writes)
    before = {t.name: count(migrated, t) for t in (live_trades, fills, orders, daily_equity, hamilton_state)}
    rows_before = journal.trades()
    # A run killed after its commit redoes the bar: the same commit again, from a fresh process.
    again = Journal(migrated, "paper", "paper")
    again.commit_bar(bar(2), {"bar": 2}, **writes)
    assert {
        t.name: count(migrated, t) for t in (live_trades, fills, orders, daily_equity, hamilton_state)
    } == before
    assert again.trades() == rows_before
    with pytest.raises(ValueError, match=rf"bar {bar(1)} .* older than its last committed bar {bar(2)}"):
        again.commit_bar(bar(1), {"bar": 1})
    # The database refuses it too, for a journal that never loaded.
    with pytest.raises(ValueError, match="never rewinds"):
        Journal(migrated, "paper", "paper").commit_bar(bar(1), {"bar": 1})
    assert again.load() == {"bar_ms": bar(2), "state": {"bar": 2}}


def test_fills_are_never_duplicated(migrated: Engine) -> None:
    journal = Journal(migrated, "paper", "paper")
    order = intent(1)
    journal.record_intent(order)
    # Two partial fills at the same instant and one a second later.
    first = [fill(order, 2, 0.01), fill(order, 2, 0.01), fill(order, 2, 0.01, offset_ms=1_000)]
    journal.commit_bar(bar(2), {}, fills=first)
    journal.commit_bar(bar(2), {}, fills=first)  # the same bar redone
    journal.commit_bar(bar(3), {}, fills=[*first, fill(order, 3, 0.005)])  # a broker repeating old fills
    with migrated.connect() as conn:
        stored = conn.execute(select(fills.c.fill_id, fills.c.quantity).order_by(fills.c.fill_id)).all()
    coid = order.client_order_id
    assert [tuple(r) for r in stored] == [
        (f"{coid}:{bar(2)}:0", 0.01),
        (f"{coid}:{bar(2)}:1", 0.01),
        (f"{coid}:{bar(2) + 1_000}:0", 0.01),
        (f"{coid}:{bar(3)}:0", 0.005),
    ]


# --- orders -------------------------------------------------------------------------------------------
def test_the_same_intent_twice_is_one_order_and_a_different_one_under_its_id_is_refused(
    migrated: Engine,
) -> None:
    journal = Journal(migrated, "live", "live")
    order = intent(1)
    journal.record_intent(order)
    journal.record_intent(order)
    assert [(o["client_order_id"], o["status"]) for o in journal.orders()] == [
        (order.client_order_id, "intent")
    ]
    journal.update_order(order.client_order_id, "placed", exchange_order_id="8812")
    journal.record_intent(order)  # a resumed run re-records what it already sent: nothing changes
    [placed] = journal.orders()
    assert (placed["status"], placed["exchange_order_id"]) == ("placed", "8812")
    with pytest.raises(ValueError, match=r"differs: quantity 0\.03 stored, 0\.05 given"):
        journal.record_intent(replace(order, quantity=0.05))
    assert count(migrated, orders) == 1


def test_order_statuses_follow_updates_and_bar_commits(migrated: Engine) -> None:
    journal = Journal(migrated, "paper", "paper")
    opened, closing = intent(1), intent(3, leg="close")
    with pytest.raises(ValueError, match="is not journaled"):
        journal.update_order(opened.client_order_id, "placed")
    journal.record_intent(opened)
    journal.update_order(opened.client_order_id, "placed", exchange_order_id="e1")
    # A paper run may create orders in its bar commit: an intent's dict plus a status will do.
    journal.commit_bar(
        bar(3),
        {},
        orders=[
            {"client_order_id": opened.client_order_id, "status": "filled"},
            {**closing.to_dict(), "status": "rejected", "reason": "notional below the market's minimum"},
        ],
    )
    rows = {o["client_order_id"]: o for o in journal.orders()}
    assert (rows[opened.client_order_id]["status"], rows[opened.client_order_id]["exchange_order_id"]) == (
        "filled",
        "e1",
    )
    assert rows[closing.client_order_id]["reason"] == "notional below the market's minimum"
    assert [o["leg"] for o in journal.orders(statuses=["rejected"])] == ["close"]
    assert journal.orders(statuses=["intent", "placed"]) == []
    created = rows[closing.client_order_id]
    assert created["created_at"].tzinfo is not None and created["mode"] == "paper"


# --- trades and readers -------------------------------------------------------------------------------
def test_a_trade_opened_then_closed_is_one_row_and_trades_on_is_that_days_trade_log(migrated: Engine) -> None:
    journal = Journal(migrated, "paper", "paper")
    journal.commit_bar(bar(1), {}, trades=[trade("t1", 1), trade("e1", 1, symbol="ETHUSDT")])
    journal.commit_bar(bar(5), {}, trades=[trade("t1", 1, 5)])
    journal.commit_bar(bar(23), {}, trades=[trade("e1", 1, 24, symbol="ETHUSDT")])  # exits at 00:00 next day
    journal.commit_bar(bar(24), {}, trades=[trade("s1", 24, symbol="SOLUSDT")])
    everything = journal.trades()
    assert [(t["trade_id"], t["symbol"]) for t in everything] == [
        ("t1", "BTCUSDT"),
        ("e1", "ETHUSDT"),
        ("s1", "SOLUSDT"),
    ]
    t1 = next(t for t in everything if t["trade_id"] == "t1")
    assert t1 == {**trade("t1", 1, 5), "run_key": "paper", "mode": "paper", "guardrail_reason": None}
    assert [t["trade_id"] for t in journal.trades_on(DAY)] == ["t1"]
    assert [t["trade_id"] for t in journal.trades_on(DAY + timedelta(days=1))] == ["e1"]
    assert [t["trade_id"] for t in journal.trades(closed_only=True)] == ["t1", "e1"]
    assert [t["trade_id"] for t in journal.trades(symbol="SOLUSDT")] == ["s1"]
    assert [t["trade_id"] for t in journal.trades(since_ms=bar(2))] == ["s1"]
    assert [t["trade_id"] for t in journal.trades(until_ms=bar(24))] == ["t1", "e1"]


def test_the_equity_curve_keeps_one_row_per_day_with_the_latest_values(migrated: Engine) -> None:
    journal = Journal(migrated, "paper", "paper")
    journal.commit_bar(bar(1), {}, equity=equity(10_000.0, 0))
    journal.commit_bar(bar(2), {}, equity=equity(10_050.0, 1, pnl_pct=0.5))
    journal.commit_bar(bar(25), {}, equity=equity(10_010.0, 2, day=DAY + timedelta(days=1), pnl_pct=-0.4))
    assert journal.equity_curve() == [
        {"trade_day": DAY, "equity": 10_050.0, "pnl_pct": 0.5, "trades": 1},
        {"trade_day": DAY + timedelta(days=1), "equity": 10_010.0, "pnl_pct": -0.4, "trades": 2},
    ]


def test_runs_with_the_same_ids_are_kept_apart_and_reset_deletes_only_its_own(migrated: Engine) -> None:
    # Two replays of overlapping windows decide the same orders: same client order ids, same trade ids.
    first = Journal(migrated, "replay:2026-11-01:2026-12-01", "replay")
    second = Journal(migrated, "replay:2026-11-15:2026-12-15", "replay")
    for journal in (first, second):
        order = intent(1)
        journal.record_intent(order)
        journal.commit_bar(
            bar(2), {"run": journal.run_key}, trades=[trade("t1", 2)], fills=[fill(order, 2, 0.03)],
            equity=equity(10_000.0),
        )  # fmt: skip
    assert count(migrated, live_trades) == count(migrated, fills) == count(migrated, orders) == 2
    first.reset()
    assert first.load() is None
    assert (first.trades(), first.orders(), first.equity_curve()) == ([], [], [])
    for table in (live_trades, fills, orders, daily_equity, hamilton_state):
        assert count(migrated, table, second.run_key) == 1, table.name
    assert second.load() == {"bar_ms": bar(2), "state": {"run": second.run_key}}
    first.commit_bar(bar(0), {"again": True})  # replaying from scratch may start before the old last bar
    assert first.load() == {"bar_ms": bar(0), "state": {"again": True}}


# --- checks -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"opened_at": datetime(2026, 11, 24, 1)}, "opened_at of trade t1 .* timezone-aware"),
        ({"net_pnl_pct": math.nan}, "net_pnl_pct of trade t1 .* nan"),
        ({"side": "buy"}, "side of trade t1 .* 'buy' is not one of long, short"),
        ({"size": -0.1}, "size of trade t1 .* must be positive"),
        ({"exit_price": 1.0}, "given together .* got only exit_price"),
        ({"pnl": 1.0}, "unknown fields pnl"),
        ({"entry_time": 1.5e12}, "entry_time of trade t1 .*must be epoch milliseconds"),
        ({"run_key": "live"}, "says run_key 'live', but it is written to run 'paper'"),
        ({"engine_mix": "breakout"}, "engine_mix of trade t1 .* is not JSON"),
    ],
)
def test_a_bad_trade_is_refused_with_the_problem_named_and_nothing_written(
    migrated: Engine, change: dict[str, Any], message: str
) -> None:
    journal = Journal(migrated, "paper", "paper")
    with pytest.raises(ValueError, match=message):
        journal.commit_bar(bar(1), {}, trades=[{**trade("t1", 1), **change}])
    assert journal.load() is None and count(migrated, live_trades) == 0


def test_a_closed_trade_needs_its_results(migrated: Engine) -> None:
    row = trade("t1", 1, 3)
    del row["net_pnl_pct"]
    with pytest.raises(ValueError, match="is closed but lacks net_pnl_pct"):
        Journal(migrated, "paper", "paper").commit_bar(bar(3), {}, trades=[row])


def test_other_bad_inputs_are_refused_with_the_problem_named(migrated: Engine) -> None:
    journal = Journal(migrated, "paper", "paper")
    with pytest.raises(ValueError, match="mode 'demo' is not one of paper, live, replay"):
        Journal(migrated, "paper", "demo")
    with pytest.raises(ValueError, match="run_key must be a non-empty string"):
        Journal(migrated, "", "paper")
    with pytest.raises(ValueError, match=r"state of bar .* cannot be stored as JSON"):
        journal.commit_bar(bar(1), {"open": {1, 2}})
    with pytest.raises(ValueError, match=r"state of bar .* cannot be stored as JSON"):
        journal.commit_bar(bar(1), {"equity": math.inf})
    with pytest.raises(ValueError, match="bar_ms must be epoch milliseconds"):
        journal.commit_bar(float(bar(1)), {})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expected exactly trade_day, equity, pnl_pct, trades"):
        journal.commit_bar(bar(1), {}, equity={"trade_day": DAY, "equity": 1.0})
    with pytest.raises(ValueError, match="trade_day must be a date"):
        journal.commit_bar(bar(1), {}, equity={**equity(1.0), "trade_day": at(1)})
    with pytest.raises(ValueError, match=r"status of order x .* 'done' is not one of intent, placed"):
        journal.update_order("x", "done")
    with pytest.raises(ValueError, match="a new order needs side, quantity"):
        journal.commit_bar(
            bar(1), {}, orders=[{"client_order_id": "x", "status": "intent", "symbol": "BTCUSDT"}]
        )
    with pytest.raises(ValueError, match=r"quantity of fill .* must be positive"):
        journal.commit_bar(bar(1), {}, fills=[fill(intent(1), 1, 0.0)])
    with pytest.raises(ValueError, match="trade_id 't1' is given twice"):
        journal.commit_bar(bar(1), {}, trades=[trade("t1", 1), trade("t1", 1)])
    assert journal.load() is None
