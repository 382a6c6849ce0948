"""The hourly Mechanic as steps: plan (universe, candles, encoder) -> challenge_batch (per coin batch) -> publish.

`huracan mechanic` and the `huracan_mechanic_hourly` DAG call exactly these functions. Like the Engine's
steps each takes the config path and dotted overrides and returns small JSON. A run is named by its hour
(YYYYMMDD_HHMMSSZ of the as-of floored to the hour); re-running an hour rewrites that hour's challengers,
its trial rows and its run files, and nothing else.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from huracan_core.archive import Storage, paths
from huracan_core.config import HuracanConfig
from huracan_core.engine import nightly

log = logging.getLogger("huracan.mechanic")


def hour_of(as_of: str | datetime) -> datetime:
    """The run's hour: the as-of (UTC) floored to the hour; the challenger folders are named after it."""
    return nightly.parse_as_of(as_of).replace(minute=0, second=0, microsecond=0)


def encoder_for(storage: Storage, run_id: str) -> str | None:
    """The newest shared encoder trained as of this hour or earlier (the nightly Engine's), or None."""
    keys = [k for k in storage.list(paths.encoders_root()) if k.rsplit("/", 1)[-1] <= run_id]
    return keys[-1] if keys else None


def _run_key(run_id: str, name: str) -> str:
    return f"{paths.mechanic_run_dir(run_id)}/{name}.json"


def plan_hour(config_path: str | None, as_of: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Universe, fresh candles (ccxt fills the lake), the encoder to stand on, and the coin batches."""
    from huracan_core.db import upgrade
    from huracan_core.engine.candles_step import prepare_candles
    from huracan_core.market import open_source, resolve_universe

    config = nightly.load_step_config(config_path, overrides)
    moment = hour_of(as_of)
    run_id = paths.model_id_for(moment)
    storage = Storage(config.general.archive)
    upgrade(config.general.database)
    source = open_source(config)
    symbols = resolve_universe(config.general.symbols, source, config.general.timeframe,
                               as_of_ms=int(moment.timestamp() * 1000))  # fmt: skip
    window = nightly._window(config, moment)
    outcome = prepare_candles(config, symbols, window, source=source)
    ok = [s for s in symbols if s in outcome.candles]
    k = nightly.batch_size(config, len(ok))
    encoder_key = encoder_for(storage, run_id)
    if encoder_key is None:
        log.warning("No shared encoder in the archive yet: challengers train their neural engine alone")
    plan = {
        "run_id": run_id,
        "as_of": moment.isoformat(),
        "symbols": ok,
        "batches": [ok[i : i + k] for i in range(0, len(ok), k)],
        "encoder_key": encoder_key,
        "window": {"start_ms": window.start_ms, "end_ms": window.end_ms},
        "skipped": dict(outcome.skipped),
        "failed": dict(outcome.failed),
    }
    storage.write_json(_run_key(run_id, "plan"), plan)
    return plan


def challenge_batch(
    batch: list[str],
    as_of: str,
    *,
    config_path: str | None,
    encoder_key: str | None,
    universe: Sequence[str] = (),
    overrides: dict[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """Build, evaluate and save one challenger per coin of the batch; {symbol: summary or {"error": why}}."""
    from huracan_core.db.connection import connect
    from huracan_core.engine.train import encoder_reach_ms, load_encoder, train_batch_heads
    from huracan_core.exceptions import DataIntegrityError
    from huracan_core.mechanic.challenger import evaluate_challenger
    from huracan_core.models.device import pick_device

    config = nightly.load_step_config(config_path, overrides)
    nightly._worker_logging(config)
    nightly._share_of_cores(config)
    moment = hour_of(as_of)
    run_id = paths.model_id_for(moment)
    storage = Storage(config.general.archive)
    encoder, meta = (None, {})
    if encoder_key:
        encoder, meta = load_encoder(storage, encoder_key)
    seen_until = encoder_reach_ms(meta)
    window = nightly._window(config, moment)
    data_window = {"as_of": moment.isoformat(), "start_ms": window.start_ms, "end_ms": window.end_ms,
                   "timeframe": window.timeframe, "source": config.data.source, "built_by": "mechanic"}  # fmt: skip
    frames = nightly.research_frames(config, batch, moment, universe=list(universe) or batch)
    heads: dict[str, Any] = {}
    if encoder is not None and frames:
        try:
            heads = train_batch_heads(frames, config, encoder=encoder, columns=meta["columns"], cutoff_ms=seen_until,
                                      device=str(pick_device(config.engine.device)))  # fmt: skip
        except (DataIntegrityError, ValueError, RuntimeError) as exc:
            log.warning("⚠️ Batched neural heads failed (%s); each coin trains its head alone.", exc)
    db = connect(config.general.database)
    results: dict[str, dict[str, Any]] = {}
    try:
        for symbol in batch:
            if symbol not in frames:
                results[symbol] = {"error": "no usable candles"}
                continue
            try:
                results[symbol] = evaluate_challenger(
                    frames[symbol], config, storage=storage, db=db, challenger_id=run_id, as_of=moment,
                    encoder=encoder, columns=meta.get("columns"), cutoff_ms=seen_until, encoder_key=encoder_key,
                    data_window=data_window, pretrained_heads=heads.get(symbol),
                )  # fmt: skip
            except (DataIntegrityError, ValueError) as exc:
                log.warning("⚠️ %s: %s", symbol, exc)
                results[symbol] = {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        db.dispose()
    return results


def publish_hour(
    config_path: str | None,
    plan: Mapping[str, Any],
    results: Sequence[Mapping[str, Mapping[str, Any]]],
    overrides: dict[str, Any] | None = None,
    *,
    lease_wait_s: float | None = None,
) -> dict[str, Any]:
    """Apply the promotion rule (promotion.py) under the publish lease; pointers, roster, database, trials.

    The lease is waited for up to `lease_wait_s` seconds (default mechanic.lease_wait_seconds); a holder
    still publishing some of the same coins after that raises LeaseBusyError and nothing is published.
    """
    from huracan_core.archive.lease import publish_lease
    from huracan_core.archive.pointers import read_pointer, read_promotions
    from huracan_core.archive.prune import prune_challengers
    from huracan_core.broadcaster import announce, messages
    from huracan_core.db import record_metrics, record_model, record_promotion, set_model_status
    from huracan_core.db.connection import connect
    from huracan_core.db.queries import record_trial
    from huracan_core.engine.champion import move_champion, write_roster
    from huracan_core.mechanic.promotion import last_move, mechanic_promotions_on, ranking_key, refusals
    from huracan_core.mechanic.rollback import auto_rollback

    config = nightly.load_step_config(config_path, overrides)
    storage = Storage(config.general.archive)
    moment = hour_of(plan["as_of"])
    run_id = plan["run_id"]
    wait_s = config.mechanic.lease_wait_seconds if lease_wait_s is None else lease_wait_s
    merged: dict[str, Mapping[str, Any]] = {}
    for batch in results:
        merged.update(batch)
    ok = {s: r for s, r in merged.items() if "error" not in r}
    failed = {s: str(r["error"]) for s, r in merged.items() if "error" in r}
    now = datetime.now(UTC)
    verdicts: dict[str, dict[str, Any]] = {}
    db = connect(config.general.database)
    try:
        with publish_lease(storage, f"mechanic:{run_id}", list(plan["symbols"]), wait_s=wait_s):
            # A champion whose realised trades prove it wrong goes first; the cooldown then keeps its coin's
            # challenger from replacing the restored model within the same hour.
            rollbacks: dict[str, dict[str, Any]] = {}
            for symbol in plan["symbols"]:
                outcome = auto_rollback(
                    storage, db, symbol, config.mechanic, gates=config.engine.gates, now=moment
                )
                if outcome.get("verdict") is not None and outcome["verdict"].get("due"):
                    rollbacks[symbol] = outcome
            today = mechanic_promotions_on(read_promotions(storage), moment)
            cap = config.mechanic.max_promotions_per_day
            for symbol in sorted(ok, key=lambda s: ranking_key(ok[s])):
                summary = ok[symbol]
                pointer = read_pointer(storage, symbol)
                reasons = refusals(summary, config, moment=moment, champion_since=last_move(pointer))
                expected = summary["paired"].get("champion_model_id")
                current = None if pointer is None else pointer["model_id"]
                if not reasons and current != expected:
                    reasons.append(
                        f"the champion changed to {current} since the paired test against {expected}"
                    )
                if not reasons and today >= cap:
                    reasons.append(f"daily cap: {today} Mechanic promotions today already (max {cap})")
                promoted = False
                if not reasons:
                    problem = move_champion(
                        storage, summary, promoted_by="mechanic", expected=expected, promoted_at=now,
                        as_of=moment, evidence={"paired_test": summary["paired"], "deflated": summary["deflated"]},
                    )  # fmt: skip
                    if problem is None:
                        promoted, today = True, today + 1
                    else:
                        reasons.append(problem)
                reason = "; ".join(reasons) if reasons else summary["paired"]["reason"]
                verdicts[symbol] = {"symbol": symbol, "model_id": summary["model_id"], "promoted": promoted,
                                    "previous_model_id": expected if promoted else None, "reason": reason,
                                    "refusals": reasons, "metrics": summary["metrics"],
                                    "champion_metrics": None if pointer is None else pointer.get("metrics"),
                                    "paired_test": summary["paired"], "deflated": summary["deflated"]}  # fmt: skip
                _record(db, config, summary, moment, now, promoted=promoted, reason=reason, expected=expected,
                        writers=(record_model, record_metrics, record_promotion, set_model_status, record_trial))  # fmt: skip
            roster = write_roster(storage, config.engine.gates, updated_at=now) if ok or rollbacks else None
            # Housekeeping: unpromoted challengers are kept for `keep_challengers` runs per coin.
            pruned = {
                s: prune_challengers(storage, s, config.mechanic.keep_challengers, protect={run_id})
                for s in ok
            }
    finally:
        db.dispose()
    promoted = sorted(s for s, v in verdicts.items() if v["promoted"])
    for symbol in promoted:
        announce(messages.mechanic_promotion(symbol, verdicts[symbol]), kind="promotions", config=config)
    refused = {s: v["refusals"][0] for s, v in verdicts.items() if not v["promoted"] and v["refusals"]}
    if refused:
        # One line for the hour, not one per coin: with the cooldown most challengers are refused most
        # hours, and a message per coin per hour would bury the promotions and rollbacks.
        announce(messages.mechanic_refusals(run_id, refused), kind="promotions", config=config)
    published = {
        "run_id": run_id,
        "as_of": plan["as_of"],
        "challengers": sorted(ok),
        "promoted": promoted,
        "verdicts": verdicts,
        "failed": failed,
        "roster": [e["symbol"] for e in roster["champions"] if e.get("trade_ok")] if roster else None,
        "rollbacks": rollbacks,
        "pruned": {s: p for s, p in pruned.items() if p},
    }
    storage.write_json(_run_key(run_id, "published"), published)
    return published


def _record(
    db: Any,
    config: HuracanConfig,
    summary: Mapping[str, Any],
    moment: datetime,
    now: datetime,
    *,
    promoted: bool,
    reason: str,
    expected: str | None,
    writers: tuple[Any, ...],
) -> None:
    """The challenger's rows: model and metrics, its trial's outcome, and the promotion when there was one."""
    record_model, record_metrics, record_promotion, set_model_status, record_trial = writers
    symbol, model_id = summary["symbol"], summary["model_id"]
    record_model(db, symbol=symbol, model_id=model_id, path=summary["path"], sha256=summary["model_sha256"],
                 feature_recipe_hash=summary["feature_recipe_hash"], config_hash=config.config_hash(),
                 trained_as_of=moment, created_at=now)  # fmt: skip
    record_metrics(db, symbol=symbol, model_id=model_id,
                   metrics={k: v for k, v in summary["metrics"].items() if isinstance(v, int | float)})  # fmt: skip
    metrics = summary["metrics"]
    record_trial(db, symbol=symbol, model_id=model_id, as_of=moment, evaluated_at=now,
                 oos_bars=int(summary.get("oos_bars") or 0), oos_trades=int(metrics.get("trades") or 0),
                 oos_sharpe=metrics.get("sharpe"), net_pnl_pct=metrics.get("net_pnl_pct"),
                 model_trials=int(summary["deflated"]["model_trials"]), promoted=promoted, reason=reason)  # fmt: skip
    if not promoted:
        set_model_status(db, symbol=symbol, model_id=model_id, status="challenger")
        return
    record_promotion(db, symbol=symbol, from_model_id=expected, to_model_id=model_id, promoted_by="mechanic",
                     promoted_at=now, reason=reason, metrics={"to": dict(metrics), "paired_test": summary["paired"]})  # fmt: skip
    if expected:
        try:
            set_model_status(db, symbol=symbol, model_id=expected, status="retired")
        except ValueError:  # a champion the database never recorded (an archive without its database)
            log.warning("%s: champion %s is not in the database; its status is not updated", symbol, expected)
    set_model_status(db, symbol=symbol, model_id=model_id, status="champion")


@dataclass
class MechanicRunResult:
    """What one hourly pass did (plain data: the CLI and callers only format it)."""

    run_id: str
    as_of: str
    symbols: list[str]
    challengers: list[str] = field(default_factory=list)
    promoted: list[str] = field(default_factory=list)
    rolled_back: list[str] = field(default_factory=list)
    verdicts: dict[str, Any] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    wall_time_s: float = 0.0
    seconds_per_coin: dict[str, float] = field(default_factory=dict)


def run_mechanic(
    config_path: str | None,
    as_of: str | datetime,
    *,
    overrides: Mapping[str, Any] | None = None,
    in_process: bool = False,
) -> MechanicRunResult:
    """One hourly pass outside Airflow: plan, challengers (fanned out by the Engine's scheduler, or in this
    process), publish. The run is recorded in the database's `runs` table (kind mechanic)."""
    from huracan_core.db import finish_run, record_run
    from huracan_core.db.connection import connect
    from huracan_core.engine.scheduler import ScheduleConfig, run_schedule

    overrides = dict(overrides or {})
    config = nightly.load_step_config(config_path, overrides)
    started = time.monotonic()
    moment = hour_of(as_of)
    plan = plan_hour(config_path, moment.isoformat(), overrides)
    result = MechanicRunResult(run_id=plan["run_id"], as_of=plan["as_of"], symbols=list(plan["symbols"]),
                               skipped=dict(plan["skipped"]), failed=dict(plan["failed"]))  # fmt: skip
    db = connect(config.general.database)
    run_key = f"mechanic-{plan['run_id']}"
    record_run(db, run_id=run_key, kind="mechanic", as_of=moment, started_at=datetime.now(UTC))
    try:
        kwargs = {"as_of": plan["as_of"], "config_path": config_path, "encoder_key": plan["encoder_key"],
                  "universe": plan["symbols"], "overrides": overrides}  # fmt: skip
        if in_process:
            batches = [challenge_batch(batch, **kwargs) for batch in plan["batches"]]
        else:
            schedule = ScheduleConfig.from_engine(
                config.engine, coins_per_batch=nightly.batch_size(config, len(plan["symbols"]))
            )
            report = run_schedule(plan["symbols"], challenge_batch, config=schedule, as_of=plan["run_id"],
                                  ledger=None, force=True, kwargs=kwargs)  # fmt: skip
            batches = [report.results()]
            result.failed.update(report.failed)
        published = publish_hour(config_path, plan, batches, overrides)
    except Exception as exc:
        finish_run(db, run_id=run_key, finished_at=datetime.now(UTC), status="failed", symbols_succeeded=0,
                   symbols_failed=len(result.symbols), symbols_skipped=len(result.skipped),
                   detail={"error": str(exc)}, symbols_total=len(result.symbols))  # fmt: skip
        db.dispose()
        raise
    result.challengers = list(published["challengers"])
    result.promoted = list(published["promoted"])
    result.rolled_back = sorted(s for s, r in published["rollbacks"].items() if r.get("rolled_back"))
    result.verdicts = dict(published["verdicts"])
    result.failed.update(published["failed"])
    result.wall_time_s = round(time.monotonic() - started, 2)
    for batch in batches:
        for symbol, summary in batch.items():
            if "seconds" in summary:
                result.seconds_per_coin[symbol] = summary["seconds"]
    finish_run(db, run_id=run_key, finished_at=datetime.now(UTC),
               status="succeeded" if not result.failed else "partial",
               symbols_succeeded=len(result.challengers), symbols_failed=len(result.failed),
               symbols_skipped=len(result.skipped), symbols_total=len(result.symbols),
               detail={"promoted": result.promoted, "wall_time_s": result.wall_time_s})  # fmt: skip
    db.dispose()
    return result
