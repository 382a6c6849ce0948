"""Engines that need other data (BTC/ETH references, funding, universe rank) and abstain without it."""

from __future__ import annotations

import numpy as np
import polars as pl

from huracan_core.alphas import RULE_ENGINES
from tests.stubs.alpha_frames import add_features, candles_from_closes, noisy_path, rule_signal


def _coin_vs_btc(coin_drift: float, *, n: int = 300) -> pl.DataFrame:
    btc = candles_from_closes(noisy_path(n, vol=0.003, seed=10))
    own = np.random.default_rng(11).normal(coin_drift, 0.002, n)
    coin = candles_from_closes(
        50 * np.exp(np.cumsum(np.diff(np.log(btc["close"].to_numpy()), prepend=0) + own))
    )
    return add_features(coin, btc=btc)


def test_leader_goes_long_a_coin_strongly_outperforming_btc() -> None:
    out = rule_signal(RULE_ENGINES["leader"](), _coin_vs_btc(0.003))
    assert out["direction"][-1] == 1 and out["confidence"][-1] > 0.5


def test_leader_goes_short_a_coin_strongly_lagging_btc() -> None:
    assert rule_signal(RULE_ENGINES["leader"](), _coin_vs_btc(-0.003))["direction"][-1] == -1


def test_leader_has_no_view_on_btc_itself_and_abstains_without_btc() -> None:
    btc = candles_from_closes(noisy_path(300, drift=0.002, vol=0.003, seed=10))
    on_itself = add_features(btc, btc=btc)
    assert (rule_signal(RULE_ENGINES["leader"](), on_itself)["direction"] == 0).all()
    alone = add_features(btc)
    assert "rs_btc_96" not in alone.columns
    assert (rule_signal(RULE_ENGINES["leader"](), alone)["direction"] == 0).all()


def _tied_pair(last_gap: float, *, n: int = 300) -> pl.DataFrame:
    """A coin moving with BTC bar for bar (plus small noise), then drifting `last_gap` away over 8 bars."""
    btc_close = noisy_path(n, vol=0.004, seed=12)
    noise = np.random.default_rng(13).normal(0, 0.0008, n)
    noise[-8:] += last_gap / 8
    coin_close = 20 * np.exp(np.log(btc_close / 100) + np.cumsum(noise))
    btc = candles_from_closes(btc_close)
    return add_features(candles_from_closes(coin_close), btc=btc)


def test_correlation_fades_a_coin_that_ran_ahead_of_its_correlated_reference() -> None:
    out = rule_signal(RULE_ENGINES["correlation"](), _tied_pair(0.04))
    assert out["direction"][-1] == -1
    out = rule_signal(RULE_ENGINES["correlation"](), _tied_pair(-0.04))
    assert out["direction"][-1] == 1
    assert rule_signal(RULE_ENGINES["correlation"](), _tied_pair(0.0))["direction"][-1] == 0


def test_correlation_uses_eth_when_it_is_the_more_correlated_reference() -> None:
    tied = _tied_pair(0.04)
    unrelated = candles_from_closes(noisy_path(300, vol=0.004, seed=99))
    # BTC becomes the unrelated series, ETH the tied one: the spread must still be found through ETH.
    swapped = add_features(tied.select("timestamp", "open", "high", "low", "close", "volume"), btc=unrelated)
    eth = tied.select("timestamp", pl.col("btc_close").alias("close"))
    eth_frame = add_features(
        swapped.select("timestamp", "open", "high", "low", "close", "volume"), btc=unrelated, eth=eth
    )
    assert rule_signal(RULE_ENGINES["correlation"](), swapped)["direction"][-1] == 0
    assert rule_signal(RULE_ENGINES["correlation"](), eth_frame)["direction"][-1] == -1


def test_funding_abstains_without_a_funding_rate_column() -> None:
    frame = add_features(candles_from_closes(noisy_path(200)))
    engine = RULE_ENGINES["funding"]()
    out = rule_signal(engine, frame)
    assert (out["direction"] == 0).all() and (out["confidence"] == 0).all()
    assert engine.missing_inputs(frame) == ("funding_rate",)


def test_funding_shorts_when_longs_pay_and_buys_when_shorts_pay() -> None:
    frame = add_features(candles_from_closes(noisy_path(200)))
    rates = np.concatenate([np.full(100, 3e-4), np.full(50, -3e-4), np.full(50, 1e-5)])
    out = rule_signal(RULE_ENGINES["funding"](), frame.with_columns(funding_rate=pl.Series(rates)))
    direction = out["direction"].to_numpy()
    assert (direction[:100] == -1).all()  # positive funding: shorts RECEIVE it
    assert (direction[100:150] == 1).all()
    assert (direction[150:] == 0).all()  # too small to be worth carrying


def test_cross_sectional_abstains_without_the_rank_column_and_follows_it_when_present() -> None:
    frame = add_features(candles_from_closes(noisy_path(100)))
    engine = RULE_ENGINES["cross_sectional"]()
    assert (rule_signal(engine, frame)["direction"] == 0).all()
    ranks = np.concatenate([np.full(40, 0.9), np.full(40, -0.9), np.full(20, 0.1)])
    out = rule_signal(engine, frame.with_columns(xs_rank_ret_16=pl.Series(ranks)))
    assert out["direction"].to_list() == [1] * 40 + [-1] * 40 + [0] * 20
