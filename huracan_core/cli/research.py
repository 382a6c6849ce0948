"""`huracan backtest` and `huracan lookahead`: the research path on real or synthetic candles.

Both read candles the way the engine does (source from config or flags, data gates applied) and call the
same library functions the engine calls; this module only loads, formats and writes.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import polars as pl
import typer
from rich import box
from rich.table import Table

from huracan_core.cli.common import (
    ArchiveOpt,
    ConfigOpt,
    LakeOpt,
    SourceOpt,
    SymbolsOpt,
    TimeframeOpt,
    config_from,
    console,
    err_console,
    friendly_errors,
)
from huracan_core.config import HuracanConfig
from huracan_core.timeframe import timeframe_ms

DaysOpt = Annotated[
    int | None, typer.Option("--days", help="Days of history (default: engine.lookback_days).")
]
EndOpt = Annotated[
    str | None,
    typer.Option("--end", help="Last bar (UTC date/time); default: the newest bar of a lake, else now."),
]


def _load(config: HuracanConfig, days: int | None, end: str | None) -> tuple[list[str], dict, dict[str, str]]:
    """Symbols, their gated candles (references included when available) and skip reasons."""
    from huracan_core.engine.candles_step import TrainingWindow, prepare_candles
    from huracan_core.evaluation.research import REFERENCE_CLOSES
    from huracan_core.market import LakeSource, open_source, resolve_universe

    source = open_source(config)
    timeframe = config.general.timeframe
    symbols = resolve_universe(config.general.symbols, source, timeframe)
    if end is not None:
        moment = datetime.fromisoformat(end)
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    elif config.data.source == "lake":
        lake = LakeSource(config.data.lake_dir)
        lasts = [lake.last_timestamp(s, timeframe) for s in symbols]
        newest = max((t for t in lasts if t is not None), default=None)
        moment = (
            datetime.fromtimestamp((newest + timeframe_ms(timeframe)) / 1000, UTC)
            if newest is not None
            else datetime.now(UTC)
        )
    else:
        moment = datetime.now(UTC)
    window = TrainingWindow.ending_at(moment, days or config.engine.lookback_days, timeframe)
    available = set(source.list_symbols(timeframe))
    wanted = list(symbols) + [r for r in REFERENCE_CLOSES if r not in symbols and r in available]
    outcome = prepare_candles(config, wanted, window, source=source)
    skipped = {s: r for s, r in {**outcome.skipped, **outcome.failed}.items() if s in symbols}
    return list(symbols), outcome.candles, skipped


@friendly_errors
def backtest_command(
    config: ConfigOpt = None,
    symbols: SymbolsOpt = None,
    source: SourceOpt = None,
    lake: LakeOpt = None,
    timeframe: TimeframeOpt = None,
    days: DaysOpt = None,
    end: EndOpt = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for metrics.json and trades.parquet.")] = Path(
        "backtest_out"
    ),
    folds: Annotated[
        int | None, typer.Option("--folds", min=1, help="Walk-forward folds (default: engine.folds).")
    ] = None,
    plot: Annotated[bool, typer.Option("--plot", help="Also write an equity and drawdown PNG.")] = False,
    champions: Annotated[
        bool,
        typer.Option(
            "--champions",
            help="Replay each coin's champion as of --from over --from..--to (needs --archive): the trades "
            "`huracan hamilton run --clock replay` must reproduce.",
        ),
    ] = False,
    from_: Annotated[
        str | None, typer.Option("--from", help="With --champions: first bar (UTC date/time).")
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="With --champions: end of the window (excluded).")
    ] = None,
    archive: ArchiveOpt = None,
) -> None:
    """Walk-forward, out-of-sample backtest of all 23 alpha engines (the 21 rules, XGBoost on the features and
    the neural engine, here with its own per-coin encoder) through the combiner and the decision.

    Folds, horizons and regime gate follow engine.folds, engine.horizons (each coin's holding horizon chosen
    on its first fold's training rows; engine.hold_bars when empty) and engine.min_signals, as in the Engine.
    With --champions, the archive's champions (as of --from) are replayed over --from..--to instead.

    Exits with code 1, writing nothing, when no symbol could be evaluated.
    """
    if champions:
        cfg = config_from(
            config, source=source, lake=lake, symbols=symbols, timeframe=timeframe,
            extra={"general.archive": archive},
        )  # fmt: skip
        _champions_backtest(cfg, symbols, from_, to, out)
        return
    from huracan_core.alphas.registry import all_engines
    from huracan_core.decision import DecisionSettings
    from huracan_core.engine.train import walk_forward_settings
    from huracan_core.evaluation.research import REFERENCE_CLOSES, build_research_frame, evaluate_walk_forward
    from huracan_core.exceptions import DataIntegrityError
    from huracan_core.features.cross_section import cross_sectional_ranks
    from huracan_core.market.funding import lake_funding

    cfg = config_from(config, source=source, lake=lake, symbols=symbols, timeframe=timeframe)
    settings = walk_forward_settings(cfg, folds=folds)
    names, candles, skipped = _load(cfg, days, end)
    refs = {s: candles[s] for s in REFERENCE_CLOSES if s in candles}
    ranks = cross_sectional_ranks({s: candles[s] for s in names if s in candles})  # null below 5 coins
    funding = lake_funding(cfg, [s for s in names if s in candles])
    table = Table(
        title=f"Out-of-sample backtest after costs ({cfg.general.timeframe})",
        caption="B&H: buy-and-hold over the same bars, one round trip of costs; flat is 0. "
        "DSR: deflated Sharpe (0-1).",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
    )
    for column in ("symbol", "net %", "Sharpe", "DSR", "max DD %", "trades", "hit %", "costs bps", "B&H %"):
        table.add_column(
            column, justify="left" if column == "symbol" else "right", no_wrap=column == "symbol"
        )
    evaluated: dict[str, dict[str, object]] = {}
    for symbol in names:
        if symbol not in candles:
            skipped.setdefault(symbol, "no candles")
            continue
        rf = build_research_frame(
            candles[symbol],
            symbol,
            cfg.general.timeframe,
            refs=refs,
            cost_config=cfg.costs,
            extra_columns=ranks[symbol],
            funding=funding.get(symbol),
        )
        try:
            ev = evaluate_walk_forward(
                rf, all_engines(), decision=DecisionSettings.from_config(cfg), settings=settings
            )
        except DataIntegrityError as exc:  # e.g. too few bars for the folds: this symbol only
            skipped[symbol] = str(exc).removeprefix(f"{symbol}: ")
            continue
        folder = out / symbol
        folder.mkdir(parents=True, exist_ok=True)
        metrics = {
            "symbol": symbol,
            "timeframe": cfg.general.timeframe,
            "config_hash": cfg.config_hash(),
            "recipe_hash": rf.recipe.hash(),
            # The hold and the candidates this coin was evaluated with (the chosen horizon, when chosen).
            "settings": {**asdict(settings), "hold_bars": ev.hold_bars},
            **ev.metrics,
        }
        (folder / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
        ev.trades.write_parquet(folder / "trades.parquet")
        if plot:
            _plot(ev.bars, symbol, folder / "equity.png")
        m = ev.metrics
        keys = (
            "net_pnl_pct",
            "sharpe",
            "deflated_sharpe",
            "trials",
            "trades",
            "max_drawdown_pct",
            "benchmarks",
        )
        evaluated[symbol] = {k: m.get(k) for k in keys}
        held = m["benchmarks"]["buy_and_hold"]
        table.add_row(
            symbol,
            _fmt(m.get("net_pnl_pct")),
            _fmt(m.get("sharpe")),
            _fmt(m.get("deflated_sharpe")),
            _fmt(m.get("max_drawdown_pct")),
            str(m.get("trades", 0)),
            _fmt(_pct(m.get("hit_rate"))),
            _fmt(m.get("fees_bps")),
            _fmt(held.get("net_pnl_pct")),
        )
    if not evaluated:
        err_console.print(
            f"❌ No symbol could be evaluated ({len(names)} requested); nothing was written.", highlight=False
        )
        _print_skipped(skipped)
        raise typer.Exit(1)
    summary = {
        "config_hash": cfg.config_hash(),
        "settings": asdict(settings),
        "symbols": evaluated,
        "skipped": skipped,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    console.print(table)
    if skipped:
        err_console.print(f"Skipped {len(skipped)} of {len(names)} symbols:", highlight=False)
        _print_skipped(skipped)
    console.print(
        f"Written to {out.resolve()} (metrics.json and trades.parquet per symbol).", highlight=False
    )


def _champions_backtest(
    cfg: HuracanConfig, symbols: str | None, start: str | None, end: str | None, out: Path
) -> None:
    """`backtest --champions`: the vectorised replay of each champion as of --from, written like a backtest."""
    from huracan_core.archive import Storage
    from huracan_core.engine.nightly import parse_as_of
    from huracan_core.hamilton.champion_backtest import backtest_champions
    from huracan_core.hamilton.run import symbols_arg

    if start is None or end is None:
        raise typer.BadParameter("--champions needs --from and --to (UTC dates, e.g. 2024-12-01)")
    start_ms, end_ms = (int(parse_as_of(t).timestamp() * 1000) for t in (start, end))
    if end_ms <= start_ms:
        raise typer.BadParameter(f"--to {end} is not after --from {start}")
    # A list of symbols, or every coin with a champion in the promotions history.
    wanted = symbols_arg(symbols)
    result = backtest_champions(cfg, Storage(cfg.general.archive), start_ms, end_ms, symbols=wanted)
    if not result.trades:
        err_console.print("❌ No champion could be replayed; nothing was written.", highlight=False)
        _print_skipped(result.skipped)
        raise typer.Exit(1)
    table = Table(title=f"Champions replayed {start} .. {end} after costs ({cfg.general.timeframe})",
                  caption="B&H: buy-and-hold over the same bars, one round trip of costs; flat is 0.",
                  box=box.SIMPLE_HEAD, padding=(0, 1))  # fmt: skip
    for column in ("symbol", "model", "net %", "Sharpe", "max DD %", "trades", "costs bps", "B&H %"):
        table.add_column(column, justify="left" if column in ("symbol", "model") else "right")
    summary: dict[str, object] = {"from": start, "to": end, "symbols": {}, "skipped": result.skipped}
    for symbol, trades in result.trades.items():
        folder = out / symbol
        folder.mkdir(parents=True, exist_ok=True)
        m = result.metrics[symbol]
        (folder / "metrics.json").write_text(json.dumps(m, indent=2, sort_keys=True, default=str) + "\n")
        trades.write_parquet(folder / "trades.parquet")
        summary["symbols"][symbol] = {k: m.get(k) for k in ("model_id", "net_pnl_pct", "sharpe", "trades")}  # type: ignore[index]
        table.add_row(symbol, str(m["model_id"]), _fmt(m.get("net_pnl_pct")), _fmt(m.get("sharpe")),
                      _fmt(m.get("max_drawdown_pct")), str(m.get("trades", 0)), _fmt(m.get("fees_bps")),
                      _fmt(m["benchmarks"]["buy_and_hold"].get("net_pnl_pct")))  # fmt: skip
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    console.print(table)
    if result.skipped:
        _print_skipped(result.skipped)
    console.print(
        f"Written to {out.resolve()} (metrics.json and trades.parquet per symbol).", highlight=False
    )


def _print_skipped(skipped: dict[str, str]) -> None:
    for symbol, reason in skipped.items():
        err_console.print(f"⚠️ {symbol}: {reason}", highlight=False, markup=False)


@friendly_errors
def lookahead_command(
    config: ConfigOpt = None,
    symbols: SymbolsOpt = None,
    source: SourceOpt = None,
    lake: LakeOpt = None,
    timeframe: TimeframeOpt = None,
    days: Annotated[int, typer.Option("--days", help="Days of history to cut.")] = 20,
    end: EndOpt = None,
    cuts: Annotated[int, typer.Option("--cuts", help="Cut points per symbol.")] = 6,
) -> None:
    """Recompute features, every engine and the decisions on data cut at many points; exit 1 on any leak.

    Engines run under firing states (every rule engine votes wherever its rule fires) with a probe
    funding rate and the universe's rank, so each engine's code path is checked, not only the ones the
    data's calibration activated.
    """
    from huracan_core.alphas.registry import all_engines
    from huracan_core.decision import DecisionSettings
    from huracan_core.evaluation.firing_states import firing_states, probe_funding_rates
    from huracan_core.evaluation.lookahead import analyse_symbol, early_states
    from huracan_core.evaluation.research import REFERENCE_CLOSES
    from huracan_core.features.cross_section import cross_sectional_ranks
    from huracan_core.market.candles import format_ms
    from huracan_core.market.funding import lake_funding

    cfg = config_from(config, source=source, lake=lake, symbols=symbols, timeframe=timeframe)
    names, candles, skipped = _load(cfg, days, end)
    refs = {s: candles[s] for s in REFERENCE_CLOSES if s in candles}
    ranks = cross_sectional_ranks({s: candles[s] for s in names if s in candles})  # null below 5 coins
    stored = lake_funding(cfg, [s for s in names if s in candles])
    found = 0
    for symbol in names:
        if symbol not in candles:
            err_console.print(f"⚠️ {symbol}: {skipped.get(symbol, 'no candles')}")
            continue
        engines = all_engines()
        extra = ranks[symbol]
        # The lake's funding history, else a probe one, so the funding join and engine are always checked.
        funding = stored.get(symbol)
        if funding is None:
            funding = probe_funding_rates(candles[symbol]["timestamp"])
        fitted, fit_errors = early_states(
            candles[symbol],
            symbol,
            cfg.general.timeframe,
            engines=engines,
            refs=refs,
            cost_config=cfg.costs,
            extra_columns=extra,
            funding=funding,
        )
        report = analyse_symbol(
            candles[symbol],
            symbol,
            cfg.general.timeframe,
            refs=refs,
            engines=engines,
            decision=DecisionSettings.from_config(cfg),
            n_cuts=cuts,
            cost_config=cfg.costs,
            states=firing_states(engines, fitted),
            extra_columns=extra,
            funding=funding,
        )
        for name, message in {**report.engine_errors, **fit_errors}.items():
            err_console.print(
                f"⚠️ {symbol}: engine {name} not checked: {message}", highlight=False, markup=False
            )
        silent = [e.name for e in engines if report.fired.get(e.name, 0) == 0]
        fired = f"{len(engines) - len(silent)} of {len(engines)} engines fired" + (
            f" (silent: {', '.join(silent)})" if silent else ""
        )
        if report.clean:
            console.print(
                f"✅ {symbol}: no lookahead in {report.columns_checked} columns at {len(report.cuts)} cuts; {fired}",
                highlight=False,
            )
            continue
        found += len(report.leaks)
        console.print(
            f"❌ {symbol}: {len(report.leaking_columns())} columns read the future; {fired}", highlight=False
        )
        for leak in report.leaks:
            console.print(
                f"   {leak.name}: {leak.check} at cut {format_ms(leak.cut)}, first differs at {format_ms(leak.first_diff)}",
                highlight=False,
                markup=False,
            )
    if found:
        raise typer.Exit(1)


def _fmt(value: object) -> str:
    return "-" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)


def _pct(value: object) -> float | None:
    return None if value is None else float(value) * 100  # type: ignore[arg-type]


def _plot(bars: pl.DataFrame, symbol: str, path: Path) -> None:
    """Equity and drawdown, OOS bars only, after costs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = [datetime.fromtimestamp(t / 1000, UTC) for t in bars["timestamp"].to_list()]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True, height_ratios=(3, 1))
    top.plot(times, bars["equity"].to_numpy(), lw=1)
    top.set_title(f"{symbol}: out-of-sample equity after costs")
    top.set_ylabel("equity")
    bottom.fill_between(times, bars["drawdown"].to_numpy() * 100, 0, color="tab:red", alpha=0.4)
    bottom.set_ylabel("drawdown %")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
