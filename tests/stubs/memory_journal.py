"""An in-memory stand-in for Hamilton's journal (same API), for loop tests that need no database."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any


class MemoryJournal:
    """Keeps the last committed bar, every trade by id and every fill; commits are all-or-nothing copies."""

    def __init__(self) -> None:
        self.saved: dict[str, Any] | None = None
        self.trade_rows: dict[str, dict[str, Any]] = {}
        self.fills: dict[str, Any] = {}
        self.equity: dict[date, Mapping[str, Any]] = {}
        self.commits = 0

    def load(self) -> dict[str, Any] | None:
        return copy.deepcopy(self.saved)

    def commit_bar(
        self,
        bar_ms: int,
        state: Mapping[str, Any],
        *,
        trades: Sequence[Mapping[str, Any]] = (),
        fills: Sequence[Any] = (),
        orders: Sequence[Mapping[str, Any]] = (),
        equity: Mapping[str, Any] | None = None,
    ) -> None:
        # Through JSON, as a database would store it: nothing that does not serialise may pass.
        self.saved = {"bar_ms": bar_ms, "state": json.loads(json.dumps(state))}
        for row in trades:
            self.trade_rows[str(row["trade_id"])] = json.loads(json.dumps(row))
        for fill in fills:
            self.fills[fill.client_order_id] = fill
        if equity is not None:
            self.equity[equity["trade_day"]] = dict(equity)
        self.commits += 1

    def trades_on(self, day: date) -> list[dict[str, Any]]:
        return [
            t for t in self.trade_rows.values()
            if t.get("exit_time") is not None and datetime.fromtimestamp(t["exit_time"] / 1000, UTC).date() == day
        ]  # fmt: skip

    def closed_trades(self) -> list[dict[str, Any]]:
        rows = [t for t in self.trade_rows.values() if t.get("exit_time") is not None]
        return sorted(rows, key=lambda t: (t["entry_time"], t["symbol"]))
