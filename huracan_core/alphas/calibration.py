"""Calibration of rule engines: what their signals were worth, measured on the training window.

The edge of a side is the mean forward move (bps) after that side's raw signals, entry at the NEXT
bar's open and exit `horizon` bars later at the open. It stays signed (positive = the price rose). A side
trades only when its calibrated NET edge is positive: the move in its own direction minus the round trip
it would have paid (the entry fill at the decision bar's cost estimate, the exit at the estimate of the
bar before the exit). A long rule followed by falling prices, or by rises smaller than its costs,
abstains: it never hands the combiner a vote against its own evidence.

Labels never span a hole of a walk-forward training frame (see `huracan_core.segments`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from huracan_core.alphas.base import signal_frame
from huracan_core.segments import SEGMENT_COLUMN, same_segment_expr

DEFAULT_MIN_COUNT = 30  # signals per side below which the side's edge is unknown (-> 0, abstain)


def forward_move_expr(horizon: int, *, segmented: bool = False) -> pl.Expr:
    """(open[t+1+h] / open[t+1] - 1) * 1e4; null where the window runs past the frame's end.

    With `segmented`, also null where the window leaves the row's segment (a hole of a training frame).
    Reads the future by construction: only for labelling the training window, never inside `signal`.
    """
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1 bar, got {horizon}")
    entry = pl.col("open").shift(-1)
    exit_ = pl.col("open").shift(-1 - horizon)
    move = (exit_ / entry - 1.0) * 1e4
    ok = move.is_finite()
    if segmented:
        ok = ok & same_segment_expr(1 + horizon)
    return pl.when(ok).then(move).otherwise(None).alias("forward_move_bps")


def forward_move_bps(frame: pl.DataFrame, horizon: int) -> pl.Series:
    """Forward move in bps per row of `frame` (needs an `open` column); see `forward_move_expr`."""
    if "open" not in frame.columns:
        raise ValueError("forward_move_bps needs an 'open' column (entries are at the next bar's open)")
    return frame.select(forward_move_expr(horizon, segmented=SEGMENT_COLUMN in frame.columns)).to_series()


COST_COLUMN = "cost_bps"  # per-side cost of one fill, estimated at each bar's close (fees + half spread + slippage)


def round_trip_expr(horizon: int, cost_column: str = COST_COLUMN) -> pl.Expr:
    """cost[t] + cost[t+h]: the two fills of a trade decided at bar t and held `horizon` bars.

    The entry at t+1's open pays the estimate known at the decision bar t; the exit at t+1+h's open pays
    the estimate known at t+h, the bar before it: the backtest charges exactly these (`fill_costs`).
    """
    return (pl.col(cost_column) + pl.col(cost_column).shift(-horizon)).alias("round_trip_bps")


def net_edge_expr(horizon: int, cost_column: str = COST_COLUMN, *, segmented: bool = False) -> pl.Expr:
    """The learned engines' label: the forward move's net edge after a round trip, in bps, signed.

    sign(move) * max(|move| - cost[t] - cost[t+h], 0): the better side's profit after paying the entry
    fill at the next bar's open and the exit fill `horizon` bars later (each at the estimate known at the
    bar before the fill, `round_trip_expr`), 0 when neither side pays its costs. Reads the future like
    `forward_move_expr`: training labels only.
    """
    move = forward_move_expr(horizon, segmented=segmented)
    net = (move.abs() - round_trip_expr(horizon, cost_column)).clip(lower_bound=0.0) * move.sign()
    return pl.when(net.is_finite()).then(net).otherwise(None).alias("net_edge_bps")


def net_edge_bps(frame: pl.DataFrame, horizon: int, cost_column: str = COST_COLUMN) -> pl.Series:
    """Net edge label per row of `frame` (needs `open` and the per-bar cost column); see `net_edge_expr`."""
    missing = [c for c in ("open", cost_column) if c not in frame.columns]
    if missing:
        raise ValueError(
            f"net_edge_bps needs column(s) {missing}: entries are at the next bar's open and pay the decision "
            f"bar's cost estimate (frames from build_research_frame carry {COST_COLUMN!r})"
        )
    segmented = SEGMENT_COLUMN in frame.columns
    return frame.select(net_edge_expr(horizon, cost_column, segmented=segmented)).to_series()


def round_trip_bps(frame: pl.DataFrame, horizon: int, cost_column: str = COST_COLUMN) -> np.ndarray | None:
    """[n] round trip (bps) of a trade decided at each row, NaN where unknown; None without a cost column."""
    if cost_column not in frame.columns or frame[cost_column].null_count() == frame.height:
        return None
    expr = round_trip_expr(horizon, cost_column)
    if SEGMENT_COLUMN in frame.columns:
        expr = pl.when(same_segment_expr(horizon)).then(expr)
    return frame.select(expr).to_series().cast(pl.Float64).fill_null(np.nan).to_numpy()


def _side(
    raw: np.ndarray, forward: np.ndarray, round_trip: np.ndarray, side: int, min_count: int, min_net: float
) -> dict[str, Any]:
    valid = (raw == side) & np.isfinite(forward) & np.isfinite(round_trip)
    moves = forward[valid]
    count = int(moves.size)
    enough = count >= min_count
    won = moves > 0 if side == 1 else moves < 0
    # Mean PRICE move (positive = price rose), whatever the side: a right short rule has edge < 0.
    edge = float(moves.mean()) if enough else 0.0
    cost = float(round_trip[valid].mean()) if count else 0.0
    net = side * edge - cost if enough else None
    return {
        "count": count,
        "active": bool(enough and net is not None and net > min_net),
        "edge_bps": edge,
        "round_trip_bps": cost if count else None,
        "net_edge_bps": net,
        "hit_rate": float(won.mean()) if count else None,
        "std_bps": float(moves.std(ddof=1)) if count > 1 else None,
    }


def calibrate_sides(
    raw_direction: pl.Series | np.ndarray,
    forward: pl.Series | np.ndarray,
    min_count: int,
    round_trip: pl.Series | np.ndarray | None = None,
    *,
    min_net_edge_bps: float = 0.0,
) -> dict[str, Any]:
    """Per side statistics of the forward move after raw signals, as flat JSON-ready state keys.

    Keys: n_long/n_short, edge_long_bps/edge_short_bps (mean price move; 0 below min_count signals),
    round_trip_long_bps/round_trip_short_bps (mean round trip those signals would have paid),
    net_long_bps/net_short_bps (the move in the side's direction minus that round trip; None below
    min_count), long_active/short_active (at least min_count signals AND a net edge above
    `min_net_edge_bps`, 0 by default: any positive net edge),
    hit_long/hit_short (share of signals where price moved the signalled way), std_long_bps/std_short_bps,
    costs_known (a round trip was given) and min_count. Without `round_trip` the net edge is the gross
    move: only frames without a cost column (unit fixtures) calibrate that way.
    """
    raw = np.asarray(raw_direction.to_numpy() if isinstance(raw_direction, pl.Series) else raw_direction)
    fwd = forward.to_numpy() if isinstance(forward, pl.Series) else np.asarray(forward)
    fwd = np.asarray(fwd, dtype=np.float64)  # nulls arrive as NaN and are skipped
    if raw.shape != fwd.shape:
        raise ValueError(f"raw_direction has {raw.shape[0]} rows but forward has {fwd.shape[0]}")
    if round_trip is None:
        rt = np.zeros(fwd.shape)
    else:
        rt = np.asarray(round_trip.to_numpy() if isinstance(round_trip, pl.Series) else round_trip, np.float64)
        if rt.shape != fwd.shape:
            raise ValueError(f"round_trip has {rt.shape[0]} rows but forward has {fwd.shape[0]}")
    out: dict[str, Any] = {"min_count": int(min_count), "costs_known": round_trip is not None}
    for label, side in (("long", 1), ("short", -1)):
        stats = _side(raw, fwd, rt, side, int(min_count), float(min_net_edge_bps))
        out[f"n_{label}"] = stats["count"]
        out[f"{label}_active"] = stats["active"]
        out[f"edge_{label}_bps"] = stats["edge_bps"]
        out[f"round_trip_{label}_bps"] = stats["round_trip_bps"]
        out[f"net_{label}_bps"] = stats["net_edge_bps"]
        out[f"hit_{label}"] = stats["hit_rate"]
        out[f"std_{label}_bps"] = stats["std_bps"]
    return out


CALIBRATION_KEYS: tuple[str, ...] = (
    "min_count",
    "n_long",
    "n_short",
    "long_active",
    "short_active",
    "edge_long_bps",
    "edge_short_bps",
)


def apply_calibration(
    raw_direction: np.ndarray, strength: np.ndarray, state: Mapping[str, Any], horizon: int
) -> pl.DataFrame:
    """Signals from raw rule output and a calibrated state.

    A side whose calibration is inactive (too few training signals, or no positive net edge) abstains; an
    active side carries its calibrated, signed edge, whose sign is then the side's; confidence is the
    rule's strength on signalling rows, 0 elsewhere.
    """
    return signal_frame(*calibrated_arrays(raw_direction, strength, state), horizon)


def calibrated_arrays(
    raw_direction: np.ndarray, strength: np.ndarray, state: Mapping[str, Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(direction, edge_bps, confidence) arrays of `apply_calibration`, without building a frame."""
    long_on = bool(state["long_active"])
    short_on = bool(state["short_active"])
    is_long = (raw_direction == 1) & long_on
    is_short = (raw_direction == -1) & short_on
    direction = is_long.astype(np.int8) - is_short.astype(np.int8)
    edge = np.where(is_long, float(state["edge_long_bps"]), 0.0)
    edge = np.where(is_short, float(state["edge_short_bps"]), edge)
    confidence = np.where(direction != 0, strength, 0.0)
    return direction, edge, confidence
