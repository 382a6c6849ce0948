"""All 21 engines are fast enough for nightly batches (50k bars) and the live loop (last few hundred)."""

from __future__ import annotations

import time
from collections.abc import Callable

import polars as pl
import pytest

from huracan_core.alphas import fit_states, rule_engines, run_engines
from tests.stubs.alpha_frames import market_frame

# Bounds are loose multiples of what a quiet 2-core machine measures (about 0.2 s and 4 ms), so that
# a busy CI runner does not flake; the real numbers are printed with `-s`.
BATCH_LIMIT_S = 2.5
LIVE_LIMIT_S = 0.05


def _best_of(rounds: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


@pytest.fixture(scope="module")
def big() -> pl.DataFrame:
    return market_frame(50_000, seed=11)


def test_all_engines_signal_50k_bars_well_under_the_batch_budget(big: pl.DataFrame) -> None:
    engines = rule_engines()
    states, errors = fit_states(engines, big[:25_000])
    assert errors == {}
    seconds = _best_of(2, lambda: run_engines(engines, big, states))
    print(f"\n21 engines on {big.height} rows: {seconds * 1e3:.0f} ms")
    assert seconds < BATCH_LIMIT_S


def test_all_engines_signal_the_newest_500_bars_in_a_few_milliseconds(big: pl.DataFrame) -> None:
    engines = rule_engines()
    states, _ = fit_states(engines, big[:25_000])
    tail = big[-500:]
    run_engines(engines, tail, states)  # warm caches once, as the live loop would
    seconds = _best_of(5, lambda: run_engines(engines, tail, states))
    print(f"\n21 engines on 500 rows: {seconds * 1e3:.1f} ms")
    assert seconds < LIVE_LIMIT_S
