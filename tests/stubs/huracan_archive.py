"""An archive as the Engine, the Mechanic and Hamilton leave it, written file by file for the UI's tests.

Matches `tests.stubs.huracan_rows` (the same nights, models and moves), so a test can read one archive and one
database that agree. Bundles are not written (the page reads pointers, metrics.json and JSON records only).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from huracan_core.archive import Storage, paths
from huracan_core.archive.pointers import append_promotion
from tests.stubs.huracan_rows import MODELS, NEW, NIGHT_1, NIGHT_2, OLD

BUY_AND_HOLD = {"BTCUSDT": -4.5, "ETHUSDT": 1.2, "SOLUSDT": -7.0}  # % over each model's out-of-sample bars


def publish(
    storage: Storage,
    symbol: str,
    model_id: str,
    *,
    previous: str | None,
    promoted_by: str,
    at: datetime,
    reason: str | None = None,
) -> None:
    """The pointer of `symbol` moved to `model_id`, and that move appended to champion/promotions.json."""
    metrics = MODELS[symbol][model_id][1]
    folder = paths.model_dir(symbol, model_id)
    storage.write_json(
        f"{folder}/metrics.json",
        {**metrics, "benchmarks": {"buy_and_hold": {"net_pnl_pct": BUY_AND_HOLD[symbol]}, "flat": {}}},
    )
    pointer = {
        "symbol": symbol, "model_id": model_id, "path": folder, "model_sha256": "b" * 64,
        "feature_recipe_hash": "r" * 64, "promoted_at": at.isoformat(), "promoted_by": promoted_by,
        "as_of": at.isoformat(), "previous_model_id": previous,
        "metrics": {**metrics, "recent_net_pnl_pct": metrics["net_pnl_pct"] / 2},
    }  # fmt: skip
    storage.write_json(paths.champion_pointer(symbol), pointer)
    record = {"symbol": symbol, "model_id": model_id, "previous_model_id": previous, "promoted_at": at.isoformat(),
              "promoted_by": promoted_by, "as_of": at.isoformat(), "path": folder, "new_metrics": metrics}  # fmt: skip
    if reason is not None:
        record["reason"] = reason
    else:
        record["comparison"] = {"verdict": "no champion"}
    append_promotion(storage, record)


def write_roster(storage: Storage, entries: list[dict[str, Any]], *, at: datetime) -> None:
    storage.write_json(paths.champion_roster(), {"updated_at": at.isoformat(), "champions": entries})


def write_archive(storage: Storage, *, now: datetime) -> None:
    """The two nights and the rollback of `tests.stubs.huracan_rows`: champions BTCUSDT (rolled back to its
    older model at `now`) and ETHUSDT; SOLUSDT's model was rejected. The second night ran in Airflow (no
    wall time in its summary)."""
    publish(storage, "BTCUSDT", OLD, previous=None, promoted_by="engine", at=NIGHT_1 + timedelta(minutes=30))
    publish(storage, "ETHUSDT", NEW, previous=None, promoted_by="engine", at=NIGHT_2 + timedelta(minutes=30))
    publish(storage, "BTCUSDT", NEW, previous=OLD, promoted_by="mechanic", at=NIGHT_2 + timedelta(hours=3))
    publish(storage, "BTCUSDT", OLD, previous=NEW, promoted_by="rollback", at=now,
            reason="automatic: 25 trades since its promotion, PSR 0.010 < 0.05")  # fmt: skip
    write_roster(
        storage,
        [
            {"symbol": "ETHUSDT", "model_id": NEW, "trade_ok": True, "reason": None},
            {"symbol": "BTCUSDT", "model_id": OLD, "trade_ok": False, "reason": "Sharpe 1.40 < 1.5"},
        ],
        at=now,
    )
    run_id = "20261124_020000Z"
    storage.write_json(
        paths.daily_summary(NIGHT_2.date()),
        {
            "date": "2026-11-24", "as_of": NIGHT_2.isoformat(), "run_id": run_id, "timeframe": "15m",
            "lookback_days": 180, "data_source": "ccxt binance", "symbols_total": 4, "symbols_succeeded": 3,
            "symbols_failed": 0, "symbols_skipped": 1, "succeeded": ["BTCUSDT", "ETHUSDT", "SOLUSDT"],
            "failed": {}, "skipped": {"RAREUSDT": "Low volume. Skipped."}, "promoted": ["ETHUSDT"],
            "market": {"buy_and_hold_avg_net_pnl_pct": -3.4}, "wall_time_s": None,
        },
    )  # fmt: skip
    storage.write_json(
        f"{paths.engine_run_dir(run_id)}/published.json",
        {
            "verdicts": {
                "BTCUSDT": {"promoted": False, "reason": "kept champion 20261123_020000Z: champion better"},
                "ETHUSDT": {"promoted": True, "reason": "no champion"},
                "SOLUSDT": {"promoted": False, "reason": "gates failed: Sharpe -0.30 < 0.5"},
            }
        },
    )
