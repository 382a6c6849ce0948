"""The recipe names exactly the contract's columns and its hash tracks every window."""

from __future__ import annotations

import pydantic
import pytest

from huracan_core.features import DEFAULT_RECIPE, FeatureRecipe

CONTRACT_COLUMNS = [
    "ret_1", "ret_4", "ret_16", "ret_96",
    "rv_16", "rv_96", "atr_14", "parkinson_16",
    "ema_slope_12", "ema_slope_48", "adx_14",
    "rsi_14", "macd", "macd_signal", "macd_hist", "bb_pos_20", "bb_width_20",
    "range_pos_48", "vol_z_48", "vol_ratio_48", "vwap_dist_48",
    "tod_sin", "tod_cos", "dow_sin", "dow_cos",
    "beta_btc_96", "corr_btc_96", "rs_btc_96", "beta_eth_96", "corr_eth_96", "rs_eth_96",
]  # fmt: skip


def test_default_recipe_produces_exactly_the_contract_columns() -> None:
    assert DEFAULT_RECIPE.columns() == CONTRACT_COLUMNS


def test_hash_is_stable_for_equal_recipes() -> None:
    assert FeatureRecipe().hash() == DEFAULT_RECIPE.hash()
    assert FeatureRecipe(rsi_window=14).hash() == DEFAULT_RECIPE.hash()
    assert len(DEFAULT_RECIPE.hash()) == 64


@pytest.mark.parametrize(
    "change",
    [{"rsi_window": 21}, {"return_windows": (1, 4, 16, 48)}, {"cross_window": 48}, {"ema_tail_weight": 1e-5},
     {"version": 2}, {"reference_symbols": ("BTCUSDT",)}],
)  # fmt: skip
def test_hash_changes_when_any_window_changes(change: dict) -> None:
    assert FeatureRecipe(**change).hash() != DEFAULT_RECIPE.hash()


def test_column_names_follow_the_windows() -> None:
    recipe = FeatureRecipe(rsi_window=21, return_windows=(1, 2), reference_symbols=("SOLUSDT",))
    assert "rsi_21" in recipe.columns()
    assert {"ret_1", "ret_2", "beta_sol_96"} <= set(recipe.columns())
    assert "ret_96" not in recipe.columns()


def test_warmup_bars_is_one_more_than_the_longest_lookback() -> None:
    assert DEFAULT_RECIPE.warmup_bars() == max(DEFAULT_RECIPE.lookbacks.values()) + 1
    shorter = FeatureRecipe(ema_tail_weight=1e-2)
    assert shorter.warmup_bars() < DEFAULT_RECIPE.warmup_bars()


def test_finite_ema_window_leaves_at_most_the_tail_weight() -> None:
    alpha = 2.0 / 27.0
    window = DEFAULT_RECIPE.ema_window(alpha)
    assert (1 - alpha) ** window <= DEFAULT_RECIPE.ema_tail_weight < (1 - alpha) ** (window - 1)


def test_recipe_is_frozen_and_rejects_unknown_fields() -> None:
    with pytest.raises(pydantic.ValidationError):
        FeatureRecipe(rsi_windw=14)  # type: ignore[call-arg]
    with pytest.raises(pydantic.ValidationError):
        DEFAULT_RECIPE.rsi_window = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    "bad",
    [{"macd_fast": 30}, {"return_windows": (0, 4)}, {"realized_vol_windows": (1,)}, {"cross_min_pairs": 200}],
)
def test_inconsistent_windows_are_rejected_with_the_field_name(bad: dict) -> None:
    with pytest.raises(pydantic.ValidationError, match=next(iter(bad))):
        FeatureRecipe(**bad)
