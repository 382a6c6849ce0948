"""`huracan regimes SYMBOL`: how a coin's recent bars split into TREND / RANGE / PANIC / ILLIQUID."""

from __future__ import annotations

import time
from typing import Annotated, Any

import polars as pl
import typer
from rich.table import Table

from huracan_core.cli.common import (
    ConfigOpt,
    LakeOpt,
    SourceOpt,
    TimeframeOpt,
    config_from,
    console,
    friendly_errors,
)
from huracan_core.config import HuracanConfig
from huracan_core.exceptions import DataIntegrityError
from huracan_core.regime import REGIMES, RegimeParams, classify_regimes, regime_shares
from huracan_core.timeframe import DAY_MS, timeframe_ms


def load_recent_candles(
    cfg: HuracanConfig, symbol: str, timeframe: str, days: float, now_ms: int, *, warmup_days: float
) -> pl.DataFrame:
    """The last `days` of candles plus `warmup_days` before them, from the configured source.

    A lake ends at its newest stored bar (it may be old data); other sources end at `now_ms`.
    """
    from huracan_core.market import open_source  # heavy (ccxt): only when the command runs

    source = open_source(cfg)
    tf = timeframe_ms(timeframe)
    end = now_ms
    last_timestamp = getattr(source, "last_timestamp", None)
    if callable(last_timestamp):
        last = last_timestamp(symbol, timeframe)
        if last is not None:
            end = min(now_ms, int(last) + tf)
    start = end - int((days + warmup_days) * DAY_MS)
    return source.fetch(symbol, timeframe, start, end, now_ms=now_ms)


def regime_report(candles: pl.DataFrame, symbol: str, timeframe: str, days: float) -> dict[str, Any]:
    """Regime shares over the last `days` of `candles` (earlier bars only warm the windows up)."""
    if candles.height == 0:
        raise DataIntegrityError(f"{symbol} {timeframe}: no candles in the requested window")
    regimes = classify_regimes(candles, timeframe)
    cutoff = int(candles["timestamp"].max()) + timeframe_ms(timeframe) - int(days * DAY_MS)
    shown = regimes.filter(candles["timestamp"] >= cutoff)
    window = candles.filter(pl.col("timestamp") >= cutoff)
    return {
        "symbol": symbol,
        "timeframe": timeframe,
        "bars": shown.len(),
        "first_ms": int(window["timestamp"].min()) if window.height else None,
        "last_ms": int(window["timestamp"].max()) if window.height else None,
        "shares": regime_shares(shown),
    }


@friendly_errors
def regimes_command(
    symbol: Annotated[str, typer.Argument(help="Symbol such as BTCUSDT.")],
    config: ConfigOpt = None,
    source: SourceOpt = None,
    lake: LakeOpt = None,
    timeframe: TimeframeOpt = None,
    days: Annotated[float, typer.Option("--days", min=0.1, help="Days of recent bars to classify.")] = 30.0,
) -> None:
    """Print the share of bars in each regime over the last DAYS days, and the bar count."""
    cfg = config_from(config, source=source, lake=lake, timeframe=timeframe)
    symbol = symbol.strip().upper().replace("/", "")
    tf = cfg.general.timeframe
    # The clock is read here, at the edge; the library takes time as an argument.
    now_ms = int(time.time() * 1000)
    candles = load_recent_candles(cfg, symbol, tf, days, now_ms, warmup_days=RegimeParams().percentile_days)
    report = regime_report(candles, symbol, tf, days)
    table = Table(title=f"{symbol} {tf} regimes, last {days:g} days ({report['bars']} bars)")
    table.add_column("regime")
    table.add_column("share", justify="right")
    for name in REGIMES:
        table.add_row(name, f"{100.0 * report['shares'][name]:.1f}%")
    console.print(table)
    console.print(f"bars: {report['bars']}", highlight=False)


__all__ = ["load_recent_candles", "regime_report", "regimes_command"]
