"""States and inputs under which every engine fires, so a lookahead check exercises every code path.

A rule side the data's calibration left inactive only ever emits zeros, and a check over zeros proves
nothing. `firing_states` switches every rule side on (with an edge of its side's sign), every seasonality
bucket and both anomaly modes; `probe_funding_rates` gives the funding engine a funding history where the
lake has none. For lookahead checks only: these states trade nothing real.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from huracan_core.alphas.base import AlphaEngine
from huracan_core.alphas.cross_asset import FundingEngine
from huracan_core.alphas.rule import RuleEngine
from huracan_core.alphas.statistical import AnomalyEngine, SeasonalityEngine

FIRING_EDGE_BPS = 100.0  # probe edge per side: above a round trip plus the edge floor, so decisions trade

FUNDING_PERIOD_MS = 8 * 3_600_000  # perpetual futures settle funding every 8 hours


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
    """(timestamp, funding_rate): a stand-in funding history for checks, as the lake stores one: a rate
    settled at each 8-hour funding time from the first bar's period to one period past the last bar.

    Both signs, |rate| between 2x the funding engine's `rate_min` and its `rate_full`, so the engine fires
    on every bar once a rate is known. Each value is drawn from (seed, period), so any range of bars gets
    the same values for the same periods. Passed as `funding=`, it goes through the real point-in-time join.
    """
    p = FundingEngine.defaults
    ts = np.asarray(timestamps, dtype=np.int64)
    if ts.size == 0:
        return pl.DataFrame(schema={"timestamp": pl.Int64, "funding_rate": pl.Float64})
    periods = np.arange(int(ts.min()) // FUNDING_PERIOD_MS, int(ts.max()) // FUNDING_PERIOD_MS + 2)
    rates = np.empty(periods.size)
    for i, period in enumerate(periods.tolist()):
        rng = np.random.default_rng([seed, period])
        rates[i] = rng.choice([-1.0, 1.0]) * rng.uniform(2.0 * p["rate_min"], p["rate_full"])
    return pl.DataFrame({"timestamp": periods * FUNDING_PERIOD_MS, "funding_rate": rates})
