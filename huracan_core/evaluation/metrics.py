"""Backtest metrics after costs, overall, per regime and per engine, as a JSON-safe dict.

Definitions (n = bars, bpy = bars per year = bars_per_day(timeframe) * 365, crypto trades every day):
- net_pnl_pct / gross_pnl_pct: compounded, 100 * (prod(1 + r) - 1) over per-bar net / gross returns.
- sharpe = mean(net) / std(net, ddof=1) * sqrt(bpy); sortino = mean(net) / sqrt(mean(min(net, 0)^2))
  * sqrt(bpy); both on ALL bars (flat bars count as 0 return); None when undefined (no variance, no
  downside, fewer than 2 bars).
- max_drawdown_pct: largest peak-to-trough fall of equity, as a positive percent (12.5 = -12.5%).
- hit_rate: share of trades with net pnl > 0 (None without trades); trades: count.
- turnover: sum |delta position| / days (1.0 = one full unit of equity traded per day, one side).
- avg_trade_bps: mean net pnl per trade, bps of equity (None without trades).
- fees_bps: total costs paid (fees + half spreads + slippage), sum over bars of |delta p| * cost_bps,
  i.e. additive bps of the equity at each fill (100 = 1% of equity); fees_pct = fees_bps / 100.
- exposure: share of bars holding a position; avg_abs_position: mean |position|.
Per regime (bars grouped by their own regime; trades by the regime at their decision bar) the pnl
figures are additive sums (100 * sum r). Per engine: each trade's gross / cost / net is attributed
to engines in proportion to |weight| in its engine mix at entry.
- probabilistic_sharpe (PSR, Bailey and Lopez de Prado 2012): the probability that the true per-bar
  Sharpe ratio is above 0, given the estimate's sample size and the per-bar returns' skew and kurtosis;
  deflated_sharpe (DSR, 2014): the same probability against the Sharpe ratio the best of `trials`
  independent strategies without any edge would show by luck (see `expected_max_sharpe`).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from statistics import NormalDist
from typing import Any

import numpy as np
import polars as pl

from huracan_core.timeframe import bars_per_day

DAYS_PER_YEAR = 365.0


def _num(value: float | None, digits: int = 6) -> float | None:
    """A finite rounded float, or None (never inf/NaN in JSON)."""
    if value is None:
        return None
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None


def _compound(returns: np.ndarray) -> float:
    """prod(1 + r) - 1, with ruin: equity never goes below 0."""
    return float(np.prod(np.maximum(1.0 + returns, 0.0))) - 1.0


def sharpe_ratio(net: np.ndarray, bars_per_year: float) -> float | None:
    """Annualised Sharpe of per-bar returns; None when undefined."""
    if net.size < 2:
        return None
    sd = float(np.std(net, ddof=1))
    if not math.isfinite(sd) or sd <= 1e-15:
        return None
    return float(np.mean(net)) / sd * math.sqrt(bars_per_year)


def sortino_ratio(net: np.ndarray, bars_per_year: float) -> float | None:
    """Annualised Sortino (downside deviation around 0); None when there is no downside."""
    if net.size < 2:
        return None
    down = math.sqrt(float(np.mean(np.minimum(net, 0.0) ** 2)))
    if down <= 1e-15:
        return None
    return float(np.mean(net)) / down * math.sqrt(bars_per_year)


EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()


def expected_max_sharpe(trials: int, bars: int) -> float:
    """Per-bar Sharpe ratio the best of `trials` independent no-edge strategies shows by luck, in expectation.

    SR0 = sqrt(V) * ((1 - g) * Z(1 - 1/N) + g * Z(1 - 1/(N e))), g = Euler's constant (Bailey and Lopez de
    Prado 2014). V, the variance of the trials' Sharpe estimates, is not observed here; under the null every
    estimate over `bars` returns has variance 1 / (bars - 1), which is what is used. One trial: 0.
    """
    if trials <= 1 or bars < 3:
        return 0.0
    spread = math.sqrt(1.0 / (bars - 1))
    z1 = _NORMAL.inv_cdf(1.0 - 1.0 / trials)
    z2 = _NORMAL.inv_cdf(1.0 - 1.0 / (trials * math.e))
    return spread * ((1.0 - EULER_GAMMA) * z1 + EULER_GAMMA * z2)


def probabilistic_sharpe(net: np.ndarray, benchmark_sharpe: float = 0.0) -> float | None:
    """P(true per-bar Sharpe > `benchmark_sharpe`) from per-bar returns (PSR); None when undefined.

    PSR = Phi((SR - SR*) * sqrt(T - 1) / sqrt(1 - skew * SR + (kurtosis - 1) / 4 * SR^2)), SR per bar (not
    annualised), kurtosis not in excess (3 for a normal). Flat bars count as zero returns: a strategy that
    is mostly flat has fat-tailed per-bar returns, and the formula charges it for that.
    """
    net = np.asarray(net, dtype=np.float64)
    t = net.size
    if t < 3:
        return None
    sd = float(np.std(net))
    if not math.isfinite(sd) or sd <= 1e-15:
        return None
    sr = float(np.mean(net)) / float(np.std(net, ddof=1))
    z = (net - net.mean()) / sd
    skew = float(np.mean(z**3))
    kurt = float(np.mean(z**4))
    spread = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr
    if not spread > 0:
        return None
    return _NORMAL.cdf((sr - benchmark_sharpe) * math.sqrt(t - 1) / math.sqrt(spread))


def sharpe_significance(net: np.ndarray, trials: int) -> dict[str, Any]:
    """PSR against 0 and DSR against the best of `trials` lucky strategies, for per-bar net returns."""
    net = np.asarray(net, dtype=np.float64)
    threshold = expected_max_sharpe(trials, net.size)
    return {
        "probabilistic_sharpe": _num(probabilistic_sharpe(net)),
        "deflated_sharpe": _num(probabilistic_sharpe(net, threshold)),
        "trials": int(trials),
        "deflated_sharpe_threshold_per_bar": _num(threshold),
    }


def max_drawdown(net: np.ndarray) -> float:
    """Largest fall from a running peak of compounded equity (starting at 1), as a positive fraction."""
    if net.size == 0:
        return 0.0
    equity = np.cumprod(np.maximum(1.0 + net, 0.0))
    peak = np.maximum.accumulate(np.maximum(equity, 1.0))
    return max(0.0, float(-(equity / peak - 1.0).min()))  # never -0.0


def _trade_stats(trades: pl.DataFrame) -> dict[str, Any]:
    net = trades["net_pnl_pct"].to_numpy() if trades.height else np.zeros(0)
    return {
        "trades": int(net.size),
        "hit_rate": _num(float((net > 0).mean())) if net.size else None,
        "avg_trade_bps": _num(float(net.mean()) * 100.0) if net.size else None,
    }


def _bar_stats(
    position: np.ndarray, gross: np.ndarray, cost: np.ndarray, bpy: float, bpd: float
) -> dict[str, Any]:
    net = gross - cost
    n = net.size
    days = n / bpd if n else 0.0
    delta = np.abs(np.diff(np.concatenate([[0.0], position])))
    return {
        "bars": int(n),
        "days": _num(days),
        "net_pnl_pct": _num(_compound(net) * 100.0),
        "gross_pnl_pct": _num(_compound(gross) * 100.0),
        "sharpe": _num(sharpe_ratio(net, bpy)),
        "sortino": _num(sortino_ratio(net, bpy)),
        "max_drawdown_pct": _num(max_drawdown(net) * 100.0),
        "turnover": _num(float(delta.sum()) / days) if days else None,
        "fees_bps": _num(float(cost.sum()) * 1e4),
        "fees_pct": _num(float(cost.sum()) * 100.0),
        "exposure": _num(float((position != 0).mean())) if n else None,
        "avg_abs_position": _num(float(np.abs(position).mean())) if n else None,
    }


def _per_regime(bars: pl.DataFrame, trades: pl.DataFrame, bpy: float) -> dict[str, Any]:
    out: dict[str, Any] = {}
    reg = bars["regime"].fill_null("UNKNOWN").to_numpy()
    pos, gross, cost = (bars[c].to_numpy() for c in ("position", "gross", "cost"))
    n = reg.size
    for name in sorted(set(reg.tolist())):
        m = reg == name
        net = gross[m] - cost[m]
        t = trades.filter(pl.col("regime").fill_null("UNKNOWN") == name) if trades.height else trades
        out[str(name)] = {
            "bars": int(m.sum()),
            "bar_share": _num(float(m.sum()) / n),
            "net_pnl_pct": _num(float(net.sum()) * 100.0),
            "gross_pnl_pct": _num(float(gross[m].sum()) * 100.0),
            "fees_bps": _num(float(cost[m].sum()) * 1e4),
            "sharpe": _num(sharpe_ratio(net, bpy)),
            "exposure": _num(float((pos[m] != 0).mean())),
            **_trade_stats(t),
        }
    return out


def _per_engine(trades: pl.DataFrame) -> dict[str, Any]:
    acc: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for mix, gross, costs, net in zip(
        trades["engine_mix"].to_list(),
        trades["gross_pnl_pct"].to_list(),
        trades["costs_bps"].to_list(),
        trades["net_pnl_pct"].to_list(),
        strict=True,
    ):
        if not mix:
            continue
        weights = {k: abs(float(v)) for k, v in json.loads(mix).items()}
        total = sum(weights.values())
        if total <= 0:
            continue
        for engine, w in weights.items():
            share = w / total
            a = acc[engine]
            a["trades"] += 1
            a["weight_sum"] += share
            a["gross_pnl_pct"] += share * gross
            a["fees_bps"] += share * costs
            a["net_pnl_pct"] += share * net
            a["wins"] += 1 if net > 0 else 0
    return {
        engine: {
            "trades": int(a["trades"]),
            "avg_weight": _num(a["weight_sum"] / a["trades"]),
            "gross_pnl_pct": _num(a["gross_pnl_pct"]),
            "fees_bps": _num(a["fees_bps"]),
            "net_pnl_pct": _num(a["net_pnl_pct"]),
            "hit_rate": _num(a["wins"] / a["trades"]),
        }
        for engine, a in sorted(acc.items())
    }


def compute_metrics(bars: pl.DataFrame, trades: pl.DataFrame, timeframe: str) -> dict[str, Any]:
    """All metrics of one backtest (`BacktestResult.bars`, `.trades`) as a JSON-safe dict."""
    bpd = bars_per_day(timeframe)
    bpy = bpd * DAYS_PER_YEAR
    pos, gross, cost = (bars[c].cast(pl.Float64).to_numpy() for c in ("position", "gross", "cost"))
    out: dict[str, Any] = {
        "timeframe": timeframe,
        **_bar_stats(pos, gross, cost, bpy, bpd),
        **_trade_stats(trades),
    }
    if "regime" in bars.columns:
        out["per_regime"] = _per_regime(bars, trades, bpy)
    if trades.height and "engine_mix" in trades.columns and trades["engine_mix"].null_count() < trades.height:
        out["per_engine"] = _per_engine(trades)
    return out


def metrics_from_returns(net: np.ndarray, timeframe: str) -> dict[str, Any]:
    """Return-only metrics (no positions or trades), e.g. for a benchmark or an aggregated portfolio."""
    net = np.asarray(net, dtype=np.float64)
    bpd = bars_per_day(timeframe)
    bpy = bpd * DAYS_PER_YEAR
    return {
        "net_pnl_pct": _num(_compound(net) * 100.0),
        "sharpe": _num(sharpe_ratio(net, bpy)),
        "sortino": _num(sortino_ratio(net, bpy)),
        "max_drawdown_pct": _num(max_drawdown(net) * 100.0),
    }
