"""The lookahead check cuts funding by when each rate became KNOWN: the real point-in-time join passes, and
a join that reads a rate before it settles (by its period start, or a forward as-of join) is caught."""

from __future__ import annotations

import polars as pl
import pytest

import huracan_core.evaluation.research as research
from huracan_core.alphas.cross_asset import FundingEngine
from huracan_core.decision import DecisionSettings
from huracan_core.evaluation.firing_states import FUNDING_PERIOD_MS, probe_funding_rates
from huracan_core.evaluation.lookahead import analyse_symbol
from huracan_core.market.funding import funding_at_bars
from huracan_core.market.synthetic import SyntheticSource

END_MS = 1_767_225_600_000  # 2026-01-01 UTC
DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def candles() -> pl.DataFrame:
    return SyntheticSource(seed=5).fetch("SOLUSDT", "15m", END_MS - 8 * DAY_MS, END_MS)


def _check(candles: pl.DataFrame) -> list[str]:
    report = analyse_symbol(
        candles, "SOLUSDT", "15m", engines=[FundingEngine()], decision=DecisionSettings(edge_threshold_bps=0.0),
        n_cuts=4, funding=probe_funding_rates(candles["timestamp"]),
    )  # fmt: skip
    assert report.engine_errors == {}
    assert report.fired["funding"] > 100  # the engine's path is checked on votes, not zeros
    return report.leaking_columns()


def _by_period_start(candles: pl.DataFrame, funding: pl.DataFrame, timeframe: str) -> pl.DataFrame:
    """Leaky: each rate stamped at the start of the period it settles (8 h before it is known)."""
    early = funding.with_columns(pl.col("timestamp") - FUNDING_PERIOD_MS)
    return funding_at_bars(candles, early, timeframe)


def _forward(candles: pl.DataFrame, funding: pl.DataFrame, timeframe: str) -> pl.DataFrame:
    """Leaky: the NEXT rate to settle (a forward as-of join)."""
    return candles.select("timestamp").join_asof(funding.sort("timestamp"), on="timestamp", strategy="forward")


def test_the_point_in_time_funding_join_passes_the_lookahead_check(candles: pl.DataFrame) -> None:
    assert _check(candles) == []


@pytest.mark.parametrize("leaky", [_by_period_start, _forward], ids=["period-start", "forward-asof"])
def test_a_funding_join_that_reads_a_rate_before_it_settles_is_caught(
    candles: pl.DataFrame, leaky: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(research, "funding_at_bars", leaky)
    leaks = _check(candles)
    assert "funding_rate" in leaks and "engine:funding:direction" in leaks, leaks
