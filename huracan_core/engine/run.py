"""A whole nightly Engine run outside Airflow (`huracan engine`, `run_daily.py`): the same steps as the DAG,
with the per-batch step fanned out by the hybrid scheduler, engine_status.json kept current throughout,
the run recorded in the database, and resume: coins already done for this as-of are skipped unless forced.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from huracan_core import __version__
from huracan_core.archive import Storage, paths
from huracan_core.config import describe_database
from huracan_core.engine import nightly
from huracan_core.engine.schedule_report import Event
from huracan_core.logs import log_file
from huracan_core.status import StatusWriter

log = logging.getLogger("huracan.engine")


@dataclass
class EngineRunResult:
    """What the run did and where its outputs are (plain data: the CLI and callers only format it)."""

    run_id: str
    as_of: str
    symbols: list[str]
    trained: list[str] = field(default_factory=list)
    promoted: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    resumed: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    wall_time_s: float = 0.0
    max_concurrency: int = 0


def run_engine(
    config_path: str | None,
    as_of: datetime,
    *,
    overrides: Mapping[str, Any] | None = None,
    force: bool = False,
    progress: Any | None = None,
) -> EngineRunResult:
    """Run universe -> candles -> encoder -> train batches -> publish -> report as of `as_of` (UTC).

    `overrides` are dotted config keys (command-line flags) that every worker applies too. `progress` is
    an optional object with start(total), advance(symbol), stop() (the CLI's rich bar).
    """
    from huracan_core.db import finish_run, record_run, upgrade
    from huracan_core.db.connection import connect
    from huracan_core.engine.resume import ResumeLedger
    from huracan_core.engine.scheduler import ScheduleConfig, run_schedule

    overrides = dict(overrides or {})
    config = nightly.load_step_config(config_path, overrides)
    started = time.monotonic()
    as_of_text = nightly.parse_as_of(as_of).isoformat()
    run_id = nightly.run_id_for(nightly.parse_as_of(as_of))
    storage = Storage(config.general.archive)
    with log_file(config.general.log_dir, name="engine"):
        log.info("Engine starting (v%s), as of %s UTC", __version__, as_of_text[:16].replace("T", " "))
        status = StatusWriter(storage, job="engine", symbols_total=0)
        upgrade(config.general.database)
        db = connect(config.general.database)
        record_run(db, run_id=f"engine-{run_id}", kind="engine", as_of=nightly.parse_as_of(as_of),
                   started_at=datetime.now(UTC))
        result = EngineRunResult(run_id=run_id, as_of=as_of_text, symbols=[])
        try:
            status.phase("universe")
            plan = nightly.plan_step(config_path, as_of_text, overrides)
            result.symbols = list(plan["symbols"])
            status.status.symbols_total = len(plan["symbols"])
            status.phase("candles")
            candles = nightly.candles_step(config_path, plan, overrides)
            for symbol, reason in {**candles["skipped"], **candles["failed"]}.items():
                status.skipped(symbol, reason)
            result.skipped = dict(candles["skipped"])
            result.failed.update(candles["failed"])
            status.phase("shared encoder")
            encoder = nightly.encoder_step(config_path, plan, candles, overrides)

            status.phase("training")
            ledger = ResumeLedger(storage, paths.engine_ledger(run_id))
            schedule = ScheduleConfig.from_engine(
                config.engine, coins_per_batch=nightly.batch_size(config, len(candles["ok"]))
            )
            if progress is not None:
                progress.start(len(candles["ok"]))

            def on_event(event: Event) -> None:
                if event.kind == "started":
                    status.working_on(", ".join(event.symbols))
                elif event.kind in ("finished", "skipped"):
                    for symbol in event.symbols:
                        status.done(symbol)
                        if progress is not None:
                            progress.advance(symbol)
                elif event.kind in ("failed", "timed_out"):
                    for symbol in event.symbols:
                        reason = event.reasons.get(symbol, event.kind)
                        if event.final:
                            status.failed(symbol, reason)
                            log.error("❌ %s failed: %s", symbol, reason)
                        else:
                            log.warning("%s %s (attempt %d): %s; will retry", symbol, event.kind, event.attempt, reason)

            try:
                report = run_schedule(
                    candles["ok"], nightly.train_batch, config=schedule, as_of=run_id, ledger=ledger, force=force,
                    kwargs={"as_of": as_of_text, "config_path": config_path,
                            "encoder_key": encoder.get("encoder_key"), "overrides": overrides},
                    on_event=on_event,
                )
            finally:
                if progress is not None:
                    progress.stop()
            batch_results = [report.results()]
            resumed = {s: e for s, e in ledger.entries(run_id).items() if s in report.skipped}
            if resumed:
                result.resumed = sorted(resumed)
                batch_results.append(resumed)
                log.info("Resumed: %s were already done for this as-of (use --force to retrain).",
                         ", ".join(sorted(resumed)))
            result.failed.update(report.failed)
            result.max_concurrency = report.max_concurrency_observed

            status.phase("publish")
            published = nightly.publish_step(config_path, plan, batch_results, overrides)
            result.trained = list(published["models"])
            result.promoted = list(published["promoted"])
            result.failed.update(published["failed"])
            status.phase("report")
            result.wall_time_s = round(time.monotonic() - started, 2)
            result.outputs = nightly.report_step(config_path, plan, candles, published, overrides,
                                                 wall_time_s=result.wall_time_s)
        except Exception as exc:
            from huracan_core.broadcaster import enqueue, messages

            log.error("❌ Engine failed: %s", exc)
            enqueue("failures", messages.engine_failed(run_id, f"{type(exc).__name__}: {exc}"[:500]), config=config)
            status.status.last_error = str(exc)
            status.finish("failed")
            finish_run(db, run_id=f"engine-{run_id}", finished_at=datetime.now(UTC), status="failed",
                       symbols_succeeded=len(result.trained), symbols_failed=len(result.symbols),
                       symbols_skipped=len(result.skipped), detail={"error": str(exc)},
                       symbols_total=len(result.symbols))
            db.dispose()
            raise
        finish_run(db, run_id=f"engine-{run_id}", finished_at=datetime.now(UTC),
                   status="succeeded" if not result.failed else "partial",
                   symbols_succeeded=len(result.trained), symbols_failed=len(result.failed),
                   symbols_skipped=len(result.skipped), symbols_total=len(result.symbols),
                   detail={"promoted": result.promoted, "wall_time_s": result.wall_time_s})
        db.dispose()
        status.finish()
        result.outputs.update({
            "archive": storage.root,
            "models": storage.url("models"),
            "champions": storage.url(paths.champion_roster()),
            "status": storage.url(paths.engine_status()),
            "log": str((Path(config.general.log_dir) / "engine.log").resolve()),
            "database": describe_database(config.general.database),
        })
        saved = len(result.trained)
        log.info("Engine finished. %d model%s saved, %d promoted.", saved, "" if saved == 1 else "s",
                 len(result.promoted))
        return result
