"""Known values: what each feature means on series whose answer is obvious."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from huracan_core.features import DEFAULT_RECIPE, FeatureRecipe, build_features, build_features_many
from tests.stubs.random_candles import START_MS, random_candles


def _candles_from_closes(closes: np.ndarray, wick: float = 0.0) -> pl.DataFrame:
    n = len(closes)
    opens = np.concatenate([[closes[0]], closes[:-1]])
    return pl.DataFrame(
        {
            "timestamp": START_MS + 300_000 * np.arange(n, dtype=np.int64),
            "open": opens,
            "high": np.maximum(opens, closes) * (1 + wick),
            "low": np.minimum(opens, closes) * (1 - wick),
            "close": closes,
            "volume": np.full(n, 10.0),
        }
    )


def test_ret_1_is_the_log_of_close_over_previous_close(walk: pl.DataFrame) -> None:
    out = build_features(walk)
    expected = (walk["close"] / walk["close"].shift(1)).log()
    assert out["ret_1"][0] is None
    np.testing.assert_allclose(out["ret_1"][1:].to_numpy(), expected[1:].to_numpy(), rtol=0, atol=1e-15)
    np.testing.assert_allclose(
        out["ret_96"][96:].to_numpy(), np.log(walk["close"][96:].to_numpy() / walk["close"][:-96].to_numpy())
    )


def test_rsi_of_a_strictly_rising_series_is_100_and_range_pos_at_a_new_high_is_1() -> None:
    out = build_features(_candles_from_closes(100.0 * 1.001 ** np.arange(400)))
    valid = out.filter(~pl.col("warmup"))
    assert (valid["rsi_14"] == 100.0).all()
    assert (valid["range_pos_48"] == 1.0).all()
    assert (valid["ema_slope_12"] > 0).all()


def test_a_flat_market_gives_neutral_values_not_nan() -> None:
    out = build_features(_candles_from_closes(np.full(400, 50.0)))
    last = out.row(-1, named=True)
    assert last["rsi_14"] == 50.0
    assert last["bb_pos_20"] == 0.0
    assert last["bb_width_20"] == 0.0
    assert last["range_pos_48"] == 0.5
    assert last["atr_14"] == 0.0
    assert last["adx_14"] == 0.0
    assert last["vol_z_48"] == 0.0
    assert last["vol_ratio_48"] == 1.0
    assert last["rv_16"] == 0.0


def test_close_on_the_upper_band_gives_bb_pos_1() -> None:
    closes = np.array([100.0, 102.0] * 200)
    out = build_features(_candles_from_closes(closes))
    # Alternating closes: mean 101, population std 1, so the band (k=2) is 99..103 and 102 sits at +0.5.
    assert out["bb_pos_20"][-1] == pytest.approx(0.5, abs=1e-12)
    assert out["bb_width_20"][-1] == pytest.approx(4.0 / 101.0, abs=1e-12)


def test_finite_ema_matches_its_definition_on_the_newest_bar(walk: pl.DataFrame) -> None:
    recipe = DEFAULT_RECIPE
    out = build_features(walk, recipe)
    alpha = 2.0 / 13.0
    n = recipe.ema_window(alpha)
    closes = walk["close"].to_numpy()
    weights = alpha * (1 - alpha) ** np.arange(n)  # newest first
    ema = [
        weights @ closes[t - n + 1 : t + 1][::-1] / weights.sum() for t in (len(closes) - 2, len(closes) - 1)
    ]
    assert out["ema_slope_12"][-1] == pytest.approx(ema[1] / ema[0] - 1, abs=1e-13)


def test_warmup_rows_are_null_and_flagged_and_later_rows_are_complete(walk: pl.DataFrame) -> None:
    recipe = DEFAULT_RECIPE
    out = build_features(walk, recipe, symbol="BTCUSDT")
    warm = recipe.warmup_bars() - 1
    assert out["warmup"][:warm].all() and not out["warmup"][warm:].any()
    for name, lookback in recipe.lookbacks.items():
        if name.endswith("eth_96"):
            continue  # no ETH reference supplied
        column = out[name]
        assert column[:lookback].null_count() == lookback, name
        assert column[lookback:].null_count() == 0, name


def test_time_features_come_from_the_bar_open_time_in_utc() -> None:
    # START_MS is Monday 2024-01-01 00:00 UTC; 06:00 is a quarter of the day.
    candles = random_candles(80, seed=1)
    out = build_features(candles)
    assert out["tod_sin"][0] == pytest.approx(0.0) and out["tod_cos"][0] == pytest.approx(1.0)
    assert out["dow_sin"][0] == pytest.approx(0.0) and out["dow_cos"][0] == pytest.approx(1.0)
    six_am = out.filter(pl.col("timestamp") == START_MS + 6 * 3_600_000)
    assert six_am["tod_sin"][0] == pytest.approx(1.0) and six_am["tod_cos"][0] == pytest.approx(
        0.0, abs=1e-12
    )
    tuesday = build_features(random_candles(5, start_ms=START_MS + 86_400_000))
    assert tuesday["dow_sin"][0] == pytest.approx(math.sin(2 * math.pi / 7))


def test_the_reference_coin_itself_has_beta_1_corr_1_rs_0(walk: pl.DataFrame, walk_refs: dict) -> None:
    out = build_features(walk, refs=walk_refs, symbol="BTCUSDT").filter(~pl.col("warmup"))
    assert (
        (out["beta_btc_96"] == 1.0).all()
        and (out["corr_btc_96"] == 1.0).all()
        and (out["rs_btc_96"] == 0).all()
    )
    assert out["beta_eth_96"].null_count() == 3  # ETH misses three bars


def test_a_coin_identical_to_its_reference_has_beta_1_and_corr_1(walk: pl.DataFrame) -> None:
    out = build_features(walk, refs={"BTCUSDT": walk}, symbol="XYZUSDT").filter(~pl.col("warmup"))
    np.testing.assert_allclose(out["beta_btc_96"].to_numpy(), 1.0, atol=1e-9)
    np.testing.assert_allclose(out["corr_btc_96"].to_numpy(), 1.0, atol=1e-9)
    np.testing.assert_allclose(out["rs_btc_96"].to_numpy(), 0.0, atol=1e-12)


def test_beta_of_a_leveraged_copy_is_the_leverage(walk: pl.DataFrame) -> None:
    doubled = walk.with_columns(pl.col(c) ** 2 for c in ("open", "high", "low", "close"))
    out = build_features(doubled, refs={"BTCUSDT": walk}, symbol="XYZUSDT").filter(~pl.col("warmup"))
    np.testing.assert_allclose(out["beta_btc_96"].to_numpy(), 2.0, atol=1e-9)


def test_cross_features_are_null_where_the_reference_lacks_the_bar(
    walk: pl.DataFrame, walk_refs: dict
) -> None:
    out = build_features(walk, refs=walk_refs, symbol="SOLUSDT")
    for row in (700, 701, 1_200):
        assert (
            out["beta_eth_96"][row] is None
            and out["corr_eth_96"][row] is None
            and out["rs_eth_96"][row] is None
        )
    assert out["beta_eth_96"][702] is not None  # pairs before the hole still count
    assert not out["warmup"][700]  # a missing reference bar is not a lack of history


def test_without_references_the_cross_features_are_null_but_rows_are_not_warmup(walk: pl.DataFrame) -> None:
    out = build_features(walk)
    assert out["beta_btc_96"].null_count() == walk.height
    assert not out["warmup"][-1]


def test_a_recipe_without_references_or_time_has_no_such_columns(walk: pl.DataFrame) -> None:
    recipe = FeatureRecipe(reference_symbols=(), time_features=False)
    out = build_features(walk, recipe)
    assert not {"tod_sin", "beta_btc_96"} & set(out.columns)
    assert out.columns == ["timestamp", "open", "high", "low", "close", "volume", *recipe.columns(), "warmup"]


def test_building_many_symbols_at_once_equals_one_at_a_time(walk: pl.DataFrame, walk_refs: dict) -> None:
    market = {"BTCUSDT": walk_refs["BTCUSDT"], "SOLUSDT": walk}
    many = build_features_many(market, refs=walk_refs)
    for symbol, candles in market.items():
        assert many[symbol].equals(build_features(candles, refs=walk_refs, symbol=symbol))
