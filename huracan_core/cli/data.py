"""`huracan data fetch` fills the candle lake (ccxt, or the synthetic market by name); `huracan data show`
summarises what the lake holds for a symbol; `huracan data resample` builds a coarser timeframe from a
finer one already in the lake. `fetch` is the only place here that reads the clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

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
from huracan_core.market import LakeSource, open_source, resolve_universe
from huracan_core.market.candles import format_ms
from huracan_core.market.funding import fill_funding
from huracan_core.market.resample import ResampleResult, resample_factor, resample_lake

app = typer.Typer(
    help="Candles: fetch into the lake, show what it holds, resample to a coarser timeframe.",
    no_args_is_help=True,
)

DaysOpt = Annotated[
    float | None,
    typer.Option(
        "--days", help="History to keep when a symbol is new to the lake (default: engine.lookback_days)."
    ),
]


def _injected(ctx: typer.Context, name: str) -> Any:
    """An object passed in Click's `obj={...}` by an embedding program or a test: "source" (a ready
    CandleSource) or "exchange" (a ccxt exchange object); None when absent."""
    obj = ctx.find_root().obj
    return obj.get(name) if isinstance(obj, dict) else None


@app.command("fetch")
@friendly_errors
def fetch(
    ctx: typer.Context,
    symbols: SymbolsOpt = None,
    days: DaysOpt = None,
    timeframe: TimeframeOpt = None,
    lake: LakeOpt = None,
    config: ConfigOpt = None,
    source: SourceOpt = None,
    funding: Annotated[
        bool,
        typer.Option(
            "--funding/--no-funding",
            help="Also store the funding-rate history of each coin's perpetual swap (funding/<SYMBOL>.parquet).",
        ),
    ] = True,
) -> None:
    """Fill the lake incrementally: only bars after each symbol's last stored bar are fetched.

    From the exchange (data.exchange via ccxt) unless --source synthetic. An unreachable exchange is
    an error (exit 1) and leaves the lake as it was; synthetic data is never used in its place. From an
    exchange, each coin with a linear perpetual swap also gets its funding rates (only those settled
    after the last stored one); a coin without one is skipped with a line saying so.
    """
    if source == "lake":
        raise ConfigError("--source lake: fetch fills the lake; use --source ccxt or --source synthetic")
    base = config_from(config, lake=lake, symbols=symbols, timeframe=timeframe)
    kind = source or ("synthetic" if base.data.source == "synthetic" else "ccxt")
    cfg = config_from(config, source=kind, lake=lake, symbols=symbols, timeframe=timeframe)
    tf = cfg.general.timeframe
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    lake_src = LakeSource(cfg.data.lake_dir)
    src = _injected(ctx, "source") or open_source(cfg, lake=lake_src, exchange=_injected(ctx, "exchange"))
    universe = resolve_universe(cfg.general.symbols, src, tf, lake=lake_src, quote=cfg.general.quote)
    history_days = float(days if days is not None else cfg.engine.lookback_days)
    console.print(
        f"Fetching {len(universe)} symbols ({tf}, up to {history_days:g} days) from {src.describe()} "
        f"into {lake_src.storage.root}",
        highlight=False,
    )
    table = Table("symbol", "bars added", "last bar (UTC)", "file")

    def report(symbol: str, added: int) -> None:
        table.add_row(
            symbol, str(added), format_ms(lake_src.last_timestamp(symbol, tf)), lake_src.url(symbol, tf)
        )
        if not console.is_terminal:
            console.print(f"{symbol}: {added} bars added", highlight=False)

    if console.is_terminal:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("candles", total=len(universe))

            def step(symbol: str, added: int) -> None:
                report(symbol, added)
                progress.update(task, advance=1, description=symbol)

            src.fill_lake(lake_src, universe, tf, history_days, now_ms, on_symbol=step)
    else:
        src.fill_lake(lake_src, universe, tf, history_days, now_ms, on_symbol=report)
    console.print(table)
    from huracan_core.market.ccxt_source import CcxtSource  # here: lake and synthetic users skip ccxt

    if funding and isinstance(src, CcxtSource):
        _fetch_funding(src, lake_src, universe, history_days, now_ms)
    console.print(f"Lake: {lake_src.storage.root}", highlight=False)


def _fetch_funding(src: Any, lake: LakeSource, universe: list[str], days: float, now_ms: int) -> None:
    """Funding rates of each coin's perpetual into funding/<SYMBOL>.parquet, one line per coin."""

    def report(symbol: str, added: int | None) -> None:
        if added is None:
            console.print(f"{symbol}: no perpetual swap on {src.exchange_id}, funding skipped", highlight=False)
        else:
            console.print(f"{symbol}: {added} funding rates added", highlight=False)

    fill_funding(src, lake, universe, days, now_ms, on_symbol=report)


@app.command("show")
@friendly_errors
def show(
    symbol: Annotated[str, typer.Argument(help="Symbol as BTCUSDT.")],
    timeframe: TimeframeOpt = None,
    lake: LakeOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Summarise a symbol's stored candles: rows, first/last bar, gaps, median quote volume, gate verdict."""
    cfg = config_from(config, lake=lake, timeframe=timeframe)
    lake_src = LakeSource(cfg.data.lake_dir)
    info = lake_src.summary(symbol.strip().upper(), cfg.general.timeframe, cfg.data.gates)
    table = Table("", "value", title=f"{info['symbol']} {info['timeframe']}", title_justify="left")
    verdict = "ok" if info["gate_ok"] else f"rejected: {info['gate_reason']}"
    rows = [
        ("file", info["path"]),
        ("rows", str(info["rows"])),
        ("first bar", info["first_bar"]),
        ("last bar", info["last_bar"]),
        ("history", f"{info['history_days']:.1f} days"),
        ("gaps", f"{info['gaps']} ({info['missing_bars']} bars missing, {info['gap_pct']:.2f}%)"),
        ("largest gap", f"{info['largest_gap_bars']} bars"),
        ("zero-volume bars", f"{info['zero_volume_pct']:.2f}%"),
        ("median quote volume", f"{info['median_quote_volume']:,.2f}"),
        ("gate verdict", verdict),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)


@app.command("resample")
@friendly_errors
def resample(
    from_tf: Annotated[str, typer.Option("--from", help="Timeframe the lake holds, e.g. 5m.")],
    to_tf: Annotated[str, typer.Option("--to", help="Coarser timeframe to build, a whole multiple: 15m.")],
    symbols: SymbolsOpt = None,
    lake: LakeOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Build candles/<to>/ from candles/<from>/ in the lake, so finer candles need not be fetched again.

    Only complete buckets become bars: a bucket missing a fine bar is skipped and counted as a gap (never
    filled in); an incomplete first or last bucket (the data starts inside it, or it is still forming) is
    left out. Bars are merged into any existing candles/<to>/ file, atomically.
    """
    resample_factor(from_tf, to_tf)
    cfg = config_from(config, lake=lake)
    lake_src = LakeSource(cfg.data.lake_dir)
    names = None
    if symbols:
        names = resolve_universe(symbols, lake_src, from_tf, quote=cfg.general.quote)
    elif not lake_src.symbols(from_tf):
        raise ConfigError(
            f"--from {from_tf}: the lake {lake_src.storage.root} holds no candles/{from_tf}/ files to resample"
        )
    table = Table(
        "symbol", f"{from_tf} bars", f"{to_tf} bars", "added", "gaps (buckets skipped)", "first gap", "file"
    )

    def report(result: ResampleResult, added: int) -> None:
        gaps = f"{result.gap_buckets} ({result.missing_source_bars} {from_tf} bars missing)"
        table.add_row(
            result.symbol,
            str(result.source_bars),
            str(result.bars),
            str(added),
            gaps,
            format_ms(result.first_skipped_ms),
            lake_src.url(result.symbol, to_tf),
        )
        if not console.is_terminal:
            console.print(
                f"{result.symbol}: {result.bars} {to_tf} bars from {result.source_bars} {from_tf} bars, "
                f"{added} added, {result.gap_buckets} buckets skipped for gaps",
                highlight=False,
            )

    resample_lake(lake_src, from_tf, to_tf, names, on_symbol=report)
    console.print(table)
