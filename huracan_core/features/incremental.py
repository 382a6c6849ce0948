"""Incremental (live) mode: the newest bar's features from only the newest `recipe.warmup_bars()` bars.

It runs the batch builder's computation on the tail and keeps its last row, so live and training share one code
path; the recipe's finite windows make the newest row equal to the batch value (to ~1e-13; tests: 1e-9).
"""

from __future__ import annotations

import polars as pl

from huracan_core.features.builder import build_rows
from huracan_core.features.checks import require_history
from huracan_core.features.recipe import DEFAULT_RECIPE, FeatureRecipe


def latest_tail(candles: pl.DataFrame, recipe: FeatureRecipe = DEFAULT_RECIPE) -> pl.DataFrame:
    """The newest `recipe.warmup_bars()` rows: all the history the newest bar's features read."""
    return candles.tail(recipe.warmup_bars())


def build_latest(
    candles_tail: pl.DataFrame,
    recipe: FeatureRecipe = DEFAULT_RECIPE,
    refs_tail: dict[str, pl.DataFrame] | None = None,
    *,
    symbol: str | None = None,
) -> pl.DataFrame:
    """One-row frame (same columns as `build_features`) for the newest candle.

    Longer inputs are cut to the newest `warmup_bars()` rows (same value, less work). Raises
    InsufficientHistoryError when fewer bars are given: a live decision must never see warm-up features.
    """
    require_history(candles_tail, recipe, symbol)
    tail = latest_tail(candles_tail, recipe)
    return build_rows(tail, recipe, refs_tail, symbol, slice(-1, None))
