"""Rows in every table a user queries, as the Engine, the Mechanic, a rollback and Hamilton write them.

Two nights of BTCUSDT / ETHUSDT / SOLUSDT (2026-11-23 and -24, 02:00 UTC), a rollback of BTCUSDT at `now`, a
paper run with trades closed on 2026-11-24 and one still open, its equity per day, Mechanic trials and the runs.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from huracan_core.db import (
    record_daily_equity,
    record_metrics,
    record_model,
    record_promotion,
    record_run,
    record_trade,
)
from huracan_core.db.queries import finish_run, record_trial

NIGHT_1 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
NIGHT_2 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
OLD, NEW = "20261123_020000Z", "20261124_020000Z"

# symbol -> model id -> (status, out-of-sample metrics)
MODELS: dict[str, dict[str, tuple[str, dict[str, float]]]] = {
    "BTCUSDT": {
        OLD: ("champion", {"net_pnl_pct": 2.5, "sharpe": 1.4, "deflated_sharpe": 0.8, "max_drawdown_pct": 3.0,
                           "trades": 41}),
        NEW: ("retired", {"net_pnl_pct": 1.1, "sharpe": 0.9, "deflated_sharpe": 0.6, "max_drawdown_pct": 4.2,
                          "trades": 37}),
    },
    "ETHUSDT": {
        NEW: ("champion", {"net_pnl_pct": 3.3, "sharpe": 2.1, "deflated_sharpe": 0.9, "max_drawdown_pct": 2.0,
                           "trades": 52}),
    },
    "SOLUSDT": {
        NEW: ("rejected", {"net_pnl_pct": -0.4, "sharpe": -0.3, "deflated_sharpe": 0.1, "max_drawdown_pct": 6.5,
                           "trades": 12}),
    },
}  # fmt: skip


def trade(
    trade_id: str, *, symbol: str, opened: datetime, closed: bool, net_pnl_pct: float = 0.365
) -> dict[str, Any]:
    """A live_trades row as Hamilton writes it: open, or the same trade closed an hour later."""
    row: dict[str, Any] = {
        "trade_id": trade_id, "symbol": symbol, "side": "long", "size": 0.5, "max_size": 0.5, "quantity": 0.01,
        "opened_at": opened, "entry_time": int(opened.timestamp() * 1000), "entry_price": 90_000.0,
        "entry_fill_price": 90_013.5, "entry_cost_bps": 13.5, "fee_bps": 10.0, "spread_bps": 1.5,
        "slippage_bps": 2.0, "model_id": NEW, "engine_mix": '{"breakout":0.7,"trend":0.3}', "regime": "TREND",
    }  # fmt: skip
    if closed:
        closed_at = opened + timedelta(hours=1)
        row.update(
            closed_at=closed_at, exit_time=int(closed_at.timestamp() * 1000), exit_price=90_900.0,
            exit_fill_price=90_887.7, costs_bps=13.5, gross_pnl_pct=net_pnl_pct + 0.135, net_pnl_pct=net_pnl_pct,
            bars_held=4,
        )  # fmt: skip
    return row


def seed_database(engine: Engine, *, now: datetime) -> None:
    """Write the rows above; `now` (UTC, after NIGHT_2) is when BTCUSDT was rolled back to its older model."""
    for symbol, by_id in MODELS.items():
        for model_id, (status, metrics) in by_id.items():
            trained = NIGHT_1 if model_id == OLD else NIGHT_2
            record_model(
                engine, symbol=symbol, model_id=model_id, path=f"models/{symbol}/{model_id}", sha256="a" * 64,
                feature_recipe_hash="r" * 64, config_hash="c" * 64, trained_as_of=trained,
                created_at=trained + timedelta(minutes=20), status=status,
            )  # fmt: skip
            record_metrics(engine, symbol=symbol, model_id=model_id, metrics=metrics)
            record_metrics(
                engine, symbol=symbol, model_id=model_id, metrics={"sharpe": 1.0}, scope="regime:TREND"
            )
    moves = [
        ("BTCUSDT", None, OLD, "engine", NIGHT_1 + timedelta(minutes=30), "no champion"),
        ("ETHUSDT", None, NEW, "engine", NIGHT_2 + timedelta(minutes=30), "no champion"),
        ("BTCUSDT", OLD, NEW, "mechanic", NIGHT_2 + timedelta(hours=3), "paired lower bound 0.8 bps > 0"),
        ("BTCUSDT", NEW, OLD, "rollback", now, "automatic: 25 trades since its promotion, PSR 0.010 < 0.05"),
    ]
    for symbol, before, after, who, at, reason in moves:
        record_promotion(
            engine, symbol=symbol, from_model_id=before, to_model_id=after, promoted_by=who, promoted_at=at,
            reason=reason, metrics={"to": MODELS[symbol][after][1]},
        )  # fmt: skip
    day = datetime(2026, 11, 24, tzinfo=UTC)
    record_trade(
        engine, mode="paper", **trade("t1", symbol="BTCUSDT", opened=day + timedelta(hours=3), closed=True)
    )
    record_trade(engine, mode="paper", **trade("t2", symbol="ETHUSDT", opened=day + timedelta(hours=9), closed=True,
                                               net_pnl_pct=-0.2))  # fmt: skip
    record_trade(
        engine, mode="paper", **trade("t3", symbol="BTCUSDT", opened=day + timedelta(hours=22), closed=False)
    )
    record_trade(engine, mode="replay", run_key="replay:20261101T0000:20261201T0000",
                 **trade("r1", symbol="ETHUSDT", opened=day, closed=True))  # fmt: skip
    for trade_day, equity, pnl, trades in (
        (date(2026, 11, 23), 10_000.0, 0.0, 0),
        (date(2026, 11, 24), 10_016.5, 0.165, 2),
    ):
        record_daily_equity(
            engine, trade_day=trade_day, mode="paper", equity=equity, pnl_pct=pnl, trades=trades
        )
    for symbol, hour, promoted, reason in (
        ("BTCUSDT", NIGHT_2 + timedelta(hours=2), False, "paired lower bound -0.2 bps <= 0"),
        ("BTCUSDT", NIGHT_2 + timedelta(hours=3), True, "paired lower bound 0.8 bps > 0"),
        ("ETHUSDT", NIGHT_2 + timedelta(hours=3), False, "cooldown: last move 2.5 h ago"),
    ):
        record_trial(
            engine, symbol=symbol, model_id=hour.strftime("%Y%m%d_%H%M%SZ"), as_of=hour,
            evaluated_at=hour + timedelta(minutes=4), oos_bars=960, oos_trades=22, oos_sharpe=0.7, net_pnl_pct=0.4,
            model_trials=80, promoted=promoted, reason=reason,
        )  # fmt: skip
    runs = [
        ("engine-20261124_020000Z", "engine", NIGHT_2),
        ("mechanic-20261124_050000Z", "mechanic", NIGHT_2 + timedelta(hours=3)),
    ]
    for run_id, kind, started in runs:
        record_run(engine, run_id=run_id, kind=kind, as_of=started, started_at=started, symbols_total=3)
        finish_run(engine, run_id=run_id, finished_at=started + timedelta(minutes=17), status="succeeded",
                   symbols_succeeded=3, symbols_failed=0, symbols_skipped=0)  # fmt: skip
