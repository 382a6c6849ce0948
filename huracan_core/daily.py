"""The daily job (`python run_daily.py`, `huracan daily`, the Airflow DAG): every step the night runs.

Today it runs universe -> candles -> data gates -> summary and report. Training, publishing champions and
the mechanic are not built yet; the job says so in its log and its report instead of pretending.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from huracan_core import __version__
from huracan_core.archive import Storage, paths
from huracan_core.archive.reports import write_daily_report, write_daily_summary
from huracan_core.config import HuracanConfig, mask_url_password
from huracan_core.db import finish_run, record_run, upgrade
from huracan_core.db.connection import connect
from huracan_core.engine.candles_step import TrainingWindow, prepare_candles
from huracan_core.logs import log_file
from huracan_core.market import open_source, resolve_universe
from huracan_core.market.base import CandleSource
from huracan_core.status import StatusWriter

log = logging.getLogger("huracan.daily")

NOT_BUILT_YET = ("model training", "champion publishing", "mechanic")


@dataclass
class DailyResult:
    """What the job did and where its outputs are (plain data: the CLI and Airflow only format it)."""

    as_of: str
    symbols: list[str]
    succeeded: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    not_built: tuple[str, ...] = NOT_BUILT_YET
    wall_time_s: float = 0.0


def run_daily(
    config: HuracanConfig,
    as_of: datetime,
    *,
    progress: Any | None = None,
    source: CandleSource | None = None,
) -> DailyResult:
    """Run the daily job as of `as_of` (UTC); the same `as_of` twice replaces that date's outputs.

    `progress` is an optional object with `start(total)`, `advance(symbol)` and `stop()` (the CLI passes
    a rich progress bar); the library itself prints nothing but logs. `source` replaces the one the
    config names (an embedding application or a test passes its own ccxt exchange this way).
    """
    with log_file(config.general.log_dir, name="engine"):
        storage = Storage(config.general.archive)
        status = StatusWriter(storage, job="daily", symbols_total=0)
        # The schema is migrated on every run (a no-op at head) so a fresh clone needs no extra step.
        upgrade(config.general.database)
        db = connect(config.general.database)
        run_id = f"daily-{as_of.strftime('%Y%m%dT%H%M%SZ')}"
        record_run(db, run_id=run_id, kind="daily", as_of=as_of, started_at=_now())
        try:
            result = _run_steps(config, as_of, storage, status, progress, source)
        except Exception as exc:
            log.error("❌ Daily job failed: %s", exc)
            status.status.last_error = str(exc)
            status.finish("failed")
            finish_run(
                db,
                run_id=run_id,
                finished_at=_now(),
                status="failed",
                symbols_succeeded=0,
                symbols_failed=status.status.symbols_total,
                symbols_skipped=0,
                detail={"error": str(exc)},
            )
            db.dispose()
            raise
        result.outputs["database"] = _describe_database(config.general.database)
        finish_run(
            db,
            run_id=run_id,
            finished_at=_now(),
            status="succeeded" if not result.failed else "partial",
            symbols_succeeded=len(result.succeeded),
            symbols_failed=len(result.failed),
            symbols_skipped=len(result.skipped),
            detail={"summary": result.outputs["summary"]},
        )
        db.dispose()
        status.finish()
        return result


def _run_steps(
    config: HuracanConfig,
    as_of: datetime,
    storage: Storage,
    status: StatusWriter,
    progress: Any | None,
    source: CandleSource | None,
) -> DailyResult:
    started = time.monotonic()
    timeframe = config.general.timeframe
    lookback = config.engine.lookback_days
    log.info("Engine starting (v%s), as of %s UTC", __version__, as_of.strftime("%Y-%m-%d %H:%M"))

    status.phase("universe")
    source = source or open_source(config)
    if config.data.source == "synthetic":
        log.info(
            "Candles come from the synthetic market (seed %d): a demo market, not real prices",
            config.data.synthetic_seed,
        )
    symbols = resolve_universe(config.general.symbols, source, timeframe)
    log.info(
        "Universe: %s (%d symbols, %s bars, %d days)", ", ".join(symbols), len(symbols), timeframe, lookback
    )
    status.status.symbols_total = len(symbols)
    status.phase("candles")

    def on_symbol(symbol: str, verdict: str, reason: str | None) -> None:
        if verdict == "ok":
            log.info("Candles %s (%d days) ready.", symbol, lookback)
            status.done(symbol)
        elif verdict == "skipped":
            log.warning("⚠️ %s: %s", symbol, reason)
            status.skipped(symbol, reason or "")
        else:
            log.error("❌ %s failed: %s", symbol, reason)
            status.failed(symbol, reason or "")
        if progress is not None:
            progress.advance(symbol)

    window = TrainingWindow.ending_at(as_of, lookback, timeframe)
    if progress is not None:
        progress.start(len(symbols))
    try:
        outcome = prepare_candles(config, symbols, window, source=source, on_symbol=on_symbol)
    finally:
        if progress is not None:
            progress.stop()

    result = DailyResult(
        as_of=as_of.isoformat(),
        symbols=list(symbols),
        succeeded=sorted(outcome.candles),
        skipped=dict(outcome.skipped),
        failed=dict(outcome.failed),
    )
    log.warning("Not built yet: %s. No model was trained.", ", ".join(NOT_BUILT_YET))

    status.phase("report")
    day = as_of.date()
    result.wall_time_s = round(time.monotonic() - started, 3)
    summary = {
        "as_of": as_of.isoformat(),
        "timeframe": timeframe,
        "lookback_days": lookback,
        "data_source": outcome.source,
        "symbols_total": len(symbols),
        "symbols_succeeded": len(result.succeeded),
        "symbols_failed": len(result.failed),
        "symbols_skipped": len(result.skipped),
        "succeeded": result.succeeded,
        "failed": result.failed,
        "skipped": result.skipped,
        "candles": {s: _gate_summary(st) for s, st in outcome.gate_stats.items()},
        "top_contributors": [],
        "models_saved": 0,
        "not_built_yet": list(NOT_BUILT_YET),
        "wall_time_s": result.wall_time_s,
        "huracan_version": __version__,
        "config_hash": config.config_hash(),
    }
    result.outputs["summary"] = write_daily_summary(storage, day, summary)
    result.outputs["report"] = write_daily_report(
        storage,
        day,
        models_trained=0,
        promotions=0,
        total_trades=0,
        avg_pnl_pct=None,
        hit_rate_pct=None,
        extra={"note": "no model training yet: candles and data gates only"},
    )
    result.outputs["status"] = storage.url(paths.engine_status())
    result.outputs["archive"] = storage.root
    result.outputs["log"] = str(Path(config.general.log_dir).resolve() / "engine.log")
    log.info(
        "Engine finished. 0 models saved (%d of %d symbols had usable candles).",
        len(result.succeeded),
        len(symbols),
    )
    return result


def _gate_summary(stats: dict[str, Any]) -> dict[str, Any]:
    keep = (
        "rows",
        "rows_in",
        "gap_pct",
        "missing_bars",
        "zero_volume_pct",
        "median_quote_volume",
        "history_days",
    )
    return {k: stats[k] for k in keep if k in stats}


def _now() -> datetime:
    """Wall-clock time for bookkeeping (run started/finished); never used in any computation."""
    from datetime import UTC

    return datetime.now(UTC)


def _describe_database(url: str) -> str:
    """Where the database is, for people: an absolute file path for SQLite, a masked URL otherwise."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        return f"sqlite:///{Path(url.removeprefix('sqlite:///')).resolve()}"
    return mask_url_password(url)
