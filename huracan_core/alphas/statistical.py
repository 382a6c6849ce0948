"""Engines whose rule is learned from the training window's statistics: seasonality and anomaly.

seasonality learns the mean forward move per UTC hour of day and per weekday; anomaly detects shocks and
learns from calibration whether to fade or to follow each direction of shock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import polars as pl

from huracan_core.alphas.arrays import ramp, safe_div, sided, unit
from huracan_core.alphas.base import AlphaEngine, LatestInputs, signal_frame, signal_row
from huracan_core.alphas.calibration import CALIBRATION_KEYS, forward_move_bps, round_trip_bps
from huracan_core.alphas.rule import RuleEngine

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday; Monday = 0


def _epoch_ms(frame: pl.DataFrame) -> np.ndarray:
    ts = frame["timestamp"]
    if ts.dtype == pl.Datetime:
        ts = ts.dt.epoch("ms")
    return ts.cast(pl.Int64).to_numpy()


def _bucket_table(
    bucket: np.ndarray,
    independent: np.ndarray,
    moves: np.ndarray,
    size: int,
    p: Mapping[str, float],
    round_trip: np.ndarray | None = None,
) -> dict[str, list[Any]]:
    """Mean forward move per bucket, with a t-statistic whose count is independent periods, not bars.

    Bars of one hour on one day (or one weekday in one week) share most of their forward window, so the
    effective sample is the number of distinct days (weeks) seen in that bucket. A bucket trades only when
    its mean move is significant AND larger than the mean round trip trading it would have paid.
    """
    mean, t_stat, periods, active = [0.0] * size, [0.0] * size, [0] * size, [False] * size
    net: list[float | None] = [None] * size
    rt = np.zeros(moves.shape) if round_trip is None else round_trip
    ok = np.isfinite(moves) & np.isfinite(rt)
    for b in range(size):
        sel = ok & (bucket == b)
        n_periods = int(np.unique(independent[sel]).size)
        periods[b] = n_periods
        if n_periods < 2:
            continue
        m = float(moves[sel].mean())
        sd = float(moves[sel].std(ddof=1))
        t = m / (sd / np.sqrt(n_periods)) if sd > 0 else 0.0
        mean[b], t_stat[b] = m, float(t)
        net[b] = abs(m) - float(rt[sel].mean())
        active[b] = bool(n_periods >= p["min_periods"] and abs(t) >= p["t_min"] and net[b] > 0)
    return {"mean_bps": mean, "t_stat": t_stat, "periods": periods, "active": active, "net_bps": net}


class SeasonalityEngine(AlphaEngine):
    name = "seasonality"
    description = (
        "Mean forward move by UTC hour of day and by weekday, learned in fit; trades significant ones."
    )
    regimes = frozenset({"TREND", "RANGE"})
    inputs = ("timestamp",)
    horizon_bars = 4
    lookback_bars = 1
    defaults: ClassVar[Mapping[str, float]] = {
        "min_periods": 30,  # distinct days (hour buckets) / weeks (weekday buckets) a bucket needs
        "t_min": 2.0,  # |t-statistic| of a bucket's mean move needed to trade it
        "t_full": 4.0,  # |t| at which confidence is 1
    }

    def fit(self, frame: pl.DataFrame) -> dict[str, Any]:
        state = self.base_state(frame)
        if state["missing_inputs"]:
            empty = np.zeros(0)
            state["hour"] = _bucket_table(empty, empty, empty, 24, self.params)
            state["weekday"] = _bucket_table(empty, empty, empty, 7, self.params)
            return state
        ts = _epoch_ms(frame)
        moves = np.asarray(forward_move_bps(frame, self.horizon_bars).to_numpy(), dtype=np.float64)
        round_trip = round_trip_bps(frame, self.horizon_bars)
        hour, day = (ts // HOUR_MS) % 24, ts // DAY_MS
        weekday, week = (day + EPOCH_WEEKDAY) % 7, (ts + EPOCH_WEEKDAY * DAY_MS) // WEEK_MS
        state["hour"] = _bucket_table(hour, day, moves, 24, self.params, round_trip)
        state["weekday"] = _bucket_table(weekday, week, moves, 7, self.params, round_trip)
        state["costs_known"] = round_trip is not None
        return state

    def signal(self, frame: pl.DataFrame, state: Mapping[str, Any]) -> pl.DataFrame:
        """Per row: the stronger (by |t|) of its hour and weekday buckets, when that bucket is significant."""
        self.check_state(state, required=("hour", "weekday"))
        if self.missing_inputs(frame):
            return self.abstain(frame.height)
        return signal_frame(*self._arrays(_epoch_ms(frame), state), self.horizon_bars)

    def latest_row(self, inputs: LatestInputs, state: Mapping[str, Any]) -> dict[str, Any]:
        """`signal`'s last row from the newest timestamp alone, without building a frame."""
        self.check_state(state, required=("hour", "weekday"))
        if inputs.missing(self.inputs, self.lookback_bars):
            return signal_row(np.zeros(1, np.int8), np.zeros(1), np.zeros(1), self.horizon_bars)
        return signal_row(*self._arrays(_epoch_ms(inputs.frame)[-1:], state), self.horizon_bars)

    def _arrays(self, ts: np.ndarray, state: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(direction, edge_bps, confidence) per epoch-ms timestamp, for the batch and the newest-bar path."""
        day = ts // DAY_MS
        picks = []
        for key, index in (("hour", (ts // HOUR_MS) % 24), ("weekday", (day + EPOCH_WEEKDAY) % 7)):
            table = state[key]
            active = np.asarray(table["active"], dtype=bool)[index]
            t = np.where(active, np.asarray(table["t_stat"], dtype=np.float64)[index], 0.0)
            mean = np.where(active, np.asarray(table["mean_bps"], dtype=np.float64)[index], 0.0)
            picks.append((t, mean))
        (t_hour, m_hour), (t_day, m_day) = picks
        use_hour = np.abs(t_hour) >= np.abs(t_day)
        t = np.where(use_hour, t_hour, t_day)
        edge = np.where(use_hour, m_hour, m_day)
        direction = np.sign(edge).astype(np.int8)
        confidence = np.where(direction != 0, unit(np.abs(t) / self.params["t_full"]), 0.0)
        return direction, np.where(direction != 0, edge, 0.0), confidence


class AnomalyEngine(RuleEngine):
    name = "anomaly"
    description = (
        "Shock bar (|return| > 4 sigma, or > 2.5 sigma on 3-sigma volume): fade or follow per calibration."
    )
    regimes = frozenset({"PANIC", "TREND", "RANGE"})
    inputs = ("ret_1", "rv_96", "vol_z_48")
    horizon_bars = 4
    lookback_bars = 1
    defaults: ClassVar[Mapping[str, float]] = {
        "z_shock": 4.0,  # |1-bar return| in sigmas that is a shock on its own
        "z_with_volume": 2.5,  # smaller move that is a shock when volume is extreme too
        "vol_z_min": 3.0,  # volume z-score that makes the smaller move a shock
    }

    def rule(self, x: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Raw direction = the SHOCK's direction (+1 up shock); fit decides whether to trade it or against it."""
        p = self.params
        z = safe_div(x["ret_1"], x["rv_96"])  # 1-bar return in 1-bar sigmas
        size = np.abs(z)
        shock = (size >= p["z_shock"]) | ((size >= p["z_with_volume"]) & (x["vol_z_48"] >= p["vol_z_min"]))
        return sided(shock & (z > 0), shock & (z < 0)), ramp(size, p["z_with_volume"], 2 * p["z_shock"])

    def fit(self, frame: pl.DataFrame) -> dict[str, Any]:
        """Calibrate as a rule engine on shock direction, then follow each shock side whose mean move
        went its way and fade the side whose mean move went against it, when that move beat its round trip.

        The calibration's `*_active` flags judge the shock's own direction; here the traded direction is
        the move's, so a side trades when |mean move| exceeds its mean round trip over enough shocks.
        """
        state = super().fit(frame)
        for key, label in (("mode_up", "long"), ("mode_down", "short")):
            edge = float(state[f"edge_{label}_bps"])
            cost = state[f"round_trip_{label}_bps"] or 0.0
            floor = float(self.params["min_net_edge_bps"])
            tradable = state[f"n_{label}"] >= state["min_count"] and abs(edge) - cost > floor
            follow = int(np.sign(edge)) if tradable else 0
            state[key] = follow if label == "long" else -follow
        return state

    def signal(self, frame: pl.DataFrame, state: Mapping[str, Any]) -> pl.DataFrame:
        self.check_state(state, required=(*CALIBRATION_KEYS, "mode_up", "mode_down"))
        if self.missing_inputs(frame):
            return self.abstain(frame.height)
        return signal_frame(*self._arrays(*self.raw_signals(frame), state), self.horizon_bars)

    def latest_row(self, inputs: LatestInputs, state: Mapping[str, Any]) -> dict[str, Any]:
        """`signal`'s last row from the newest `lookback_bars` rows, without building a frame."""
        self.check_state(state, required=(*CALIBRATION_KEYS, "mode_up", "mode_down"))
        if inputs.missing(self.inputs, self.lookback_bars):
            return signal_row(np.zeros(1, np.int8), np.zeros(1), np.zeros(1), self.horizon_bars)
        shock, strength = self.latest_raw(inputs)
        return signal_row(*self._arrays(shock[-1:], strength[-1:], state), self.horizon_bars)

    def _arrays(
        self, shock: np.ndarray, strength: np.ndarray, state: Mapping[str, Any]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mode_up, mode_down = int(state["mode_up"]), int(state["mode_down"])
        direction = np.where(shock == 1, mode_up, np.where(shock == -1, -mode_down, 0)).astype(np.int8)
        # Edge is the calibrated price move after that kind of shock; its sign matches the direction.
        edge = np.where((shock == 1) & (direction != 0), float(state["edge_long_bps"]), 0.0)
        edge = np.where((shock == -1) & (direction != 0), float(state["edge_short_bps"]), edge)
        confidence = np.where(direction != 0, strength, 0.0)
        return direction, edge, confidence
