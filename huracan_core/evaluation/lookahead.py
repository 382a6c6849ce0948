"""Lookahead analysis of the trading path: every per-bar value, and the walk-forward decisions.

`analyse_symbol` recomputes features, regime, costs, every engine, combiner and decision with fixed engine
states on data cut at many points (bars after a cut removed, or replaced by noise); `analyse_walk_forward`
reruns the whole walk-forward evaluation (per-fold fitting, gate, combiner) with the bars after a cut
replaced by noise. Any value at or before a cut that changes reads the future, and is reported with its
column (feature, `engine:<name>:<field>`, `decision:<field>`, `gate:fold <k>`) and the first bar where it
differs. `firing_states` makes every rule engine vote wherever its rule fires, so its code path is checked
even when the data's own calibration would leave it silent.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from huracan_core.alphas.base import AlphaEngine
from huracan_core.alphas.cross_asset import FundingEngine
from huracan_core.alphas.registry import fit_states, run_engines
from huracan_core.alphas.rule import RuleEngine
from huracan_core.alphas.statistical import AnomalyEngine, SeasonalityEngine
from huracan_core.config import CostsConfig
from huracan_core.decision import DecisionSettings, decide, hold_until_horizon
from huracan_core.evaluation.research import (
    Evaluation,
    WalkForwardSettings,
    build_research_frame,
    evaluate_walk_forward,
    prior_gate,
)
from huracan_core.features import DEFAULT_RECIPE, FeatureRecipe, Leak, find_lookahead
from huracan_core.features.leakage import _first_differences, noise_after
from huracan_core.meta import CombinerSettings, forward_moves_bps, run_combiner

FIT_SHARE = 0.4  # engine states of the per-bar analysis are fitted on this first share of bars
FIRING_EDGE_BPS = 100.0  # probe edge per side: above a round trip plus the edge floor, so decisions trade
FUNDING_PERIOD_MS = 8 * 3_600_000  # perpetual futures settle funding every 8 hours
WALK_FORWARD_CHECK = "walk-forward noise"


@dataclass
class LookaheadReport:
    """Leaks found for one symbol (empty: clean), and what was checked.

    `fired` counts, per engine that signalled, the bars at or before the last cut with a non-zero
    direction: an engine that never fired there had its code path checked only on zeros.
    """

    symbol: str
    cuts: list[int]
    columns_checked: int
    leaks: list[Leak] = field(default_factory=list)
    engine_errors: dict[str, str] = field(default_factory=dict)
    fired: dict[str, int] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not self.leaks

    def leaking_columns(self) -> list[str]:
        return sorted({leak.name for leak in self.leaks})

    def silent_engines(self) -> list[str]:
        """Engines that signalled but never with a direction at or before the last cut."""
        return sorted(name for name, count in self.fired.items() if count == 0)


@dataclass
class WalkForwardReport(LookaheadReport):
    """`LookaheadReport` of `analyse_walk_forward`; `test_ranges` are each fold's first and last test bar.

    Here `fired` counts each engine's out-of-sample signals with a direction (and a known outcome), as
    the evaluation's final gate table counted them.
    """

    test_ranges: list[tuple[int, int]] = field(default_factory=list)

    def fold_of(self, timestamp: int) -> int | None:
        """The fold whose test range holds `timestamp` (epoch ms), None before the first test bar."""
        return next((k for k, (a, b) in enumerate(self.test_ranges) if a <= timestamp <= b), None)


# --- states and inputs under which every engine fires ----------------------------------------------------
def firing_states(
    engines: Sequence[AlphaEngine],
    fitted: Mapping[str, Mapping[str, Any]],
    *,
    edge_bps: float = FIRING_EDGE_BPS,
) -> dict[str, dict[str, Any]]:
    """Copies of `fitted` under which every rule engine votes wherever its raw rule fires.

    A calibration that found too few signals leaves a side inactive, and that engine's code then only
    ever returns zeros: a lookahead check proves nothing about it. Only the keys the signal path reads
    are overridden (both sides active, edge sign = side: long > 0, short < 0; seasonality's buckets;
    anomaly's modes), so other calibration keys keep their fitted values. Learned engines keep their
    fitted state; engines without a fitted state stay without one.
    """
    out: dict[str, dict[str, Any]] = {}
    for engine in engines:
        if engine.name not in fitted:
            continue
        state = copy.deepcopy(dict(fitted[engine.name]))
        if isinstance(engine, RuleEngine):
            state.update(
                long_active=True, short_active=True, edge_long_bps=edge_bps, edge_short_bps=-edge_bps
            )
        if isinstance(engine, AnomalyEngine):
            state.update(mode_up=1, mode_down=1)  # follow both shocks: long after up, short after down
        if isinstance(engine, SeasonalityEngine):
            # Hour |t| cycles 2, 3, 4 against weekday |t| 3: both tables win on some bars.
            state["hour"] = _firing_table(state["hour"], edge_bps, [2.0 + b % 3 for b in range(24)])
            state["weekday"] = _firing_table(state["weekday"], edge_bps, [3.0] * 7)
        out[engine.name] = state
    return out


def _firing_table(table: Mapping[str, Any], edge_bps: float, t_sizes: list[float]) -> dict[str, Any]:
    """A seasonality bucket table with every bucket active, means and t-statistics of alternating sign."""
    signs = [1.0 if b % 2 == 0 else -1.0 for b in range(len(t_sizes))]
    return {
        **table,
        "active": [True] * len(t_sizes),
        "mean_bps": [s * edge_bps for s in signs],
        "t_stat": [s * t for s, t in zip(signs, t_sizes, strict=True)],
    }


def probe_funding_rates(timestamps: pl.Series | np.ndarray, *, seed: int = 0) -> pl.DataFrame:
    """(timestamp, funding_rate): a stand-in funding rate for checks, one value per 8-hour funding period.

    Both signs, |rate| between 2x the funding engine's `rate_min` and its `rate_full`, so the engine fires
    on every bar. Each period's value is drawn from (seed, period), so any range of bars gets the same
    values for the same periods.
    """
    p = FundingEngine.defaults
    ts = np.asarray(timestamps, dtype=np.int64)
    periods, index = np.unique(ts // FUNDING_PERIOD_MS, return_inverse=True)
    rates = np.empty(periods.size)
    for i, period in enumerate(periods.tolist()):
        rng = np.random.default_rng([seed, period])
        rates[i] = rng.choice([-1.0, 1.0]) * rng.uniform(2.0 * p["rate_min"], p["rate_full"])
    return pl.DataFrame({"timestamp": ts, "funding_rate": rates[index]})


# --- the per-bar path with fixed states ------------------------------------------------------------------
def early_states(
    candles: pl.DataFrame,
    symbol: str,
    timeframe: str,
    *,
    engines: Sequence[AlphaEngine],
    refs: Mapping[str, pl.DataFrame] | None = None,
    recipe: FeatureRecipe = DEFAULT_RECIPE,
    cost_config: CostsConfig | None = None,
    extra_columns: pl.DataFrame | None = None,
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """(states, fit errors) of `engines` fitted on the first 40% of bars: before every cut of `analyse_symbol`,
    so the states themselves cannot carry information from after a cut."""
    fit_end = int(candles.height * FIT_SHARE)
    last = int(candles["timestamp"][fit_end - 1])
    frame = build_research_frame(
        candles.head(fit_end),
        symbol,
        timeframe,
        refs=_up_to(_other_refs(refs, symbol), last),
        recipe=recipe,
        cost_config=cost_config,
        extra_columns=_up_to_frame(extra_columns, last),
    ).frame
    states, errors = fit_states(engines, frame)
    return states, {name: str(error) for name, error in errors.items()}


def per_bar_path(
    candles: pl.DataFrame,
    symbol: str,
    timeframe: str,
    *,
    refs: Mapping[str, pl.DataFrame],
    engines: Sequence[AlphaEngine],
    states: Mapping[str, Mapping[str, Any]],
    decision: DecisionSettings,
    recipe: FeatureRecipe = DEFAULT_RECIPE,
    cost_config: CostsConfig | None = None,
    hold_bars: int = 8,
    extra_columns: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Every per-bar value the trading path computes, one row per candle, with fixed engine states.

    References and `extra_columns` (joined on timestamp, e.g. funding_rate, xs_rank_ret_16) are cut to
    the symbol's last bar, so reading their future shows up too.
    """
    path, _ = _per_bar_path(
        candles, symbol, timeframe, refs=refs, engines=engines, states=states, decision=decision,
        recipe=recipe, cost_config=cost_config, hold_bars=hold_bars, extra_columns=extra_columns,
    )  # fmt: skip
    return path


def _per_bar_path(
    candles: pl.DataFrame,
    symbol: str,
    timeframe: str,
    *,
    refs: Mapping[str, pl.DataFrame],
    engines: Sequence[AlphaEngine],
    states: Mapping[str, Mapping[str, Any]],
    decision: DecisionSettings,
    recipe: FeatureRecipe,
    cost_config: CostsConfig | None,
    hold_bars: int,
    extra_columns: pl.DataFrame | None,
) -> tuple[pl.DataFrame, dict[str, str]]:
    """`per_bar_path` and the engines that failed to signal (their columns are absent from the path)."""
    last = int(candles["timestamp"][-1])
    rf = build_research_frame(
        candles,
        symbol,
        timeframe,
        refs=_up_to(_other_refs(refs, symbol), last),
        recipe=recipe,
        cost_config=cost_config,
        extra_columns=_up_to_frame(extra_columns, last),
    )
    frame = rf.frame
    run = run_engines(engines, frame, states)
    columns: list[pl.Series] = [s for s in frame.get_columns() if s.name not in ("timestamp",)]
    columns += [c for c in rf.costs.get_columns() if c.name not in ("timestamp", *frame.columns)]
    for name, sig in run.signals.items():
        columns += [sig[c].alias(f"engine:{name}:{c}") for c in ("direction", "edge_bps", "confidence")]
    opens = frame["open"].to_numpy()
    horizons = {e.name: e.horizon_bars for e in engines if e.name in run.signals}
    combined = run_combiner(
        dict(run.signals),
        {name: forward_moves_bps(opens, h) for name, h in horizons.items()},
        horizons,
        cost_bps=rf.costs["cost_bps"].to_numpy(),
        regimes=frame["regime"].cast(pl.Utf8).to_numpy(),
        gate=prior_gate(engines, everywhere=True),
    )
    edge = combined.frame["combined_edge_bps"].to_numpy()
    conf = combined.frame["confidence"].to_numpy()
    made = decide(edge, conf, rf.costs["cost_bps"].to_numpy(), rf.costs["spread_bps"].to_numpy(), decision)
    columns += [
        pl.Series("decision:combined_edge_bps", edge),
        pl.Series("decision:side", made.side),
        pl.Series("decision:size", made.size),
        pl.Series("decision:expected_net_edge_bps", made.expected_net_edge_bps),
        pl.Series("decision:target_position", hold_until_horizon(made, hold_bars)),
    ]
    return pl.DataFrame(columns), {name: str(error) for name, error in run.errors.items()}


def analyse_symbol(
    candles: pl.DataFrame,
    symbol: str,
    timeframe: str,
    *,
    refs: Mapping[str, pl.DataFrame] | None = None,
    engines: Sequence[AlphaEngine],
    decision: DecisionSettings,
    n_cuts: int = 6,
    seed: int = 0,
    recipe: FeatureRecipe = DEFAULT_RECIPE,
    cost_config: CostsConfig | None = None,
    states: Mapping[str, Mapping[str, Any]] | None = None,
    extra_columns: pl.DataFrame | None = None,
) -> LookaheadReport:
    """Cut the data at `n_cuts` points in its second half (truncation and noise) and report every leak.

    `states` default to `firing_states` of `early_states` (fitted on the first 40% of bars, before every
    cut, then every rule side switched on), so every rule engine's voting path is checked even where the
    data left its calibration inactive; pass fitted states to check only what the data activated.
    """
    refs = dict(refs or {})
    errors: dict[str, str] = {}
    if states is None:
        fitted, errors = early_states(
            candles, symbol, timeframe, engines=engines, refs=refs, recipe=recipe,
            cost_config=cost_config, extra_columns=extra_columns,
        )  # fmt: skip
        states = firing_states(engines, fitted)
    fixed = states
    n = candles.height
    cuts = sorted({int(x) for x in np.linspace(int(n * 0.5), n - 2, n_cuts)})

    def path(c: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, str]]:
        return _per_bar_path(
            c, symbol, timeframe, refs=refs, engines=engines, states=fixed, decision=decision, recipe=recipe,
            cost_config=cost_config, hold_bars=8, extra_columns=extra_columns,
        )  # fmt: skip

    full, run_errors = path(candles)
    checked = full.head(max(cuts) + 1)
    fired = {
        e.name: int((checked[f"engine:{e.name}:direction"] != 0).sum())
        for e in engines
        if f"engine:{e.name}:direction" in checked.columns
    }
    leaks = find_lookahead(lambda c: path(c)[0], candles, cuts, np.random.default_rng(seed))
    return LookaheadReport(symbol, cuts, full.width, leaks, {**run_errors, **errors}, fired)


# --- the walk-forward evaluation -------------------------------------------------------------------------
def analyse_walk_forward(
    candles: pl.DataFrame,
    symbol: str,
    timeframe: str,
    *,
    refs: Mapping[str, pl.DataFrame] | None = None,
    engines: Sequence[AlphaEngine],
    decision: DecisionSettings,
    settings: WalkForwardSettings | None = None,
    combiner_settings: CombinerSettings | None = None,
    cuts: Sequence[int] | None = None,
    n_cuts: int = 6,
    seed: int = 0,
    recipe: FeatureRecipe = DEFAULT_RECIPE,
    cost_config: CostsConfig | None = None,
    extra_columns: pl.DataFrame | None = None,
) -> WalkForwardReport:
    """Rerun `evaluate_walk_forward` with the bars after each cut replaced by noise; report every change
    of a decision at or before the cut, or of the gate of a fold whose test range starts by then.

    This catches what fixed states cannot: a fold fitted, gated or combined with rows it must not see.
    `cuts` are candle rows inside the out-of-sample range (default: `n_cuts` evenly spread over it). The
    noise keeps timestamps and length, so the fold plan is the same (checked; ValueError otherwise).
    References' bars and `extra_columns`' values after the cut are replaced by noise too. A read of the
    future shows only on the few bars before a cut, and only where the gate and the combiner let that
    value reach a decision: more cuts, more power (each costs one evaluation).
    """
    others = _other_refs(refs, symbol)

    def evaluate(c: pl.DataFrame, r: dict[str, pl.DataFrame], extra: pl.DataFrame | None) -> Evaluation:
        rf = build_research_frame(
            c, symbol, timeframe, refs=r, recipe=recipe, cost_config=cost_config, extra_columns=extra
        )
        return evaluate_walk_forward(
            rf, engines, decision=decision, settings=settings, combiner_settings=combiner_settings
        )

    base = evaluate(candles, others, extra_columns)
    if base.decisions is None:  # pragma: no cover - evaluate_walk_forward always sets it
        raise ValueError("evaluate_walk_forward returned no decisions")
    timestamps = candles["timestamp"].to_numpy()
    first_oos, last = int(np.searchsorted(timestamps, base.oos_start_ms)), candles.height - 1
    if cuts is None:
        cuts = [first_oos + int((k + 0.5) * (last - first_oos) / n_cuts) for k in range(n_cuts)]
    cuts = sorted({int(c) for c in cuts})
    outside = [c for c in cuts if not first_oos <= c < last]
    if outside:
        raise ValueError(f"cuts {outside} are outside the out-of-sample rows {first_oos}..{last - 1}")
    plan = [split.to_dict() for split in base.splits]
    rng = np.random.default_rng(seed)
    leaks: list[Leak] = []
    for cut in cuts:
        cut_ts = int(timestamps[cut])
        noised = evaluate(
            noise_future(candles, cut_ts, rng),
            {s: noise_future(r, cut_ts, rng) for s, r in others.items()},
            None if extra_columns is None else _noise_columns(extra_columns, cut_ts, rng),
        )
        if [split.to_dict() for split in noised.splits] != plan:
            raise ValueError(f"{symbol}: the fold plan changed with the noise after {cut_ts}; no comparison")
        leaks += _walk_forward_differences(base, noised, cut_ts)
    return WalkForwardReport(
        symbol,
        cuts,
        base.decisions.width - 1 + len(base.fold_gates),
        leaks,
        dict(base.engine_errors),
        {name: sum(int(s["n"]) for s in by_regime.values()) for name, by_regime in base.gate.stats.items()},
        test_ranges=_test_ranges(base),
    )


def noise_future(candles: pl.DataFrame, cut_ts: int, rng: np.random.Generator) -> pl.DataFrame:
    """`noise_after` the last bar at or before `cut_ts`, with the noise shifted by a random price gap.

    On continuous bars the next open equals the cut's close, which `noise_after` keeps: the gap makes
    the first open after the cut differ too, so reading the next bar's open is caught as well.
    """
    cut = int(np.searchsorted(candles["timestamp"].to_numpy(), cut_ts, side="right")) - 1
    if cut < 0:
        raise ValueError(f"candles start after the cut {cut_ts}: nothing before it to keep")
    noised = noise_after(candles, cut, rng)
    gap = float(np.exp(rng.choice([-1.0, 1.0]) * rng.uniform(0.005, 0.03)))
    after = pl.int_range(pl.len()) > cut
    prices = [c for c in ("open", "high", "low", "close") if c in noised.columns]
    return noised.with_columns(
        pl.when(after).then(pl.col(c) * gap).otherwise(pl.col(c)).alias(c) for c in prices
    )


def _noise_columns(extra: pl.DataFrame, cut_ts: int, rng: np.random.Generator) -> pl.DataFrame:
    """`extra` with each numeric column's values after `cut_ts` drawn at random from that column's values."""
    after = pl.col("timestamp") > cut_ts
    replaced = []
    for name, dtype in extra.schema.items():
        if name == "timestamp" or not dtype.is_numeric():
            continue
        pool = extra[name].drop_nulls().to_numpy()
        if pool.size:
            noise = pl.Series(rng.choice(pool, extra.height)).cast(dtype)
            replaced.append(pl.when(after).then(pl.lit(noise)).otherwise(pl.col(name)).alias(name))
    return extra.with_columns(replaced)


def _walk_forward_differences(base: Evaluation, noised: Evaluation, cut_ts: int) -> list[Leak]:
    """Decisions at or before `cut_ts`, and gates of folds tested from then on, that differ."""
    assert base.decisions is not None and noised.decisions is not None
    before = pl.col("timestamp") <= cut_ts
    expected, got = base.decisions.filter(before), noised.decisions.filter(before)
    bars = expected["timestamp"]
    leaks = [
        Leak(f"decision:{name}", cut_ts, int(bars[row]), WALK_FORWARD_CHECK)
        for name, row in _first_differences(expected.drop("timestamp"), got.drop("timestamp"), 1e-9).items()
    ]
    for fold, (start, _) in enumerate(_test_ranges(base)):
        old, new = base.fold_gates[fold].to_dict(), noised.fold_gates[fold].to_dict()
        if start <= cut_ts and json.dumps(old, sort_keys=True) != json.dumps(new, sort_keys=True):
            leaks.append(Leak(f"gate:fold {fold}", cut_ts, start, WALK_FORWARD_CHECK))
    return leaks


def _test_ranges(ev: Evaluation) -> list[tuple[int, int]]:
    """(first, last) timestamp of each fold's test range; the test ranges tile `ev.decisions` in order."""
    assert ev.decisions is not None
    bars, out, start = ev.decisions["timestamp"], [], 0
    for split in ev.splits:
        out.append((int(bars[start]), int(bars[start + len(split.test) - 1])))
        start += len(split.test)
    return out


# --- helpers ---------------------------------------------------------------------------------------------
def _other_refs(refs: Mapping[str, pl.DataFrame] | None, symbol: str) -> dict[str, pl.DataFrame]:
    return {s: r for s, r in (refs or {}).items() if s != symbol}


def _up_to(refs: Mapping[str, pl.DataFrame], last: int) -> dict[str, pl.DataFrame]:
    return {s: r.filter(pl.col("timestamp") <= last) for s, r in refs.items()}


def _up_to_frame(frame: pl.DataFrame | None, last: int) -> pl.DataFrame | None:
    return None if frame is None else frame.filter(pl.col("timestamp") <= last)
