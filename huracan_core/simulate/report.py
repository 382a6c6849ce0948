"""The simulation's outputs, built from the finished periods in --out/periods: trades, daily equity (the
strategy, buy-and-hold of the same universe with equal weights, flat; all after costs), per-coin and per-month
tables, a PNG of the three curves and the strategy's drawdown, and summary.json."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from huracan_core.config import HuracanConfig

CURVES = ("strategy", "buy_and_hold", "flat")


def chain_periods(out: Any, dates: list[datetime], wallet: float) -> tuple[pl.DataFrame, pl.DataFrame]:
    """All trades, and the daily equity: each period's factors times the equity at the period's start."""
    trades, days = [], []
    level = {"strategy": wallet, "buy_and_hold": wallet}
    for i, _ in enumerate(dates):
        folder = out / "periods" / f"{i:03d}"
        period_trades = pl.read_parquet(folder / "trades.parquet")
        trades.append(period_trades.with_columns(pl.lit(i).alias("period")))
        equity = pl.read_parquet(folder / "equity.parquet")
        days.append(
            equity.select(
                "day",
                (pl.col("strategy") * level["strategy"]).alias("strategy"),
                (pl.col("buy_and_hold") * level["buy_and_hold"]).alias("buy_and_hold"),
                pl.lit(wallet).alias("flat"),
                pl.lit(i).alias("period"),
            )
        )
        for name in level:
            level[name] = float(days[-1][name][-1]) if days[-1].height else level[name]
    all_trades = pl.concat(trades, how="diagonal") if trades else pl.DataFrame()
    daily = pl.concat(days) if days else pl.DataFrame()
    return all_trades, daily


def curve_stats(equity: np.ndarray, start: float) -> dict[str, Any]:
    """Total return, max drawdown and annualised Sharpe (daily returns, 365 days) of an equity curve."""
    if equity.size == 0:
        return {"final_equity": start, "total_return_pct": 0.0, "max_drawdown_pct": 0.0, "sharpe": None}
    path = np.concatenate([[start], equity])
    returns = path[1:] / path[:-1] - 1.0
    peak = np.maximum.accumulate(path)
    drawdown = float(((path - peak) / peak).min())
    sd = float(returns.std(ddof=1)) if returns.size > 1 else 0.0
    sharpe = (
        None if sd == 0 or not math.isfinite(sd) else round(float(returns.mean()) / sd * math.sqrt(365), 3)
    )
    return {
        "final_equity": round(float(path[-1]), 2),
        "total_return_pct": round(100 * (float(path[-1]) / start - 1.0), 3),
        "max_drawdown_pct": round(100 * drawdown, 3),
        "sharpe": sharpe,
    }


def per_coin(trades: pl.DataFrame) -> pl.DataFrame:
    if trades.height == 0:
        return pl.DataFrame(schema={"symbol": pl.String, "trades": pl.UInt32})
    return (
        trades.group_by("symbol")
        .agg(
            pl.len().alias("trades"),
            (pl.col("net_pnl_pct") > 0).mean().alias("win_rate"),
            pl.col("net_pnl_pct").sum().alias("net_pnl_pct_of_allocation"),
            pl.col("gross_pnl_pct").sum().alias("gross_pnl_pct_of_allocation"),
            pl.col("costs_bps").sum().alias("costs_bps"),
            pl.col("bars_held").mean().alias("mean_bars_held"),
        )
        .sort("symbol")
    )


def per_month(trades: pl.DataFrame, daily: pl.DataFrame, wallet: float) -> pl.DataFrame:
    months = (
        daily.with_columns(pl.col("day").dt.strftime("%Y-%m").alias("month"))
        .group_by("month", maintain_order=True)
        .agg(*[pl.col(c).last().alias(f"{c}_end") for c in CURVES])
    )
    months = months.with_columns(
        *[
            (100 * (pl.col(f"{c}_end") / pl.col(f"{c}_end").shift(1).fill_null(wallet) - 1)).alias(
                f"{c}_return_pct"
            )
            for c in CURVES
        ]
    )
    if trades.height:
        counts = (
            trades.with_columns(
                pl.from_epoch("exit_time", time_unit="ms").dt.strftime("%Y-%m").alias("month")
            )
            .group_by("month")
            .agg(pl.len().alias("trades"), pl.col("net_pnl_pct").sum().alias("net_pnl_pct_of_allocation"))
        )
        months = months.join(counts, on="month", how="left")
    return months.with_columns(pl.col("^trades$").fill_null(0)).sort("month")


def plot(daily: pl.DataFrame, path: Any, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True, height_ratios=[3, 1])
    days = daily["day"].to_list()
    labels = {
        "strategy": "Huracan (Hamilton replay)",
        "buy_and_hold": "buy-and-hold, equal weight",
        "flat": "flat",
    }
    # Flat is a thin dashed line under the others, Huracan a thick one on top: a strategy that stayed flat
    # (no champion to trade) is still seen, not hidden behind the flat line it coincides with.
    styles: dict[str, dict[str, Any]] = {
        "strategy": {"linewidth": 2.2, "zorder": 3},
        "buy_and_hold": {"linewidth": 1.2, "zorder": 2},
        "flat": {"linewidth": 1.0, "linestyle": "--", "color": "grey", "zorder": 1},
    }
    for curve in CURVES:
        top.plot(days, daily[curve].to_numpy(), label=labels[curve], **styles[curve])
    top.set_ylabel("equity (after costs)")
    top.set_title(title)
    top.legend(loc="best")
    for curve in ("strategy", "buy_and_hold"):
        values = daily[curve].to_numpy()
        peak = np.maximum.accumulate(values) if values.size else values
        bottom.plot(days, 100 * (values / peak - 1) if values.size else values, label=labels[curve])
    bottom.set_ylabel("drawdown %")
    bottom.legend(loc="best")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(
    request: Any,
    config: HuracanConfig,
    progress: dict[str, Any],
    dates: list[datetime],
    *,
    covered_to: datetime,
) -> dict[str, Any]:
    """Write every output over the periods of `dates` (the finished ones, up to `covered_to`)."""
    from huracan_core.simulate.loop import write_json_atomic

    out = request.out
    wallet = float(config.hamilton.paper_wallet)
    trades, daily = chain_periods(out, dates, wallet)
    trades.write_parquet(out / "trades.parquet")
    daily.write_parquet(out / "daily_equity.parquet")
    daily.write_csv(out / "daily_equity.csv")
    per_coin(trades).write_csv(out / "per_coin.csv")
    per_month(trades, daily, wallet).write_csv(out / "per_month.csv")
    plot(daily, out / "equity.png", f"huracan simulate {request.start:%Y-%m-%d} to {covered_to:%Y-%m-%d}")
    per_date = []
    for moment in dates:
        entry = progress["dates"][moment.isoformat()]
        per_date.append({
            "date": moment.isoformat(), "universe": entry["universe"],
            "trained": len(entry["engine"]["trained"]), "promoted": entry["engine"]["promoted"],
            "engine_wall_time_s": entry["engine"]["wall_time_s"], "trades": entry["traded"]["trades"],
            "replay_wall_time_s": entry["traded"]["wall_time_s"], "note": entry["traded"].get("note") or None,
            **({"mechanic": entry["mechanic"]} if "mechanic" in entry else {}),
        })  # fmt: skip
    curves = {c: curve_stats(daily[c].to_numpy() if daily.height else np.array([]), wallet) for c in CURVES}
    curves["strategy"]["trades"] = trades.height
    curves["buy_and_hold"]["trades"] = 2 * sum(len(d["universe"]) for d in per_date)  # in and out each period
    curves["flat"]["trades"] = 0
    summary = {
        "from": request.start.isoformat(), "to": request.end.isoformat(),
        "complete": covered_to >= request.end, "covered_to": covered_to.isoformat(),
        "retrain_every_days": request.retrain_every_days, "symbols": request.symbols,
        "timeframe": config.general.timeframe, "lookback_days": config.engine.lookback_days,
        "source": config.data.source, "mechanic": request.mechanic,
        "paper_wallet": wallet, "max_model_age_days": config.hamilton.max_model_age_days,
        "wall_time_s": progress.get("wall_time_s"), "cpu_count": __import__("os").cpu_count(),
        "retrain_dates": per_date, **curves,
    }  # fmt: skip
    write_json_atomic(out / "summary.json", summary)
    return summary
