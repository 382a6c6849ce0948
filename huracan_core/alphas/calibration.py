"""Calibration of rule engines: what their signals were worth, measured on the training window.

The edge of a side is the mean forward move (bps) after that side's raw signals, entry at the NEXT
bar's open and exit `horizon` bars later at the open. It stays signed: a long rule followed by falling
prices gets a negative edge, so the combiner can see the rule is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from huracan_core.alphas.base import signal_frame

DEFAULT_MIN_COUNT = 30  # signals per side below which the side's edge is unknown (-> 0, abstain)


def forward_move_expr(horizon: int) -> pl.Expr:
    """(open[t+1+h] / open[t+1] - 1) * 1e4; null where the window runs past the frame's end.

    Reads the future by construction: only for labelling the training window, never inside `signal`.
    """
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1 bar, got {horizon}")
    entry = pl.col("open").shift(-1)
    exit_ = pl.col("open").shift(-1 - horizon)
    move = (exit_ / entry - 1.0) * 1e4
    return pl.when(move.is_finite()).then(move).otherwise(None).alias("forward_move_bps")


def forward_move_bps(frame: pl.DataFrame, horizon: int) -> pl.Series:
    """Forward move in bps per row of `frame` (needs an `open` column); see `forward_move_expr`."""
    if "open" not in frame.columns:
        raise ValueError("forward_move_bps needs an 'open' column (entries are at the next bar's open)")
    return frame.select(forward_move_expr(horizon)).to_series()


COST_COLUMN = "cost_bps"  # per-side cost of one fill at each bar (fees + half spread + slippage)


def net_edge_expr(horizon: int, cost_column: str = COST_COLUMN) -> pl.Expr:
    """The learned engines' label: the forward move's net edge after a round trip, in bps, signed.

    sign(move) * max(|move| - cost[t+1] - cost[t+1+h], 0): the better side's profit after paying the entry
    fill at the next bar's open and the exit fill `horizon` bars later (each at that bar's per-side cost),
    0 when neither side pays its costs. Reads the future like `forward_move_expr`: training labels only.
    """
    move = forward_move_expr(horizon)
    cost = pl.col(cost_column).shift(-1) + pl.col(cost_column).shift(-1 - horizon)
    net = (move.abs() - cost).clip(lower_bound=0.0) * move.sign()
    return pl.when(net.is_finite()).then(net).otherwise(None).alias("net_edge_bps")


def net_edge_bps(frame: pl.DataFrame, horizon: int, cost_column: str = COST_COLUMN) -> pl.Series:
    """Net edge label per row of `frame` (needs `open` and the per-bar cost column); see `net_edge_expr`."""
    missing = [c for c in ("open", cost_column) if c not in frame.columns]
    if missing:
        raise ValueError(
            f"net_edge_bps needs column(s) {missing}: entries are at the next bar's open and pay that bar's "
            f"cost (frames from build_research_frame carry {COST_COLUMN!r})"
        )
    return frame.select(net_edge_expr(horizon, cost_column)).to_series()


def _side(raw: np.ndarray, forward: np.ndarray, side: int, min_count: int) -> dict[str, Any]:
    valid = (raw == side) & np.isfinite(forward)
    moves = forward[valid]
    count = int(moves.size)
    active = count >= min_count
    won = moves > 0 if side == 1 else moves < 0
    return {
        "count": count,
        "active": active,
        # Mean PRICE move (positive = price rose), whatever the side: a right short rule has edge < 0.
        "edge_bps": float(moves.mean()) if active else 0.0,
        "hit_rate": float(won.mean()) if count else None,
        "std_bps": float(moves.std(ddof=1)) if count > 1 else None,
    }


def calibrate_sides(
    raw_direction: pl.Series | np.ndarray, forward: pl.Series | np.ndarray, min_count: int
) -> dict[str, Any]:
    """Per side statistics of the forward move after raw signals, as flat JSON-ready state keys.

    Keys: n_long/n_short, edge_long_bps/edge_short_bps (0 when the side is inactive), hit_long/hit_short
    (share of signals where price moved the signalled way), std_long_bps/std_short_bps,
    long_active/short_active (count >= min_count) and min_count.
    """
    raw = np.asarray(raw_direction.to_numpy() if isinstance(raw_direction, pl.Series) else raw_direction)
    fwd = forward.to_numpy() if isinstance(forward, pl.Series) else np.asarray(forward)
    fwd = np.asarray(fwd, dtype=np.float64)  # nulls arrive as NaN and are skipped
    if raw.shape != fwd.shape:
        raise ValueError(f"raw_direction has {raw.shape[0]} rows but forward has {fwd.shape[0]}")
    out: dict[str, Any] = {"min_count": int(min_count)}
    for label, side in (("long", 1), ("short", -1)):
        stats = _side(raw, fwd, side, int(min_count))
        out[f"n_{label}"] = stats["count"]
        out[f"{label}_active"] = stats["active"]
        out[f"edge_{label}_bps"] = stats["edge_bps"]
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

    A side whose calibration is inactive (too few training signals) abstains; an active side carries its
    calibrated, signed edge; confidence is the rule's strength on signalling rows, 0 elsewhere.
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
