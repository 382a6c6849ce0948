"""The cross-sectional rank: the coin's place in its universe by 16-bar return, causal, null when thin."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from huracan_core.features.cross_section import RANK_COLUMN, cross_sectional_ranks

STEP = 900_000


def _coin(closes: list[float] | np.ndarray, start: int = 0) -> pl.DataFrame:
    closes = np.asarray(closes, dtype=float)
    ts = (start + np.arange(closes.size)) * STEP
    return pl.DataFrame({"timestamp": ts.astype(np.int64), "close": closes})


def test_best_is_plus_one_worst_minus_one_and_ties_share_the_average_rank():
    # five coins over 3 bars, horizon 2: only the last bar has a 2-bar return
    coins = {f"C{i}": _coin([100.0, 100.0, 100.0 * (1 + r)]) for i, r in enumerate([0.05, -0.02, 0.01, 0.01, 0.0])}
    ranks = cross_sectional_ranks(coins, horizon=2)
    last = {s: ranks[s][RANK_COLUMN][-1] for s in coins}
    assert last["C0"] == 1.0 and last["C1"] == -1.0
    assert last["C2"] == last["C3"] == pytest.approx(0.25)  # positions 3 and 4 -> 3.5 of 1..5
    assert last["C4"] == pytest.approx(-0.5)
    assert all(ranks[s][RANK_COLUMN][:2].is_null().all() for s in coins)  # no 2-bar return yet


def test_fewer_than_min_coins_give_no_rank_and_missing_bars_are_left_out():
    coins = {f"C{i}": _coin(np.linspace(100, 100 + i, 40)) for i in range(5)}
    coins["C4"] = coins["C4"].filter(pl.col("timestamp") != 30 * STEP)  # one coin lacks bar 30
    ranks = cross_sectional_ranks(coins, horizon=16)
    at_30 = [ranks[s].filter(pl.col("timestamp") == 30 * STEP)[RANK_COLUMN] for s in ("C0", "C1")]
    assert all(r.is_null().all() for r in at_30)  # only 4 coins rankable there
    assert ranks["C0"].height == 40 and ranks["C4"].height == 39  # aligned to each coin's own bars
    assert ranks["C3"][RANK_COLUMN][-1] == pytest.approx(0.5)


def test_a_rank_never_reads_later_bars():
    rng = np.random.default_rng(0)
    coins = {f"C{i}": _coin(100 * np.exp(np.cumsum(rng.normal(0, 0.01, 200)))) for i in range(6)}
    full = cross_sectional_ranks(coins)
    cut = cross_sectional_ranks({s: c.head(120) for s, c in coins.items()})
    for s in coins:
        assert full[s][RANK_COLUMN].head(120).equals(cut[s][RANK_COLUMN])
