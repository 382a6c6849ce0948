"""`huracan mechanic`: one hourly pass (challengers, the promotion rule, pointers) from the command line."""

from __future__ import annotations

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
from huracan_core.cli.engine import AsOfOpt, DbOpt, LookbackOpt, MaxConcurrentOpt, ModeOpt, _as_of, _overrides


@friendly_errors
def mechanic(
    config: ConfigOpt = None,
    symbols: SymbolsOpt = None,
    as_of: AsOfOpt = None,
    source: SourceOpt = None,
    lake: LakeOpt = None,
    timeframe: TimeframeOpt = None,
    archive: ArchiveOpt = None,
    db: DbOpt = None,
    lookback_days: LookbackOpt = None,
    mode: ModeOpt = None,
    max_concurrent: MaxConcurrentOpt = None,
) -> None:
    """Build one challenger per coin as of the hour (default: this hour), evaluate it out of sample after
    costs, and promote it only if it passes the Engine's gates, the paired test against the champion, the
    deflated Sharpe over every challenger tried for the coin, the cooldown and the daily cap."""
    from huracan_core.logs import setup_logging
    from huracan_core.mechanic.hourly import run_mechanic

    overrides = _overrides(symbols=symbols, source=source, lake=lake, timeframe=timeframe, archive=archive, db=db,
                           lookback_days=lookback_days, mode=mode, max_concurrent=max_concurrent)  # fmt: skip
    config_from(config, extra=overrides)  # validate everything now: errors name the key before any work
    setup_logging()
    path = str(config) if config is not None else None
    result = run_mechanic(path, _as_of(as_of), overrides=overrides)
    console.print()
    console.print(
        f"[bold]Mechanic done[/] as of {result.as_of}: {len(result.challengers)} challengers, "
        f"{len(result.promoted)} promoted, {len(result.skipped)} skipped, {len(result.failed)} failed "
        f"of {len(result.symbols)} symbols in {result.wall_time_s:.1f}s."
    )
    for symbol, verdict in sorted(result.verdicts.items()):
        mark = "promoted" if verdict["promoted"] else "not promoted"
        console.print(f"  {symbol} {verdict['model_id']}: {mark}: {verdict['reason']}", highlight=False, markup=False)
    for symbol, reason in {**result.skipped, **result.failed}.items():
        console.print(f"  {symbol}: {reason}", highlight=False, markup=False)
