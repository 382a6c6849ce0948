"""No feature reads the future, and the lookahead check catches one that does."""

from __future__ import annotations

import numpy as np
import polars as pl

from huracan_core.features import DEFAULT_RECIPE, Leak, build_features, find_lookahead
from huracan_core.features.leakage import noise_after


def _cuts(candles: pl.DataFrame) -> list[int]:
    return [5, 120, DEFAULT_RECIPE.warmup_bars() - 1, 400, 777, candles.height - 2]


def test_no_feature_changes_when_the_future_is_removed_or_replaced(walk, walk_refs) -> None:
    def build(c: pl.DataFrame) -> pl.DataFrame:
        return build_features(c, refs=walk_refs, symbol="SOLUSDT")

    assert find_lookahead(build, walk, _cuts(walk), np.random.default_rng(0)) == []


def test_no_feature_leaks_on_real_candles(real_candles) -> None:
    candles = real_candles["XRPUSDT"]
    assert find_lookahead(build_features, candles, [300, 1000, 1500], np.random.default_rng(1)) == []


def test_a_feature_reading_the_next_close_is_caught_by_both_checks(walk) -> None:
    def leaky(c: pl.DataFrame) -> pl.DataFrame:
        return build_features(c).with_columns(next_close=pl.col("close").shift(-1))

    leaks = find_lookahead(leaky, walk, [400, 900], np.random.default_rng(2))
    ts = walk["timestamp"]
    assert set(leaks) == {
        Leak("next_close", int(ts[400]), int(ts[400]), "truncation"),
        Leak("next_close", int(ts[400]), int(ts[400]), "noise"),
        Leak("next_close", int(ts[900]), int(ts[900]), "truncation"),
        Leak("next_close", int(ts[900]), int(ts[900]), "noise"),
    }


def test_a_centered_window_is_caught_rows_before_the_cut(walk) -> None:
    def centered(c: pl.DataFrame) -> pl.DataFrame:
        return build_features(c).with_columns(smooth=pl.col("close").rolling_mean(21, center=True))

    leaks = find_lookahead(centered, walk, [500], np.random.default_rng(3))
    assert {leak.name for leak in leaks} == {"smooth"}
    # Row 491 is the first whose 21-bar centred window reaches past the cut (rows 481..501).
    assert all(leak.first_diff == int(walk["timestamp"][491]) for leak in leaks)


def test_a_global_normaliser_is_caught_by_the_noise_check(walk) -> None:
    def zscored(c: pl.DataFrame) -> pl.DataFrame:
        return c.with_columns(z=(pl.col("close") - pl.col("close").mean()) / pl.col("close").std())

    leaks = find_lookahead(zscored, walk, [600], np.random.default_rng(4))
    assert {(leak.name, leak.first_diff) for leak in leaks} == {("z", int(walk["timestamp"][0]))}


def test_noise_keeps_the_past_and_valid_candles(walk) -> None:
    noisy = noise_after(walk, 300, np.random.default_rng(5))
    assert noisy[:301].equals(walk[:301])
    assert not noisy["close"][301:].equals(walk["close"][301:])
    assert (noisy["high"] >= noisy["low"]).all() and (noisy["low"] > 0).all()
    build_features(noisy)  # passes the input checks
