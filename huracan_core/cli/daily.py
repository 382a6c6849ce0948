"""`huracan daily` / `python run_daily.py`: the whole daily job, then where its outputs are."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from huracan_core.cli.common import (
    ConfigOpt,
    LakeOpt,
    SourceOpt,
    SymbolsOpt,
    TimeframeOpt,
    config_from,
    console,
    friendly_errors,
)
from huracan_core.exceptions import ConfigError

AsOfOpt = Annotated[
    str | None,
    typer.Option("--as-of", help="Train as of this UTC date or time (YYYY-MM-DD[THH:MM]); default: now."),
]


def parse_as_of(text: str | None) -> datetime:
    """--as-of as an aware UTC datetime; a bare date means that day's 00:00 UTC."""
    if text is None:
        return datetime.now(UTC).replace(second=0, microsecond=0)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--as-of {text!r} is not a date like 2025-01-31 or 2025-01-31T02:00") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class _RichProgress:
    """Adapter from the library's progress hooks to a rich bar (only on an interactive terminal)."""

    def __init__(self) -> None:
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._task: int | None = None

    def start(self, total: int) -> None:
        self._bar.start()
        self._task = self._bar.add_task("symbols", total=total)

    def advance(self, symbol: str) -> None:
        if self._task is not None:
            self._bar.update(self._task, advance=1, description=symbol)

    def stop(self) -> None:
        self._bar.stop()


@friendly_errors
def daily(
    config: ConfigOpt = None,
    source: SourceOpt = None,
    lake: LakeOpt = None,
    symbols: SymbolsOpt = None,
    timeframe: TimeframeOpt = None,
    lookback_days: Annotated[int | None, typer.Option("--lookback-days", help="Days of history.")] = None,
    as_of: AsOfOpt = None,
    archive: Annotated[str | None, typer.Option("--archive", help="Archive root (folder or s3://).")] = None,
    db: Annotated[str | None, typer.Option("--db", help="Database URL (SQLAlchemy).")] = None,
) -> None:
    """Run the daily job and print where its outputs are."""
    from huracan_core.daily import run_daily
    from huracan_core.logs import setup_logging

    cfg = config_from(
        config,
        source=source,
        lake=lake,
        symbols=symbols,
        timeframe=timeframe,
        extra={"engine.lookback_days": lookback_days, "general.archive": archive, "general.database": db},
    )
    setup_logging()
    progress = _RichProgress() if console.is_terminal else None
    result = run_daily(cfg, parse_as_of(as_of), progress=progress)
    console.print()
    console.print(
        f"[bold]Daily job done[/] as of {result.as_of}: "
        f"{len(result.succeeded)} ok, {len(result.skipped)} skipped, {len(result.failed)} failed "
        f"of {len(result.symbols)} symbols in {result.wall_time_s:.1f}s."
    )
    if result.not_built:
        console.print(f"Not built yet: {', '.join(result.not_built)}.")
    console.print("Outputs:")
    for name, where in result.outputs.items():
        console.print(f"  {name:<8} {where}", highlight=False, markup=False)
