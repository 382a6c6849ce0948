"""Windows [n, W, F] ending at each usable bar, and the train-only normaliser."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from huracan_core.models.windows import Normaliser, feature_columns, make_windows, window_end_mask
from tests.stubs.model_data import planted_frame

COLUMNS = ["f0", "f1", "f2"]


def test_window_ending_at_t_holds_bars_t_minus_w_plus_1_to_t_normalised():
    frame, _ = planted_frame(60, seed=0)
    norm = Normaliser.fit(frame, COLUMNS)
    windows = make_windows(frame, norm, 8)
    assert windows.X.shape == (len(windows), 8, 3) and windows.X.dtype == np.float32
    raw = frame.select(COLUMNS).to_numpy()
    k = 10
    t = int(windows.rows[k])
    expected = ((raw[t - 7 : t + 1] - norm.mean) / norm.std).astype(np.float32)
    np.testing.assert_allclose(windows.X[k], expected, rtol=1e-6, atol=1e-6)


def test_windows_skip_warmup_and_every_window_touching_a_null_bar():
    frame, _ = planted_frame(60, seed=0, warmup=5)
    frame = frame.with_columns(pl.when(pl.int_range(60) == 30).then(None).otherwise(pl.col("f1")).alias("f1"))
    windows = make_windows(frame, Normaliser.fit(frame, COLUMNS), 8)
    rows = set(windows.rows.tolist())
    assert min(rows) == 5 + 7  # first window starts at the first bar out of warm-up
    assert not rows & set(range(30, 38))  # windows containing bar 30
    assert {29, 38} <= rows


def test_windows_with_unknown_target_are_dropped_and_y_follows_rows():
    frame, y = planted_frame(60, seed=0)
    windows = make_windows(frame, Normaliser.fit(frame, COLUMNS), 4, targets=y)
    assert 59 not in windows.rows  # the last bar's move is unknown
    np.testing.assert_allclose(windows.y, y[windows.rows].astype(np.float32))


def test_normaliser_ignores_rows_outside_the_training_mask():
    frame, _ = planted_frame(200, seed=0)
    train = np.arange(200) < 120
    before = Normaliser.fit(frame, COLUMNS, train)
    shocked = frame.with_columns(
        [
            pl.when(pl.int_range(200) >= 120).then(pl.col(c) * 1000 + 5).otherwise(pl.col(c)).alias(c)
            for c in COLUMNS
        ]
    )
    after = Normaliser.fit(shocked, COLUMNS, train)
    np.testing.assert_array_equal(before.mean, after.mean)
    np.testing.assert_array_equal(before.std, after.std)
    assert not np.allclose(Normaliser.fit(shocked, COLUMNS).mean, before.mean)  # the mask is what protects it


def test_normaliser_survives_a_tensor_round_trip():
    frame, _ = planted_frame(100, seed=3)
    norm = Normaliser.fit(frame, COLUMNS)
    back = Normaliser.from_tensors(norm.to_tensors(), COLUMNS)
    np.testing.assert_array_equal(back.mean, norm.mean)
    np.testing.assert_array_equal(back.std, norm.std)


def test_feature_columns_leave_out_candles_flags_and_references():
    frame = pl.DataFrame(
        {
            "timestamp": [1],
            "open": [1.0],
            "close": [1.0],
            "warmup": [False],
            "btc_close": [2.0],
            "ret_1": [0.1],
        }
    )
    assert feature_columns(frame) == ["ret_1"]


def test_missing_feature_column_is_named():
    frame, _ = planted_frame(30, seed=0)
    with pytest.raises(KeyError, match="nope"):
        Normaliser.fit(frame, ["f0", "nope"])


def test_window_end_mask_needs_the_whole_window_usable():
    usable = np.array([True, True, True, False, True, True, True])
    assert window_end_mask(usable, 3).tolist() == [False, False, True, False, False, False, True]
