"""Lookahead analysis of the trading path: every per-bar value with fixed engine states.

`analyse_symbol` recomputes features, regime, costs, every engine, combiner and decision with fixed engine
states on data cut at many points (bars after a cut removed, or replaced by noise). Any value at or before
a cut that changes reads the future, and is reported with its column (feature, `engine:<name>:<field>`,
`decision:<field>`) and the first bar where it differs. The states default to `firing_states` of an early
fit, so every rule engine's code path is checked; `walk_forward_lookahead` covers the walk-forward fitting.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from huracan_core.alphas.base import AlphaEngine
from huracan_core.alphas.registry import fit_states, run_engines
from huracan_core.config import CostsConfig
from huracan_core.decision import DecisionSettings, decide, hold_until_horizon
from huracan_core.evaluation.firing_states import firing_states
from huracan_core.evaluation.research import (
    build_research_frame,
    prior_gate,
)
from huracan_core.features import DEFAULT_RECIPE, FeatureRecipe, Leak, find_lookahead
from huracan_core.market.funding import known_by
from huracan_core.meta import forward_moves_bps, run_combiner
from huracan_core.sizing import VOL_COLUMN
from huracan_core.timeframe import timeframe_ms

FIT_SHARE = 0.4  # engine states of the per-bar analysis are fitted on this first share of bars


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


# --- the per-bar path with fixed states --------------------------------------------------------------
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
    funding: pl.DataFrame | None = None,
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """(states, fit errors) of `engines` fitted on the first 40% of bars: before every cut of `analyse_symbol`,
    so the states themselves cannot carry information from after a cut."""
    fit_end = int(candles.height * FIT_SHARE)
    last = int(candles["timestamp"][fit_end - 1])
    frame = build_research_frame(
        candles.head(fit_end),
        symbol,
        timeframe,
        refs=_up_to(other_refs(refs, symbol), last),
        recipe=recipe,
        cost_config=cost_config,
        extra_columns=_up_to_frame(extra_columns, last),
        funding=known_by(funding, last + timeframe_ms(timeframe)),
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
    funding: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Every per-bar value the trading path computes, one row per candle, with fixed engine states.

    References and `extra_columns` (joined on timestamp, e.g. xs_rank_ret_16) are cut to the symbol's
    last bar, and `funding` to the rates settled by that bar's close (when they became known), so reading
    their future shows up too.
    """
    path, _ = _per_bar_path(
        candles, symbol, timeframe, refs=refs, engines=engines, states=states, decision=decision,
        recipe=recipe, cost_config=cost_config, hold_bars=hold_bars, extra_columns=extra_columns,
        funding=funding,
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
    funding: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, dict[str, str]]:
    """`per_bar_path` and the engines that failed to signal (their columns are absent from the path)."""
    last = int(candles["timestamp"][-1])
    rf = build_research_frame(
        candles,
        symbol,
        timeframe,
        refs=_up_to(other_refs(refs, symbol), last),
        recipe=recipe,
        cost_config=cost_config,
        extra_columns=_up_to_frame(extra_columns, last),
        funding=known_by(funding, last + timeframe_ms(timeframe)),
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
    made = decide(
        edge, conf, rf.costs["cost_bps"].to_numpy(), rf.costs["spread_bps"].to_numpy(), decision,
        volatility_pct=rf.costs[VOL_COLUMN].to_numpy(),
    )  # fmt: skip
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
    funding: pl.DataFrame | None = None,
    hold_bars: int = 8,
) -> LookaheadReport:
    """Cut the data at `n_cuts` points in its second half (truncation and noise) and report every leak.

    `hold_bars` is the hold of the decision path: a coin's chosen horizon, with its engines at it
    (`AlphaEngine.with_horizon`), checks the combiner's outcomes and the hold at that horizon.

    `states` default to `firing_states` of `early_states` (fitted on the first 40% of bars, before every
    cut, then every rule side switched on), so every rule engine's voting path is checked even where the
    data left its calibration inactive; pass fitted states to check only what the data activated.
    """
    refs = dict(refs or {})
    errors: dict[str, str] = {}
    if states is None:
        fitted, errors = early_states(
            candles, symbol, timeframe, engines=engines, refs=refs, recipe=recipe,
            cost_config=cost_config, extra_columns=extra_columns, funding=funding,
        )  # fmt: skip
        states = firing_states(engines, fitted)
    fixed = states
    n = candles.height
    cuts = sorted({int(x) for x in np.linspace(int(n * 0.5), n - 2, n_cuts)})

    def path(c: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, str]]:
        return _per_bar_path(
            c, symbol, timeframe, refs=refs, engines=engines, states=fixed, decision=decision, recipe=recipe,
            cost_config=cost_config, hold_bars=hold_bars, extra_columns=extra_columns, funding=funding,
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


# --- helpers ----------------------------------------------------------------------------------------------
def other_refs(refs: Mapping[str, pl.DataFrame] | None, symbol: str) -> dict[str, pl.DataFrame]:
    return {s: r for s, r in (refs or {}).items() if s != symbol}


def _up_to(refs: Mapping[str, pl.DataFrame], last: int) -> dict[str, pl.DataFrame]:
    return {s: r.filter(pl.col("timestamp") <= last) for s, r in refs.items()}


def _up_to_frame(frame: pl.DataFrame | None, last: int) -> pl.DataFrame | None:
    return None if frame is None else frame.filter(pl.col("timestamp") <= last)
