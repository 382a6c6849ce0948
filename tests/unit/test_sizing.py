"""Volatility targeting: the realised volatility known at a bar, and the size `decide` gives with a target."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from huracan_core.config import load_config
from huracan_core.decision import INVALID_INPUT, TRADE, DecisionSettings, decide
from huracan_core.exceptions import ConfigError
from huracan_core.features import find_lookahead
from huracan_core.sizing import VOL_COLUMN, realised_vol_pct, vol_tail_bars, vol_window_bars
from tests.stubs.random_candles import random_candles

TARGET = DecisionSettings(edge_threshold_bps=0.0, target_volatility_pct=40.0)


def test_the_window_is_three_days_of_bars_and_never_fewer_than_twenty_returns() -> None:
    assert vol_window_bars("15m") == 288
    assert vol_window_bars("5m") == 864
    assert vol_window_bars("1h") == 72
    assert vol_window_bars("1d") == 20
    assert vol_tail_bars("15m") == 289


def test_realised_vol_is_the_annualised_std_of_the_window_of_log_returns_ending_at_the_bar() -> None:
    close = random_candles(2_000, seed=3)["close"].to_numpy()
    vol = realised_vol_pct(close, "5m").to_numpy()
    steps = np.diff(np.log(close))
    w = vol_window_bars("5m")
    for t in (w, w + 1, 1_500, 1_999):
        expected = np.std(steps[t - w : t], ddof=1) * math.sqrt(288 * 365) * 100
        assert vol[t] == pytest.approx(expected, rel=1e-9)
    assert np.isnan(vol[:w]).all()  # warm-up: fewer than a full window of returns


def test_a_bad_close_makes_the_vol_unknown_for_exactly_the_windows_that_hold_it() -> None:
    close = random_candles(3_000, seed=4)["close"].to_numpy().copy()
    close[1_500] = 0.0
    vol = realised_vol_pct(close, "5m")
    w = vol_window_bars("5m")
    assert vol.slice(1_500, w + 1).null_count() == w + 1  # returns 1500 and 1501 are unknown
    assert vol[1_499] is not None and vol[1_501 + w] is not None


def test_the_vol_at_a_bar_never_changes_when_later_bars_change() -> None:
    candles = random_candles(2_000, seed=5)

    def path(c: pl.DataFrame) -> pl.DataFrame:
        vol = realised_vol_pct(c["close"], "5m")
        made = decide(np.full(c.height, 50.0), 1.0, 5.0, 1.0, TARGET, volatility_pct=vol)
        return pl.DataFrame({VOL_COLUMN: vol, "size": made.size})

    cuts = [870, 1_000, 1_500, 1_998]
    assert find_lookahead(path, candles, cuts, np.random.default_rng(0)) == []


def test_size_is_the_confidence_size_capped_at_max_position_times_target_over_vol() -> None:
    vol = [20.0, 40.0, 80.0, 160.0, 80.0]
    conf = [1.0, 1.0, 1.0, 1.0, 0.0]  # confidence 0: min_size 0.25 of max_position
    d = decide(np.full(5, 50.0), conf, 5.0, 1.0, TARGET, volatility_pct=vol)
    assert d.size.tolist() == [1.0, 1.0, 0.5, 0.25, 0.25]
    half = TARGET.model_copy(update={"max_position": 0.5})
    assert decide(50.0, 1.0, 5.0, 1.0, half, volatility_pct=80.0).size.tolist() == [0.25]
    assert decide(50.0, 1.0, 5.0, 1.0, half, volatility_pct=20.0).size.tolist() == [0.5]


def test_unknown_risk_is_never_sized_with_a_target() -> None:
    vol = [math.nan, 0.0, -10.0, math.inf]
    d = decide(np.full(5, 50.0), 1.0, 5.0, 1.0, TARGET, volatility_pct=pl.Series([*vol, None]))
    assert d.reason.tolist() == [INVALID_INPUT] * 5 and (d.size == 0).all()
    for v in vol:
        assert decide(50.0, 1.0, 5.0, 1.0, TARGET, volatility_pct=v).reason.tolist() == [INVALID_INPUT]
    with pytest.raises(ConfigError, match=r"target_volatility_pct=40\.0.*no volatility_pct"):
        decide(50.0, 1.0, 5.0, 1.0, TARGET)


def test_without_a_target_volatility_is_not_read() -> None:
    plain = DecisionSettings(edge_threshold_bps=0.0)
    before = decide(np.full(3, 50.0), [0.0, 0.5, 1.0], 5.0, 1.0, plain)
    for vol in ([math.nan, 0.0, 500.0], math.nan, [1.0, 2.0]):  # even a mismatched length is ignored
        after = decide(np.full(3, 50.0), [0.0, 0.5, 1.0], 5.0, 1.0, plain, volatility_pct=vol)
        assert after.to_frame().equals(before.to_frame())
    assert before.reason.tolist() == [TRADE] * 3 and before.size.tolist() == [0.25, 0.625, 1.0]


def test_the_target_comes_from_the_hamilton_config_section() -> None:
    assert DecisionSettings.from_config(load_config(env={})).target_volatility_pct is None
    cfg = load_config(env={"HURACAN__HAMILTON__TARGET_VOLATILITY_PCT": "40"})
    assert DecisionSettings.from_config(cfg).target_volatility_pct == 40.0
    with pytest.raises(ConfigError, match="target_volatility_pct"):
        load_config(overrides={"hamilton.target_volatility_pct": 0}, env={})
