"""The synthetic market: deterministic per seed, independent of what else was asked, and market-like."""

from __future__ import annotations

import time

import numpy as np
import polars as pl
import pytest

from huracan_core.config import DataGatesConfig
from huracan_core.exceptions import UnknownSymbolError
from huracan_core.market.candles import validate_candles
from huracan_core.market.gates import check_candles
from huracan_core.market.synthetic import COINS, SyntheticSource
from huracan_core.timeframe import DAY_MS

END = 1_767_225_600_000  # 2026-01-01 00:00 UTC
START = END - 60 * DAY_MS


def _returns(frame: pl.DataFrame) -> np.ndarray:
    return np.diff(np.log(frame["close"].to_numpy()))


def test_same_seed_gives_identical_bars_and_another_seed_different_ones() -> None:
    a = SyntheticSource(seed=1).fetch("BTCUSDT", "15m", START, END)
    b = SyntheticSource(seed=1).fetch("BTCUSDT", "15m", START, END)
    c = SyntheticSource(seed=2).fetch("BTCUSDT", "15m", START, END)
    assert a.equals(b)
    assert not np.allclose(a["close"].to_numpy(), c["close"].to_numpy())


def test_bars_do_not_depend_on_the_range_or_other_symbols_asked_for() -> None:
    whole = SyntheticSource(seed=5).fetch("SOLUSDT", "5m", START, END)
    market = SyntheticSource(seed=5)
    market.fetch("ETHUSDT", "5m", START - 400 * DAY_MS, END)  # another coin, a longer range first
    part = market.fetch("SOLUSDT", "5m", START + 7 * DAY_MS + 12_345, START + 9 * DAY_MS)
    expected = whole.filter(
        (pl.col("timestamp") >= part["timestamp"][0]) & (pl.col("timestamp") < START + 9 * DAY_MS)
    )
    assert part.equals(expected)


def test_bars_are_continuous_and_ohlc_consistent() -> None:
    frame = SyntheticSource(seed=3).fetch("DOGEUSDT", "5m", START, END)
    validate_candles(frame, "DOGEUSDT")
    assert frame.height == 60 * 288
    assert np.allclose(frame["open"][1:].to_numpy(), frame["close"][:-1].to_numpy(), rtol=1e-12)
    assert frame.select((pl.col("high") >= pl.max_horizontal("open", "close")).all()).item()
    assert frame.select((pl.col("low") <= pl.min_horizontal("open", "close")).all()).item()
    assert (frame["volume"] > 0).all()
    result = check_candles(frame, "DOGEUSDT", "5m", DataGatesConfig())
    assert result.ok, result.reason


def test_there_are_at_least_twenty_named_coins_at_plausible_prices() -> None:
    market = SyntheticSource(seed=7)
    symbols = market.list_symbols()
    assert len(symbols) >= 20
    for name in (
        "BTCUSDT",
        "ETHUSDT",
        "SOLUSDT",
        "BNBUSDT",
        "XRPUSDT",
        "ADAUSDT",
        "DOGEUSDT",
        "AVAXUSDT",
        "LINKUSDT",
        "DOTUSDT",
    ):
        assert name in symbols
    btc = market.fetch("BTCUSDT", "1d", START, END)["close"]
    assert btc.min() > 5_000 and btc.max() < 500_000  # type: ignore[operator]


def test_returns_are_fat_tailed_and_coins_move_with_btc() -> None:
    market = SyntheticSource(seed=7)
    btc = _returns(market.fetch("BTCUSDT", "5m", START, END))
    eth = _returns(market.fetch("ETHUSDT", "5m", START, END))
    kurtosis = ((btc - btc.mean()) ** 4).mean() / btc.var() ** 2
    assert kurtosis > 5  # a normal distribution has 3
    assert 0.5 < np.corrcoef(btc, eth)[0, 1] < 0.97
    annual_vol = btc.std() * np.sqrt(288 * 365)
    assert 0.2 < annual_vol < 1.5


def test_regimes_are_visible_in_volatility_and_volume() -> None:
    market = SyntheticSource(seed=7)
    start = END - 365 * DAY_MS
    frame = market.fetch("AVAXUSDT", "1h", start, END)
    truth = market.regimes("AVAXUSDT", "1h", start, END)
    assert truth["timestamp"].equals(frame["timestamp"])
    moves = np.abs(np.concatenate([[0.0], _returns(frame)]))
    regime = truth["regime"].to_numpy()
    assert set(regime) == {"range", "trend_up", "trend_down", "panic"}
    assert moves[regime == "panic"].mean() > 2 * moves[regime == "range"].mean()
    quote = (frame["close"] * frame["volume"]).to_numpy()
    illiquid = truth["illiquid"].to_numpy()
    assert 0.005 < illiquid.mean() < 0.2
    assert np.median(quote[illiquid]) < 0.3 * np.median(quote[~illiquid])


def test_volume_has_an_intraday_u_shape() -> None:
    frame = SyntheticSource(seed=7).fetch("BTCUSDT", "1h", END - 120 * DAY_MS, END)
    by_hour = (
        frame.with_columns(
            ((pl.col("timestamp") // 3_600_000) % 24).alias("hour"),
            (pl.col("close") * pl.col("volume")).alias("qv"),
        )
        .group_by("hour")
        .agg(pl.col("qv").median())
        .sort("hour")["qv"]
        .to_numpy()
    )
    assert by_hour[[0, 23]].mean() > 1.2 * by_hour[[5, 6, 7]].mean()


def test_a_thin_coin_is_skipped_for_low_volume() -> None:
    frame = SyntheticSource(seed=7).fetch("RAREUSDT", "15m", START, END)
    assert check_candles(frame, "RAREUSDT", "15m", DataGatesConfig()).reason == "Low volume. Skipped."


def test_no_edge_market_is_a_driftless_walk_without_volatility_regimes() -> None:
    market = SyntheticSource(seed=7, no_edge=True)
    r = _returns(market.fetch("BTCUSDT", "1h", END - 720 * DAY_MS, END))
    assert abs(np.corrcoef(r[:-1], r[1:])[0, 1]) < 0.03
    daily_vol = pl.Series(r[: len(r) // 24 * 24].reshape(-1, 24).std(axis=1))
    assert daily_vol.quantile(0.95) / daily_vol.quantile(0.05) < 2.5  # type: ignore[operator]
    assert set(market.regimes("BTCUSDT", "1h", END - DAY_MS, END)["regime"]) == {"range"}


def test_open_bars_are_dropped_and_unknown_coins_named() -> None:
    market = SyntheticSource(seed=7)
    got = market.fetch("ETHUSDT", "15m", END - DAY_MS, END, now_ms=END - 10 * 60_000)
    assert int(got["timestamp"][-1]) == END - 2 * 900_000
    with pytest.raises(UnknownSymbolError, match=r"ETHUSDC.*ETHUSDT"):
        market.fetch("ETHUSDC", "15m", START, END)


def test_twenty_coins_of_180_days_of_5m_bars_take_a_few_seconds() -> None:
    market = SyntheticSource(seed=99)
    began = time.perf_counter()
    frames = [market.fetch(c.symbol, "5m", END - 180 * DAY_MS, END) for c in COINS[:20]]
    elapsed = time.perf_counter() - began
    assert sum(f.height for f in frames) == 20 * 180 * 288
    assert elapsed < 8.0
