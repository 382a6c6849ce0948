"""Trend-following engines on series where the right answer is known."""

from __future__ import annotations

import numpy as np

from huracan_core.alphas import RULE_ENGINES
from tests.stubs.alpha_frames import (
    add_features,
    candles_from_closes,
    mean_reverting_path,
    noisy_path,
    rule_signal,
)


def test_trend_goes_long_in_a_clean_uptrend_and_short_in_a_clean_downtrend() -> None:
    up = add_features(candles_from_closes(noisy_path(300, drift=0.003, vol=0.001)))
    out = rule_signal(RULE_ENGINES["trend"](), up)
    assert out["direction"][-1] == 1
    assert out["edge_bps"][-1] == 12.0 and out["confidence"][-1] > 0.5
    down = add_features(candles_from_closes(noisy_path(300, drift=-0.003, vol=0.001)))
    assert rule_signal(RULE_ENGINES["trend"](), down)["direction"][-1] == -1


def test_trend_stays_mostly_quiet_in_a_range() -> None:
    frame = add_features(candles_from_closes(mean_reverting_path(1500, seed=4)))
    out = rule_signal(RULE_ENGINES["trend"](), frame)
    assert (out["direction"] != 0).mean() < 0.15


def test_momentum_follows_a_fresh_strong_rise_and_fall() -> None:
    base = noisy_path(150, vol=0.001, seed=1)
    rise = base[-1] * np.exp(np.cumsum(0.004 + np.random.default_rng(2).normal(0, 0.001, 30)))
    out = rule_signal(RULE_ENGINES["momentum"](), add_features(candles_from_closes(np.concatenate([base, rise]))))
    assert (out["direction"][-5:] == 1).all()
    fall = base[-1] * np.exp(np.cumsum(-0.004 + np.random.default_rng(2).normal(0, 0.001, 30)))
    out = rule_signal(RULE_ENGINES["momentum"](), add_features(candles_from_closes(np.concatenate([base, fall]))))
    assert (out["direction"][-5:] == -1).all()


def _range_then(last_close_factor: float, last_volume: float) -> np.ndarray:
    closes = mean_reverting_path(200, vol=0.002, seed=3)
    volumes = np.full(201, 100.0)
    volumes[-1] = last_volume
    return np.append(closes, closes.max() * last_close_factor), volumes


def test_breakout_follows_a_close_above_the_range_high_on_heavy_volume() -> None:
    closes, volumes = _range_then(1.01, 500.0)
    out = rule_signal(RULE_ENGINES["breakout"](), add_features(candles_from_closes(closes, volumes=volumes)))
    assert out["direction"][-1] == 1 and out["confidence"][-1] > 0.3
    assert (out["direction"][:-1] == 0).all()


def test_breakout_ignores_the_same_break_on_ordinary_volume() -> None:
    closes, volumes = _range_then(1.01, 110.0)
    out = rule_signal(RULE_ENGINES["breakout"](), add_features(candles_from_closes(closes, volumes=volumes)))
    assert out["direction"][-1] == 0


def test_breakout_shorts_a_close_below_the_range_low_on_heavy_volume() -> None:
    closes = mean_reverting_path(200, vol=0.002, seed=3)
    closes = np.append(closes, closes.min() * 0.99)
    volumes = np.append(np.full(200, 100.0), 500.0)
    out = rule_signal(RULE_ENGINES["breakout"](), add_features(candles_from_closes(closes, volumes=volumes)))
    assert out["direction"][-1] == -1 and out["edge_bps"][-1] == -12.0


def test_volatility_expansion_follows_the_first_wide_bar_after_a_squeeze() -> None:
    normal = noisy_path(150, vol=0.004, seed=5)
    quiet = normal[-1] * np.exp(np.cumsum(np.random.default_rng(6).normal(0, 0.0004, 40)))
    closes = np.concatenate([normal, quiet, [quiet[-1] * 1.015]])
    out = rule_signal(
        RULE_ENGINES["volatility_expansion"](), add_features(candles_from_closes(closes, wick=0.0002))
    )
    assert out["direction"][-1] == 1
    closes[-1] = quiet[-1] * 0.985
    out = rule_signal(
        RULE_ENGINES["volatility_expansion"](), add_features(candles_from_closes(closes, wick=0.0002))
    )
    assert out["direction"][-1] == -1


def test_volume_flow_follows_the_side_whose_closes_carry_the_volume() -> None:
    steps = np.tile([0.003, -0.0025], 40)
    closes = 100 * np.exp(np.cumsum(steps))
    volumes = np.tile([300.0, 50.0], 40)
    out = rule_signal(RULE_ENGINES["volume_flow"](), add_features(candles_from_closes(closes, volumes=volumes)))
    assert out["direction"][-2] == 1  # the last up bar (volume above its mean)
    sells = 100 * np.exp(np.cumsum(-steps))
    out = rule_signal(RULE_ENGINES["volume_flow"](), add_features(candles_from_closes(sells, volumes=volumes)))
    assert out["direction"][-2] == -1
