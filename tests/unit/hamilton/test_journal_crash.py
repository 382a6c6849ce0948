"""`kill -9` at any moment, on SQLite and PostgreSQL: a rerun resumes after a whole bar, nothing lost or doubled."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select

from huracan_core.db import connect, upgrade
from huracan_core.db.tables import daily_equity, fills, live_trades, orders
from huracan_core.hamilton.journal import Journal
from huracan_core.hamilton.orders import Fill, OrderIntent
from tests.unit.db.databases import db_url, postgres_server

__all__ = ["db_url", "postgres_server"]  # the database fixtures, shared with tests/unit/db

BAR0 = int(datetime(2026, 11, 24, tzinfo=UTC).timestamp() * 1000)
MINUTE_MS = 60_000


def _trade_until_killed(url: str) -> None:
    """Process body: Hamilton's loop reduced to its journal, one 1m bar after another, resuming where it was.

    Bar n (counting from 1) journals intent o<n>, then in one commit: opens trade t<n>, closes t<n-1>, fills
    o<n>, marks it filled, and sets the day's equity to n; the state says how many bars are done.
    """
    engine = connect(url)
    journal = Journal(engine, "paper", "paper")
    loaded = journal.load()
    n = loaded["state"]["bars_done"] + 1 if loaded else 1
    while True:
        bar_ms = BAR0 + n * MINUTE_MS
        opened = datetime.fromtimestamp(bar_ms / 1000, tz=UTC)
        order = OrderIntent(f"o{n}", "BTCUSDT", "buy", 0.01, bar_ms, "m1", "open", 90_000.0, 0.1)
        journal.record_intent(order)
        entry = {
            "trade_id": f"t{n}", "symbol": "BTCUSDT", "side": "long", "size": 0.1, "max_size": 0.1,
            "quantity": 0.01, "opened_at": opened, "entry_time": bar_ms, "entry_price": 90_000.0,
            "entry_fill_price": 90_010.0, "entry_cost_bps": 12.0, "fee_bps": 10.0, "spread_bps": 1.0,
            "slippage_bps": 1.0,
        }  # fmt: skip
        trades = [entry]
        if n > 1:
            previous = BAR0 + (n - 1) * MINUTE_MS
            closing = {
                **entry, "trade_id": f"t{n - 1}", "opened_at": datetime.fromtimestamp(previous / 1000, tz=UTC),
                "entry_time": previous, "closed_at": opened, "exit_time": bar_ms, "exit_price": 90_000.0,
                "exit_fill_price": 89_990.0, "costs_bps": 2.4, "gross_pnl_pct": 0.0, "net_pnl_pct": -0.024,
                "bars_held": 1,
            }  # fmt: skip
            trades.append(closing)
        journal.commit_bar(
            bar_ms,
            {"bars_done": n},
            trades=trades,
            fills=[Fill(f"o{n}", "BTCUSDT", "buy", 0.01, 90_010.0, 0.9, bar_ms)],
            orders=[{"client_order_id": f"o{n}", "status": "filled"}],
            equity={"trade_day": date(2026, 11, 24), "equity": float(n), "pnl_pct": 0.0, "trades": n},
        )
        n += 1


def _counts(url: str) -> dict[str, int]:
    engine = connect(url)
    try:
        with engine.connect() as conn:
            out = {
                t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (live_trades, fills)
            }
            out["open"] = conn.execute(
                select(func.count()).select_from(live_trades).where(live_trades.c.closed_at.is_(None))
            ).scalar_one()
            out["filled"] = conn.execute(
                select(func.count()).select_from(orders).where(orders.c.status == "filled")
            ).scalar_one()
            out["orders"] = conn.execute(select(func.count()).select_from(orders)).scalar_one()
            out["equity"] = conn.execute(select(daily_equity.c.equity)).scalar_one_or_none() or 0
        loaded = Journal(engine, "paper", "paper").load()
        out["bars_done"] = loaded["state"]["bars_done"] if loaded else 0
        return out
    finally:
        engine.dispose()


def test_a_run_killed_at_any_moment_resumes_after_a_whole_bar_with_nothing_lost_or_doubled(
    db_url: str,
) -> None:
    upgrade(db_url)
    ctx = multiprocessing.get_context("spawn")
    rng = random.Random(7)
    done_before = 0
    for _ in range(4):
        process = ctx.Process(target=_trade_until_killed, args=(db_url,))
        process.start()
        deadline = time.monotonic() + 60
        while _counts(db_url)["bars_done"] < done_before + 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.05))  # somewhere inside a bar: in its intent, its commit, or between
        os.kill(process.pid, signal.SIGKILL)  # type: ignore[arg-type]
        process.join(timeout=10)
        assert process.exitcode == -signal.SIGKILL
        seen: dict[str, Any] = _counts(db_url)
        n = seen["bars_done"]
        assert n >= done_before + 5
        # Everything of bars 1..n and nothing of a bar after n (except at most its journaled intent).
        assert seen == {
            "live_trades": n,
            "fills": n,
            "open": 1,
            "filled": n,
            "orders": seen["orders"],
            "equity": float(n),
            "bars_done": n,
        }
        assert seen["orders"] in (n, n + 1)
        done_before = n
