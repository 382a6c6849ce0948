"""Lookahead analysis of the whole per-bar path: features, regime, costs, every engine, combiner, decision.

Everything is recomputed on data cut at many points and with the bars after each cut replaced by noise;
any value at or before a cut that changes reads the future, and is reported with its column (feature,
`engine:<name>:<field>`, or decision field) and the first bar where it differs.
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
from huracan_core.evaluation.research import build_research_frame, prior_gate
from huracan_core.features import DEFAULT_RECIPE, FeatureRecipe, Leak, find_lookahead
from huracan_core.meta import forward_moves_bps, run_combiner


@dataclass
class LookaheadReport:
    """Leaks found for one symbol (empty: clean), and what was checked."""

    symbol: str
    cuts: list[int]
    columns_checked: int
    leaks: list[Leak] = field(default_factory=list)
    engine_errors: dict[str, str] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not self.leaks

    def leaking_columns(self) -> list[str]:
        return sorted({leak.name for leak in self.leaks})


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
) -> pl.DataFrame:
    """Every per-bar value the trading path computes, one row per candle, with fixed engine states.

    References are cut to the symbol's last bar, so reading a reference's future shows up too.
    """
    last = int(candles["timestamp"][-1])
    cut_refs = {s: r.filter(pl.col("timestamp") <= last) for s, r in refs.items() if s != symbol}
    rf = build_research_frame(
        candles, symbol, timeframe, refs=cut_refs, recipe=recipe, cost_config=cost_config
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
    return pl.DataFrame(columns)


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
) -> LookaheadReport:
    """Cut the data at `n_cuts` points in its second half (truncation and noise) and report every leak.

    Engine states are fitted once, on the first 40% of bars (before every cut), so the states themselves
    cannot carry information from after a cut.
    """
    refs = dict(refs or {})
    n = candles.height
    fit_end = int(n * 0.4)
    fit_frame = build_research_frame(
        candles.head(fit_end),
        symbol,
        timeframe,
        refs={s: r for s, r in refs.items() if s != symbol},
        recipe=recipe,
        cost_config=cost_config,
    ).frame
    states, errors = fit_states(engines, fit_frame)
    cuts = sorted({int(x) for x in np.linspace(int(n * 0.5), n - 2, n_cuts)})

    def build(c: pl.DataFrame) -> pl.DataFrame:
        return per_bar_path(
            c,
            symbol,
            timeframe,
            refs=refs,
            engines=engines,
            states=states,
            decision=decision,
            recipe=recipe,
            cost_config=cost_config,
        )

    columns = build(candles).width
    leaks = find_lookahead(build, candles, cuts, np.random.default_rng(seed))
    return LookaheadReport(symbol, cuts, columns, leaks, {k: str(v) for k, v in errors.items()})
