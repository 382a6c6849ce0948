"""Builders shared by the Hamilton status and CLI tests: a full status snapshot and a champion roster."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from huracan_core.hamilton.status import (
    ErrorEntry,
    GuardrailsStatus,
    HamiltonStatus,
    PositionStatus,
    SelectionStatus,
)

STARTED = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
BAR_MS = 1_796_465_700_000  # 2026-12-05 10:15 UTC


def make_status(*, heartbeat: datetime, **changes: Any) -> HamiltonStatus:
    """A paper run holding BTCUSDT, with ETHUSDT blocked and SOLUSDT dropped, and one recent error."""
    fields: dict[str, Any] = {
        "run_key": "paper-20261205T100000Z",
        "mode": "paper",
        "clock": "live",
        "started_at": STARTED,
        "heartbeat": heartbeat,
        "bar_ms": BAR_MS,
        "last_bar": {"BTCUSDT": BAR_MS, "ETHUSDT": BAR_MS - 2 * 900_000},
        "positions": {
            "BTCUSDT": PositionStatus(side="long", size=0.1, quantity=0.0103, entry_price=97_000.0,
                                      entry_time=BAR_MS - 900_000, model_id="20261205_020000Z"),
        },
        "equity": 10_012.5,
        "cash": 9_013.4,
        "guardrails": GuardrailsStatus(day="2026-12-05", day_start_equity=10_000.0, loss_cap_hit=False,
                                       blocked={"ETHUSDT": "STALE_DATA: newest closed bar is 2 bars old"}),
        "champions": {"BTCUSDT": "20261205_020000Z", "ETHUSDT": "20261205_020000Z"},
        "selection": SelectionStatus(symbols=["BTCUSDT", "ETHUSDT"], mode="list", how="list of 3, set by tester",
                                     dropped={"SOLUSDT": "no champion"}),
        "errors": [ErrorEntry(at=STARTED, message="database unreachable; 1 trade kept in the journal")],
        "pending_db_commits": 1,
    }
    fields.update(changes)
    return HamiltonStatus(**fields)


def roster_entry(symbol: str, *, trade_ok: bool = True, reason: str | None = None) -> dict[str, Any]:
    return {"symbol": symbol, "model_id": "20261205_020000Z", "trade_ok": trade_ok, "reason": reason,
            "recent_net_pnl_pct": 1.0}


def make_roster(*entries: dict[str, Any]) -> dict[str, Any]:
    """champion/champion.json as `write_roster` writes it: entries in ranking order."""
    return {"updated_at": "2026-12-05T02:30:00+00:00", "champions": list(entries)}
