"""Test builders for alpha engines: synthetic candles and the contract's feature columns (causal).

A small stand-in for the real feature builder, using the definitions of RESEARCH_CONTRACTS.md, so engine
tests do not depend on it. Every feature at row t uses rows <= t only.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

from huracan_core.alphas.base import AlphaEngine

BAR_MS = 60 * 60_000  # 1h bars: a few thousand rows cover months, enough for seasonality
START_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC, a Monday


def candles_from_closes(
    closes: np.ndarray | list[float],
    *,
    volumes: np.ndarray | list[float] | None = None,
    wick: float = 0.0005,
    bar_ms: int = BAR_MS,
    start_ms: int = START_MS,
    seed: int = 0,
) -> pl.DataFrame:
    """Candles whose close path is given: open = previous close, wicks a small random fraction beyond."""
    rng = np.random.default_rng(seed)
    close = np.asarray(closes, dtype=np.float64)
    n = close.size
    open_ = np.concatenate([[close[0]], close[:-1]])
    hi_wick = np.abs(rng.normal(0.0, wick, n))
    lo_wick = np.abs(rng.normal(0.0, wick, n))
    high = np.maximum(open_, close) * (1 + hi_wick)
    low = np.minimum(open_, close) * (1 - lo_wick)
    vol = np.full(n, 100.0) if volumes is None else np.asarray(volumes, dtype=np.float64)
    return pl.DataFrame(
        {
            "timestamp": np.arange(n, dtype=np.int64) * bar_ms + start_ms,
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": vol,
        }
    )


def random_candles(
    n: int,
    *,
    seed: int = 0,
    vol: float = 0.004,
    drift: float = 0.0,
    start_price: float = 100.0,
    bar_ms: int = BAR_MS,
) -> pl.DataFrame:
    """Fat-tailed random walk with volatility clustering and volume that grows with the move."""
    rng = np.random.default_rng(seed)
    regime_vol = vol * np.exp(np.cumsum(rng.normal(0.0, 0.05, n)).clip(-1.5, 1.5))
    shocks = rng.standard_t(3, n) / math.sqrt(3.0)
    rets = drift + regime_vol * shocks
    close = start_price * np.exp(np.cumsum(rets))
    volumes = 100.0 * rng.lognormal(0.0, 0.4, n) * (1.0 + 3.0 * np.abs(shocks))
    return candles_from_closes(close, volumes=volumes, wick=vol / 2, seed=seed + 1, bar_ms=bar_ms)


def _wilder(expr: pl.Expr, n: int) -> pl.Expr:
    return expr.ewm_mean(alpha=1.0 / n, adjust=False, min_samples=n)


def add_features(
    candles: pl.DataFrame, *, btc: pl.DataFrame | None = None, eth: pl.DataFrame | None = None
) -> pl.DataFrame:
    """The contract's feature columns used by the alpha engines, plus reference closes when given."""
    c, h, lo, v = pl.col("close"), pl.col("high"), pl.col("low"), pl.col("volume")
    ret_1 = (c / c.shift(1)).log()
    prev_c = c.shift(1)
    tr = pl.max_horizontal(h - lo, (h - prev_c).abs(), (lo - prev_c).abs())
    up, down = h - h.shift(1), lo.shift(1) - lo
    plus_dm = pl.when((up > down) & (up > 0)).then(up).otherwise(0.0)
    minus_dm = pl.when((down > up) & (down > 0)).then(down).otherwise(0.0)
    delta = c - c.shift(1)
    gain = _wilder(delta.clip(lower_bound=0.0), 14)
    loss = _wilder((-delta).clip(lower_bound=0.0), 14)
    ema = {n: c.ewm_mean(span=n, adjust=False, min_samples=n) for n in (12, 26, 48)}
    sma20, sd20 = c.rolling_mean(20), c.rolling_std(20)
    mean_v48, sd_v48 = v.rolling_mean(48), v.rolling_std(48)
    typical = (h + lo + c) / 3.0
    frame = candles.with_columns(
        ret_1=ret_1,
        ret_4=(c / c.shift(4)).log(),
        ret_16=(c / c.shift(16)).log(),
        ret_96=(c / c.shift(96)).log(),
        atr_14=_wilder(tr, 14) / c,
        ema_slope_12=ema[12] / ema[12].shift(1) - 1.0,
        ema_slope_48=ema[48] / ema[48].shift(1) - 1.0,
        rsi_14=100.0 - 100.0 / (1.0 + gain / loss),
        macd_line=(ema[12] - ema[26]),
        bb_pos_20=(c - sma20) / (2.0 * sd20),
        bb_width_20=4.0 * sd20 / sma20,
        range_pos_48=(c - lo.rolling_min(48)) / (h.rolling_max(48) - lo.rolling_min(48)),
        vol_z_48=(v - mean_v48) / sd_v48,
        vol_ratio_48=v / mean_v48,
        vwap_dist_48=c / ((typical * v).rolling_sum(48) / v.rolling_sum(48)) - 1.0,
        _plus=_wilder(plus_dm, 14),
        _minus=_wilder(minus_dm, 14),
        _atr=_wilder(tr, 14),
    )
    frame = frame.with_columns(
        rv_16=pl.col("ret_1").rolling_std(16),
        rv_96=pl.col("ret_1").rolling_std(96),
        macd=pl.col("macd_line") / c,
        macd_signal=pl.col("macd_line").ewm_mean(span=9, adjust=False, min_samples=9) / c,
        _dx=100.0 * (pl.col("_plus") - pl.col("_minus")).abs() / (pl.col("_plus") + pl.col("_minus")),
    )
    frame = frame.with_columns(
        macd_hist=pl.col("macd") - pl.col("macd_signal"),
        adx_14=_wilder(pl.col("_dx").fill_nan(0.0), 14),
    ).drop("macd_line", "_plus", "_minus", "_atr", "_dx")
    for key, ref in (("btc", btc), ("eth", eth)):
        if ref is not None:
            frame = _add_reference(frame, ref, key)
    return frame.with_columns(pl.col(pl.Float64).fill_nan(None))


def _add_reference(frame: pl.DataFrame, ref: pl.DataFrame, key: str) -> pl.DataFrame:
    joined = frame.join(
        ref.select("timestamp", pl.col("close").alias(f"{key}_close")), on="timestamp", how="left"
    )
    ref_c = pl.col(f"{key}_close")
    ref_ret1 = (ref_c / ref_c.shift(1)).log()
    return joined.with_columns(
        pl.rolling_corr(pl.col("ret_1"), ref_ret1, window_size=96).alias(f"corr_{key}_96"),
        (pl.rolling_cov(pl.col("ret_1"), ref_ret1, window_size=96) / ref_ret1.rolling_var(96)).alias(
            f"beta_{key}_96"
        ),
        (pl.col("ret_96") - (ref_c / ref_c.shift(96)).log()).alias(f"rs_{key}_96"),
    )


def market_frame(n: int = 3000, *, seed: int = 7) -> pl.DataFrame:
    """A full engine input frame: coin features + btc/eth references + funding + universe rank + regime.

    The coin follows BTC (beta about 1) plus its own noise; BTC has a planted time-of-day drift so the
    seasonality engine has something to learn; funding wanders around a small positive rate.
    """
    rng = np.random.default_rng(seed)
    btc = random_candles(n, seed=seed + 100, vol=0.003)
    hours = (btc["timestamp"].to_numpy() // 3_600_000) % 24
    btc_rets = np.diff(np.log(btc["close"].to_numpy()), prepend=math.log(100.0))
    btc_rets = btc_rets + np.where(hours == 14, 0.004, 0.0)  # planted: BTC rises in the 14:00 UTC hour
    btc = candles_from_closes(100.0 * np.exp(np.cumsum(btc_rets)), volumes=btc["volume"], wick=0.0015)
    eth = random_candles(n, seed=seed + 200, vol=0.004)
    own = random_candles(n, seed=seed, vol=0.003)
    coin_rets = btc_rets + np.diff(np.log(own["close"].to_numpy()), prepend=math.log(100.0))
    coin = candles_from_closes(
        50.0 * np.exp(np.cumsum(coin_rets)), volumes=own["volume"], wick=0.002, seed=seed + 3
    )
    frame = add_features(coin, btc=btc, eth=eth)
    funding = 1e-4 + np.cumsum(rng.normal(0.0, 2e-5, n)).clip(-6e-4, 6e-4)
    regimes = pl.Series("regime", rng.choice(["TREND", "RANGE"], n)).cast(
        pl.Enum(["TREND", "RANGE", "PANIC", "ILLIQUID"])
    )
    return frame.with_columns(
        funding_rate=pl.Series(funding),
        xs_rank_ret_16=(pl.col("ret_16") / (pl.col("rv_16") * 4.0)).tanh(),
        regime=regimes,
    )


def assumed_state(
    engine: AlphaEngine, frame: pl.DataFrame, *, edge_long_bps: float = 12.0, edge_short_bps: float = -12.0
) -> dict[str, Any]:
    """A rule engine state as if calibration had found these edges on plenty of signals.

    Lets a scenario test check what the RULE does on a constructed series without needing 30+ past
    signals in it; calibration itself is tested separately.
    """
    state = engine.base_state(frame)
    state.update(
        {
            "min_count": int(engine.params["min_count"]),
            "n_long": 1000,
            "n_short": 1000,
            "long_active": True,
            "short_active": True,
            "edge_long_bps": edge_long_bps,
            "edge_short_bps": edge_short_bps,
            "hit_long": 0.55,
            "hit_short": 0.55,
            "std_long_bps": 50.0,
            "std_short_bps": 50.0,
        }
    )
    return state


def permissive(engine_cls: type[AlphaEngine]) -> AlphaEngine:
    """An engine instance whose calibration lets every raw signal through (min_count 1, any net edge), for
    tests that need signals to fire on a short synthetic market."""
    defaults = _all_defaults(engine_cls)
    if "min_count" in defaults:
        loose = {"min_net_edge_bps": -1e12} if "min_net_edge_bps" in defaults else {}
        return engine_cls(min_count=1, **loose)
    return engine_cls()


def _all_defaults(engine_cls: type[AlphaEngine]) -> dict[str, float]:
    merged: dict[str, float] = {}
    for klass in reversed(engine_cls.__mro__):
        merged.update(getattr(klass, "defaults", {}) or {})
    return merged


def rule_signal(engine: AlphaEngine, frame: pl.DataFrame) -> pl.DataFrame:
    """Signals of a rule engine on `frame` under `assumed_state` (long edge +12 bps, short -12 bps)."""
    return engine.signal(frame, assumed_state(engine, frame))


def noisy_path(
    n: int, *, drift: float = 0.0, vol: float = 0.002, seed: int = 0, start: float = 100.0
) -> np.ndarray:
    """Closes of a Gaussian random walk with constant drift (log returns)."""
    rng = np.random.default_rng(seed)
    return start * np.exp(np.cumsum(drift + rng.normal(0.0, vol, n)))


def mean_reverting_path(n: int, *, vol: float = 0.004, pull: float = 0.2, seed: int = 0) -> np.ndarray:
    """Closes oscillating around 100 (AR(1) log price): a range without trend."""
    rng = np.random.default_rng(seed)
    x = np.zeros(n)
    for i in range(1, n):
        x[i] = (1.0 - pull) * x[i - 1] + rng.normal(0.0, vol)
    return 100.0 * np.exp(x)
