"""A synthetic market for offline demos and tests: deterministic per seed, regime-switching, fat-tailed.

Used only when asked for by name (data.source: synthetic). Same (seed, symbol, timeframe, range) gives
identical bars whatever else was asked, because every random draw is keyed by absolute time:
- market regimes (range, trend up, trend down, panic) and per-coin illiquid spells are semi-Markov
  spells on an hourly grid from a fixed anchor (2020-01-01 UTC);
- each day's close-to-close move is drawn on a daily grid (common BTC-like factor times the coin's
  beta plus an idiosyncratic part, Student-t shocks, slow pull back to the coin's price level);
- bars inside a day are fat-tailed shocks scaled by the hour's regime, bridged so that they end exactly
  at the next day's level: bars are continuous across days and unaffected by other requests.
Volume follows a U-shaped UTC intraday profile, rises with regime and |return|, collapses in illiquid
spells; it is stored in base units (quote volume / close).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import polars as pl

from huracan_core.market.base import CandleSource
from huracan_core.market.candles import CANDLE_SCHEMA, empty_candles
from huracan_core.market.symbols import normalise_symbol, unknown_symbol
from huracan_core.timeframe import DAY_MS, timeframe_ms

ANCHOR_MS = 1_577_836_800_000  # 2020-01-01 00:00 UTC: first bar of every synthetic series.
HOUR_MS = 3_600_000
STUDENT_DF = 4.0  # fat tails: kurtosis of a t(4) is infinite, like real 5m crypto returns.
MARKET_DAILY_VOL = 0.026  # daily log-return volatility of the common factor in a calm trend (~50%/year).
MEAN_REVERSION_PER_DAY = 0.002  # pull of log price towards the coin's level (half-life ~1 year).
YEAR_DAYS = 366  # cache and draw in whole blocks of this many days.

REGIMES: tuple[str, ...] = ("range", "trend_up", "trend_down", "panic")
# Per regime: volatility multiplier, drift per hour (log return), mean spell length (hours), volume multiplier.
_VOL = np.array([0.7, 1.0, 1.1, 3.0])
_DRIFT_PER_HOUR = np.array([0.0, 0.0006, -0.0006, -0.004])
_MEAN_HOURS = np.array([36.0, 48.0, 40.0, 5.0])
_VOLUME = np.array([0.8, 1.3, 1.4, 3.0])
# Next-regime probabilities when a spell ends (rows: from, columns: to; diagonal unused).
_TRANSITIONS = np.array(
    [
        [0.00, 0.45, 0.45, 0.10],
        [0.75, 0.00, 0.10, 0.15],
        [0.65, 0.10, 0.00, 0.25],
        [0.50, 0.10, 0.40, 0.00],
    ]
)
# Illiquid spells per coin: (normal, illiquid) mean lengths in hours; volume and volatility effects.
_ILLIQUID_MEAN_HOURS = np.array([240.0, 10.0])
_ILLIQUID_VOLUME = 0.12
_ILLIQUID_IDIO_VOL = 1.8
# Intraday volume profile by UTC hour: U-shaped over the day with a bump at the US open.
_HOURS = np.arange(24)
_U_SHAPE = 0.7 + 0.5 * ((_HOURS - 11.5) / 11.5) ** 2 + 0.35 * np.exp(-(((_HOURS - 14.5) / 2.0) ** 2))
_U_SHAPE = _U_SHAPE / _U_SHAPE.mean()

_MARKET_KEY = 0
_STREAM_REGIME, _STREAM_ILLIQUID, _STREAM_DAILY, _STREAM_BARS = 1, 2, 3, 4


@dataclass(frozen=True)
class SyntheticCoin:
    """A coin of the synthetic market: price level, beta to the common factor, idiosyncratic daily vol,
    and nominal daily quote volume (USD)."""

    symbol: str
    price: float
    beta: float
    idio_daily_vol: float
    daily_quote_volume: float


# Ordered by nominal volume, largest first (the synthetic answer to "top N").
COINS: tuple[SyntheticCoin, ...] = (
    SyntheticCoin("BTCUSDT", 60_000.0, 1.00, 0.004, 1.5e9),
    SyntheticCoin("ETHUSDT", 3_000.0, 1.15, 0.015, 8.0e8),
    SyntheticCoin("SOLUSDT", 150.0, 1.40, 0.030, 4.0e8),
    SyntheticCoin("XRPUSDT", 0.60, 1.20, 0.030, 2.5e8),
    SyntheticCoin("DOGEUSDT", 0.12, 1.50, 0.040, 2.0e8),
    SyntheticCoin("BNBUSDT", 580.0, 0.90, 0.015, 1.5e8),
    SyntheticCoin("PEPEUSDT", 0.00001, 1.80, 0.060, 1.2e8),
    SyntheticCoin("SUIUSDT", 1.50, 1.60, 0.045, 9.0e7),
    SyntheticCoin("ADAUSDT", 0.45, 1.30, 0.025, 8.0e7),
    SyntheticCoin("AVAXUSDT", 30.0, 1.40, 0.030, 6.0e7),
    SyntheticCoin("LINKUSDT", 14.0, 1.30, 0.028, 5.5e7),
    SyntheticCoin("LTCUSDT", 80.0, 1.10, 0.022, 5.0e7),
    SyntheticCoin("TRXUSDT", 0.12, 0.70, 0.015, 4.5e7),
    SyntheticCoin("DOTUSDT", 6.5, 1.25, 0.025, 4.0e7),
    SyntheticCoin("SHIBUSDT", 0.00002, 1.40, 0.040, 3.8e7),
    SyntheticCoin("NEARUSDT", 5.0, 1.45, 0.035, 3.5e7),
    SyntheticCoin("APTUSDT", 9.0, 1.45, 0.035, 3.0e7),
    SyntheticCoin("ARBUSDT", 0.90, 1.50, 0.035, 2.8e7),
    SyntheticCoin("OPUSDT", 2.0, 1.50, 0.035, 2.5e7),
    SyntheticCoin("UNIUSDT", 8.0, 1.30, 0.030, 2.2e7),
    SyntheticCoin("ATOMUSDT", 8.0, 1.20, 0.028, 2.0e7),
    SyntheticCoin("FILUSDT", 5.0, 1.30, 0.032, 1.8e7),
    SyntheticCoin("INJUSDT", 25.0, 1.50, 0.040, 1.5e7),
    SyntheticCoin("ICPUSDT", 10.0, 1.30, 0.035, 1.2e7),
    # A thin coin: its median bar trades below the default gate, so demos show "Low volume. Skipped."
    SyntheticCoin("RAREUSDT", 0.10, 1.30, 0.050, 4.0e5),
)
_BY_SYMBOL = {c.symbol: c for c in COINS}


class SyntheticSource(CandleSource):
    """The synthetic market as a candle source. `no_edge=True`: a driftless random walk (no regimes,
    no trends, constant volatility) with the same realistic volume, for honesty tests."""

    name = "synthetic"

    def __init__(self, seed: int = 7, *, no_edge: bool = False) -> None:
        self.seed = int(seed)
        self.no_edge = no_edge

    def describe(self) -> str:
        return f"synthetic market (seed {self.seed}{', no edge' if self.no_edge else ''})"

    def coin(self, symbol: str) -> SyntheticCoin:
        sym = normalise_symbol(symbol)
        if sym not in _BY_SYMBOL:
            raise unknown_symbol(sym, _BY_SYMBOL, where="in the synthetic market")
        return _BY_SYMBOL[sym]

    def list_symbols(self, timeframe: str | None = None) -> list[str]:
        return sorted(_BY_SYMBOL)

    def quote_volumes(
        self, symbols: Sequence[str], *, timeframe: str | None = None, as_of_ms: int | None = None
    ) -> dict[str, float]:
        """Nominal daily quote volume: the fixed order of the synthetic market, the same at every as-of."""
        return {s: self.coin(s).daily_quote_volume for s in symbols}

    def fetch(
        self, symbol: str, timeframe: str, start_ms: int, end_ms: int, *, now_ms: int | None = None
    ) -> pl.DataFrame:
        coin = self.coin(symbol)
        tf = timeframe_ms(timeframe)
        if now_ms is not None:
            end_ms = min(end_ms, (now_ms // tf) * tf)
        start_ms = max(start_ms, ANCHOR_MS)
        if end_ms <= start_ms:
            return empty_candles()
        first_day = (start_ms - ANCHOR_MS) // DAY_MS
        last_day = (end_ms - 1 - ANCHOR_MS) // DAY_MS
        frame = _bars(self.seed, coin, tf, first_day, last_day, self.no_edge)
        return frame.filter((pl.col("timestamp") >= start_ms) & (pl.col("timestamp") < end_ms))

    def regimes(self, symbol: str, timeframe: str, start_ms: int, end_ms: int) -> pl.DataFrame:
        """Ground truth per bar: timestamp, market regime name, and whether the coin was in an illiquid spell."""
        coin = self.coin(symbol)
        tf = timeframe_ms(timeframe)
        start_ms = max(-(-start_ms // tf) * tf, ANCHOR_MS)
        if end_ms <= start_ms:
            return pl.DataFrame(schema={"timestamp": pl.Int64, "regime": pl.String, "illiquid": pl.Boolean})
        ts = np.arange(start_ms, end_ms, tf, dtype=np.int64)
        hours = (ts - ANCHOR_MS) // HOUR_MS
        n_hours = int(hours.max()) + 1
        regime = _market_hours(self.seed, n_hours, self.no_edge)[hours]
        illiquid = _illiquid_hours(self.seed, coin.symbol, n_hours)[hours]
        return pl.DataFrame(
            {"timestamp": ts, "regime": np.array(REGIMES)[regime], "illiquid": illiquid.astype(bool)}
        )


# --- random streams keyed by absolute time -------------------------------------------------------
def _key(symbol: str) -> int:
    return int.from_bytes(hashlib.sha256(symbol.encode()).digest()[:4], "big")


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed & 0xFFFFFFFF, *key])))


def _t(rng: np.random.Generator, size: int | tuple[int, ...]) -> np.ndarray:
    """Unit-variance Student-t shocks, clipped at 12 standard deviations (no 40-sigma artefacts)."""
    draws = rng.standard_t(STUDENT_DF, size=size) / np.sqrt(STUDENT_DF / (STUDENT_DF - 2.0))
    return np.clip(draws, -12.0, 12.0)


def _blocks(n_days: int) -> int:
    return max(1, -(-n_days // YEAR_DAYS))


def _spells(
    seed: int, key: int, stream: int, n_hours: int, mean_hours: np.ndarray, transitions: np.ndarray
) -> np.ndarray:
    """Semi-Markov state per hour from the anchor. Spells are drawn in fixed batches, so a longer
    request extends a shorter one and never changes it."""
    rng = _rng(seed, key, stream)
    states, lengths = [], []
    total, state = 0, 0
    cum = np.cumsum(transitions, axis=1)
    while total < n_hours:
        u = rng.random(256)
        e = rng.exponential(1.0, 256)
        for i in range(256):
            length = max(1, round(e[i] * mean_hours[state]))
            states.append(state)
            lengths.append(length)
            total += length
            state = int(np.searchsorted(cum[state], u[i] * cum[state][-1], side="right"))
            state = min(state, len(mean_hours) - 1)
    return np.repeat(np.array(states, dtype=np.int8), lengths)[:n_hours]


@lru_cache(maxsize=16)
def _market_hours_block(seed: int, blocks: int, no_edge: bool) -> np.ndarray:
    n_hours = blocks * YEAR_DAYS * 24
    if no_edge:
        return np.zeros(n_hours, dtype=np.int8)
    return _spells(seed, _MARKET_KEY, _STREAM_REGIME, n_hours, _MEAN_HOURS, _TRANSITIONS)


def _market_hours(seed: int, n_hours: int, no_edge: bool) -> np.ndarray:
    return _market_hours_block(seed, _blocks(-(-n_hours // 24)), no_edge)[:n_hours]


@lru_cache(maxsize=256)
def _illiquid_hours_block(seed: int, symbol: str, blocks: int) -> np.ndarray:
    flip = np.array([[0.0, 1.0], [1.0, 0.0]])
    return _spells(seed, _key(symbol), _STREAM_ILLIQUID, blocks * YEAR_DAYS * 24, _ILLIQUID_MEAN_HOURS, flip)


def _illiquid_hours(seed: int, symbol: str, n_hours: int) -> np.ndarray:
    return _illiquid_hours_block(seed, symbol, _blocks(-(-n_hours // 24)))[:n_hours]


def _hour_vol(no_edge: bool, regime: np.ndarray) -> np.ndarray:
    """Hourly standard deviation of the common factor's log return."""
    base = MARKET_DAILY_VOL / np.sqrt(24.0)
    return np.full(regime.shape, base) if no_edge else base * _VOL[regime]


def _hour_drift(no_edge: bool, regime: np.ndarray) -> np.ndarray:
    return np.zeros(regime.shape) if no_edge else _DRIFT_PER_HOUR[regime]


def _idio_hour_vol(coin: SyntheticCoin, no_edge: bool, illiquid: np.ndarray) -> np.ndarray:
    base = coin.idio_daily_vol / np.sqrt(24.0)
    return (
        np.full(illiquid.shape, base) if no_edge else base * np.where(illiquid == 1, _ILLIQUID_IDIO_VOL, 1.0)
    )


def _daily_shocks(seed: int, key: int, blocks: int) -> np.ndarray:
    return np.concatenate([_t(_rng(seed, key, _STREAM_DAILY, b), YEAR_DAYS) for b in range(blocks)])


@lru_cache(maxsize=16)
def _market_daily(seed: int, blocks: int, no_edge: bool) -> np.ndarray:
    """Common factor's log move per day (drift + regime-scaled fat-tailed shock)."""
    regime = _market_hours_block(seed, blocks, no_edge).reshape(-1, 24)
    var = (_hour_vol(no_edge, regime) ** 2).sum(axis=1)
    drift = _hour_drift(no_edge, regime).sum(axis=1)
    return drift + np.sqrt(var) * _daily_shocks(seed, _MARKET_KEY, blocks)


@lru_cache(maxsize=256)
def _coin_daily(seed: int, coin: SyntheticCoin, blocks: int, no_edge: bool) -> tuple[np.ndarray, np.ndarray]:
    """(log level at each day's start, idiosyncratic part of each day's move incl. mean reversion)."""
    illiquid = _illiquid_hours_block(seed, coin.symbol, blocks).reshape(-1, 24)
    idio_var = (_idio_hour_vol(coin, no_edge, illiquid) ** 2).sum(axis=1)
    idio = np.sqrt(idio_var) * _daily_shocks(seed, _key(coin.symbol), blocks)
    market = coin.beta * _market_daily(seed, blocks, no_edge)
    level0 = np.log(coin.price)
    kappa = 0.0 if no_edge else MEAN_REVERSION_PER_DAY
    levels = np.empty(idio.size + 1)
    levels[0] = level0
    pull = np.empty(idio.size)
    for d in range(idio.size):
        pull[d] = -kappa * (levels[d] - level0)
        levels[d + 1] = levels[d] + market[d] + idio[d] + pull[d]
    return levels, idio + pull


def _bridge(shocks: np.ndarray, var: np.ndarray, target: float) -> np.ndarray:
    """Spread (target - sum) over the bars in proportion to their variance: the day ends at `target`,
    and bars stay uncorrelated with the variances they were drawn with."""
    return shocks + var / var.sum() * (target - shocks.sum())


@lru_cache(maxsize=4096)
def _market_bars(seed: int, tf: int, day: int, no_edge: bool) -> tuple[np.ndarray, np.ndarray]:
    """(bridged common-factor log returns, their variances) for the bars of one day."""
    blocks = _blocks(day + 1)
    regime = _market_hours_block(seed, blocks, no_edge)[day * 24 : (day + 1) * 24]
    var_h, drift_h = _hour_vol(no_edge, regime) ** 2, _hour_drift(no_edge, regime)
    var, drift = _per_bar(var_h, tf), _per_bar(drift_h, tf)
    shocks = drift + np.sqrt(var) * _t(_rng(seed, _MARKET_KEY, _STREAM_BARS, tf, day), var.size)
    target = float(_market_daily(seed, blocks, no_edge)[day])
    return _bridge(shocks, var, target), var


def _per_bar(per_hour: np.ndarray, tf: int) -> np.ndarray:
    """An additive hourly quantity (variance, drift) per bar of `tf` over one day of 24 hours."""
    if tf <= HOUR_MS:
        return np.repeat(per_hour, HOUR_MS // tf) * (tf / HOUR_MS)
    return per_hour.reshape(-1, tf // HOUR_MS).sum(axis=1)


def _hour_of_bar(tf: int) -> np.ndarray:
    return (np.arange(DAY_MS // tf) * tf) // HOUR_MS


def _bars(
    seed: int, coin: SyntheticCoin, tf: int, first_day: int, last_day: int, no_edge: bool
) -> pl.DataFrame:
    """Bars of whole days [first_day, last_day]; random draws per (coin, timeframe, day), maths per array."""
    blocks = _blocks(last_day + 1)
    levels, idio_daily = _coin_daily(seed, coin, blocks, no_edge)
    days = np.arange(first_day, last_day + 1)
    per_day = DAY_MS // tf
    key = _key(coin.symbol)
    market = [_market_bars(seed, tf, int(d), no_edge) for d in days]
    m_ret = np.stack([m[0] for m in market])  # (days, bars)
    m_var = np.stack([m[1] for m in market])
    shocks, normals = [], []
    for d in days:
        rng = _rng(seed, key, _STREAM_BARS, tf, int(d))
        shocks.append(_t(rng, per_day))
        normals.append(rng.standard_normal((3, per_day)))
    shock = np.stack(shocks)  # (days, bars)
    wick_up, wick_down, noise_draw = np.stack(normals, axis=1)  # each (days, bars)
    hours = (days[:, None] * 24 + np.arange(24)[None, :]).ravel()
    illiquid = _illiquid_hours_block(seed, coin.symbol, blocks)[hours].reshape(-1, 24)
    regime = _market_hours_block(seed, blocks, no_edge)[hours].reshape(-1, 24)
    i_var = np.stack([_per_bar(row, tf) for row in _idio_hour_vol(coin, no_edge, illiquid) ** 2])
    i_raw = np.sqrt(i_var) * shock
    i_ret = i_raw + i_var / i_var.sum(axis=1, keepdims=True) * (idio_daily[days] - i_raw.sum(axis=1))[:, None]
    ret = coin.beta * m_ret + i_ret
    sd = np.sqrt(coin.beta**2 * m_var + i_var)
    log_close = levels[days][:, None] + np.cumsum(ret, axis=1)
    log_open = np.concatenate([levels[days][:, None], log_close[:, :-1]], axis=1)
    high = np.exp(np.maximum(log_open, log_close) + 0.5 * sd * np.abs(wick_up))
    low = np.exp(np.minimum(log_open, log_close) - 0.5 * sd * np.abs(wick_down))
    # Quote volume: nominal per bar x intraday profile x regime x liquidity x activity x noise.
    bar_hour = _hour_of_bar(tf)
    activity = 0.55 + 0.45 * np.minimum(np.abs(ret) / sd, 6.0) / 0.8
    regime_mult = np.ones_like(ret) if no_edge else _VOLUME[regime[:, bar_hour]]
    liquidity = np.where(illiquid[:, bar_hour] == 1, _ILLIQUID_VOLUME, 1.0)
    noise = np.exp(0.35 * noise_draw - 0.5 * 0.35**2)
    quote = (
        coin.daily_quote_volume / per_day * _U_SHAPE[bar_hour] * regime_mult * liquidity * activity * noise
    )
    close = np.exp(log_close)
    timestamp = ANCHOR_MS + days[:, None] * DAY_MS + np.arange(per_day, dtype=np.int64)[None, :] * tf
    columns = {
        "timestamp": timestamp,
        "open": np.exp(log_open),
        "high": high,
        "low": low,
        "close": close,
        "volume": quote / close,
    }
    return pl.DataFrame({c: v.ravel() for c, v in columns.items()}, schema=CANDLE_SCHEMA)
