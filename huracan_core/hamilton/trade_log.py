"""The seed's trade log: `live_logs/trades/YYYYMMDD.parquet`, one row per closed trade, by exit day (UTC).

The database is the source of truth; a day's file is rewritten whole (atomically, local or S3) from the
closed trades the journal holds for that day, so a crash between the two leaves a file that the next
write makes right, never a half-written one. The columns are those of `huracan backtest`'s
trades.parquet where they mean the same thing, so the two files compare directly.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

import polars as pl

from huracan_core.archive import Storage, paths

log = logging.getLogger("huracan.hamilton")

# (column, dtype): the backtest's trade columns first, then what only a live log has.
TRADE_LOG_SCHEMA: dict[str, Any] = {
    "trade_id": pl.String,
    "symbol": pl.String,
    "side": pl.Int8,
    "size": pl.Float64,  # fraction of the coin's allocation, as in the backtest
    "max_size": pl.Float64,
    "bars_held": pl.Int64,
    "entry_time": pl.Int64,  # epoch ms of the entry bar's open
    "exit_time": pl.Int64,
    "entry_price": pl.Float64,  # the bar's open (the backtest's price)
    "exit_price": pl.Float64,
    "entry_cost_bps": pl.Float64,  # per-side cost charged at entry (decision bar's estimate)
    "costs_bps": pl.Float64,  # every fill of the trade, bps of the allocation
    "gross_pnl_pct": pl.Float64,
    "net_pnl_pct": pl.Float64,
    "engine_mix": pl.String,
    "regime": pl.String,
    "model_id": pl.String,
    "fee_bps": pl.Float64,  # the entry fill's components, per side
    "spread_bps": pl.Float64,
    "slippage_bps": pl.Float64,
    "quantity": pl.Float64,  # base units at entry
    "entry_fill_price": pl.Float64,  # what the broker filled at
    "exit_fill_price": pl.Float64,
    "guardrail_reason": pl.String,
    "mode": pl.String,  # paper | live | replay
    "run_key": pl.String,
}


SIDES = {1: "long", -1: "short"}


def to_journal(row: Mapping[str, Any]) -> dict[str, Any]:
    """A trade-log row as the journal's live_trades row: side in words, opened/closed as UTC datetimes."""
    out = {k: v for k, v in row.items() if k in TRADE_LOG_SCHEMA and k not in ("mode", "run_key")}
    out["side"] = SIDES[int(row["side"])]
    out["opened_at"] = datetime.fromtimestamp(int(row["entry_time"]) / 1000, UTC)
    exit_time = row.get("exit_time")
    out["closed_at"] = None if exit_time is None else datetime.fromtimestamp(int(exit_time) / 1000, UTC)
    return out


def from_journal(row: Mapping[str, Any]) -> dict[str, Any]:
    """A live_trades row back in the log's shape (side as +1 / -1, like the backtest)."""
    out = dict(row)
    out["side"] = 1 if row["side"] == "long" else -1
    return out


def trades_frame(rows: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """Trade rows as a frame with the log's columns and types (missing fields are null)."""
    records = [{name: row.get(name) for name in TRADE_LOG_SCHEMA} for row in rows]
    return pl.DataFrame(records, schema=TRADE_LOG_SCHEMA, orient="row")


def exit_day(row: Mapping[str, Any]) -> date:
    return datetime.fromtimestamp(int(row["exit_time"]) / 1000, UTC).date()


def write_day(storage: Storage, day: date, rows: Iterable[Mapping[str, Any]]) -> str:
    """Replace the day's file with `rows` (the day's closed trades, ordered by exit then symbol)."""
    frame = trades_frame(from_journal(r) if isinstance(r.get("side"), str) else r for r in rows)
    frame = frame.sort("exit_time", "symbol", "entry_time")
    key = paths.trades_log(day)
    storage.write_parquet(key, frame)
    return key


def read_days(storage: Storage, days: Iterable[date]) -> pl.DataFrame:
    """The log files of `days` stacked (absent days are skipped)."""
    frames = [storage.read_parquet(paths.trades_log(d)) for d in days if storage.exists(paths.trades_log(d))]
    return pl.concat(frames, how="diagonal") if frames else trades_frame([])
