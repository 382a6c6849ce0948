"""Lookahead over walk-forward fitting: decisions before a cut must not change when the bars after it do.

Fixed engine states cannot show that a fold fitted, gated or combined with rows it must not see. This
reruns the whole `evaluate_walk_forward` with the bars after each cut (the symbol's, its references' and
any extra columns') replaced by noise, and requires every out-of-sample decision at or before the cut,
and the gate of every fold tested by then, to be unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from huracan_core.alphas.base import AlphaEngine
from huracan_core.config import CostsConfig
from huracan_core.decision import DecisionSettings
from huracan_core.evaluation.lookahead import LookaheadReport, other_refs
from huracan_core.evaluation.research import (
    Evaluation,
    WalkForwardSettings,
    build_research_frame,
    evaluate_walk_forward,
)
from huracan_core.features import DEFAULT_RECIPE, FeatureRecipe, Leak
from huracan_core.features.leakage import first_differences, noise_after
from huracan_core.meta import CombinerSettings
from huracan_core.timeframe import timeframe_ms

WALK_FORWARD_CHECK = "walk-forward noise"


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
    funding: pl.DataFrame | None = None,
) -> WalkForwardReport:
    """Rerun `evaluate_walk_forward` with the bars after each cut replaced by noise; report every change
    of a decision at or before the cut, or of the gate of a fold whose test range starts by then.

    This catches what fixed states cannot: a fold fitted, gated or combined with rows it must not see.
    `cuts` are candle rows inside the out-of-sample range (default: `n_cuts` evenly spread over it). The
    noise keeps timestamps and length, so the fold plan is the same (checked; ValueError otherwise).
    References' bars and `extra_columns`' values after the cut are replaced by noise too, and so are the
    `funding` rates settled after the cut bar's close (when they became known). A read of the
    future shows only on the few bars before a cut, and only where the gate and the combiner let that
    value reach a decision: more cuts, more power (each costs one evaluation).
    """
    others = other_refs(refs, symbol)

    def evaluate(
        c: pl.DataFrame, r: dict[str, pl.DataFrame], extra: pl.DataFrame | None, rates: pl.DataFrame | None
    ) -> Evaluation:
        rf = build_research_frame(
            c, symbol, timeframe, refs=r, recipe=recipe, cost_config=cost_config, extra_columns=extra,
            funding=rates,
        )  # fmt: skip
        return evaluate_walk_forward(
            rf, engines, decision=decision, settings=settings, combiner_settings=combiner_settings
        )

    base = evaluate(candles, others, extra_columns, funding)
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
            None if funding is None else _noise_columns(funding, cut_ts + timeframe_ms(timeframe), rng),
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
        for name, row in first_differences(expected.drop("timestamp"), got.drop("timestamp"), 1e-9).items()
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
