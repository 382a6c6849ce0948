"""Vectorised bar backtest: decide at bar t's close, fill at bar t+1's open, pay per-side costs per fill.

Model (all numpy, no per-bar Python loop):
- held position p[t+1] = target[t]; p[0] = 0; the position is a fraction of equity in [-1, 1],
  rebalanced to that fraction every bar (drift between bars is not charged);
- bar return r[t] = open[t+1] / open[t] - 1 (open to next open); the last bar has no next open, so
  the backtest closes everything at the last bar's open (p[n-1] = 0, paying the exit fill) and its
  row is marked `complete = False`;
- gross[t] = p[t] * r[t]; cost[t] = |p[t] - p[t-1]| * cost_bps[t-1] / 1e4: a fill at bar t's open pays
  the per-side cost (fee + half spread + slippage) estimated at the decision bar t-1's close, the last
  estimate anyone could know before the fill (bar t's own high, low and volume come after its open); a
  reversal +1 -> -1 pays two fills;
- net[t] = gross[t] - cost[t]; equity[t] = prod_{u<=t} max(1 + net[u], 0) starting from 1.0 (a bar
  that loses more than the equity ruins the account: equity stays 0).
Trades are maximal runs of one side; resizing inside a run stays in the same trade and its cost is
that trade's. A reversal splits the fill: |p[t-1]| units close the old trade, |p[t]| open the new one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from huracan_core.exceptions import DataIntegrityError

TRADE_COLUMNS = (
    "trade_id", "side", "size", "max_size", "entry_bar", "exit_bar", "bars_held", "entry_time",
    "exit_time", "entry_price", "exit_price", "entry_cost_bps", "costs_bps", "gross_pnl_pct",
    "net_pnl_pct", "engine_mix", "regime",
)  # fmt: skip


@dataclass(frozen=True)
class BacktestResult:
    """Per-bar frame and trade list of one backtest (one symbol)."""

    bars: pl.DataFrame
    trades: pl.DataFrame

    @property
    def net_return(self) -> float:
        """Compounded net return of the whole run (0.05 = +5%)."""
        return float(self.bars["equity"][-1] - 1.0) if self.bars.height else 0.0


def _as_float_array(name: str, values: Any, n: int) -> np.ndarray:
    if isinstance(values, pl.Series):
        arr = values.cast(pl.Float64).to_numpy()
    elif np.isscalar(values):
        arr = np.full(n, float(values))  # type: ignore[arg-type]
    else:
        arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (n,):
        raise DataIntegrityError(
            f"backtest input {name!r} has shape {arr.shape}, expected ({n},) like the candles"
        )
    return arr


def _cost_array(costs: float | np.ndarray | pl.Series | pl.DataFrame, n: int) -> np.ndarray:
    if isinstance(costs, pl.DataFrame):
        if "cost_bps" not in costs.columns:
            raise DataIntegrityError(f"costs frame has no 'cost_bps' column (columns: {costs.columns})")
        costs = costs["cost_bps"]
    arr = _as_float_array("cost_bps", costs, n)
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataIntegrityError(f"cost_bps at row {i} is {arr[i]!r}; costs must be finite and >= 0")
    return arr


def fill_costs(estimates: np.ndarray) -> np.ndarray:
    """Per-side cost of a fill at each bar's open: the estimate of the bar before (the decision bar).

    Row 0 has no bar before it and can hold no fill (positions start flat); it keeps its own estimate.
    """
    out = np.empty_like(estimates)
    if estimates.size:
        out[0] = estimates[0]
        out[1:] = estimates[:-1]
    return out


def _finite(weight: float) -> float:
    """`float(np.nan_to_num(weight))`, without nan_to_num's array machinery for the (usual) finite weight:
    mix_json reads every engine's weight of every trade, so that call was most of its time."""
    value = float(weight)
    return value if math.isfinite(value) else float(np.nan_to_num(weight))


def mix_json(weights: Mapping[str, float], top_k: int | None) -> str:
    """JSON {engine: weight} of one decision's non-zero weights, largest |weight| first (ties keep the
    engines' order), 6 decimals: the trade log's `engine_mix`, in the backtest and in Hamilton alike."""
    items = [(name, _finite(w)) for name, w in weights.items()]
    items = sorted((i for i in items if abs(i[1]) > 0), key=lambda i: -abs(i[1]))[: top_k or None]
    return json.dumps({name: round(w, 6) for name, w in items})


def _mix_json(weights: pl.DataFrame, rows: np.ndarray, top_k: int | None) -> list[str | None]:
    """`mix_json` of the weights at each of `rows` (None for a row before the first bar)."""
    names = weights.columns
    mat = weights.select(pl.all().cast(pl.Float64)).to_numpy()
    return [None if r < 0 else mix_json(dict(zip(names, mat[r], strict=True)), top_k) for r in rows]


def backtest(
    candles: pl.DataFrame,
    target_position: np.ndarray | pl.Series | Sequence[float],
    costs: float | np.ndarray | pl.Series | pl.DataFrame,
    *,
    regime: pl.Series | Sequence[str] | None = None,
    engine_weights: pl.DataFrame | None = None,
    engine_mix: pl.Series | Sequence[str | None] | None = None,
    mix_top_k: int | None = 5,
) -> BacktestResult:
    """Run the backtest of `target_position` (row t decided at bar t's close) over `candles`.

    `costs` is cost_bps per side per bar (a number, an array, or the costs frame with `cost_bps`), row t
    being the estimate known at bar t's close; a fill at bar t's open is charged row t-1 (the decision
    bar's). The per-bar frame's `cost_bps` column is what a fill at that bar's open pays.
    `regime` (per bar) and the engine mix (`engine_weights`: one column per engine, row t = weights
    behind the decision at t; or ready-made `engine_mix` strings) are reported at each trade's decision
    bar (entry bar - 1), i.e. what was known when the trade was decided.
    """
    n = candles.height
    if n < 2:
        raise DataIntegrityError(f"backtest needs at least 2 candles, got {n}")
    opens = candles["open"].cast(pl.Float64).to_numpy()
    if not (np.isfinite(opens).all() and (opens > 0).all()):
        raise DataIntegrityError("candle opens must be finite and > 0 for the backtest")
    target = _as_float_array("target_position", target_position, n)
    if not np.isfinite(target).all() or (np.abs(target) > 1.0 + 1e-12).any():
        raise DataIntegrityError("target_position must be finite and within [-1, 1]")
    cost_bps = fill_costs(_cost_array(costs, n))
    ts = candles["timestamp"].to_numpy()

    pos = np.zeros(n)
    pos[1 : n - 1] = target[: n - 2]  # decided at t's close, held from t+1's open; flat at the last open
    bar_ret = np.zeros(n)
    bar_ret[:-1] = opens[1:] / opens[:-1] - 1.0
    prev = np.concatenate([[0.0], pos[:-1]])
    delta = pos - prev
    gross = pos * bar_ret
    cost = np.abs(delta) * cost_bps / 1e4
    net = gross - cost
    equity = np.cumprod(np.maximum(1.0 + net, 0.0))  # ruin: a loss beyond equity leaves 0 for good
    peak = np.maximum.accumulate(np.maximum(equity, 1.0))
    drawdown = equity / peak - 1.0

    bars = pl.DataFrame(
        {
            "timestamp": candles["timestamp"],
            "open": opens,
            "position": pos,
            "bar_return": bar_ret,
            "gross": gross,
            "cost_bps": cost_bps,
            "cost": cost,
            "net": net,
            "equity": equity,
            "drawdown": drawdown,
            "complete": np.arange(n) < n - 1,
        }
    )
    regime_arr: np.ndarray | None = None
    if regime is not None:
        reg = regime if isinstance(regime, pl.Series) else pl.Series("regime", list(regime))
        if reg.len() != n:
            raise DataIntegrityError(f"regime has {reg.len()} rows, candles have {n}")
        bars = bars.with_columns(reg.cast(pl.String).alias("regime"))
        regime_arr = bars["regime"].to_numpy()

    trades = _trades(
        pos, prev, cost, gross, cost_bps, opens, ts, regime_arr, engine_weights, engine_mix, mix_top_k
    )
    return BacktestResult(bars=bars, trades=trades)


def _trades(
    pos: np.ndarray,
    prev: np.ndarray,
    cost: np.ndarray,
    gross: np.ndarray,
    cost_bps: np.ndarray,
    opens: np.ndarray,
    ts: np.ndarray,
    regime: np.ndarray | None,
    engine_weights: pl.DataFrame | None,
    engine_mix: pl.Series | Sequence[str | None] | None,
    mix_top_k: int | None,
) -> pl.DataFrame:
    """Trade list from the position path, vectorised with cumulative sums and bincount."""
    n = pos.size
    side = np.sign(pos)
    prev_side = np.sign(prev)
    changed = side != prev_side
    entries = np.flatnonzero(changed & (side != 0))
    exits = np.flatnonzero(changed & (prev_side != 0))
    k = entries.size
    if k == 0:
        return _empty_trades()
    # Trade id of each bar while a position is held; -1 when flat.
    tid = np.cumsum(changed & (side != 0)) - 1
    tid = np.where(side != 0, tid, -1)
    prev_tid = np.concatenate([[-1], tid[:-1]])
    # Split each fill's cost: closing units belong to the previous trade, the rest to the current one.
    to_prev = np.where(changed & (prev_side != 0), np.abs(prev) * cost_bps / 1e4, 0.0)
    to_cur = cost - to_prev
    trade_cost = np.bincount(prev_tid[prev_tid >= 0], weights=to_prev[prev_tid >= 0], minlength=k)
    trade_cost += np.bincount(tid[tid >= 0], weights=to_cur[tid >= 0], minlength=k)
    trade_gross = np.bincount(tid[tid >= 0], weights=gross[tid >= 0], minlength=k)
    abs_pos = np.abs(pos)
    max_size = np.zeros(k)
    np.maximum.at(max_size, tid[tid >= 0], abs_pos[tid >= 0])

    decision_bar = entries - 1
    mix: list[str | None]
    if engine_weights is not None:
        if engine_weights.height != n:
            raise DataIntegrityError(f"engine_weights has {engine_weights.height} rows, candles have {n}")
        mix = _mix_json(engine_weights, decision_bar, mix_top_k)
    elif engine_mix is not None:
        mix_list = list(engine_mix)
        if len(mix_list) != n:
            raise DataIntegrityError(f"engine_mix has {len(mix_list)} rows, candles have {n}")
        mix = [mix_list[i] if i >= 0 else None for i in decision_bar]
    else:
        mix = [None] * k
    reg = [None] * k if regime is None else [regime[i] if i >= 0 else None for i in decision_bar]

    return pl.DataFrame(
        {
            "trade_id": np.arange(k, dtype=np.int64),
            "side": side[entries].astype(np.int8),
            "size": abs_pos[entries],
            "max_size": max_size,
            "entry_bar": entries.astype(np.int64),
            "exit_bar": exits.astype(np.int64),
            "bars_held": (exits - entries).astype(np.int64),
            "entry_time": ts[entries],
            "exit_time": ts[exits],
            "entry_price": opens[entries],
            "exit_price": opens[exits],
            "entry_cost_bps": cost_bps[entries],
            "costs_bps": trade_cost * 1e4,
            "gross_pnl_pct": trade_gross * 100.0,
            "net_pnl_pct": (trade_gross - trade_cost) * 100.0,
            "engine_mix": pl.Series(mix, dtype=pl.String),
            "regime": pl.Series(reg, dtype=pl.String),
        }
    )


def _empty_trades() -> pl.DataFrame:
    schema: dict[str, Any] = {c: pl.Float64 for c in TRADE_COLUMNS}
    schema.update(
        trade_id=pl.Int64, side=pl.Int8, entry_bar=pl.Int64, exit_bar=pl.Int64, bars_held=pl.Int64,
        entry_time=pl.Int64, exit_time=pl.Int64, engine_mix=pl.String, regime=pl.String,
    )  # fmt: skip
    return pl.DataFrame(schema=schema)
