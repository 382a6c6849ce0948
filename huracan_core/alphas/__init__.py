"""Alpha engines: rule-based (and later learned) signal generators behind one interface, and their registry."""

from huracan_core.alphas.base import (
    ALL_REGIMES,
    SIGNAL_COLUMNS,
    SIGNAL_SCHEMA,
    AlphaEngine,
    EngineStateError,
    InMemoryWeightStore,
    LearnedEngine,
    WeightStore,
    signal_frame,
)
from huracan_core.alphas.calibration import apply_calibration, calibrate_sides, forward_move_bps
from huracan_core.alphas.registry import (
    ENGINES,
    RULE_ENGINES,
    EngineRun,
    all_engines,
    check_signals,
    fit_engine_fenced,
    fit_states,
    rule_engines,
    run_engine_fenced,
    run_engines,
)
from huracan_core.alphas.rule import RuleEngine

__all__ = [
    "ALL_REGIMES",
    "ENGINES",
    "RULE_ENGINES",
    "SIGNAL_COLUMNS",
    "SIGNAL_SCHEMA",
    "AlphaEngine",
    "EngineRun",
    "EngineStateError",
    "InMemoryWeightStore",
    "LearnedEngine",
    "RuleEngine",
    "WeightStore",
    "all_engines",
    "apply_calibration",
    "calibrate_sides",
    "check_signals",
    "fit_engine_fenced",
    "fit_states",
    "forward_move_bps",
    "rule_engines",
    "run_engine_fenced",
    "run_engines",
    "signal_frame",
]
