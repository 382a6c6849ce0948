"""The one interface every alpha engine implements, rule-based or learned.

An engine reads named feature columns, learns a JSON state on a training window (`fit`) and turns a frame
into one signal row per bar (`signal`). Missing inputs mean abstention, never a silent default.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

import numpy as np
import polars as pl

from huracan_core.exceptions import EngineError

# Mirrors `huracan_core.regime.REGIMES`; kept here so alphas do not depend on the regime classifier.
ALL_REGIMES: frozenset[str] = frozenset({"TREND", "RANGE", "PANIC", "ILLIQUID"})

SIGNAL_SCHEMA: dict[str, pl.DataType] = {
    "direction": pl.Int8(),
    "edge_bps": pl.Float64(),
    "confidence": pl.Float64(),
    "horizon_bars": pl.Int32(),
}
SIGNAL_COLUMNS: tuple[str, ...] = tuple(SIGNAL_SCHEMA)


def signal_frame(
    direction: np.ndarray, edge_bps: np.ndarray, confidence: np.ndarray, horizon_bars: int
) -> pl.DataFrame:
    """The signal contract's frame from numpy arrays (built from typed Series: the cheapest way)."""
    rows = direction.shape[0]
    return pl.DataFrame(
        [
            pl.Series("direction", np.asarray(direction, dtype=np.int8)),
            pl.Series("edge_bps", np.asarray(edge_bps, dtype=np.float64)),
            pl.Series("confidence", np.asarray(confidence, dtype=np.float64)),
            pl.Series("horizon_bars", np.full(rows, horizon_bars, dtype=np.int32)),
        ]
    )


def signal_row(
    direction: np.ndarray, edge_bps: np.ndarray, confidence: np.ndarray, horizon_bars: int
) -> dict[str, Any]:
    """The last element of signal arrays as the dict `latest_signal` returns (same values as the frame)."""
    return {
        "direction": int(direction[-1]),
        "edge_bps": float(edge_bps[-1]),
        "confidence": float(confidence[-1]),
        "horizon_bars": int(horizon_bars),
    }


class LatestInputs:
    """A frame's columns as float64 numpy arrays (nulls and +-inf as NaN), each converted once, on first use.

    The live path hands one to all engines: 23 engines each selecting and casting their own polars columns
    for one bar cost more than their rules. Arrays are read-only because every engine shares them.
    """

    __slots__ = ("_matrices", "_names", "_nulls", "_values", "frame", "height")

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame
        self.height = frame.height
        self._names = frozenset(frame.columns)
        self._values: dict[str, np.ndarray] = {}
        self._nulls: dict[str, np.ndarray | None] = {}  # per column: null mask, None when it has no nulls
        self._matrices: dict[tuple[tuple[str, ...], int], np.ndarray] = {}

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def values(self, name: str, rows: int | None = None) -> np.ndarray:
        """Column `name` (only its newest `rows` values when given) as float64; absent -> KeyError."""
        values = self._values.get(name)
        if values is None:
            values = self.frame[name].cast(pl.Float64).to_numpy()
            finite = np.isfinite(values)
            if not finite.all():
                values = np.where(finite, values, np.nan)
            values.flags.writeable = False
            self._values[name] = values
        return values if rows is None else values[max(self.height - rows, 0) :]

    def matrix(self, names: tuple[str, ...], rows: int) -> np.ndarray:
        """[rows, len(names)] float64: `values(name, rows)` side by side (the learned engines share one)."""
        key = (names, rows)
        matrix = self._matrices.get(key)
        if matrix is None:
            matrix = np.column_stack([self.values(name, rows) for name in names])
            matrix.flags.writeable = False
            self._matrices[key] = matrix
        return matrix

    def all_null(self, name: str, rows: int) -> bool:
        """Absent, or null on each of the newest `rows` rows: `missing_inputs` of `frame.tail(rows)`."""
        if name not in self._names:
            return True
        if name not in self._nulls:
            series = self.frame[name]
            self._nulls[name] = series.is_null().to_numpy() if series.null_count() else None
        nulls = self._nulls[name]
        if nulls is None:
            return False
        tail = nulls[max(self.height - rows, 0) :]
        return bool(tail.size) and bool(tail.all())

    def missing(self, names: tuple[str, ...], rows: int) -> tuple[str, ...]:
        """Those of `names` that `all_null` on the newest `rows` rows."""
        return tuple(name for name in names if self.all_null(name, rows))


STATE_VERSION = 1  # bump when the layout of a state dict changes; old states are then refused


class EngineStateError(EngineError):
    """`signal` was given a state that this engine (with these parameters) did not produce."""


class AlphaEngine(ABC):
    """Base of all alpha engines.

    Class attributes a concrete engine declares:
    - `name`: registry key, also written into its state.
    - `description`: one line: the rule, in words.
    - `regimes`: regimes the engine is meant for (the regime gate decides where it is actually used).
    - `inputs`: frame columns it reads; one absent or all-null -> the engine abstains on every row.
    - `optional_inputs`: columns used when present (e.g. ETH as a second reference), never required.
    - `horizon_bars`: holding horizon of its signals, in bars (entry at the next bar's open); the
      constructor's `horizon_bars` overrides it per instance (a coin's chosen horizon, see `with_horizon`).
    - `lookback_bars`: rows of history the last row needs; `signal(frame[-lookback_bars:])` gives the
      same last row as `signal(frame)` (features themselves are computed upstream).
    - `defaults`: documented parameters; constructor keywords may override them, unknown keys are refused.
    - `learned`: False for rule engines; learned engines subclass `LearnedEngine`.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    regimes: ClassVar[frozenset[str]]
    inputs: ClassVar[tuple[str, ...]]
    optional_inputs: ClassVar[tuple[str, ...]] = ()
    horizon_bars: ClassVar[int]
    lookback_bars: ClassVar[int]
    learned: ClassVar[bool] = False
    defaults: ClassVar[Mapping[str, float]] = {}

    def __init__(self, *, horizon_bars: int | None = None, **params: float) -> None:
        if horizon_bars is not None:
            self._set_horizon(horizon_bars)
        merged: dict[str, float] = {}
        for klass in reversed(type(self).__mro__):
            merged.update(getattr(klass, "defaults", {}) or {})
        unknown = sorted(set(params) - set(merged))
        if unknown:
            raise ValueError(f"engine {self.name!r}: unknown parameter(s) {unknown}; known: {sorted(merged)}")
        merged.update(params)
        self.params: dict[str, float] = merged

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            return  # intermediate base class (RuleEngine, LearnedEngine): nothing to validate yet
        bad = set(cls.regimes) - ALL_REGIMES
        if bad:
            raise TypeError(f"engine {cls.name!r}: unknown regimes {sorted(bad)}")
        if cls.horizon_bars < 1 or cls.lookback_bars < 1:
            raise TypeError(f"engine {cls.name!r}: horizon_bars and lookback_bars must be >= 1")

    def _set_horizon(self, horizon_bars: int) -> None:
        """The instance attribute shadows the class default, so every `e.horizon_bars` reader sees it."""
        if isinstance(horizon_bars, bool) or int(horizon_bars) != horizon_bars or horizon_bars < 1:
            raise ValueError(
                f"engine {self.name!r}: horizon_bars must be a whole number >= 1, got {horizon_bars!r}"
            )
        self.horizon_bars = int(horizon_bars)  # type: ignore[misc]

    def with_horizon(self, horizon_bars: int) -> AlphaEngine:
        """A copy of this engine (same parameters, same weight store, encoder and heads) at `horizon_bars`.

        Its labels, calibration and signals then speak of that holding period, and so does its state.
        """
        engine = copy.copy(self)
        engine._set_horizon(horizon_bars)
        return engine

    # --- the contract -------------------------------------------------------------------------
    @abstractmethod
    def fit(self, frame: pl.DataFrame) -> dict[str, Any]:
        """Learn a JSON-serialisable state from the TRAINING window only."""

    @abstractmethod
    def signal(self, frame: pl.DataFrame, state: Mapping[str, Any]) -> pl.DataFrame:
        """One row per frame row: direction Int8, edge_bps Float64, confidence Float64, horizon_bars Int32."""

    def latest_signal(self, frame: pl.DataFrame, state: Mapping[str, Any]) -> dict[str, Any]:
        """The signal of `frame`'s last row as a dict (direction, edge_bps, confidence, horizon_bars).

        The live path: only the newest `lookback_bars` rows are read, which the contract says gives the
        same last row as `signal(frame)`. Engines speed it up by overriding `latest_row`.
        """
        return self.latest_row(LatestInputs(frame), state)

    def latest_row(self, inputs: LatestInputs, state: Mapping[str, Any]) -> dict[str, Any]:
        """`latest_signal` on numpy columns shared by every engine (`run_engines_latest` builds them once).

        This fallback runs `signal` on the newest `lookback_bars` rows; engines override it to compute the
        last row from `inputs` without building a frame.
        """
        out = self.signal(inputs.frame.tail(self.lookback_bars), state)
        return out.row(-1, named=True)

    # --- shared helpers -----------------------------------------------------------------------
    def missing_inputs(self, frame: pl.DataFrame) -> tuple[str, ...]:
        """Declared inputs that are absent or entirely null in `frame` (any -> abstain)."""
        columns = set(frame.columns)
        return tuple(
            column
            for column in self.inputs
            if column not in columns or (frame.height > 0 and frame[column].null_count() == frame.height)
        )

    def abstain(self, rows: int) -> pl.DataFrame:
        """No opinion on any row: direction 0, edge 0, confidence 0."""
        zeros = np.zeros(rows, dtype=np.float64)
        return signal_frame(np.zeros(rows, dtype=np.int8), zeros, zeros, self.horizon_bars)

    def base_state(self, frame: pl.DataFrame) -> dict[str, Any]:
        """Fields every state carries: who made it, with which parameters, on which window."""
        window: dict[str, Any] = {"rows": frame.height}
        if "timestamp" in frame.columns and frame.height:
            window["first_timestamp"] = int(frame["timestamp"][0])
            window["last_timestamp"] = int(frame["timestamp"][-1])
        return {
            "engine": self.name,
            "state_version": STATE_VERSION,
            "learned": self.learned,
            "horizon_bars": self.horizon_bars,
            "params": dict(self.params),
            "window": window,
            "missing_inputs": list(self.missing_inputs(frame)),
        }

    def check_state(self, state: Mapping[str, Any], required: tuple[str, ...] = ()) -> None:
        """Refuse a state made by another engine, another version or other parameters."""
        if not isinstance(state, Mapping):
            raise EngineStateError(self.name, f"state must be a mapping, got {type(state).__name__}")
        if state.get("engine") != self.name:
            raise EngineStateError(self.name, f"state was made by engine {state.get('engine')!r}")
        if state.get("state_version") != STATE_VERSION:
            raise EngineStateError(
                self.name, f"state_version {state.get('state_version')!r} != {STATE_VERSION}; refit"
            )
        if state.get("params") != self.params:
            raise EngineStateError(
                self.name, f"state params {state.get('params')} differ from engine params {self.params}"
            )
        if "horizon_bars" in state and state["horizon_bars"] != self.horizon_bars:
            raise EngineStateError(
                self.name,
                f"state was fitted at horizon_bars={state['horizon_bars']!r}, the engine's is {self.horizon_bars}",
            )
        absent = [key for key in required if key not in state]
        if absent:
            raise EngineStateError(self.name, f"state lacks {absent}; was it produced by fit()?")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, horizon_bars={self.horizon_bars})"


class WeightStore(Protocol):
    """Where learned engines keep their tensors (a bundle's safetensors file in production).

    `put` returns a reference string that goes into the JSON state; `get` gives the tensors back.
    """

    def put(self, key: str, tensors: Mapping[str, np.ndarray]) -> str: ...

    def get(self, ref: str) -> Mapping[str, np.ndarray]: ...


class LearnedEngine(AlphaEngine):
    """Base for engines whose `fit` trains a model (xgboost, neural).

    Same contract as rule engines: `fit(frame)` trains on the training window and returns a JSON state
    holding metadata and `weights_ref` (never the weights themselves, never a pickle); `signal(frame,
    state)` loads the tensors from the injected `WeightStore` through that reference.
    """

    learned: ClassVar[bool] = True

    def __init__(
        self, *, weight_store: WeightStore, horizon_bars: int | None = None, **params: float
    ) -> None:
        super().__init__(horizon_bars=horizon_bars, **params)
        self.weight_store = weight_store

    def load_weights(self, state: Mapping[str, Any]) -> Mapping[str, np.ndarray]:
        """Tensors referenced by `state['weights_ref']`."""
        self.check_state(state, required=("weights_ref",))
        return self.weight_store.get(str(state["weights_ref"]))


class InMemoryWeightStore:
    """A `WeightStore` in a dict: for tests and for one process that fits then signals."""

    def __init__(self) -> None:
        self._tensors: dict[str, dict[str, np.ndarray]] = {}

    def put(self, key: str, tensors: Mapping[str, np.ndarray]) -> str:
        self._tensors[key] = {name: np.asarray(value).copy() for name, value in tensors.items()}
        return f"memory://{key}"

    def get(self, ref: str) -> Mapping[str, np.ndarray]:
        key = ref.removeprefix("memory://")
        if key not in self._tensors:
            raise KeyError(f"no weights stored under {ref!r}")
        return self._tensors[key]
