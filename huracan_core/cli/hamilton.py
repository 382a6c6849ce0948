"""`huracan hamilton status | health`: what the trading service holds, and whether it is alive.

Both read hamilton_status.json from the archive; `health` is the container's healthcheck (exit 0 or 1).
The only clock read here is the wall clock that ages the heartbeat.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from huracan_core.archive import Storage, paths
from huracan_core.cli.common import (
    ArchiveOpt,
    ConfigOpt,
    LakeOpt,
    SourceOpt,
    SymbolsOpt,
    console,
    err_console,
    friendly_errors,
)
from huracan_core.config import HuracanConfig, load_config
from huracan_core.hamilton.status import (
    HamiltonStatus,
    check_health,
    default_max_age_seconds,
    heartbeat_age_seconds,
    read_status,
)
from huracan_core.market.candles import format_ms

hamilton_app = typer.Typer(
    help="Hamilton, the trading service: run it, see its status and health.", no_args_is_help=True
)

MaxAgeOpt = Annotated[
    float | None,
    typer.Option(
        "--max-age", min=0, help="Seconds the heartbeat may be old (default: 3 bars of general.timeframe)."
    ),
]


def _config(config: ConfigOpt, archive: str | None) -> HuracanConfig:
    """The config with --archive on top. Only flags actually given are passed: a None flag must not hide
    a HURACAN__GENERAL__TIMEFRAME variable, which sets the default health limit."""
    overrides = {"general.archive": archive} if archive is not None else {}
    return load_config(config, overrides=overrides)


def _say(text: str) -> None:
    console.print(text, highlight=False, markup=False)


def _age(seconds: float) -> str:
    """12 s / 4 min 05 s / 2 h 03 min: ages people read at a glance."""
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _table(title: str, *columns: str) -> Table:
    # Light rules and single spaces keep a table within 80 columns (a terminal, `docker logs`).
    return Table(
        *columns,
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )


def _print_status(status: HamiltonStatus, *, now: datetime, limit: float, quote: str, where: str) -> None:
    age = heartbeat_age_seconds(status, now)
    stale = "" if age < limit else f"  STALE: older than {_age(limit)}; is Hamilton running?"
    _say(
        f"Hamilton {status.mode} (clock {status.clock}), run {status.run_key}, started {_when(status.started_at)}"
    )
    _say(f"Heartbeat {_age(age)} ago ({_when(status.heartbeat)}){stale}")
    _say(f"Last bar  {format_ms(status.bar_ms)}")
    _say(f"Equity    {status.equity:,.2f} {quote}   cash {status.cash:,.2f} {quote}")
    paused = (
        "no" if not status.paused else "YES" + (f" ({status.pause_reason})" if status.pause_reason else "")
    )
    _say(f"Paused    {paused}")
    g = status.guardrails
    cap = "HIT: no new entries until 00:00 UTC" if g.loss_cap_hit else "not hit"
    start = f", day started at {g.day_start_equity:,.2f} {quote}" if g.day_start_equity is not None else ""
    _say(f"Loss cap  {cap} (day {g.day or '-'}{start})")
    _say(f"Selection {status.selection.mode}: {status.selection.how or '-'}")
    if status.pending_db_commits:
        _say(f"Pending   {status.pending_db_commits} trade(s) journaled, not yet in the database")

    positions = _table(
        "Positions", "symbol", "side", "size", "quantity", "entry price", "entry (UTC)", "model"
    )
    for symbol, p in sorted(status.positions.items()):
        positions.add_row(
            symbol,
            p.side,
            f"{p.size:.1%}",
            f"{p.quantity:g}",
            f"{p.entry_price:,.6g}",
            format_ms(p.entry_time).removesuffix(" UTC"),
            p.model_id,
        )
    if status.positions:
        console.print(positions)
    else:
        _say("Positions none")

    symbols = sorted(
        set(status.champions)
        | set(status.selection.symbols)
        | set(status.selection.dropped)
        | set(status.guardrails.blocked)
        | set(status.last_bar)
    )
    if symbols:
        table = _table("Symbols", "symbol", "champion", "traded", "last bar (UTC)", "note")
        for symbol in symbols:
            traded = "yes" if symbol in status.selection.symbols else "no"
            note = status.guardrails.blocked.get(symbol) or status.selection.dropped.get(symbol) or ""
            last = format_ms(status.last_bar.get(symbol)).removesuffix(" UTC")
            table.add_row(symbol, status.champions.get(symbol, "-"), traded, last, note)
        console.print(table)
    if status.errors:
        _say("Recent errors:")
        for error in status.errors:
            _say(f"  {_when(error.at)}  {error.message}")
    _say(f"Status file: {where}")


@hamilton_app.command("status")
@friendly_errors
def status(config: ConfigOpt = None, archive: ArchiveOpt = None) -> None:
    """Show Hamilton's state: mode, heartbeat age, equity, positions, guardrails, champions, selection, errors."""
    cfg = _config(config, archive)
    storage = Storage(cfg.general.archive)
    where = storage.url(paths.hamilton_status())
    current = read_status(storage)
    if current is None:
        err_console.print(
            f"No Hamilton status at {where}: Hamilton has not run against this archive "
            "(check general.archive or --archive).",
            highlight=False,
            markup=False,
        )
        raise typer.Exit(code=1)
    _print_status(
        current,
        now=datetime.now(UTC),
        limit=default_max_age_seconds(cfg.general.timeframe),
        quote=cfg.general.quote,
        where=where,
    )


@hamilton_app.command("health")
@friendly_errors
def health(config: ConfigOpt = None, archive: ArchiveOpt = None, max_age: MaxAgeOpt = None) -> None:
    """Exit 0 when Hamilton's heartbeat is younger than --max-age, else 1 with its age (a healthcheck)."""
    cfg = _config(config, archive)
    limit = max_age if max_age is not None else default_max_age_seconds(cfg.general.timeframe)
    verdict = check_health(
        read_status(Storage(cfg.general.archive)), now=datetime.now(UTC), max_age_seconds=limit
    )
    (console if verdict.ok else err_console).print(verdict.message, highlight=False, markup=False)
    if not verdict.ok:
        raise typer.Exit(code=1)


@hamilton_app.command("run")
@friendly_errors
def run(
    config: ConfigOpt = None,
    mode: Annotated[
        str | None, typer.Option("--mode", help="paper (default: hamilton.mode) or live (real orders, ccxt).")
    ] = None,
    clock: Annotated[
        str, typer.Option("--clock", help="live (bars as they close) or replay (--from..--to).")
    ] = "live",
    start: Annotated[str | None, typer.Option("--from", help="Replay: first bar (UTC date/time).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Replay: end of the window (excluded).")] = None,
    symbols: SymbolsOpt = None,
    source: SourceOpt = None,
    lake: LakeOpt = None,
    archive: ArchiveOpt = None,
    db: Annotated[str | None, typer.Option("--db", help="Database URL (SQLAlchemy).")] = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Replay: forget this window's journal and start over.")
    ] = False,
    max_bars: Annotated[
        int | None, typer.Option("--max-bars", min=1, help="Live clock: stop after N bars.")
    ] = None,
) -> None:
    """Trade the champions one closed bar at a time (paper by default), or replay a window exactly as the
    backtest would (`huracan backtest --champions` gives the same trades). SIGTERM finishes the bar and exits 0."""
    from huracan_core.engine.nightly import parse_as_of
    from huracan_core.hamilton.run import HamiltonRequest, run_hamilton, symbols_arg
    from huracan_core.logs import setup_logging

    overrides = {
        "data.source": source,
        "data.lake_dir": lake,
        "general.archive": archive,
        "general.database": db,
    }
    cfg = load_config(config, overrides=overrides)
    setup_logging(cfg.general.log_dir, name="hamilton")
    to_ms = lambda text: None if text is None else int(parse_as_of(text).timestamp() * 1000)  # noqa: E731
    request = HamiltonRequest(
        mode=mode or cfg.hamilton.mode, clock=clock, start_ms=to_ms(start), end_ms=to_ms(end),
        symbols=symbols_arg(symbols), fresh=fresh, max_bars=max_bars,
    )  # fmt: skip
    summary = run_hamilton(cfg, request)
    resumed = "" if summary.resumed_from_ms is None else " (resumed)"
    _say(
        f"Hamilton {request.mode} on the {clock} clock{resumed}: {summary.bars} bars, {summary.bar_symbols} "
        f"bar-symbols, {summary.trades_closed} trades closed; run {summary.run_key}."
    )
