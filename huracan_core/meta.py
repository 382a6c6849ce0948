"""Regime gate table and per-coin meta combiner: which engines may vote, and how much each vote weighs.

Gate: an engine is allowed in a regime only where its walk-forward OUT-OF-SAMPLE mean net edge there
(direction * forward move - round-trip cost) is positive over at least `min_signals` signals.
Combiner: per engine, EMAs of accuracy (direction right?) and of SIGNED net edge (bps) over outcomes
as they arrive; raw weight = clip(f, w_min, w_max) with f = (edge_ema / edge_scale_bps) *
(accuracy_ema / 0.5) when edge_ema > 0 else 0, so a losing engine gets w_min (0 by default: no vote).
Weights are normalised over the active engines (direction != 0, allowed by the gate, and an edge whose
sign agrees with the direction) and the combined edge is sum(w_i * edge_i) over the SIGNED edges: a vote
whose own calibration says the price moves against its direction is no vote (it would otherwise turn an
edge of -40 bps into 40 bps of support), and the combination can go short.
An outcome of a signal at bar t is only known at bar t+1+horizon (exit at that bar's open); the
walk-forward helper applies it then, exactly as live (Hamilton) does with `update`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from huracan_core.decision import nan_to_num
from huracan_core.exceptions import ConfigError, DataIntegrityError

SIGNAL_COLUMNS = ("direction", "edge_bps", "confidence")


def forward_moves_bps(opens: np.ndarray | pl.Series, horizon: int) -> np.ndarray:
    """Move in bps from bar t+1's open to bar t+1+horizon's open for each t; NaN where not yet known."""
    o = np.asarray(opens.to_numpy() if isinstance(opens, pl.Series) else opens, dtype=np.float64)
    if horizon < 1:
        raise ConfigError(f"horizon={horizon!r} must be >= 1 bar")
    out = np.full(o.size, np.nan)
    if o.size > horizon + 1:
        out[: o.size - horizon - 1] = (o[horizon + 1 :] / o[1 : o.size - horizon] - 1.0) * 1e4
    return out


def _as_array(name: str, values: Any, n: int) -> np.ndarray:
    if isinstance(values, pl.Series):
        arr = values.cast(pl.Float64).to_numpy()
    elif np.isscalar(values):
        arr = np.full(n, float(values))  # type: ignore[arg-type]
    else:
        arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (n,):
        raise DataIntegrityError(f"{name} has shape {arr.shape}, expected ({n},)")
    return arr


def _regime_array(regimes: pl.Series | np.ndarray | Sequence[str | None]) -> np.ndarray:
    """Regimes as an object array of str (None where null), whatever the input type (Enum, list...)."""
    series = (
        regimes if isinstance(regimes, pl.Series) else pl.Series("regime", list(regimes), dtype=pl.String)
    )
    return series.cast(pl.String).to_numpy()


def _directions(signal: pl.DataFrame | np.ndarray | pl.Series) -> np.ndarray:
    if isinstance(signal, pl.DataFrame):
        signal = signal["direction"]
    if isinstance(signal, pl.Series):
        return signal.cast(pl.Float64).fill_null(0.0).to_numpy()
    return np.nan_to_num(np.asarray(signal, dtype=np.float64))


# --- gate table -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class GateTable:
    """engine -> regime -> allowed, with the OOS evidence (n signals, mean net edge bps) behind it."""

    allowed: dict[str, dict[str, bool]]
    stats: dict[str, dict[str, dict[str, float]]]
    min_signals: int
    # (engines, regime) -> `allowed_row`: a table is never changed once built, and the combiner asks for
    # the same few rows every bar (23 `is_allowed` calls per bar were a visible part of Hamilton's loop).
    _rows: dict[tuple[tuple[str, ...], str | None], np.ndarray] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def is_allowed(self, engine: str, regime: str | None) -> bool:
        """Unknown engines and regimes (no OOS evidence) are not allowed."""
        if regime is None:
            return False
        return bool(self.allowed.get(engine, {}).get(str(regime), False))

    def allowed_row(self, engines: tuple[str, ...], regime: str | None) -> np.ndarray:
        """`is_allowed` of each engine in `regime`, as a read-only boolean array (computed once, then cached)."""
        key = (engines, regime)
        row = self._rows.get(key)
        if row is None:
            row = np.array([self.is_allowed(e, regime) for e in engines], dtype=bool)
            row.flags.writeable = False
            self._rows[key] = row
        return row

    def allowed_matrix(self, engines: Sequence[str], regimes: np.ndarray) -> np.ndarray:
        """(bars, engines) boolean: engine e may vote at bar t in that bar's regime."""
        out = np.zeros((regimes.size, len(engines)), dtype=bool)
        names = tuple(engines)
        for value in set(regimes.tolist()):
            rows = regimes == value
            out[rows] = self.allowed_row(names, value)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "stats": self.stats, "min_signals": self.min_signals}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateTable:
        try:
            return cls(
                allowed={e: {r: bool(v) for r, v in rs.items()} for e, rs in data["allowed"].items()},
                stats={e: {r: dict(s) for r, s in rs.items()} for e, rs in data.get("stats", {}).items()},
                min_signals=int(data["min_signals"]),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise DataIntegrityError(f"gate table is malformed: {exc!r}") from None


def fit_gate_table(
    oos_signals_by_engine: Mapping[str, pl.DataFrame | pl.Series | np.ndarray],
    regimes: pl.Series | np.ndarray | Sequence[str],
    forward_moves: np.ndarray | Mapping[str, np.ndarray],
    cost_bps: float | np.ndarray,
    min_signals: int = 30,
) -> GateTable:
    """Gate table from walk-forward OOS signals: allowed where mean net edge > 0 over >= min_signals.

    `forward_moves` (bps, NaN where unknown) may be one array or one per engine (engines with their own
    horizon). `cost_bps` is per side; a signal's net edge pays the round trip (2 * cost_bps at the
    signal bar). Bars with a null regime are ignored.
    """
    reg = _regime_array(regimes)
    n = reg.size
    cost = _as_array("cost_bps", cost_bps, n)
    allowed: dict[str, dict[str, bool]] = {}
    stats: dict[str, dict[str, dict[str, float]]] = {}
    regime_values = sorted({str(r) for r in reg.tolist() if r is not None})
    for engine, signal in oos_signals_by_engine.items():
        direction = _directions(signal)
        if direction.size != n:
            raise DataIntegrityError(f"engine {engine!r} has {direction.size} signal rows, regimes have {n}")
        moves = forward_moves[engine] if isinstance(forward_moves, Mapping) else forward_moves
        moves = _as_array(f"forward moves of {engine!r}", moves, n)
        valid = (direction != 0) & np.isfinite(moves) & np.isfinite(cost)
        net = np.sign(direction) * np.nan_to_num(moves) - 2.0 * np.nan_to_num(cost)
        allowed[engine], stats[engine] = {}, {}
        for r in regime_values:
            m = valid & (reg == r)
            count = int(m.sum())
            mean = float(net[m].mean()) if count else 0.0
            stats[engine][r] = {"n": count, "mean_net_edge_bps": round(mean, 6)}
            allowed[engine][r] = bool(count >= min_signals and mean > 0)
    return GateTable(allowed=allowed, stats=stats, min_signals=int(min_signals))


# --- combiner --------------------------------------------------------------------------------------
class CombinerSettings(BaseModel):
    """Meta-combiner knobs; defaults are deliberately plain."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Weight of each new outcome in the EMAs (0.05 ~ the last 20 outcomes matter most).
    alpha: float = Field(default=0.05, gt=0, le=1)
    # Raw weight bounds; w_min is what a losing or unproven engine gets (0: no vote).
    w_min: float = Field(default=0.0, ge=0)
    w_max: float = Field(default=1.0, gt=0)
    # Net edge (bps) at 50% accuracy that earns a raw weight of 1.
    edge_scale_bps: float = Field(default=10.0, gt=0)
    prior_accuracy: float = Field(default=0.5, ge=0, le=1)
    prior_edge_bps: float = 0.0


class Outcome(NamedTuple):
    """A realised signal: its direction, the forward move it was judged on (bps) and the per-side cost."""

    engine: str
    direction: int
    forward_move_bps: float
    cost_bps: float


class SignalRow(Mapping[str, Mapping[str, float]]):
    """One bar's engine signals as three aligned float arrays, readable as the usual mapping
    engine -> {"direction", "edge_bps", "confidence"}.

    The combiner computes on arrays; a replay feed holds its signals as arrays too. Going through 23 small
    dicts per bar and back (feed -> trader -> combiner) cost more than the combination itself, so
    `MetaCombiner.combine` takes this row as it is and turns any other mapping into one (`from_mapping`).
    Values are stored as `float(value or 0.0)` would give them (a missing value is 0.0, -0.0 is 0.0, NaN
    stays NaN), so both inputs combine to the same numbers.
    """

    __slots__ = ("confidence", "direction", "edge_bps", "names")

    def __init__(self, names: Sequence[str], direction: Any, edge_bps: Any, confidence: Any) -> None:
        self.names = tuple(names)
        k = len(self.names)
        if len(set(self.names)) != k:
            raise DataIntegrityError(f"signal row names engines more than once: {self.names}")
        arrays = []
        for column, values in zip(SIGNAL_COLUMNS, (direction, edge_bps, confidence), strict=True):
            arr = np.asarray(values, dtype=np.float64)
            if arr.shape != (k,):
                raise DataIntegrityError(f"signal row {column} has shape {arr.shape}, expected ({k},)")
            arrays.append(arr + 0.0)  # -0.0 -> 0.0, as `float(-0.0 or 0.0)`; also a private copy
        self.direction, self.edge_bps, self.confidence = arrays

    @classmethod
    def of_clean_arrays(
        cls, names: tuple[str, ...], direction: np.ndarray, edge_bps: np.ndarray, confidence: np.ndarray
    ) -> SignalRow:
        """A row over arrays that are already what `__init__` stores (1-D float64 of len(names), no -0.0,
        names unique), taken as they are: the replay feed checks its signal matrices once, not every bar.
        The arrays are only ever read."""
        row = cls.__new__(cls)
        row.names, row.direction, row.edge_bps, row.confidence = names, direction, edge_bps, confidence
        return row

    @classmethod
    def from_mapping(cls, row: Mapping[str, Mapping[str, float]]) -> SignalRow:
        """`row` itself when it is a SignalRow, else its values read as `combine` always read them."""
        if isinstance(row, SignalRow):
            return row
        names = list(row)
        columns = [[float(row[e].get(c) or 0.0) for e in names] for c in SIGNAL_COLUMNS]
        return cls(names, *columns)

    def __getitem__(self, name: str) -> dict[str, float]:
        j = self.names.index(name)
        return {
            "direction": float(self.direction[j]),
            "edge_bps": float(self.edge_bps[j]),
            "confidence": float(self.confidence[j]),
        }

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self.names


class Combined(NamedTuple):
    edge_bps: float
    confidence: float
    weights: dict[str, float]


def raw_weights(accuracy: np.ndarray, edge: np.ndarray, settings: CombinerSettings) -> np.ndarray:
    """clip(f(accuracy_ema, edge_ema), w_min, w_max); f = 0 for a non-positive edge EMA."""
    f = np.where(edge > 0, (edge / settings.edge_scale_bps) * (accuracy / 0.5), 0.0)
    return f.clip(settings.w_min, settings.w_max)  # np.clip's own call: the wrapper costs more on one bar


def combine_matrix(
    direction: np.ndarray,
    edge_bps: np.ndarray,
    confidence: np.ndarray,
    raw: np.ndarray,
    allowed: np.ndarray,
    w_max: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised combination over (bars, engines): combined edge, confidence, normalised weights.

    combined edge = sum w_i * edge_i over active votes (signed edges; a vote is active when allowed, with a
    direction, and an edge of the same sign). confidence = agreement * weighted engine confidence * trust,
    where agreement = |sum w_i dir_i| (1 when all active votes agree), trust = min(1, sum of raw active
    weights / w_max).
    """
    dirs = np.sign(nan_to_num(direction))
    edges = nan_to_num(edge_bps)
    active = allowed & (dirs != 0) & (np.sign(edges) == dirs)
    r = np.where(active, raw, 0.0)
    total = r.sum(axis=1)
    safe = np.where(total > 0, total, 1.0)
    w = r / safe[:, None]
    combined = (w * edges).sum(axis=1)
    agreement = np.abs((w * dirs).sum(axis=1))
    # ndarray.clip is what np.clip calls, without its wrappers (which cost more than the clip on one bar).
    conf = (w * nan_to_num(confidence).clip(0.0, 1.0)).sum(axis=1)
    trust = np.minimum(1.0, total / w_max)
    return combined, (agreement * conf * trust).clip(0.0, 1.0), w


class MetaCombiner:
    """Per-coin combiner state: accuracy and net-edge EMAs per engine, updated as outcomes arrive."""

    def __init__(
        self,
        engines: Sequence[str],
        settings: CombinerSettings | None = None,
        *,
        accuracy: Sequence[float] | None = None,
        edge_bps: Sequence[float] | None = None,
        counts: Sequence[int] | None = None,
    ) -> None:
        self.settings = settings or CombinerSettings()
        self.engines = list(engines)
        if len(set(self.engines)) != len(self.engines):
            raise ConfigError(f"combiner engines must be unique, got {self.engines}")
        k = len(self.engines)
        s = self.settings
        self.accuracy = np.array(
            accuracy if accuracy is not None else [s.prior_accuracy] * k, dtype=np.float64
        )
        self.edge = np.array(edge_bps if edge_bps is not None else [s.prior_edge_bps] * k, dtype=np.float64)
        self.counts = np.array(counts if counts is not None else [0] * k, dtype=np.int64)
        self._index = {e: i for i, e in enumerate(self.engines)}
        # Engine names of a signal row -> their slots; a slot never moves once given, so this stays valid.
        self._slot_rows: dict[tuple[str, ...], np.ndarray] = {}

    @classmethod
    def from_gate_table(cls, gate: GateTable, settings: CombinerSettings | None = None) -> MetaCombiner:
        """Warm start: each engine's edge EMA starts at its pooled OOS mean net edge from the gate table."""
        engines = sorted(gate.stats)
        edges = []
        for e in engines:
            cells = gate.stats[e].values()
            n = sum(c["n"] for c in cells)
            edges.append(sum(c["n"] * c["mean_net_edge_bps"] for c in cells) / n if n else 0.0)
        return cls(engines, settings, edge_bps=edges)

    def _slot(self, engine: str) -> int:
        if engine not in self._index:  # a new engine starts from the priors
            self._index[engine] = len(self.engines)
            self.engines.append(engine)
            self.accuracy = np.append(self.accuracy, self.settings.prior_accuracy)
            self.edge = np.append(self.edge, self.settings.prior_edge_bps)
            self.counts = np.append(self.counts, 0)
        return self._index[engine]

    def update(self, outcomes: Iterable[Outcome]) -> None:
        """Fold realised outcomes into the EMAs (call only once the exit price is known)."""
        a = self.settings.alpha
        for o in outcomes:
            if o.direction == 0 or not math.isfinite(o.forward_move_bps) or not math.isfinite(o.cost_bps):
                continue
            i = self._slot(o.engine)
            signed = math.copysign(1.0, o.direction) * o.forward_move_bps
            hit = 1.0 if signed > 0 else 0.0
            net = signed - 2.0 * o.cost_bps
            self.accuracy[i] += a * (hit - self.accuracy[i])
            self.edge[i] += a * (net - self.edge[i])
            self.counts[i] += 1

    def raw_weights(self) -> dict[str, float]:
        w = raw_weights(self.accuracy, self.edge, self.settings)
        return {e: float(w[i]) for i, e in enumerate(self.engines)}

    def combine(
        self,
        signals_row: Mapping[str, Mapping[str, float]],
        regime: str | None = None,
        gate: GateTable | None = None,
    ) -> Combined:
        """Combined edge (bps, signed), confidence (0-1) and normalised weights for one bar's signals.

        `signals_row`: engine -> {"direction", "edge_bps", "confidence"} (a `SignalRow`, or any mapping);
        engines the combiner has not seen start from the priors (so they have no vote until they earn one,
        when w_min is 0). The arithmetic is `combine_matrix`'s, the backtest's, on a one-bar matrix.
        """
        row = SignalRow.from_mapping(signals_row)
        names = row.names
        slots = self._slot_rows.get(names)
        if slots is None:
            slots = self._slot_rows[names] = np.array([self._slot(e) for e in names], dtype=np.intp)
        if gate is None:
            allowed = np.ones((1, len(names)), dtype=bool)
        else:
            allowed = gate.allowed_row(names, regime)[None, :]
        raw = raw_weights(self.accuracy[slots], self.edge[slots], self.settings)[None, :]
        combined, conf, w = combine_matrix(
            row.direction[None, :], row.edge_bps[None, :], row.confidence[None, :], raw, allowed,
            self.settings.w_max,
        )  # fmt: skip
        return Combined(float(combined[0]), float(conf[0]), dict(zip(names, w[0].tolist(), strict=True)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "settings": self.settings.model_dump(),
            "engines": {
                e: {
                    "accuracy_ema": float(self.accuracy[i]),
                    "edge_ema_bps": float(self.edge[i]),
                    "outcomes": int(self.counts[i]),
                }
                for i, e in enumerate(self.engines)
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetaCombiner:
        try:
            engines = data["engines"]
            return cls(
                list(engines),
                CombinerSettings(**data.get("settings", {})),
                accuracy=[engines[e]["accuracy_ema"] for e in engines],
                edge_bps=[engines[e]["edge_ema_bps"] for e in engines],
                counts=[engines[e]["outcomes"] for e in engines],
            )
        except (KeyError, TypeError) as exc:
            raise DataIntegrityError(f"combiner state is malformed: {exc!r}") from None


# --- walk-forward helper ---------------------------------------------------------------------------
def _ema_events(x: np.ndarray, alpha: float, y0: float) -> np.ndarray:
    """EMA after each event, y_k = y_{k-1} + alpha (x_k - y_{k-1}), in numpy blocks (same as `update`)."""
    out = np.empty_like(x)
    if x.size == 0:
        return out
    if alpha >= 1.0:
        return x.copy()
    d = 1.0 - alpha
    block = max(1, int(30.0 / -math.log(d)))  # keeps d**-k below e**30 inside a block
    y = y0
    for start in range(0, x.size, block):
        xb = x[start : start + block]
        k = np.arange(1, xb.size + 1, dtype=np.float64)
        yb = d**k * (y + alpha * np.cumsum(xb * d ** (-k)))
        out[start : start + xb.size] = yb
        y = float(yb[-1])
    return out


@dataclass(frozen=True)
class CombinerRun:
    """Per-bar combined edge and confidence, the normalised weights, and the final combiner state."""

    frame: pl.DataFrame  # combined_edge_bps, confidence
    weights: pl.DataFrame  # one column per engine
    final: MetaCombiner


def run_combiner(
    signals_by_engine: Mapping[str, pl.DataFrame],
    forward_moves: np.ndarray | Mapping[str, np.ndarray],
    horizon: int | Mapping[str, int],
    *,
    cost_bps: float | np.ndarray = 0.0,
    regimes: pl.Series | np.ndarray | Sequence[str] | None = None,
    gate: GateTable | None = None,
    settings: CombinerSettings | None = None,
    initial: MetaCombiner | None = None,
) -> CombinerRun:
    """Walk forward over bars: at bar s, apply the outcomes of signals from s-1-horizon, then combine.

    So the combined edge at s uses only outcomes known at s (their exit open is <= bar s). O(bars *
    engines) numpy; the only Python loops are over engines and blocks of events.
    """
    engines = list(signals_by_engine)
    if not engines:
        raise ConfigError("run_combiner needs at least one engine's signals")
    n = signals_by_engine[engines[0]].height
    combiner = initial or MetaCombiner(engines, settings)
    s = combiner.settings
    cost = _as_array("cost_bps", cost_bps, n)
    k = len(engines)
    # Column-major: each engine's column is written contiguously, then rows are combined.
    direction, edge, conf, acc_bar, edge_bar = (np.zeros((n, k), order="F") for _ in range(5))
    slots = [combiner._slot(e) for e in engines]
    acc0 = combiner.accuracy.copy()
    edge0 = combiner.edge.copy()
    for j, e in enumerate(engines):
        frame = signals_by_engine[e]
        if frame.height != n:
            raise DataIntegrityError(f"engine {e!r} has {frame.height} signal rows, expected {n}")
        missing = [c for c in SIGNAL_COLUMNS if c not in frame.columns]
        if missing:
            raise DataIntegrityError(f"engine {e!r} signals lack columns {missing}")
        for target, c in zip((direction, edge, conf), SIGNAL_COLUMNS, strict=True):
            values = frame.get_column(c).cast(pl.Float64).to_numpy()
            target[:, j] = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
        h = int(horizon[e] if isinstance(horizon, Mapping) else horizon)
        moves = forward_moves[e] if isinstance(forward_moves, Mapping) else forward_moves
        moves = _as_array(f"forward moves of {e!r}", moves, n)
        sign = np.sign(direction[:, j])
        t = np.flatnonzero((sign != 0) & np.isfinite(moves) & np.isfinite(cost))
        signed = sign[t] * moves[t]
        # EMA after 0, 1, 2, ... outcomes (index 0 = the prior).
        acc_ev = np.concatenate(
            [[acc0[slots[j]]], _ema_events((signed > 0).astype(np.float64), s.alpha, acc0[slots[j]])]
        )
        edge_ev = np.concatenate(
            [[edge0[slots[j]]], _ema_events(signed - 2.0 * cost[t], s.alpha, edge0[slots[j]])]
        )
        # Outcomes known at bar b: signals whose exit bar t+1+h is <= b.
        arrival = t + 1 + h
        known = np.cumsum(np.bincount(arrival[arrival < n], minlength=n))
        acc_bar[:, j] = acc_ev[known]
        edge_bar[:, j] = edge_ev[known]
        # Final state: everything known by the last bar (later outcomes are still pending).
        combiner.accuracy[slots[j]] = acc_ev[known[-1]]
        combiner.edge[slots[j]] = edge_ev[known[-1]]
        combiner.counts[slots[j]] += int(known[-1])

    if gate is None:
        allowed = np.ones((n, k), dtype=bool)
    elif regimes is None:
        raise ConfigError("run_combiner was given a gate table but no regimes to look it up with")
    else:
        reg = _regime_array(regimes)
        if reg.size != n:
            raise DataIntegrityError(f"regimes have {reg.size} rows, signals have {n}")
        allowed = gate.allowed_matrix(engines, reg)
    raw = raw_weights(acc_bar, edge_bar, s)
    combined, confidence, w = combine_matrix(direction, edge, conf, raw, allowed, s.w_max)
    frame = pl.DataFrame({"combined_edge_bps": combined, "confidence": confidence})
    weights = pl.DataFrame({e: w[:, j] for j, e in enumerate(engines)})
    return CombinerRun(frame=frame, weights=weights, final=combiner)
