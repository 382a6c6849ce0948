"""One holding horizon per coin, chosen on training rows only from `engine.horizons`' candidates.

The rule engines are fitted at each candidate horizon on a training frame (the walk-forward's first
fold's training rows: every label there is purged against validation and test, so nothing after the
training end is read). Their calibrated signals are then traded on those same rows, each rule its own
book: entry at the next bar's open, held `h` bars, the round trip paid, no new trade while one is held.
A candidate's score is the t-statistic of the net bps of all those trades: how sure the rules' edge after
costs is above zero at that horizon.

Why one trade at a time: a signal on every bar of a 3-day hold would count the same 3-day move hundreds
of times. Why a t-statistic and not the bps earned: a long hold's trades carry far more noise, and the
calibration (which picked the sides that earned on these rows) turns that noise into in-sample profit:
summed bps chose 12-hour holds on the planted time-of-day market, which lost out of sample, where the
t-statistic keeps the 1-hour hold that pays. Noise gives t about N(0, 1) at every horizon, so no horizon is
favoured by luck more than another, and two candidates within one standard error (1) of each other are
not told apart by the data: the shortest candidate within 1 of the best is chosen (the one-standard-error
rule; on the planted market, a 3-day hold at t 2.7 against the 1-hour hold's 1.7 was noise). Picking
the best of K candidates makes K candidate models: the deflated Sharpe's N counts them (`count_trials`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from huracan_core.alphas.base import AlphaEngine
from huracan_core.alphas.calibration import forward_move_bps, round_trip_bps
from huracan_core.alphas.registry import fit_states, run_engines
from huracan_core.segments import split_segments
from huracan_core.timeframe import format_duration, timeframe_ms

ONE_STANDARD_ERROR = 1.0  # a t-statistic's standard error: candidates this close to the best are tied


@dataclass(frozen=True)
class HorizonChoice:
    """The chosen horizon (bars) of one coin, the candidates tried and each one's training score."""

    bars: int
    timeframe: str
    candidates: tuple[int, ...]
    scores: Mapping[int, float]  # candidate -> t-statistic of the calibrated rules' net trades
    trades: Mapping[int, int]  # candidate -> trades behind that score
    net_bps: Mapping[int, float]  # candidate -> net bps those trades earned, in total
    training_rows: int
    dropped: tuple[int, ...] = ()  # candidates the coin's history is too short to walk forward with

    def duration(self, bars: int | None = None) -> str:
        """`bars` (default: the chosen horizon) as a duration of this timeframe, e.g. 96 at 15m -> 1d."""
        return format_duration((self.bars if bars is None else bars) * timeframe_ms(self.timeframe))

    def to_dict(self) -> dict[str, Any]:
        """JSON form for metrics and the bundle: why this horizon, in bars and as durations."""
        return {
            "bars": self.bars,
            "duration": self.duration(),
            "chosen_on": f"first fold's training rows ({self.training_rows})",
            "candidates": [
                {
                    "bars": h,
                    "duration": self.duration(h),
                    "score_t": round(float(self.scores[h]), 4),
                    "trades": int(self.trades[h]),
                    "net_bps": round(float(self.net_bps[h]), 2),
                }
                for h in self.candidates
            ],
            "dropped_too_long_for_history": [{"bars": h, "duration": self.duration(h)} for h in self.dropped],
        }


def traded_net_bps(
    direction: np.ndarray, forward: np.ndarray, round_trip: np.ndarray, horizon: int
) -> np.ndarray:
    """Net bps of each trade of `direction` traded one position at a time, each held `horizon` bars.

    A trade decided at row t enters at t+1's open and exits at t+1+horizon's open, so the next one may be
    decided at t+horizon at the earliest. Rows whose outcome or round trip is unknown are not traded.
    """
    rows = np.flatnonzero((direction != 0) & np.isfinite(forward) & np.isfinite(round_trip))
    taken, free_from = [], -1
    for t in rows:
        if t >= free_from:
            taken.append(t)
            free_from = t + horizon
    index = np.asarray(taken, dtype=np.int64)
    return direction[index] * forward[index] - round_trip[index]


def t_stat(nets: np.ndarray) -> float:
    """t-statistic of the mean net trade (0 below two trades or without spread): how sure it is above 0."""
    if nets.size < 2:
        return 0.0
    sd = float(nets.std(ddof=1))
    return float(nets.mean() / (sd / np.sqrt(nets.size))) if sd > 0 else 0.0


def _directions(
    engines: Sequence[AlphaEngine], train: pl.DataFrame, states: Mapping[str, Any]
) -> dict[str, np.ndarray]:
    """Each engine's calibrated direction per training row, its rules run within each segment."""
    parts = [run_engines(engines, part, states) for part in split_segments(train)]
    names = [e.name for e in engines if all(e.name in p.signals for p in parts)]
    return {name: np.concatenate([p.signals[name]["direction"].to_numpy() for p in parts]) for name in names}


def choose_on_training(
    train: pl.DataFrame,
    engines: Sequence[AlphaEngine],
    candidates: Sequence[int],
    timeframe: str,
    *,
    dropped: Sequence[int] = (),
) -> HorizonChoice:
    """Fit `engines` (the rules) at each candidate on `train` and keep the candidate they earned most at.

    `train` must hold training rows only (a walk-forward training frame: labels never leave it).
    """
    if not candidates:
        raise ValueError("no candidate horizons to choose from")
    rules = [e for e in engines if not e.learned]
    scores: dict[int, float] = {}
    trades: dict[int, int] = {}
    net_bps: dict[int, float] = {}
    for h in sorted(candidates):
        at_h = [e.with_horizon(h) for e in rules]
        states, _ = fit_states(at_h, train)  # an engine that fails to fit earns nothing
        forward = np.asarray(forward_move_bps(train, h).to_numpy(), dtype=np.float64)
        round_trip = round_trip_bps(train, h)
        cost = np.zeros(train.height) if round_trip is None else round_trip
        book: list[np.ndarray] = []
        for direction in _directions([e for e in at_h if e.name in states], train, states).values():
            book.append(traded_net_bps(direction, forward, cost, h))
        nets = np.concatenate(book) if book else np.zeros(0)
        scores[h], trades[h], net_bps[h] = t_stat(nets), int(nets.size), float(nets.sum())
    # One standard error: t-statistics differ by about 1 from noise alone, so the shortest candidate within
    # 1 of the best is as good as the evidence can tell, and it trades (and is judged) more often.
    top = max(scores.values())
    best = min(h for h, t in scores.items() if t >= top - ONE_STANDARD_ERROR)
    return HorizonChoice(
        bars=best,
        timeframe=timeframe,
        candidates=tuple(sorted(candidates)),
        scores=scores,
        trades=trades,
        net_bps=net_bps,
        training_rows=train.height,
        dropped=tuple(sorted(dropped)),
    )
