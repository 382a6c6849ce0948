"""Probabilistic and deflated Sharpe ratios: they say how likely an edge is real, counting every try."""

from __future__ import annotations

import numpy as np
import pytest

from huracan_core.evaluation.metrics import expected_max_sharpe, probabilistic_sharpe, sharpe_significance


def _best_of(trials: int, bars: int, rng: np.random.Generator) -> np.ndarray:
    """Per-bar returns of the best (by Sharpe) of `trials` strategies that have no edge at all."""
    returns = rng.normal(0.0, 0.01, (trials, bars))
    sharpe = returns.mean(axis=1) / returns.std(axis=1, ddof=1)
    return returns[int(np.argmax(sharpe))]


def test_psr_is_near_one_for_a_clear_edge_a_half_for_none_and_near_zero_for_a_loser() -> None:
    rng = np.random.default_rng(0)
    noise = rng.normal(0.0, 0.01, 5000)
    assert probabilistic_sharpe(noise + 0.002) > 0.999
    assert probabilistic_sharpe(noise - noise.mean()) == pytest.approx(0.5, abs=1e-9)
    assert probabilistic_sharpe(noise - 0.002) < 0.001


def test_psr_on_no_edge_returns_exceeds_095_about_one_time_in_twenty() -> None:
    rng = np.random.default_rng(1)
    hits = [probabilistic_sharpe(rng.standard_t(5, 400) * 0.01) >= 0.95 for _ in range(2000)]
    assert 0.03 <= np.mean(hits) <= 0.07


def test_expected_max_sharpe_matches_the_best_of_many_lucky_strategies() -> None:
    rng = np.random.default_rng(2)
    trials, bars = 50, 400
    best = []
    for _ in range(300):
        returns = rng.normal(0.0, 0.01, (trials, bars))
        best.append((returns.mean(axis=1) / returns.std(axis=1, ddof=1)).max())
    assert expected_max_sharpe(trials, bars) == pytest.approx(np.mean(best), rel=0.08)
    assert expected_max_sharpe(1, bars) == 0.0


def test_the_best_of_fifty_lucky_strategies_looks_significant_but_its_deflated_sharpe_says_no() -> None:
    rng = np.random.default_rng(3)
    naive, deflated = [], []
    for _ in range(200):
        best = _best_of(50, 400, rng)
        stats = sharpe_significance(best, 50)
        naive.append(stats["probabilistic_sharpe"] >= 0.95)
        deflated.append(stats["deflated_sharpe"] >= 0.95)
    assert np.mean(naive) > 0.8  # counting one trial, luck looks like an edge nearly every time
    assert np.mean(deflated) <= 0.1  # counting all fifty, it rarely does


def test_deflation_grows_with_the_number_of_trials_and_one_trial_is_no_deflation() -> None:
    rng = np.random.default_rng(4)
    returns = rng.normal(0.0004, 0.01, 2000)
    values = [sharpe_significance(returns, n)["deflated_sharpe"] for n in (1, 10, 100, 1000)]
    assert values[0] == pytest.approx(sharpe_significance(returns, 1)["probabilistic_sharpe"])
    assert values == sorted(values, reverse=True) and values[-1] < values[0]


def test_undefined_inputs_give_none() -> None:
    assert probabilistic_sharpe(np.zeros(100)) is None
    assert probabilistic_sharpe(np.array([0.01, -0.01])) is None
    assert sharpe_significance(np.zeros(10), 5)["deflated_sharpe"] is None
