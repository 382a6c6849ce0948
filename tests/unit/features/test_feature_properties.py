"""Properties for arbitrary positive OHLCV: no inf/NaN, one row per candle, price scale does not matter."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from huracan_core.features import DEFAULT_RECIPE, build_features
from tests.stubs.random_candles import START_MS

FEATURES = DEFAULT_RECIPE.columns()
# Per-bar moves: exactly flat, or at least a 1e-4 tick (smaller moves make e.g. bb_pos the ratio of two
# rounding errors, which no price-scaled computation can reproduce).
_conditioned_move = st.one_of(st.just(0.0), st.floats(1e-4, 0.15), st.floats(-0.15, -1e-4))
_any_move = st.floats(-0.3, 0.3)


@st.composite
def candle_series(draw: st.DrawFn, move: st.SearchStrategy[float] = _conditioned_move) -> pl.DataFrame:
    n = draw(st.integers(1, 320))
    start = draw(st.floats(1e-6, 1e6))
    moves = np.array(draw(st.lists(move, min_size=n, max_size=n)))
    closes = start * np.exp(np.cumsum(moves))
    opens = np.concatenate([[start], closes])[:n]
    wicks = np.array(draw(st.lists(st.sampled_from([0.0, 1e-3, 0.02]), min_size=2 * n, max_size=2 * n)))
    volume = np.array(draw(st.lists(st.one_of(st.just(0.0), st.floats(1e-3, 1e9)), min_size=n, max_size=n)))
    return pl.DataFrame(
        {
            "timestamp": START_MS + 300_000 * np.arange(n, dtype=np.int64),
            "open": opens,
            "high": np.maximum(opens, closes) * np.exp(wicks[:n]),
            "low": np.minimum(opens, closes) * np.exp(-wicks[n:]),
            "close": closes,
            "volume": volume,
        }
    )


def _scaled(candles: pl.DataFrame, factor: float) -> pl.DataFrame:
    return candles.with_columns(pl.col(c) * factor for c in ("open", "high", "low", "close"))


_settings = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_settings
@given(candles=candle_series(_any_move))
def test_output_has_one_row_per_candle_and_no_inf_or_nan(candles: pl.DataFrame) -> None:
    ref = _scaled(candles, 3.0)
    out = build_features(candles, refs={"BTCUSDT": ref}, symbol="SOLUSDT")
    assert out.height == candles.height
    assert out["timestamp"].equals(candles["timestamp"])
    finite = out.select(pl.col(FEATURES).is_finite().or_(pl.col(FEATURES).is_null()).all())
    assert all(finite.row(0)), finite


@_settings
@given(candles=candle_series(), factor=st.sampled_from([2.0**-20, 0.5, 8.0, 3.7, 0.0123, 1234.5]))
def test_scaling_all_prices_leaves_every_feature_unchanged(candles: pl.DataFrame, factor: float) -> None:
    base = build_features(candles)
    scaled = build_features(_scaled(candles, factor))
    for name in FEATURES:
        a, b = base[name].to_numpy(), scaled[name].to_numpy()
        both = ~np.isnan(a) & ~np.isnan(b)
        assert np.array_equal(np.isnan(a), np.isnan(b)), name
        assert np.all(np.abs(a[both] - b[both]) <= 1e-9 * np.maximum(1.0, np.abs(a[both]))), (
            name,
            np.max(np.abs(a[both] - b[both])),
        )
