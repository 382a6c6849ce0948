"""Costs per fill: fees, half spread from OHLC, square-root slippage; causal and charged on both sides."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:  # until pyproject's pytest `pythonpath = ["."]` covers the whole suite
    sys.path.insert(0, _ROOT)

from huracan_core.config import CostsConfig  # noqa: E402
from huracan_core.costs import (  # noqa: E402
    COST_COLUMNS,
    CostParams,
    FeeSchedule,
    bar_costs,
    costs_summary,
    fees_from_config,
    fees_from_market,
    round_trip_bps,
    spread_from_book,
)
from huracan_core.exceptions import ConfigError, DataIntegrityError  # noqa: E402
from tests.stubs.price_paths import bid_ask_bounce, random_walk  # noqa: E402

CFG = CostsConfig()


def _costs(candles: pl.DataFrame, **kw: object) -> pl.DataFrame:
    return bar_costs(candles, "TESTUSDT", CFG, **kw)  # type: ignore[arg-type]


def test_costs_are_aligned_per_bar_with_float_columns_and_sum_to_cost() -> None:
    candles = random_walk(500, seed=1)
    costs = _costs(candles)
    assert costs.height == candles.height
    assert costs["timestamp"].to_list() == candles["timestamp"].to_list()
    for col in COST_COLUMNS:
        assert costs[col].dtype == pl.Float64
        assert costs[col].null_count() == 0
        assert (costs[col] >= 0).all()
    total = costs["fee_bps"] + costs["spread_bps"] + costs["slippage_bps"]
    assert np.allclose(costs["cost_bps"].to_numpy(), total.to_numpy())


def test_a_reversal_pays_two_fills_and_a_round_trip_is_twice_the_side_cost() -> None:
    costs = _costs(random_walk(300, seed=2))
    assert np.allclose(round_trip_bps(costs).to_numpy(), 2.0 * costs["cost_bps"].to_numpy())
    # Charging |position change| * cost_bps: flat -> long -> short -> flat.
    position = pl.Series([0.0, 1.0, -1.0, 0.0])
    cost = costs["cost_bps"][200:204]
    charged = (position.diff().fill_null(0.0).abs() * cost).to_list()
    assert charged[1] == pytest.approx(cost[1])
    assert charged[2] == pytest.approx(2.0 * cost[2])  # the reversal: close long + open short


def test_doubling_fees_doubles_fee_bps_and_never_lowers_cost() -> None:
    candles = random_walk(400, seed=3)
    base = _costs(candles, fees=FeeSchedule(taker_bps=7.5, maker_bps=2.0, source="config"))
    doubled = _costs(candles, fees=FeeSchedule(taker_bps=15.0, maker_bps=4.0, source="config"))
    assert np.allclose(doubled["fee_bps"].to_numpy(), 2.0 * base["fee_bps"].to_numpy())
    assert (doubled["cost_bps"] >= base["cost_bps"]).all()
    assert np.allclose((doubled["cost_bps"] - base["cost_bps"]).to_numpy(), 7.5)


def test_fees_default_to_the_config_taker_fee() -> None:
    costs = bar_costs(random_walk(50, seed=4), "TESTUSDT", CostsConfig(taker_fee_bps=4.0))
    assert (costs["fee_bps"] == 4.0).all()


def test_fees_from_market_reads_ccxt_fractions_as_bps() -> None:
    fees = fees_from_market({"symbol": "BTC/USDT", "taker": 0.001, "maker": 0.0002})
    assert fees == FeeSchedule(taker_bps=10.0, maker_bps=2.0, source="exchange")


def test_fees_from_market_without_taker_uses_the_fallback_or_names_the_market() -> None:
    fallback = fees_from_config(CFG)
    assert fees_from_market({"symbol": "BTC/USDT"}, fallback=fallback) == fallback
    assert fallback.source == "config" and fallback.taker_bps == CFG.taker_fee_bps
    with pytest.raises(ConfigError, match="BTC/USDT"):
        fees_from_market({"symbol": "BTC/USDT", "taker": None})


@pytest.mark.parametrize("spread_bps", [10.0, 30.0])
def test_abdi_ranaldo_recovers_a_known_bid_ask_bounce_within_30_percent(spread_bps: float) -> None:
    candles = bid_ask_bounce(3000, seed=5, spread=spread_bps / 1e4)
    params = CostParams(spread_window_bars=2000, min_spread_bps=0.0)
    estimate_full = 2.0 * _costs(candles, params=params)["spread_bps"][-1]
    assert estimate_full == pytest.approx(spread_bps, rel=0.3)


def test_corwin_schultz_recovers_a_known_bounce_when_volatility_is_low() -> None:
    candles = bid_ask_bounce(3000, seed=6, spread=20e-4, tick_vol=1e-4)
    params = CostParams(spread_method="corwin_schultz", spread_window_bars=2000, min_spread_bps=0.0)
    assert 2.0 * _costs(candles, params=params)["spread_bps"][-1] == pytest.approx(20.0, rel=0.3)


def test_spread_is_floored_and_warm_up_uses_the_pessimistic_fallback() -> None:
    # No bounce at all: closes exactly at the mid-range, so the raw estimate is 0.
    candles = bid_ask_bounce(400, seed=7, spread=0.0, tick_vol=1e-6)
    params = CostParams(min_spread_bps=1.0, fallback_spread_bps=12.0, min_samples=20)
    spread = _costs(candles, params=params)["spread_bps"]
    assert (spread[:20] == 6.0).all()  # half of the 12 bps fallback before 20 bars of history
    assert spread[100:].min() == pytest.approx(0.5)  # half of the 1 bp floor


def test_slippage_rises_with_notional_and_volatility_and_falls_with_volume() -> None:
    calm = random_walk(600, seed=8, vol=5e-4)
    wild = random_walk(600, seed=8, vol=2e-3)
    deep = calm.with_columns(pl.col("volume") * 10.0)

    def slip(c: pl.DataFrame, notional: float = 1_000.0) -> float:
        return float(_costs(c, order_notional=notional)["slippage_bps"][300:].median())

    by_notional = [slip(calm, n) for n in (100.0, 1_000.0, 10_000.0, 100_000.0)]
    assert by_notional == sorted(by_notional) and by_notional[0] < by_notional[-1]
    assert slip(wild) > 2.0 * slip(calm)
    assert slip(deep) < slip(calm)


def test_slippage_is_capped_and_zero_volume_pays_the_cap() -> None:
    candles = random_walk(300, seed=9).with_columns(pl.lit(0.0).alias("volume"))
    params = CostParams(max_slippage_bps=250.0)
    slip = _costs(candles, params=params, order_notional=1e9)["slippage_bps"]
    assert slip.max() <= 250.0
    assert (slip[50:] == 250.0).all()


@pytest.mark.parametrize("cut", [30, 150, 420])
def test_every_cost_column_at_row_t_uses_only_bars_up_to_t(cut: int) -> None:
    candles = random_walk(600, seed=10)
    full = _costs(candles)
    truncated = _costs(candles.head(cut))
    # Scramble everything after the cut: a leak would move the values before it.
    rng = np.random.default_rng(0)
    tail = candles[cut:].with_columns(
        (pl.col(c) * rng.uniform(0.5, 1.5, candles.height - cut)).alias(c)
        for c in ("open", "high", "low", "close", "volume")
    )
    noisy = _costs(pl.concat([candles.head(cut), tail]))
    for col in COST_COLUMNS:
        assert np.allclose(full[col][:cut].to_numpy(), truncated[col].to_numpy()), col
        assert np.allclose(full[col][:cut].to_numpy(), noisy[col][:cut].to_numpy()), col


def test_costs_summary_reports_every_component_and_its_provenance() -> None:
    costs = _costs(random_walk(400, seed=11))
    fees = fees_from_config(CFG)
    summary = costs_summary(costs, fees, symbol="TESTUSDT", cost_config=CFG)
    for col in COST_COLUMNS:
        assert set(summary["components"][col]) == {"median", "mean", "p90"}
        stats = summary["components"][col]
        assert stats["median"] <= stats["p90"]
    assert summary["fee_source"] == "config"
    assert summary["order_notional"] == 1_000.0
    assert summary["impact_coefficient"] == CFG.impact_coefficient
    assert summary["spread_method"] == "abdi_ranaldo"
    assert summary["slippage_method"] == "square_root_impact"
    assert summary["round_trip_fills"] == 2
    assert summary["round_trip_bps_median"] == pytest.approx(
        2.0 * summary["components"]["cost_bps"]["median"], abs=1e-3
    )


def test_spread_from_book_is_half_the_quoted_spread_in_bps() -> None:
    assert spread_from_book(99.95, 100.05) == pytest.approx(5.0)
    with pytest.raises(DataIntegrityError):
        spread_from_book(100.1, 100.0)


def test_candles_without_volume_are_refused_with_the_symbol_named() -> None:
    with pytest.raises(DataIntegrityError, match=r"TESTUSDT.*volume"):
        _costs(random_walk(20, seed=12).drop("volume"))


def test_the_estimator_windows_span_a_day_at_every_timeframe_and_15m_is_unchanged() -> None:
    from huracan_core.timeframe import DAY_MS, timeframe_ms

    assert CostParams.for_timeframe("15m") == CostParams()  # today's 96-bar windows, 12-bar warm-up
    five, hourly = CostParams.for_timeframe("5m"), CostParams.for_timeframe("1h")
    for params, windows in ((five, 288), (hourly, 24)):
        assert (params.spread_window_bars, params.vol_window_bars, params.volume_window_bars) == (windows,) * 3
        assert params.min_samples == 12  # a sample count for the std and the mean, not a duration
    for timeframe in ("5m", "15m", "1h"):
        params = CostParams.for_timeframe(timeframe)
        assert params.spread_window_bars * timeframe_ms(timeframe) == DAY_MS
    # Long bars: the warm-up never exceeds the window; overrides win over the scaled values.
    assert CostParams.for_timeframe("4h").min_samples == 6
    assert CostParams.for_timeframe("1h", spread_window_bars=10).spread_window_bars == 10
    with pytest.raises(ConfigError, match="7m"):
        CostParams.for_timeframe("7m")
