"""The compiled feature kernels: same values as the polars builder they replaced, one code path for both modes."""

from __future__ import annotations

import numpy as np
import polars as pl

from huracan_core.features import DEFAULT_RECIPE, build_features, build_latest, cross_coin
from huracan_core.features import indicators as ind
from tests.stubs.feature_compare import assert_rows_equal
from tests.stubs.random_candles import random_candles

# Rows of build_features(walk, refs=walk_refs, symbol="SOLUSDT") from the polars-expression builder (before
# the kernels), row 701 being a bar the ETH reference lacks.
POLARS_BUILDER_ROWS = {
    249: {
        "ret_1": -5.1164793106118296e-05,
        "ret_4": -0.0003742800071493641,
        "ret_16": -0.015595864668244617,
        "ret_96": -0.03883652506864994,
        "rv_16": 0.0033394388641093207,
        "rv_96": 0.003452847154601041,
        "atr_14": 0.006229040175649269,
        "parkinson_16": 0.003923215293920328,
        "ema_slope_12": -0.0011076733506093506,
        "ema_slope_48": -0.0006506425756008793,
        "adx_14": 25.593606864192097,
        "rsi_14": 33.978212101637205,
        "macd": -0.005084418094733729,
        "macd_signal": -0.0037024704418269654,
        "macd_hist": -0.001381947652906764,
        "bb_pos_20": -0.7595700277437206,
        "bb_width_20": 0.029729628691972553,
        "range_pos_48": 0.07515869459829945,
        "vol_z_48": -0.5679798995032104,
        "vol_ratio_48": 0.6074965772935143,
        "vwap_dist_48": -0.01725271082323898,
        "tod_sin": -0.7518398074789772,
        "tod_cos": 0.6593458151000691,
        "dow_sin": 0.0,
        "dow_cos": 1.0,
        "beta_btc_96": -0.0188953462447351,
        "corr_btc_96": -0.018655858431962352,
        "rs_btc_96": -0.07554105388722,
        "beta_eth_96": -0.25673757731254937,
        "corr_eth_96": -0.2968092323303212,
        "rs_eth_96": -0.05459299864849192,
    },
    701: {
        "ret_1": 0.0010987024583813325,
        "ret_4": -0.0013066855770025214,
        "ret_16": 0.006933023414910301,
        "ret_96": 0.01250044630952924,
        "rv_16": 0.005033549581316069,
        "rv_96": 0.0032252730293136516,
        "atr_14": 0.006775401296918323,
        "parkinson_16": 0.00493642873974295,
        "ema_slope_12": 0.0008620289295573347,
        "ema_slope_48": 0.00013978026743810545,
        "adx_14": 16.273994565591433,
        "rsi_14": 55.20976114319365,
        "macd": 9.079416907515444e-05,
        "macd_signal": -0.0012626197077799512,
        "macd_hist": 0.0013534138768551056,
        "bb_pos_20": 0.6705032832002444,
        "bb_width_20": 0.0213779443720467,
        "range_pos_48": 0.5891463340310985,
        "vol_z_48": 1.2607482438210509,
        "vol_ratio_48": 1.656916326835858,
        "vwap_dist_48": 0.003142270962574356,
        "tod_sin": 0.4027466898587373,
        "tod_cos": -0.9153114791194471,
        "dow_sin": 0.9749279121818236,
        "dow_cos": -0.22252093395631434,
        "beta_btc_96": 0.0855388388093943,
        "corr_btc_96": 0.1290144879078936,
        "rs_btc_96": -0.03690667874104191,
        "beta_eth_96": None,
        "corr_eth_96": None,
        "rs_eth_96": None,
    },
    1499: {
        "ret_1": 0.004228393467389013,
        "ret_4": 0.0010527768365937856,
        "ret_16": -0.007828315926270967,
        "ret_96": -0.01099940869232809,
        "rv_16": 0.0031749501107194416,
        "rv_96": 0.0037590305763640732,
        "atr_14": 0.005658542893049127,
        "parkinson_16": 0.003629100817192358,
        "ema_slope_12": -4.6467669373218e-05,
        "ema_slope_48": 0.00030690359552876245,
        "adx_14": 31.682251245963542,
        "rsi_14": 54.67963768399826,
        "macd": 0.003403027119080433,
        "macd_signal": 0.005504555009208227,
        "macd_hist": -0.0021015278901277937,
        "bb_pos_20": -0.2540808671407011,
        "bb_width_20": 0.02873309366106363,
        "range_pos_48": 0.6895498241010837,
        "vol_z_48": -0.3679504358231412,
        "vol_ratio_48": 0.7751353276078015,
        "vwap_dist_48": 0.015476843105473037,
        "tod_sin": 0.9600498543859287,
        "tod_cos": 0.27982901403099203,
        "dow_sin": -0.9749279121818236,
        "dow_cos": -0.2225209339563146,
        "beta_btc_96": 0.07275795008557716,
        "corr_btc_96": 0.0953612570403792,
        "rs_btc_96": -0.012182411233931172,
        "beta_eth_96": -0.06185925216928362,
        "corr_eth_96": -0.05762844801044658,
        "rs_eth_96": -0.010798902401391409,
    },
}


def test_values_equal_those_of_the_polars_builder_they_replaced(walk, walk_refs) -> None:
    out = build_features(walk, refs=walk_refs, symbol="SOLUSDT")
    for row, expected in POLARS_BUILDER_ROWS.items():
        assert_rows_equal(expected, out.row(row, named=True), list(expected))


def test_the_newest_row_is_the_same_frame_row_in_both_modes(walk, walk_refs) -> None:
    tail = walk.tail(DEFAULT_RECIPE.warmup_bars())  # build_latest reads exactly these bars
    refs = {s: r.filter(pl.col("timestamp") >= tail["timestamp"][0]) for s, r in walk_refs.items()}
    latest = build_latest(tail, refs_tail=refs, symbol="SOLUSDT")
    batch = build_features(tail, refs=refs, symbol="SOLUSDT").tail(1)
    assert latest.schema == batch.schema
    assert latest.equals(batch)


def test_rolling_std_matches_two_passes_and_is_exactly_zero_on_an_unchanged_window() -> None:
    rng = np.random.default_rng(3)
    x = np.concatenate([1e4 + rng.normal(0, 50, 500), np.full(100, 1e4), 1e4 + rng.normal(0, 1e-3, 300)])
    out = np.empty(x.size)
    ind.rolling_std(x, 20, 1, 0, out)
    exact = np.lib.stride_tricks.sliding_window_view(x, 20).std(axis=1, ddof=1)
    assert np.isnan(out[:19]).all()
    # within rounding of the data itself (values ~1e4: one ulp is ~2e-12)
    np.testing.assert_allclose(out[19:], exact, rtol=1e-9, atol=1e-10)
    assert (out[519:600] == 0.0).all()  # windows inside the flat stretch


def test_a_reference_with_gaps_is_joined_on_timestamp() -> None:
    ts = random_candles(6, seed=1)["timestamp"].to_numpy()
    out = np.empty(6)
    cross_coin.align(ts, ts[[0, 2, 3, 5]], np.array([1.0, 3.0, 4.0, 6.0]), out)
    np.testing.assert_array_equal(out, [1.0, np.nan, 3.0, 4.0, np.nan, 6.0])
