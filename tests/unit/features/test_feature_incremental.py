"""Live (incremental) features equal batch features on the newest bar, from only warmup_bars() bars."""

from __future__ import annotations

import polars as pl
import pytest

from huracan_core.features import DEFAULT_RECIPE, FeatureRecipe, build_features, build_latest
from tests.stubs.feature_compare import assert_rows_equal
from tests.stubs.random_candles import random_candles


def _tails(
    candles: pl.DataFrame, refs: dict[str, pl.DataFrame], cut: int, recipe: FeatureRecipe
) -> tuple[pl.DataFrame, dict[str, pl.DataFrame]]:
    """The newest warmup_bars() candles up to `cut`, and the references over the same span."""
    tail = candles[: cut + 1].tail(recipe.warmup_bars())
    first, last = tail["timestamp"][0], tail["timestamp"][-1]
    span = {s: r.filter(pl.col("timestamp").is_between(first, last)) for s, r in refs.items()}
    return tail, span


def _check_cuts(candles, refs, symbol, cuts, recipe=DEFAULT_RECIPE) -> None:
    batch = build_features(candles, recipe, refs, symbol=symbol)
    for cut in cuts:
        tail, refs_tail = _tails(candles, refs, cut, recipe)
        assert tail.height == recipe.warmup_bars()
        latest = build_latest(tail, recipe, refs_tail, symbol=symbol)
        assert latest.height == 1 and latest["timestamp"][0] == candles["timestamp"][cut]
        assert not latest["warmup"][0]
        assert_rows_equal(batch.row(cut, named=True), latest.row(0, named=True), recipe.columns())


def test_incremental_equals_batch_on_a_random_walk_at_many_cuts(walk, walk_refs) -> None:
    cuts = list(range(DEFAULT_RECIPE.warmup_bars() - 1, walk.height, 37))
    _check_cuts(walk, walk_refs, "SOLUSDT", cuts)


def test_incremental_equals_batch_for_a_reference_coin(walk, walk_refs) -> None:
    _check_cuts(walk, walk_refs, "ETHUSDT", [700, 1_000, walk.height - 1])


def test_incremental_equals_batch_after_a_large_price_move() -> None:
    # A 50x rally then a crash: the recursive EMA state differs enormously between the two modes.
    candles = pl.concat(
        [
            random_candles(600, seed=5, vol=0.02),
            random_candles(600, seed=6, start_ms=1_704_067_200_000 + 600 * 300_000),
        ]
    )
    _check_cuts(candles, {}, "SOLUSDT", [599, 650, 849, 1_199])


@pytest.mark.parametrize(
    "recipe", [FeatureRecipe(ema_tail_weight=1e-6), FeatureRecipe(rsi_window=7, adx_window=30)]
)
def test_incremental_equals_batch_for_other_recipes(walk, walk_refs, recipe: FeatureRecipe) -> None:
    _check_cuts(walk, walk_refs, "SOLUSDT", [recipe.warmup_bars() + 10, walk.height - 1], recipe)


def test_incremental_equals_batch_on_real_candles(real_candles: dict[str, pl.DataFrame]) -> None:
    refs = {"BTCUSDT": real_candles["ETHBTC"], "ETHUSDT": real_candles["LTCBTC"]}
    for symbol, candles in real_candles.items():
        step = max(1, candles.height // 12)
        cuts = [*range(DEFAULT_RECIPE.warmup_bars() - 1, candles.height, step), candles.height - 1]
        _check_cuts(candles, refs, symbol, cuts)


def test_longer_input_gives_the_same_newest_row(walk, walk_refs) -> None:
    short, refs_tail = _tails(walk, walk_refs, walk.height - 1, DEFAULT_RECIPE)
    a = build_latest(walk, refs_tail=walk_refs, symbol="SOLUSDT").row(0, named=True)
    b = build_latest(short, refs_tail=refs_tail, symbol="SOLUSDT").row(0, named=True)
    assert a == b
