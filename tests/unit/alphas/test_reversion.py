"""Mean-reversion engines on series where the right answer is known."""

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


def _range_ending(push: list[float]) -> np.ndarray:
    closes = mean_reverting_path(300, vol=0.004, seed=0)
    log = np.log(closes / 100.0)
    log[-len(push) :] = push
    return 100.0 * np.exp(log)


def test_range_shorts_the_top_of_an_oscillating_range_and_buys_the_bottom() -> None:
    top = add_features(candles_from_closes(_range_ending([0.012, 0.016, 0.02])))
    out = rule_signal(RULE_ENGINES["range"](), top)
    assert out["direction"][-1] == -1 and out["edge_bps"][-1] == -12.0
    bottom = add_features(candles_from_closes(_range_ending([-0.012, -0.016, -0.02]), seed=1))
    assert rule_signal(RULE_ENGINES["range"](), bottom)["direction"][-1] == 1


def test_range_stays_out_of_a_strong_trend_even_at_its_highs() -> None:
    frame = add_features(candles_from_closes(noisy_path(300, drift=0.003, vol=0.001)))
    assert (rule_signal(RULE_ENGINES["range"](), frame)["direction"][-50:] == 0).all()


def test_mean_reversion_zscore_buys_a_close_stretched_far_below_its_mean() -> None:
    closes = np.append(mean_reverting_path(100, vol=0.002, seed=2), 96.0)
    out = rule_signal(RULE_ENGINES["mean_reversion_zscore"](), add_features(candles_from_closes(closes)))
    assert out["direction"][-1] == 1 and out["confidence"][-1] > 0.5
    closes[-1] = 104.0
    out = rule_signal(RULE_ENGINES["mean_reversion_zscore"](), add_features(candles_from_closes(closes)))
    assert out["direction"][-1] == -1


def test_vwap_reversion_buys_a_sharp_drop_below_vwap() -> None:
    flat = mean_reverting_path(100, vol=0.001, seed=3)
    closes = np.concatenate([flat, flat[-1] * np.exp(np.cumsum([-0.01, -0.01]))])
    out = rule_signal(RULE_ENGINES["vwap_reversion"](), add_features(candles_from_closes(closes)))
    assert out["direction"][-1] == 1
    closes = np.concatenate([flat, flat[-1] * np.exp(np.cumsum([0.01, 0.01]))])
    out = rule_signal(RULE_ENGINES["vwap_reversion"](), add_features(candles_from_closes(closes)))
    assert out["direction"][-1] == -1


def test_support_resistance_buys_a_bounce_that_holds_support() -> None:
    t = np.arange(300)
    closes = 102.0 + 2.0 * np.sin(2 * np.pi * t / 30)  # range 100..104, many ATRs wide
    out = rule_signal(RULE_ENGINES["support_resistance"](), add_features(candles_from_closes(closes, wick=0.0)))
    troughs = [i for i in range(200, 300) if closes[i] < 100.1 and closes[i] > closes[i - 1]]
    assert troughs and all(out["direction"][i] == 1 for i in troughs)
    peaks = [i for i in range(200, 300) if closes[i] > 103.9 and closes[i] < closes[i - 1]]
    assert peaks and all(out["direction"][i] == -1 for i in peaks)


def test_support_resistance_does_not_buy_a_break_below_support() -> None:
    t = np.arange(300)
    closes = 102.0 + 2.0 * np.sin(2 * np.pi * t / 30)
    closes = np.append(closes[:-1], 98.0)
    out = rule_signal(RULE_ENGINES["support_resistance"](), add_features(candles_from_closes(closes, wick=0.0)))
    assert out["direction"][-1] == 0


def test_scalper_buys_after_an_extreme_down_bar_and_sells_after_an_extreme_up_bar() -> None:
    closes = noisy_path(200, vol=0.002, seed=4)
    down = np.append(closes, closes[-1] * 0.97)
    out = rule_signal(RULE_ENGINES["scalper"](), add_features(candles_from_closes(down)))
    assert out["direction"][-1] == 1 and out["horizon_bars"][-1] == 2
    up = np.append(closes, closes[-1] * 1.03)
    assert rule_signal(RULE_ENGINES["scalper"](), add_features(candles_from_closes(up)))["direction"][-1] == -1
    ordinary = np.append(closes, closes[-1] * 1.001)
    assert (
        rule_signal(RULE_ENGINES["scalper"](), add_features(candles_from_closes(ordinary)))["direction"][-1] == 0
    )


def test_momentum_reversal_fades_an_exhausted_rally_once_the_histogram_turns() -> None:
    rng = np.random.default_rng(5)
    base = noisy_path(150, vol=0.002, seed=5)
    rally = base[-1] * np.exp(np.cumsum(0.012 + rng.normal(0, 0.002, 20)))
    stall = rally[-1] * np.exp(np.cumsum([0.001, 0.0005]))
    out = rule_signal(
        RULE_ENGINES["momentum_reversal"](),
        add_features(candles_from_closes(np.concatenate([base, rally, stall]))),
    )
    assert out["direction"][-1] == -1
    crash = base[-1] * np.exp(np.cumsum(-0.012 + rng.normal(0, 0.002, 20)))
    pause = crash[-1] * np.exp(np.cumsum([-0.001, -0.0005]))
    out = rule_signal(
        RULE_ENGINES["momentum_reversal"](),
        add_features(candles_from_closes(np.concatenate([base, crash, pause]))),
    )
    assert out["direction"][-1] == 1


def test_divergence_fades_a_new_high_that_rsi_does_not_confirm() -> None:
    base = noisy_path(100, vol=0.001, seed=6)
    rally = base[-1] * np.exp(np.cumsum(np.full(10, 0.01)))
    pullback = rally[-1] * np.exp(np.cumsum(np.full(6, -0.006)))
    grind = pullback[-1] * np.exp(np.cumsum(np.full(12, 0.0035)))
    closes = np.concatenate([base, rally, pullback, grind])
    out = rule_signal(RULE_ENGINES["divergence"](), add_features(candles_from_closes(closes)))
    new_high = int(np.flatnonzero(grind > rally.max())[0]) + len(closes) - len(grind)
    assert out["direction"][new_high] == -1
    mirrored = add_features(candles_from_closes(base[-1] ** 2 / closes))
    out = rule_signal(RULE_ENGINES["divergence"](), mirrored)
    assert out["direction"][new_high] == 1
