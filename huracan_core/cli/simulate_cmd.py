"""`huracan simulate`: the whole system over a past period (Engine at each retrain date, Hamilton's replay
between them), with buy-and-hold and flat beside it; resumable (see huracan_core/simulate)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from huracan_core.cli.common import ConfigOpt, LakeOpt, console, friendly_errors
from huracan_core.exceptions import ConfigError


def _date(text: str, flag: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{flag} must be a UTC date like 2024-04-01 (got {text!r})") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@friendly_errors
def simulate_command(
    start: Annotated[str, typer.Option("--from", help="First retrain date (UTC), e.g. 2024-04-01.")],
    end: Annotated[str, typer.Option("--to", help="End of the simulation (UTC, excluded).")],
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the simulation's archive, database and report.")
    ],
    retrain_every: Annotated[str, typer.Option("--retrain-every", help="1d or 7d (any Nd).")] = "7d",
    symbols: Annotated[
        str,
        typer.Option("--symbols", help="Comma-separated symbols or topN, ranked by volume as of each date."),
    ] = "top20",
    source: Annotated[str, typer.Option("--source", help="lake (real candles) or synthetic.")] = "lake",
    lake: LakeOpt = None,
    timeframe: Annotated[str | None, typer.Option("--timeframe", help="Candle timeframe, e.g. 15m.")] = None,
    lookback_days: Annotated[
        int | None,
        typer.Option("--lookback-days", min=1, help="The Engine's lookback (engine.lookback_days)."),
    ] = None,
    mechanic: Annotated[
        bool, typer.Option("--mechanic", help="Also run the Mechanic's hourly passes (multiplies the cost).")
    ] = False,
    mechanic_every: Annotated[
        str, typer.Option("--mechanic-every", help="Hours between Mechanic passes with --mechanic (1h as in Airflow).")
    ] = "1h",
    config: ConfigOpt = None,
    stop_after: Annotated[int | None, typer.Option("--stop-after", hidden=True)] = None,
) -> None:
    """Run the nightly Engine at each retrain date (as of it) and trade its champions through Hamilton's
    replay until the next; write trades, daily equity, per-coin and per-month tables, buy-and-hold and flat,
    equity.png and summary.json into --out. Rerun the same command to resume after an interruption."""
    from huracan_core.simulate import SimulateRequest, simulate
    from huracan_core.simulate.loop import parse_every, parse_hours, retrain_dates

    request = SimulateRequest(
        start=_date(start, "--from"), end=_date(end, "--to"), out=out, retrain_every_days=parse_every(retrain_every),
        symbols=symbols, source=source, lake=lake, timeframe=timeframe, lookback_days=lookback_days,
        mechanic=mechanic, mechanic_every_hours=parse_hours(mechanic_every), config_path=str(config) if config else None, stop_after=stop_after,
    )  # fmt: skip
    columns = (
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("ETA"), TimeRemainingColumn(),
    )  # fmt: skip
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(
            "retrain dates", total=len(retrain_dates(request.start, request.end, request.retrain_every_days))
        )

        def on_date(index: int, total: int, key: str) -> None:
            bar.update(task, total=total, completed=index, description=f"retrain date {key[:10]}")

        result = simulate(request, on_date=on_date)
        bar.update(task, completed=len(result.done), description="retrain dates")
    if result.resumed:
        console.print(f"Resumed: {len(result.resumed)} retrain date(s) already done were not redone.")
    if not result.finished:
        console.print(
            f"Stopped after {len(result.done)} of {len(result.retrain_dates)} retrain dates; "
            "run the same command again to resume.", highlight=False,
        )  # fmt: skip
        if result.summary is None:
            return
        console.print(f"Report so far (up to {result.summary['covered_to'][:10]}):", highlight=False)
    summary = result.summary or {}
    for name in ("strategy", "buy_and_hold", "flat"):
        s = summary[name]
        console.print(
            f"{name:13s} total {s['total_return_pct']:+.2f}%  max drawdown {s['max_drawdown_pct']:.2f}%  "
            f"Sharpe {s['sharpe']}  trades {s['trades']}", highlight=False,
        )  # fmt: skip
    console.print(f"Outputs in {out}: trades.parquet, daily_equity.parquet/csv, per_coin.csv, per_month.csv, "
                  f"equity.png, summary.json (wall time {summary['wall_time_s']} s)", highlight=False)  # fmt: skip
