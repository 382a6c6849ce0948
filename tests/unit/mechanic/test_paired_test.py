"""The paired block-bootstrap test: promotes a real improvement, refuses noise and too little evidence."""

from __future__ import annotations

import numpy as np
import pytest

from huracan_core.mechanic.paired import PairedResult, PairedSettings, block_bootstrap_means, paired_test

SETTINGS = PairedSettings(min_bars=200, min_trades=10, block_bars=16, resamples=2_000, confidence=0.95)


def _run(a: np.ndarray, b: np.ndarray, trades: int = 40) -> PairedResult:
    return paired_test(
        a, b, challenger_trades=trades, champion_trades=trades, settings=SETTINGS, seed_text="T/1"
    )


def test_a_challenger_that_earns_more_on_the_same_bars_passes() -> None:
    rng = np.random.default_rng(1)
    common = rng.normal(0, 0.004, 2_000)
    result = _run(common + 0.0004, common)  # 4 bps a bar better, the same market noise
    assert result.passed and result.lower_bound_bps > 0, result


def test_two_equally_good_models_do_not_pass_on_noise_one_time_in_twenty_or_less() -> None:
    """Under the null (same mean), the one-sided 95% bound must exceed zero in at most ~5% of markets."""
    passes = 0
    for seed in range(60):
        rng = np.random.default_rng(100 + seed)
        a, b = rng.normal(0, 0.003, 1_000), rng.normal(0, 0.003, 1_000)
        passes += paired_test(
            a, b, challenger_trades=40, champion_trades=40, settings=SETTINGS, seed_text=f"T/{seed}"
        ).passed
    assert passes <= 7, passes  # 5% of 60 is 3; binomial upper tail at 7 is below 1%


def test_pairing_removes_the_shared_market_noise() -> None:
    """The same 1 bp edge is visible paired (shared noise cancels) and would be lost unpaired."""
    rng = np.random.default_rng(3)
    market = rng.normal(0, 0.01, 3_000)
    result = _run(market + 0.0001 + rng.normal(0, 0.0002, 3_000), market)
    assert result.passed, result


def test_too_few_bars_or_trades_is_no_promotion_whatever_the_numbers() -> None:
    good, flat = np.full(150, 0.001), np.zeros(150)
    short = _run(good, flat)
    assert not short.passed and "150 bars unseen by both < 200" in short.reason
    quiet = paired_test(np.full(500, 0.001), np.zeros(500), challenger_trades=4, champion_trades=3,
                        settings=SETTINGS, seed_text="T")  # fmt: skip
    assert not quiet.passed and "7 trades" in quiet.reason


def test_series_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        _run(np.zeros(300), np.zeros(299))


def test_block_bootstrap_means_center_on_the_sample_mean_and_keep_blocks_whole() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(0.001, 0.01, 777)
    means = block_bootstrap_means(x, block=20, resamples=4_000, seed=1)
    assert abs(means.mean() - x.mean()) < 0.0002
    # A constant series has a constant bootstrap.
    assert np.allclose(block_bootstrap_means(np.full(100, 0.5), block=10, resamples=50, seed=2), 0.5)


def test_the_same_challenger_gets_the_same_verdict() -> None:
    rng = np.random.default_rng(9)
    a, b = rng.normal(0.0002, 0.003, 800), rng.normal(0, 0.003, 800)
    assert _run(a, b) == _run(a, b)
