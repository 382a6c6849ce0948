"""`huracan engine` and `huracan daily`: the nightly Engine (and the daily job) from the command line."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from huracan_core.cli.common import (
    ArchiveOpt,
    ConfigOpt,
    LakeOpt,
    SourceOpt,
    SymbolsOpt,
    TimeframeOpt,
    config_from,
    console,
    friendly_errors,
)

AsOfOpt = Annotated[
    str | None,
    typer.Option("--as-of", help="Train as of this UTC date or time (YYYY-MM-DD[THH:MM]); default: now."),
]
ModeOpt = Annotated[str | None, typer.Option("--mode", help="sequential | parallel | hybrid (engine.mode).")]
MaxConcurrentOpt = Annotated[
    int | None, typer.Option("--max-concurrent", help="Worker processes at once in hybrid mode.")
]
DbOpt = Annotated[str | None, typer.Option("--db", help="Database URL (SQLAlchemy).")]
LookbackOpt = Annotated[int | None, typer.Option("--lookback-days", help="Days of history to train on.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Retrain coins already done for this as-of.")]


class _RichProgress:
    """Adapter from the library's progress hooks to a rich bar (only on an interactive terminal)."""

    def __init__(self) -> None:
        self._bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            console=console, transient=True,
        )
        self._task: Any = None

    def start(self, total: int) -> None:
        self._bar.start()
        self._task = self._bar.add_task("coins", total=total)

    def advance(self, symbol: str) -> None:
        self._bar.update(self._task, advance=1, description=symbol)

    def stop(self) -> None:
        self._bar.stop()


def _as_of(text: str | None) -> datetime:
    from huracan_core.engine.nightly import parse_as_of

    return parse_as_of(text) if text is not None else datetime.now(UTC).replace(second=0, microsecond=0)


def _overrides(**flags: Any) -> dict[str, Any]:
    keys = {
        "source": "data.source", "lake": "data.lake_dir", "symbols": "general.symbols",
        "timeframe": "general.timeframe", "mode": "engine.mode", "max_concurrent": "engine.max_concurrent",
        "archive": "general.archive", "db": "general.database", "lookback_days": "engine.lookback_days",
    }
    return {keys[k]: v for k, v in flags.items() if v is not None}


def _run(job: str, config: Any, as_of: str | None, force: bool, **flags: Any) -> None:
    from huracan_core.daily import run_daily
    from huracan_core.engine.run import run_engine
    from huracan_core.logs import setup_logging

    overrides = _overrides(**flags)
    config_from(config, extra=overrides)  # validate everything now: errors name the key before any work
    setup_logging()
    progress = _RichProgress() if console.is_terminal else None
    path = str(config) if config is not None else None
    fn = run_daily if job == "daily" else run_engine
    result = fn(path, _as_of(as_of), overrides=overrides, force=force, progress=progress)
    console.print()
    console.print(
        f"[bold]{job.capitalize()} done[/] as of {result.as_of}: {len(result.trained)} models saved, "
        f"{len(result.promoted)} promoted, {len(result.skipped)} skipped, {len(result.failed)} failed "
        f"of {len(result.symbols)} symbols in {result.wall_time_s:.1f}s."
    )
    for symbol, reason in {**result.skipped, **result.failed}.items():
        console.print(f"  {symbol}: {reason}", highlight=False, markup=False)
    console.print("Outputs:")
    for name, where in result.outputs.items():
        console.print(f"  {name:<10} {where}", highlight=False, markup=False)


@friendly_errors
def engine(
    config: ConfigOpt = None,
    mode: ModeOpt = None,
    max_concurrent: MaxConcurrentOpt = None,
    symbols: SymbolsOpt = None,
    as_of: AsOfOpt = None,
    source: SourceOpt = None,
    lake: LakeOpt = None,
    timeframe: TimeframeOpt = None,
    archive: ArchiveOpt = None,
    db: DbOpt = None,
    lookback_days: LookbackOpt = None,
    force: ForceOpt = False,
) -> None:
    """Train one model per coin (shared encoder + heads + XGBoost + 21 rule engines), evaluate it out of
    sample after costs, publish champions that pass the gates, and write the daily summary and report."""
    _run("engine", config, as_of, force, mode=mode, max_concurrent=max_concurrent, symbols=symbols, source=source,
         lake=lake, timeframe=timeframe, archive=archive, db=db, lookback_days=lookback_days)


@friendly_errors
def daily(
    config: ConfigOpt = None,
    source: SourceOpt = None,
    lake: LakeOpt = None,
    symbols: SymbolsOpt = None,
    timeframe: TimeframeOpt = None,
    lookback_days: LookbackOpt = None,
    as_of: AsOfOpt = None,
    archive: ArchiveOpt = None,
    db: DbOpt = None,
    mode: ModeOpt = None,
    max_concurrent: MaxConcurrentOpt = None,
    force: ForceOpt = False,
) -> None:
    """Run the whole daily job and print where its outputs are."""
    _run("daily", config, as_of, force, mode=mode, max_concurrent=max_concurrent, symbols=symbols, source=source,
         lake=lake, timeframe=timeframe, archive=archive, db=db, lookback_days=lookback_days)
