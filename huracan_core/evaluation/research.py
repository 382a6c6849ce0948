"""The research path shared by `huracan backtest` and the nightly engine: candles -> OOS metrics after costs.

candles -> features (recipe) + regime + reference closes -> per-bar costs -> walk-forward folds: engines
fit on the fold's training rows only, signal the validation and test rows -> the regime gate for a fold is
learned from signals the engines gave on rows they were not fitted on (the fold's validation range and
earlier folds' test ranges) -> the meta combiner walks forward with outcomes applied only once known ->
`decide` (the same function Hamilton calls) -> held positions -> backtest from the next bar's open with
fees, spread and slippage -> metrics over the test ranges only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from huracan_core.alphas.base import AlphaEngine
from huracan_core.alphas.registry import fit_states, run_engines
from huracan_core.config import CostsConfig
from huracan_core.costs import FeeSchedule, bar_costs
from huracan_core.decision import DecisionSettings, decide, hold_until_horizon
from huracan_core.evaluation.backtest import backtest
from huracan_core.evaluation.metrics import compute_metrics
from huracan_core.evaluation.splits import Split, walk_forward_splits
from huracan_core.exceptions import DataIntegrityError
from huracan_core.features import DEFAULT_RECIPE, FeatureRecipe, build_features
from huracan_core.meta import (
    CombinerSettings,
    GateTable,
    MetaCombiner,
    fit_gate_table,
    forward_moves_bps,
    run_combiner,
)
from huracan_core.regime import classify_regimes

log = logging.getLogger(__name__)

REFERENCE_CLOSES = {"BTCUSDT": "btc_close", "ETHUSDT": "eth_close"}


@dataclass(frozen=True)
class ResearchFrame:
    """One symbol's inputs to every engine: features, regime, reference closes, and per-bar costs."""

    symbol: str
    timeframe: str
    frame: pl.DataFrame
    costs: pl.DataFrame
    recipe: FeatureRecipe
    first_valid: int  # first row past the feature warm-up


def build_research_frame(
    candles: pl.DataFrame,
    symbol: str,
    timeframe: str,
    *,
    refs: Mapping[str, pl.DataFrame] | None = None,
    recipe: FeatureRecipe = DEFAULT_RECIPE,
    cost_config: CostsConfig | None = None,
    fees: FeeSchedule | None = None,
    extra_columns: pl.DataFrame | None = None,
) -> ResearchFrame:
    """Features + `regime` + `btc_close`/`eth_close` (+ optional columns such as funding_rate) for a symbol.

    `extra_columns` is joined on `timestamp` (left), e.g. funding rates or the cross-sectional rank.
    """
    refs = dict(refs or {})
    features = build_features(candles, recipe, refs, symbol=symbol)
    regime = classify_regimes(candles, timeframe)
    frame = features.with_columns(regime.alias("regime"))
    for ref_symbol, column in REFERENCE_CLOSES.items():
        source = candles if ref_symbol == symbol else refs.get(ref_symbol)
        if source is None:
            continue
        frame = frame.join(
            source.select("timestamp", pl.col("close").alias(column)), on="timestamp", how="left",
            maintain_order="left",
        )
    if extra_columns is not None:
        frame = frame.join(extra_columns, on="timestamp", how="left", maintain_order="left")
    costs = bar_costs(candles, symbol, cost_config or CostsConfig(), fees)
    warm = frame["warmup"].to_numpy()
    valid_rows = np.flatnonzero(~warm)
    if valid_rows.size == 0:
        raise DataIntegrityError(
            f"{symbol}: {candles.height} bars are all feature warm-up (the recipe needs {recipe.warmup_bars()})"
        )
    return ResearchFrame(symbol, timeframe, frame, costs, recipe, int(valid_rows[0]))


@dataclass(frozen=True)
class WalkForwardSettings:
    """How OOS evaluation is split. Rows are bars after the feature warm-up."""

    n_folds: int = 4
    train_frac: float = 0.4  # share of usable rows the first fold trains on
    valid_frac: float = 0.25  # validation rows per fold, as a share of the test size
    embargo: int = 8  # bars dropped after each test range before later training (serial correlation)
    hold_bars: int = 8  # a traded decision is held this many bars (the label horizon of the trade)
    min_signals: int = 30  # an engine needs this many OOS signals in a regime before the gate allows it


@dataclass
class Evaluation:
    """OOS results for one symbol; everything in `metrics` is out-of-sample and after costs."""

    symbol: str
    metrics: dict[str, Any]
    trades: pl.DataFrame
    bars: pl.DataFrame
    gate: GateTable
    combiner: MetaCombiner
    states: dict[str, dict[str, Any]]
    splits: list[Split]
    engine_errors: dict[str, str] = field(default_factory=dict)
    oos_start_ms: int = 0
    oos_end_ms: int = 0


def _prior_gate(engines: Sequence[AlphaEngine]) -> GateTable:
    """Before any OOS evidence exists, each engine is allowed only in the regimes it declares."""
    regimes = ("TREND", "RANGE", "PANIC", "ILLIQUID")
    allowed = {e.name: {r: r in e.regimes for r in regimes} for e in engines}
    return GateTable(allowed=allowed, stats={}, min_signals=0)


def evaluate_walk_forward(
    rf: ResearchFrame,
    engines: Sequence[AlphaEngine],
    *,
    decision: DecisionSettings,
    settings: WalkForwardSettings | None = None,
    combiner_settings: CombinerSettings | None = None,
    first_test_not_before_ms: int | None = None,
) -> Evaluation:
    """Walk-forward OOS evaluation of `engines` through the combiner and `decide`, after costs.

    `first_test_not_before_ms` keeps every test range after that moment: the nightly engine passes the
    end of the shared encoder's training data, so no OOS bar was seen by the encoder either.
    """
    settings = settings or WalkForwardSettings()
    frame = rf.frame.slice(rf.first_valid)
    costs = rf.costs.slice(rf.first_valid)
    n = frame.height
    horizons = {e.name: e.horizon_bars for e in engines}
    max_h = max([*horizons.values(), settings.hold_bars])
    train_min = max(int(n * settings.train_frac), 50)
    if first_test_not_before_ms is not None:
        seen = int(np.searchsorted(frame["timestamp"].to_numpy(), first_test_not_before_ms))
        train_min = max(train_min, seen)
    rough_test = (n - train_min) // settings.n_folds
    valid_size = max(int(rough_test * settings.valid_frac), 2 * max_h + 2)
    # The first fold's training, its validation and the purges around both come before the first test.
    test_size = (n - train_min - valid_size - 2 * (max_h + 1)) // settings.n_folds
    if test_size < 2 * max_h + 2:
        raise DataIntegrityError(
            f"{rf.symbol}: {n} usable bars are too few for {settings.n_folds} walk-forward folds "
            f"(each test range needs more than {2 * max_h + 2} bars); use more history or fewer folds"
        )
    splits = walk_forward_splits(
        n, settings.n_folds, train_min, test_size, horizon=max_h, embargo=settings.embargo, valid_size=valid_size
    )
    opens = frame["open"].to_numpy()
    moves = {name: forward_moves_bps(opens, h) for name, h in horizons.items()}
    regimes = frame["regime"].cast(pl.Utf8).to_numpy()
    cost_bps = costs["cost_bps"].to_numpy()
    spread_bps = costs["spread_bps"].to_numpy()

    oos_signals: dict[str, list[pl.DataFrame]] = {e.name: [] for e in engines}
    oos_rows: list[np.ndarray] = []
    combined_edge = np.zeros(n)
    confidence = np.zeros(n)
    weight_frames: list[pl.DataFrame] = []
    combiner: MetaCombiner | None = None
    states: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    gate = _prior_gate(engines)

    for split in splits:
        train = frame[split.train_index()]
        states, fit_errors = fit_states(engines, train)
        errors.update({k: str(v) for k, v in fit_errors.items()})
        # Signals for every row up to the test end: engines are causal, so the test rows see only the past.
        run = run_engines(engines, frame.slice(0, split.test.stop), states)
        errors.update({k: str(v) for k, v in run.errors.items()})
        active = [e.name for e in engines if e.name in run.signals]

        # Gate for this fold: evidence the engines produced on rows they were not fitted on.
        evidence_rows = [*oos_rows]
        if split.valid is not None:
            evidence_rows.append(np.arange(split.valid.start, split.valid.stop))
        if evidence_rows:
            rows = np.concatenate(evidence_rows)
            usable = rows[rows + 1 + max_h < split.test.start]  # only outcomes known before the test starts
            if usable.size:
                gate = fit_gate_table(
                    {name: run.signals[name][usable] for name in active},
                    regimes[usable],
                    {name: moves[name][usable] for name in active},
                    cost_bps[usable],
                    min_signals=settings.min_signals,
                )

        test = np.arange(split.test.start, split.test.stop)
        fold = run_combiner(
            {name: run.signals[name][test] for name in active},
            {name: moves[name][test] for name in active},
            {name: horizons[name] for name in active},
            cost_bps=cost_bps[test],
            regimes=regimes[test],
            gate=gate,
            settings=combiner_settings,
            initial=combiner,
        )
        combiner = fold.final
        combined_edge[test] = fold.frame["combined_edge_bps"].to_numpy()
        confidence[test] = fold.frame["confidence"].to_numpy()
        weight_frames.append(fold.weights)
        for name in active:
            oos_signals[name].append(run.signals[name][test])
        oos_rows.append(test)

    oos = np.concatenate(oos_rows)
    start, stop = int(oos[0]), int(oos[-1]) + 1
    decisions = decide(combined_edge[start:stop], confidence[start:stop], cost_bps[start:stop],
                       spread_bps[start:stop], decision)
    target = hold_until_horizon(decisions, settings.hold_bars)
    weights = pl.concat(weight_frames, how="diagonal").fill_null(0.0)
    result = backtest(
        frame.slice(start, stop - start),
        target,
        cost_bps[start:stop],
        regime=frame["regime"].slice(start, stop - start).cast(pl.Utf8),
        engine_weights=weights,
    )
    metrics = compute_metrics(result.bars, result.trades, rf.timeframe)
    final_names = [name for name, parts in oos_signals.items() if parts]
    final_gate = fit_gate_table(
        {name: pl.concat(oos_signals[name]) for name in final_names},
        regimes[start:stop],
        {name: moves[name][start:stop] for name in final_names},
        cost_bps[start:stop],
        min_signals=settings.min_signals,
    )
    timestamps = frame["timestamp"]
    metrics["oos"] = {
        "first_bar": int(timestamps[start]),
        "last_bar": int(timestamps[stop - 1]),
        "bars": stop - start,
        "folds": len(splits),
        "decisions_traded": int((decisions.side != 0).sum()),
    }
    metrics["engines"] = final_gate.to_dict()
    if errors:
        metrics["engine_errors"] = errors
    return Evaluation(
        symbol=rf.symbol,
        metrics=metrics,
        trades=result.trades,
        bars=result.bars,
        gate=final_gate,
        combiner=combiner if combiner is not None else MetaCombiner([e.name for e in engines]),
        states=states,
        splits=splits,
        engine_errors=errors,
        oos_start_ms=int(timestamps[start]),
        oos_end_ms=int(timestamps[stop - 1]),
    )
