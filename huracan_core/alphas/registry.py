"""The engine registry and the fence every engine call goes through.

`run_engine_fenced` turns an engine's exception or malformed output into `EngineError` naming it, so the
caller sets that engine aside and the others carry on (`run_engines`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from huracan_core.alphas.base import SIGNAL_COLUMNS, SIGNAL_SCHEMA, AlphaEngine, LatestInputs
from huracan_core.alphas.candles import PatternEngine, SweepEngine, TapeEngine
from huracan_core.alphas.cross_asset import (
    CorrelationEngine,
    CrossSectionalEngine,
    FundingEngine,
    LeaderEngine,
)
from huracan_core.alphas.learned import LEARNED_ENGINES
from huracan_core.alphas.reversion import (
    DivergenceEngine,
    MeanReversionZscoreEngine,
    MomentumReversalEngine,
    RangeEngine,
    ScalperEngine,
    SupportResistanceEngine,
    VwapReversionEngine,
)
from huracan_core.alphas.statistical import AnomalyEngine, SeasonalityEngine
from huracan_core.alphas.trend_following import (
    BreakoutEngine,
    MomentumEngine,
    TrendEngine,
    VolatilityExpansionEngine,
    VolumeFlowEngine,
)
from huracan_core.exceptions import EngineError

# Stable order (the order of the design's list); learned engines (xgboost, neural) are appended later.
_RULE_ENGINES: tuple[type[AlphaEngine], ...] = (
    TrendEngine,
    RangeEngine,
    BreakoutEngine,
    TapeEngine,
    LeaderEngine,
    SweepEngine,
    ScalperEngine,
    CorrelationEngine,
    FundingEngine,
    VolatilityExpansionEngine,
    MomentumEngine,
    MomentumReversalEngine,
    DivergenceEngine,
    SupportResistanceEngine,
    PatternEngine,
    VwapReversionEngine,
    VolumeFlowEngine,
    SeasonalityEngine,
    CrossSectionalEngine,
    AnomalyEngine,
    MeanReversionZscoreEngine,
)

RULE_ENGINES: dict[str, type[AlphaEngine]] = {cls.name: cls for cls in _RULE_ENGINES}
ENGINES: dict[str, type[AlphaEngine]] = {**RULE_ENGINES, **{cls.name: cls for cls in LEARNED_ENGINES}}
if len(ENGINES) != len(_RULE_ENGINES) + len(
    LEARNED_ENGINES
):  # pragma: no cover - a duplicate name is a programming error
    raise RuntimeError("two alpha engines share a name")


def all_engines() -> list[AlphaEngine]:
    """Fresh instances (default parameters) of all 23 engines, in the registry's order (learned last).

    The learned engines built this way train their own small encoder per coin; the nightly engine
    builds them with the shared encoder instead (see `huracan_core.engine.train`).
    """
    return [cls() for cls in ENGINES.values()]


def rule_engines() -> list[AlphaEngine]:
    """Fresh instances of the 21 rule engines (no training: calibration only)."""
    return [cls() for cls in RULE_ENGINES.values()]


def check_signals(name: str, out: Any, rows: int) -> pl.DataFrame:
    """`out` (columns in contract order) if it honours the signal contract, else `EngineError` saying why."""
    if not isinstance(out, pl.DataFrame):
        raise EngineError(name, f"signal returned {type(out).__name__}, expected a polars DataFrame")
    schema = out.schema
    if set(schema) != set(SIGNAL_SCHEMA):
        missing = [c for c in SIGNAL_COLUMNS if c not in schema]
        extra = [c for c in schema if c not in SIGNAL_SCHEMA]
        raise EngineError(name, f"signal columns wrong: missing {missing}, unexpected {extra}")
    for column, dtype in SIGNAL_SCHEMA.items():
        if schema[column] != dtype:
            raise EngineError(name, f"column {column!r} has dtype {schema[column]}, expected {dtype}")
    if out.height != rows:
        raise EngineError(name, f"signal has {out.height} rows for {rows} input rows")
    series = dict(zip(out.columns, out.get_columns(), strict=True))
    for column in SIGNAL_COLUMNS:
        nulls = series[column].null_count()
        if nulls:
            raise EngineError(name, f"column {column!r} has {nulls} null value(s)")
    if not rows:
        return out.select(SIGNAL_COLUMNS)
    direction = series["direction"].to_numpy()
    if direction.min() < -1 or direction.max() > 1:
        raise EngineError(name, f"direction outside -1/0/+1: {sorted(set(direction.tolist()))[:5]}")
    confidence = series["confidence"].to_numpy()
    low, high = confidence.min(), confidence.max()
    if np.isnan(low) or np.isnan(high):
        raise EngineError(name, "confidence contains NaN")
    if low < 0 or high > 1:
        raise EngineError(name, f"confidence outside [0, 1]: min {low}, max {high}")
    if not np.isfinite(series["edge_bps"].to_numpy()).all():
        raise EngineError(name, "edge_bps contains NaN or infinity")
    if series["horizon_bars"].to_numpy().min() < 1:
        raise EngineError(name, "horizon_bars below 1")
    return out if tuple(schema) == SIGNAL_COLUMNS else out.select(SIGNAL_COLUMNS)


def run_engine_fenced(engine: AlphaEngine, frame: pl.DataFrame, state: Mapping[str, Any]) -> pl.DataFrame:
    """`engine.signal(frame, state)`, checked; any failure becomes `EngineError(engine.name, ...)`."""
    try:
        out = engine.signal(frame, state)
    except EngineError as exc:
        if exc.engine == engine.name:
            raise
        raise EngineError(engine.name, f"signal raised {exc}") from exc
    except Exception as exc:
        raise EngineError(engine.name, f"signal raised {type(exc).__name__}: {exc}") from exc
    return check_signals(engine.name, out, frame.height)


def check_signal_row(name: str, row: Any) -> dict[str, Any]:
    """`row` (one bar's signal as a dict) if it honours the signal contract, else `EngineError` saying why."""
    if not isinstance(row, dict) or set(row) != set(SIGNAL_SCHEMA):
        got = sorted(row) if isinstance(row, dict) else type(row).__name__
        raise EngineError(name, f"latest signal must be a dict with keys {list(SIGNAL_COLUMNS)}, got {got}")
    direction, edge, confidence, horizon = (row[c] for c in SIGNAL_COLUMNS)
    if any(v is None for v in (direction, edge, confidence, horizon)):
        raise EngineError(name, f"latest signal has a null value: {row}")
    if direction not in (-1, 0, 1):
        raise EngineError(name, f"direction outside -1/0/+1: {direction!r}")
    if not 0.0 <= confidence <= 1.0:  # also refuses NaN
        raise EngineError(name, f"confidence outside [0, 1]: {confidence!r}")
    if not math.isfinite(edge):
        raise EngineError(name, f"edge_bps is not finite: {edge!r}")
    if horizon < 1:
        raise EngineError(name, f"horizon_bars below 1: {horizon!r}")
    return {
        "direction": int(direction),
        "edge_bps": float(edge),
        "confidence": float(confidence),
        "horizon_bars": int(horizon),
    }


def run_engine_latest(
    engine: AlphaEngine, frame: pl.DataFrame | LatestInputs, state: Mapping[str, Any]
) -> dict[str, Any]:
    """`engine.latest_signal(frame, state)` (the newest bar only), fenced and checked like `run_engine_fenced`.

    Given `LatestInputs` (numpy columns shared by several engines), engines read those through
    `latest_row`; one that overrides `latest_signal` itself still gets the frame, as its contract says.
    """
    inputs = frame if isinstance(frame, LatestInputs) else LatestInputs(frame)
    if inputs.height == 0:
        raise EngineError(engine.name, "latest signal asked for an empty frame")
    try:
        if type(engine).latest_signal is AlphaEngine.latest_signal:
            row = engine.latest_row(inputs, state)
        else:
            row = engine.latest_signal(inputs.frame, state)
    except EngineError as exc:
        if exc.engine == engine.name:
            raise
        raise EngineError(engine.name, f"signal raised {exc}") from exc
    except Exception as exc:
        raise EngineError(engine.name, f"signal raised {type(exc).__name__}: {exc}") from exc
    try:
        return check_signal_row(engine.name, row)
    except (TypeError, ValueError) as exc:  # e.g. a string where a number belongs
        raise EngineError(engine.name, f"latest signal malformed: {exc}") from exc


def fit_engine_fenced(engine: AlphaEngine, frame: pl.DataFrame) -> dict[str, Any]:
    """`engine.fit(frame)`, checked to be a JSON-serialisable state (no NaN) made by this engine."""
    try:
        state = engine.fit(frame)
    except Exception as exc:
        raise EngineError(engine.name, f"fit raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(state, dict) or state.get("engine") != engine.name:
        raise EngineError(engine.name, "fit must return a dict state whose 'engine' is the engine's name")
    try:
        json.dumps(state, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise EngineError(engine.name, f"fit returned a state that is not strict JSON: {exc}") from exc
    return state


@dataclass
class EngineRun:
    """Outcome of running several engines: signals of the ones that behaved, errors of the rest."""

    signals: dict[str, pl.DataFrame] = field(default_factory=dict)
    errors: dict[str, EngineError] = field(default_factory=dict)


def fit_states(
    engines: Iterable[AlphaEngine], frame: pl.DataFrame
) -> tuple[dict[str, dict[str, Any]], dict[str, EngineError]]:
    """Fit each engine fenced on the training window: (states by name, errors by name)."""
    states: dict[str, dict[str, Any]] = {}
    errors: dict[str, EngineError] = {}
    for engine in engines:
        try:
            states[engine.name] = fit_engine_fenced(engine, frame)
        except EngineError as exc:
            errors[engine.name] = exc
    return states, errors


def _each_fenced(
    engines: Iterable[AlphaEngine],
    states: Mapping[str, Mapping[str, Any]],
    call: Callable[[AlphaEngine, Mapping[str, Any]], Any],
) -> tuple[dict[str, Any], dict[str, EngineError]]:
    """`call(engine, state)` for every engine; a missing state or an EngineError is recorded, others go on."""
    outputs: dict[str, Any] = {}
    errors: dict[str, EngineError] = {}
    for engine in engines:
        state = states.get(engine.name)
        if state is None:
            errors[engine.name] = EngineError(engine.name, "no fitted state supplied")
            continue
        try:
            outputs[engine.name] = call(engine, state)
        except EngineError as exc:
            errors[engine.name] = exc
    return outputs, errors


def run_engines(
    engines: Iterable[AlphaEngine], frame: pl.DataFrame, states: Mapping[str, Mapping[str, Any]]
) -> EngineRun:
    """Signal every engine fenced; one failing (or lacking a state) is recorded and the others carry on."""
    signals, errors = _each_fenced(
        engines, states, lambda engine, state: run_engine_fenced(engine, frame, state)
    )
    return EngineRun(signals=signals, errors=errors)


@dataclass
class LatestRun:
    """Newest-bar outcome of several engines: signal rows of the ones that behaved, errors of the rest."""

    signals: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: dict[str, EngineError] = field(default_factory=dict)


def run_engines_latest(
    engines: Iterable[AlphaEngine], frame: pl.DataFrame, states: Mapping[str, Mapping[str, Any]]
) -> LatestRun:
    """The live path of `run_engines`: each engine's signal for `frame`'s last row, from its own lookback.

    `frame` needs at least the largest `lookback_bars` of the engines; a failing engine is recorded.
    Its columns are converted to numpy once, for all engines.
    """
    inputs = LatestInputs(frame)
    signals, errors = _each_fenced(
        engines, states, lambda engine, state: run_engine_latest(engine, inputs, state)
    )
    return LatestRun(signals=signals, errors=errors)
