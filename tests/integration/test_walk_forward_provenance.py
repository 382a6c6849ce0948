"""What every fitted part of a walk-forward evaluation was fitted on, observed rather than reasoned about.

Each fitting function is wrapped while `evaluate_walk_forward` runs: the rule calibrations, the learned
engines' training sets and windows, the normalisers, each fold's gate table and the meta combiner. The
wrappers record the rows (and how far each label reaches) that went in, and the tests require that no fold
fitted anything on a row of its own or a later test range, that no label or window spans a hole of the
training frame, and that the gate saw each row once, with the signal of the fold in which it was
out-of-sample.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl
import pytest

from huracan_core.alphas import learned
from huracan_core.alphas.calibration import forward_move_bps
from huracan_core.alphas.registry import all_engines
from huracan_core.alphas.rule import RuleEngine
from huracan_core.alphas.statistical import SeasonalityEngine
from huracan_core.decision import DecisionSettings
from huracan_core.evaluation import research
from huracan_core.evaluation.research import (
    Evaluation,
    ResearchFrame,
    WalkForwardSettings,
    build_research_frame,
    evaluate_walk_forward,
)
from huracan_core.market import SyntheticSource
from huracan_core.meta import forward_moves_bps
from huracan_core.models.windows import CoinWindows, Normaliser
from huracan_core.timeframe import timeframe_ms
from tests.stubs.probe_engines import MemorisingEngine, ProbeEngine

END = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
DAY = 86_400_000
BAR = timeframe_ms("15m")


@dataclass
class Fit:
    fold: int
    component: str
    rows: np.ndarray  # timestamps of the rows fitted on
    reach: np.ndarray  # for each row with a label: timestamp of the last bar its label reads
    gap: np.ndarray  # for each label or window: bars of real time it spans beyond its length (0 = contiguous)


@dataclass
class Recorder:
    fold: int = -1
    combiner_calls: int = 0
    fits: list[Fit] = field(default_factory=list)
    gates: list[tuple[int, bool, dict[str, np.ndarray], dict[str, np.ndarray]]] = field(default_factory=list)
    combiners: list[tuple[int, dict[str, Any], dict[str, np.ndarray]]] = field(default_factory=list)

    def fit(self, component: str, rows: np.ndarray, reach: np.ndarray, gap: np.ndarray) -> None:
        self.fits.append(Fit(self.fold, component, rows, reach, gap))


def _labelled(
    frame: pl.DataFrame, rows: np.ndarray, horizon: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Timestamps of `rows`, of the last bar each one's label reads (row + 1 + horizon), and each label's gap."""
    ts = frame["timestamp"].to_numpy()
    idx = np.flatnonzero(rows)
    reach = ts[np.minimum(idx + 1 + horizon, ts.size - 1)]
    return ts[idx], reach, (reach - ts[idx]) // BAR - (1 + horizon)


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    rec = Recorder()

    def wrap(owner: Any, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
        monkeypatch.setattr(owner, name, make(getattr(owner, name)))

    def fit_states(original: Callable[..., Any]) -> Callable[..., Any]:
        def spy(engines: Any, frame: pl.DataFrame) -> Any:
            rec.fold += 1
            return original(engines, frame)

        return spy

    def rule_fit(original: Callable[..., Any]) -> Callable[..., Any]:
        def spy(self: Any, frame: pl.DataFrame) -> Any:
            labelled = np.isfinite(forward_move_bps(frame, self.horizon_bars).to_numpy().astype(float))
            rec.fit(f"calibration:{self.name}", *_labelled(frame, labelled, self.horizon_bars))
            return original(self, frame)

        return spy

    def learned_train(original: Callable[..., Any]) -> Callable[..., Any]:
        def spy(
            self: Any, frame: pl.DataFrame, normaliser: Any, y: np.ndarray, fit_rows: Any, valid_rows: Any
        ) -> Any:
            used = (fit_rows | valid_rows) & np.isfinite(y)
            rec.fit(f"model:{self.name}", *_labelled(frame, used, self.horizon_bars))
            return original(self, frame, normaliser, y, fit_rows, valid_rows)

        return spy

    def normaliser_fit(original: Callable[..., Any]) -> Callable[..., Any]:
        def spy(cls: Any, frame: pl.DataFrame, columns: Any, rows: Any = None) -> Any:
            mask = np.ones(frame.height, dtype=bool) if rows is None else rows
            ts = frame["timestamp"].to_numpy()[mask]
            rec.fit("normaliser", ts, ts, np.zeros(ts.size, dtype=np.int64))
            return original.__func__(cls, frame, columns, rows)

        return classmethod(spy)  # type: ignore[return-value]

    def windows(original: Callable[..., Any]) -> Callable[..., Any]:
        def spy(frame: pl.DataFrame, normaliser: Any, window: int, **kwargs: Any) -> CoinWindows:
            out = original(frame, normaliser, window, **kwargs)
            ts = frame["timestamp"].to_numpy()
            first = ts[out.rows - window + 1]
            rec.fit("windows", ts[out.rows], ts[out.rows], (ts[out.rows] - first) // BAR - (window - 1))
            return out

        return spy

    def gate(original: Callable[..., Any]) -> Callable[..., Any]:
        def spy(signals: Any, regimes: Any, moves: Any, cost: Any, min_signals: int = 30) -> Any:
            final = rec.combiner_calls > rec.fold  # after the last fold's combiner: the bundle's gate
            rec.gates.append((rec.fold, final, dict(signals), dict(moves)))
            return original(signals, regimes, moves, cost, min_signals=min_signals)

        return spy

    def combiner(original: Callable[..., Any]) -> Callable[..., Any]:
        def spy(signals: Any, moves: Any, horizon: Any, **kwargs: Any) -> Any:
            rec.combiner_calls += 1
            rec.combiners.append((rec.fold, dict(signals), dict(moves)))
            return original(signals, moves, horizon, **kwargs)

        return spy

    wrap(research, "fit_states", fit_states)
    wrap(RuleEngine, "fit", rule_fit)
    wrap(SeasonalityEngine, "fit", rule_fit)
    wrap(learned.XGBoostEngine, "_train", learned_train)
    wrap(learned.NeuralEngine, "_train", learned_train)
    wrap(Normaliser, "fit", normaliser_fit)
    wrap(learned, "make_windows", windows)
    wrap(research, "fit_gate_table", gate)
    wrap(research, "run_combiner", combiner)
    yield rec


@pytest.fixture(scope="module")
def no_edge_market() -> ResearchFrame:
    source = SyntheticSource(seed=13, no_edge=True)
    candles = {s: source.fetch(s, "15m", END - 30 * DAY, END) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")}
    return build_research_frame(candles["SOLUSDT"], "SOLUSDT", "15m", refs=candles)


def _evaluate(rf: ResearchFrame) -> Evaluation:
    engines = [*all_engines(), MemorisingEngine(), ProbeEngine()]
    return evaluate_walk_forward(
        rf, engines, decision=DecisionSettings(), settings=WalkForwardSettings(n_folds=4, min_signals=30)
    )


def _rows_of(moves_given: np.ndarray, all_moves: np.ndarray) -> np.ndarray:
    """Row indices of the forward moves a function was given (a random walk's moves are all distinct)."""
    lookup = {float(v): i for i, v in enumerate(all_moves) if np.isfinite(v)}
    assert len(lookup) == int(np.isfinite(all_moves).sum()), "moves are not distinct: cannot trace rows"
    return np.array([lookup[float(v)] for v in moves_given if np.isfinite(v)], dtype=np.int64)


def test_no_fitted_component_saw_a_row_of_its_own_or_a_later_test_range(
    no_edge_market: ResearchFrame, recorder: Recorder
) -> None:
    rf = no_edge_market
    ev = _evaluate(rf)
    ts = rf.frame["timestamp"].to_numpy()[rf.first_valid :]
    test_start = [int(ts[s.test.start]) for s in ev.splits]
    components = {f.component.split(":")[0] for f in recorder.fits}
    assert {"calibration", "model", "normaliser", "windows"} <= components
    assert recorder.fold == len(ev.splits) - 1
    for fit in recorder.fits:
        assert fit.fold >= 0, fit.component
        if fit.rows.size == 0:
            continue
        limit = test_start[fit.fold]
        assert fit.rows.max() < limit, f"{fit.component} fitted on a test row in fold {fit.fold}"
        assert fit.reach.max() < limit, f"{fit.component}'s labels read the test range of fold {fit.fold}"
    for split in ev.splits:  # the purge: no training row's label window reaches its test range
        assert split.train_index().max() + 1 + 8 < split.test.start


def test_labels_and_windows_never_span_a_hole_in_the_training_rows(
    no_edge_market: ResearchFrame, recorder: Recorder
) -> None:
    ev = _evaluate(no_edge_market)
    assert any(len(s.train) > 1 for s in ev.splits), "no fold has an embargo hole: the test would be vacuous"
    checked = [
        f
        for f in recorder.fits
        if f.component.startswith(("calibration", "model")) or f.component == "windows"
    ]
    assert {f.component for f in checked} >= {"model:xgboost", "model:neural", "windows", "calibration:trend"}
    for fit in checked:
        bad = fit.gap != 0
        assert not bad.any(), f"{fit.component} (fold {fit.fold}): {int(bad.sum())} spans cross a hole"


def test_each_fold_gate_sees_each_row_once_signalled_out_of_sample_with_outcomes_known(
    no_edge_market: ResearchFrame, recorder: Recorder
) -> None:
    rf = no_edge_market
    ev = _evaluate(rf)
    opens = rf.frame["open"].to_numpy()[rf.first_valid :]
    probe_moves = forward_moves_bps(opens, ProbeEngine.horizon_bars)
    max_h = 16
    fold_gates = [g for g in recorder.gates if not g[1]]
    assert fold_gates, "no fold gate was fitted"
    for fold, _, signals, moves in fold_gates:
        rows = _rows_of(moves["probe"], probe_moves)
        assert rows.size == np.unique(rows).size, f"fold {fold}: a row counted twice"
        assert (rows + 1 + max_h < ev.splits[fold].test.start).all(), f"fold {fold}: outcome not yet known"
        given = signals["probe"]
        probe = (given["direction"].to_numpy() if isinstance(given, pl.DataFrame) else np.asarray(given))[
            np.isfinite(moves["probe"])
        ]
        assert (probe == 1).all(), f"fold {fold}: {int((probe != 1).sum())} in-sample signals in the gate"
    for fold, signals, moves in recorder.combiners:
        rows = _rows_of(moves["probe"], probe_moves)
        split = ev.splits[fold]
        assert rows.min() >= split.test.start and rows.max() < split.test.stop
        assert (signals["probe"]["direction"] == 1).all(), f"fold {fold}: combiner fed in-sample signals"


def test_an_engine_that_memorises_its_training_rows_is_never_allowed_by_any_fold_gate(
    no_edge_market: ResearchFrame,
) -> None:
    ev = _evaluate(no_edge_market)
    assert len(ev.fold_gates) == len(ev.splits)
    for k, gate in enumerate(ev.fold_gates):
        allowed = [r for r, ok in gate.allowed.get("memoriser", {}).items() if ok]
        assert not allowed, f"fold {k} allows the memorising engine in {allowed}: {gate.stats['memoriser']}"
    assert not any(ev.gate.allowed["memoriser"].values())
