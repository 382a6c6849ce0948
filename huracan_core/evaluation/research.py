"""The research path shared by `huracan backtest` and the nightly engine: candles -> OOS metrics after costs.

candles -> features (recipe) + regime + reference closes -> per-bar costs -> walk-forward folds: engines
fit on the fold's training rows only (labels and windows within contiguous runs of them), signal the
validation and test rows -> the regime gate for a fold is learned from out-of-sample evidence only: each
row's signal as given by the fold in which that row was out-of-sample (an earlier fold's test range, or a
validation range no earlier fold tested), each row once, outcomes known before the fold's test starts ->
the meta combiner walks forward with outcomes applied only once known -> `decide` (the same function
Hamilton calls) -> held positions -> backtest from the next bar's open with fees, spread and slippage
charged at the decision bar's estimate -> metrics over the test ranges only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import polars as pl

from huracan_core.alphas.base import AlphaEngine
from huracan_core.alphas.calibration import COST_COLUMN
from huracan_core.alphas.registry import fit_states, rule_engines, run_engines
from huracan_core.config import CostsConfig
from huracan_core.costs import CostParams, FeeSchedule, bar_costs
from huracan_core.decision import DecisionSettings, decide, hold_until_horizon
from huracan_core.evaluation.backtest import backtest
from huracan_core.evaluation.benchmarks import market_benchmarks
from huracan_core.evaluation.horizon_choice import HorizonChoice, choose_on_training
from huracan_core.evaluation.metrics import compute_metrics, sharpe_significance
from huracan_core.evaluation.splits import Split, walk_forward_splits
from huracan_core.exceptions import DataIntegrityError
from huracan_core.features import DEFAULT_RECIPE, FeatureRecipe, build_features
from huracan_core.market.funding import funding_at_bars
from huracan_core.meta import (
    CombinerSettings,
    GateTable,
    MetaCombiner,
    fit_gate_table,
    forward_moves_bps,
    run_combiner,
)
from huracan_core.regime import REGIMES, classify_regimes
from huracan_core.segments import with_segments
from huracan_core.sizing import VOL_COLUMN, realised_vol_pct
from huracan_core.timeframe import format_duration, timeframe_ms

log = logging.getLogger(__name__)

REFERENCE_CLOSES = {"BTCUSDT": "btc_close", "ETHUSDT": "eth_close"}


@dataclass(frozen=True)
class ResearchFrame:
    """One symbol's inputs to every engine: features, regime, reference closes, and per-bar costs.

    `costs` holds, per bar, the cost columns of `bar_costs` and `realised_vol_pct` (`huracan_core.sizing`):
    everything `decide` reads besides the combined signal, known at that bar's close.
    """

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
    funding: pl.DataFrame | None = None,
) -> ResearchFrame:
    """Features + `regime` + `btc_close`/`eth_close` (+ optional columns such as funding_rate) for a symbol.

    `extra_columns` is joined on `timestamp` (left), e.g. the cross-sectional rank. `funding` is the coin's
    funding history stamped by settlement time (market.funding): each bar gets `funding_rate` as known at
    its close, through `funding_at_bars`; without it the column is absent and the funding engine abstains.
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
            source.select("timestamp", pl.col("close").alias(column)),
            on="timestamp",
            how="left",
            maintain_order="left",
        )
    if extra_columns is not None:
        frame = frame.join(extra_columns, on="timestamp", how="left", maintain_order="left")
    if funding is not None:
        frame = frame.join(
            funding_at_bars(candles, funding, timeframe), on="timestamp", how="left", maintain_order="left"
        )
    params = CostParams.for_timeframe(timeframe)  # a day of bars: the same span of time at every timeframe
    costs = bar_costs(candles, symbol, cost_config or CostsConfig(), fees, params=params)
    costs = costs.with_columns(realised_vol_pct(candles["close"], timeframe))
    # The learned engines label and report edges net of these costs, so they travel with the features.
    frame = frame.with_columns(costs[COST_COLUMN])
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
    # Candidate horizons in bars (`horizon_candidates`): when given, each coin's horizon is chosen among
    # them on training rows (`choose_horizon`) and replaces every engine's horizon and `hold_bars`.
    horizons: tuple[int, ...] = ()


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
    # Per OOS bar: timestamp, combined_edge_bps, confidence, side, size, reason, target_position.
    decisions: pl.DataFrame | None = None
    # The gate each fold traded its test range with (fold k's gate saw only evidence known before it).
    fold_gates: list[GateTable] = field(default_factory=list)
    # Bars each trade was held; the engines as evaluated (at the coin's horizon); the horizon choice.
    hold_bars: int = 8
    engines: list[AlphaEngine] = field(default_factory=list)
    horizon: HorizonChoice | None = None


def prior_gate(engines: Sequence[AlphaEngine], *, everywhere: bool = False) -> GateTable:
    """A gate without OOS evidence: each engine allowed in the regimes it declares (or in all of them)."""
    allowed = {e.name: {r: everywhere or r in e.regimes for r in REGIMES} for e in engines}
    return GateTable(allowed=allowed, stats={}, min_signals=0)


def count_trials(
    gate: GateTable, states: Mapping[str, Mapping[str, Any]], horizon_candidates: int = 1
) -> dict[str, int]:
    """How many choices were made on the data to reach this model: the deflated Sharpe ratio's N.

    - gate cells: engine x regime cells with enough OOS signals for the gate to allow or refuse them;
    - calibrated choices: each rule side's trade/abstain decision (2 per calibrated rule engine) and each
      time bucket the seasonality engine judged (it picks the significant ones among them);
    - horizon candidates: the coin's horizon was the best of K, each a whole model with its own gate
      cells and calibrated choices, so the total is K x (cells + choices).
    """
    cells = sum(
        1 for regimes in gate.stats.values() for cell in regimes.values() if cell["n"] >= gate.min_signals
    )
    choices = 0
    for state in states.values():
        if "long_active" in state:
            choices += 2
        for table in ("hour", "weekday"):
            if table in state:
                choices += sum(1 for periods in state[table]["periods"] if periods >= 2)
    k = max(1, int(horizon_candidates))
    return {
        "gate_cells": cells,
        "calibrated_choices": choices,
        "horizon_candidates": k,
        "total": k * max(1, cells + choices),
    }


def training_frame(frame: pl.DataFrame, split: Split) -> pl.DataFrame:
    """A fold's training rows, each contiguous run tagged as a segment (labels never span a hole)."""
    return with_segments(frame, split.train)


def walk_forward_plan(
    rf: ResearchFrame,
    engines: Sequence[AlphaEngine],
    settings: WalkForwardSettings,
    first_test_not_before_ms: int | None = None,
) -> list[Split]:
    """The folds `evaluate_walk_forward` uses, over `rf.frame` from `rf.first_valid` on.

    Public so a batch of coins can prepare work that depends on the folds (the nightly engine trains
    every coin's neural head of a fold together) and still fit exactly the rows the evaluation fits.
    """
    frame = rf.frame.slice(rf.first_valid)
    n = frame.height
    max_h = plan_horizon(engines, settings)
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
        n,
        settings.n_folds,
        train_min,
        test_size,
        horizon=max_h,
        embargo=settings.embargo,
        valid_size=valid_size,
    )
    return splits


def plan_horizon(engines: Sequence[AlphaEngine], settings: WalkForwardSettings) -> int:
    """The purge of the walk-forward plan: the longest label or hold any model of the coin may use.

    With candidate horizons that is the longest candidate (whichever is chosen, no label of it crosses
    into validation or test), else the engines' horizons and `hold_bars`.
    """
    if settings.horizons:
        return max(settings.horizons)
    return max([*(e.horizon_bars for e in engines), settings.hold_bars])


def plannable_horizons(
    rf: ResearchFrame, settings: WalkForwardSettings, first_test_not_before_ms: int | None = None
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(candidates, dropped): the longest of `settings.horizons` the coin's history can walk forward with.

    Each test range must hold more than two of the longest holds; a history too short for a candidate
    drops it (and every longer one), from the bar count alone, never from prices. The shortest candidate
    not fitting either raises `walk_forward_plan`'s DataIntegrityError.
    """
    candidates = tuple(sorted(settings.horizons))
    for keep in range(len(candidates), 0, -1):
        try:
            walk_forward_plan(rf, (), replace(settings, horizons=candidates[:keep]), first_test_not_before_ms)
        except DataIntegrityError:
            if keep == 1:
                raise
            continue
        return candidates[:keep], candidates[keep:]
    return (), ()


def choose_horizon(
    rf: ResearchFrame,
    candidates: Sequence[int],
    settings: WalkForwardSettings,
    first_test_not_before_ms: int | None = None,
    *,
    engines: Sequence[AlphaEngine] | None = None,
) -> HorizonChoice:
    """The coin's holding horizon among `candidates` (bars), chosen on the first fold's training rows only.

    The folds are planned with the purge of the longest candidate the history allows (the others are
    dropped and recorded), so the first fold's training labels at every candidate end before its
    validation range: bars after the training end cannot change the choice. `engines`' rules (default:
    the registry's 21) are scored as `choose_on_training` says. The Engine, its batch head training and
    `huracan backtest` all call this, so they trade the same horizon.
    """
    planned = replace(settings, horizons=tuple(candidates))
    usable, dropped = plannable_horizons(rf, planned, first_test_not_before_ms)
    planned = replace(planned, horizons=usable)
    splits = walk_forward_plan(rf, (), planned, first_test_not_before_ms)
    train = training_frame(rf.frame.slice(rf.first_valid), splits[0])
    rules = rule_engines() if engines is None else list(engines)
    return choose_on_training(train, rules, usable, rf.timeframe, dropped=dropped)


def at_coin_horizon(
    rf: ResearchFrame,
    engines: Sequence[AlphaEngine],
    settings: WalkForwardSettings,
    first_test_not_before_ms: int | None = None,
) -> tuple[list[AlphaEngine], WalkForwardSettings, HorizonChoice | None]:
    """(engines, settings, choice) the coin is evaluated with: with candidate horizons, every engine at the
    chosen one, trades held for it and the plan's purge that of the candidates tried; else unchanged."""
    if not settings.horizons:
        return list(engines), settings, None
    choice = choose_horizon(rf, settings.horizons, settings, first_test_not_before_ms, engines=engines)
    chosen = [e.with_horizon(choice.bars) for e in engines]
    return chosen, replace(settings, horizons=choice.candidates, hold_bars=choice.bars), choice


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
    end of the shared encoder's training data, so no OOS bar was seen by the encoder either. With
    `settings.horizons`, the coin's horizon is chosen first (`at_coin_horizon`) and every engine is
    fitted, combined and held at it.
    """
    settings = settings or WalkForwardSettings()
    engines, settings, choice = at_coin_horizon(rf, engines, settings, first_test_not_before_ms)
    frame = rf.frame.slice(rf.first_valid)
    costs = rf.costs.slice(rf.first_valid)
    n = frame.height
    horizons = {e.name: e.horizon_bars for e in engines}
    # An outcome at row r is known at r + 1 + h: the gate of a fold uses those known before its test.
    max_h = max([*horizons.values(), settings.hold_bars])
    splits = walk_forward_plan(rf, engines, settings, first_test_not_before_ms)
    opens = frame["open"].to_numpy()
    moves = {name: forward_moves_bps(opens, h) for name, h in horizons.items()}
    regimes = frame["regime"].cast(pl.Utf8).to_numpy()
    cost_bps = costs["cost_bps"].to_numpy()
    spread_bps = costs["spread_bps"].to_numpy()
    vol_pct = costs[VOL_COLUMN].to_numpy()

    # Out-of-sample evidence for the gate: each row's direction from the fold in which it was OOS, once.
    evidence = {e.name: np.zeros(n, dtype=np.int8) for e in engines}
    covered = np.zeros(n, dtype=bool)
    signalled: set[str] = set()  # engines that gave signals in at least one fold
    oos_rows: list[np.ndarray] = []
    combined_edge = np.zeros(n)
    confidence = np.zeros(n)
    weight_frames: list[pl.DataFrame] = []
    combiner: MetaCombiner | None = None
    states: dict[str, dict[str, Any]] = {}
    errors: dict[str, str] = {}
    gate = prior_gate(engines)
    fold_gates: list[GateTable] = []

    def record(rows: np.ndarray, signals: Mapping[str, pl.DataFrame]) -> None:
        for name, sig in signals.items():
            evidence[name][rows] = sig["direction"].to_numpy()[rows]
        covered[rows] = True

    for split in splits:
        states, fit_errors = fit_states(engines, training_frame(frame, split))
        errors.update({k: str(v) for k, v in fit_errors.items()})
        # Signals for every row up to the test end: engines are causal, so the test rows see only the past.
        run = run_engines(engines, frame.slice(0, split.test.stop), states)
        errors.update({k: str(v) for k, v in run.errors.items()})
        active = [e.name for e in engines if e.name in run.signals]
        signalled.update(active)

        # Validation rows no earlier fold tested are out-of-sample for this fold's states: new evidence.
        if split.valid is not None:
            fresh = np.arange(split.valid.start, split.valid.stop)
            record(fresh[~covered[fresh]], run.signals)
        rows = np.flatnonzero(covered[: split.test.start])
        usable = rows[rows + 1 + max_h < split.test.start]  # only outcomes known before the test starts
        if usable.size:
            gate = fit_gate_table(
                {name: evidence[name][usable] for name in active},
                regimes[usable],
                {name: moves[name][usable] for name in active},
                cost_bps[usable],
                min_signals=settings.min_signals,
            )
        fold_gates.append(gate)

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
        record(test, {name: run.signals[name] for name in active})
        oos_rows.append(test)

    oos = np.concatenate(oos_rows)
    start, stop = int(oos[0]), int(oos[-1]) + 1
    decisions = decide(
        combined_edge[start:stop],
        confidence[start:stop],
        cost_bps[start:stop],
        spread_bps[start:stop],
        decision,
        volatility_pct=vol_pct[start:stop],
    )
    target = hold_until_horizon(decisions, settings.hold_bars)
    decision_frame = pl.DataFrame(
        {
            "timestamp": frame["timestamp"].slice(start, stop - start),
            "combined_edge_bps": combined_edge[start:stop],
            "confidence": confidence[start:stop],
        }
    ).hstack(decisions.to_frame()).with_columns(pl.Series("target_position", target))
    weights = pl.concat(weight_frames, how="diagonal").fill_null(0.0)
    result = backtest(
        frame.slice(start, stop - start),
        target,
        cost_bps[start:stop],
        regime=frame["regime"].slice(start, stop - start).cast(pl.Utf8),
        engine_weights=weights,
    )
    metrics = compute_metrics(result.bars, result.trades, rf.timeframe)
    metrics["benchmarks"] = market_benchmarks(
        frame.slice(start, stop - start), cost_bps[start:stop], rf.timeframe
    )
    final_names = [e.name for e in engines if e.name in signalled]
    final_gate = fit_gate_table(
        {name: evidence[name][start:stop] for name in final_names},
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
    metrics["horizon"] = (
        choice.to_dict()
        if choice is not None
        else {
            "bars": settings.hold_bars,
            "duration": format_duration(settings.hold_bars * timeframe_ms(rf.timeframe)),
            "chosen_on": None,
            "candidates": [],
        }
    )
    trials = count_trials(final_gate, states, len(choice.candidates) if choice is not None else 1)
    metrics["trial_breakdown"] = trials
    metrics.update(sharpe_significance(result.bars["net"].to_numpy(), trials["total"]))
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
        decisions=decision_frame,
        fold_gates=fold_gates,
        hold_bars=settings.hold_bars,
        engines=list(engines),
        horizon=choice,
    )
