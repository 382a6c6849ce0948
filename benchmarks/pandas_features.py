"""Reference implementation of the feature recipe in plain pandas, as a pandas user would write it.

Only the benchmark uses it (pandas stays out of the library): it is the baseline for speed and, compared on
a sample, a second implementation that checks the polars values. Same windows and formulas as the recipe:
finite EMAs via ewm(adjust=False) minus its value N bars back, guards for flat windows.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from huracan_core.features.recipe import DEFAULT_RECIPE, FeatureRecipe


def finite_ema(x: pd.Series, alpha: float, window: int) -> pd.Series:
    decay = (1 - alpha) ** window
    y = x.ewm(alpha=alpha, adjust=False).mean()
    return (y - decay * y.shift(window)) / (1 - decay)


def ratio(num: pd.Series, den: pd.Series, default: float) -> pd.Series:
    return (num / den.where(den > 0)).where(den > 0, default).where(den.notna())


def pandas_features(
    candles: pd.DataFrame,
    recipe: FeatureRecipe = DEFAULT_RECIPE,
    refs: dict[str, pd.DataFrame] | None = None,
    symbol: str | None = None,
) -> pd.DataFrame:
    """Same columns and values as `huracan_core.features.build_features` (to ~1e-9), for a pandas frame."""
    r = recipe
    df = candles.copy()
    h, l, c, v = df["high"], df["low"], df["close"], df["volume"]  # noqa: E741
    f = pd.DataFrame(index=df.index)
    ret1 = np.log(c / c.shift(1))
    for k in r.return_windows:
        f[f"ret_{k}"] = np.log(c / c.shift(k))
    for n in r.realized_vol_windows:
        f[f"rv_{n}"] = ret1.rolling(n).std()

    prev = c.shift(1)
    tr = pd.concat([h - l, (h - prev).abs(), (l - prev).abs()], axis=1).max(axis=1)
    a = 1 / r.atr_window
    f[f"atr_{r.atr_window}"] = finite_ema(tr.fillna(0.0), a, r.ema_window(a)).clip(lower=0) / c
    f[f"parkinson_{r.parkinson_window}"] = np.sqrt(
        (np.log(h / l) ** 2).rolling(r.parkinson_window).mean() / (4 * math.log(2))
    )
    for s in r.ema_slope_spans:
        a = 2 / (s + 1)
        ema = finite_ema(c, a, r.ema_window(a))
        f[f"ema_slope_{s}"] = ema / ema.shift(1) - 1

    a = 1 / r.adx_window
    n = r.ema_window(a)
    up, down = h - h.shift(1), l.shift(1) - l
    plus_dm = up.where((up > down) & (up > 0), 0.0)
    minus_dm = down.where((down > up) & (down > 0), 0.0)
    plus_dm, minus_dm = plus_dm.fillna(0.0), minus_dm.fillna(0.0)
    str_ = finite_ema(tr.fillna(0.0), a, n)
    plus_di = 100 * finite_ema(plus_dm, a, n) / str_
    minus_di = 100 * finite_ema(minus_dm, a, n) / str_
    directed = (plus_dm + minus_dm).rolling(n).max() > 0
    dx = (100 * (plus_di - minus_di).abs() / (plus_di + minus_di)).where(directed, 0.0).fillna(0.0)
    f[f"adx_{r.adx_window}"] = finite_ema(dx, a, n).clip(lower=0)

    a = 1 / r.rsi_window
    n = r.ema_window(a)
    diff = c.diff()
    gain = finite_ema(diff.clip(lower=0).fillna(0.0), a, n)
    loss = finite_ema((-diff).clip(lower=0).fillna(0.0), a, n)
    f[f"rsi_{r.rsi_window}"] = (100 * gain / (gain + loss)).where(diff.abs().rolling(n).max() > 0, 50.0)

    fa, sa, ga = 2 / (r.macd_fast + 1), 2 / (r.macd_slow + 1), 2 / (r.macd_signal + 1)
    line = (finite_ema(c, fa, r.ema_window(fa)) - finite_ema(c, sa, r.ema_window(sa))).fillna(0.0)
    signal = finite_ema(line, ga, r.ema_window(ga))
    f["macd"] = line / c
    f["macd_signal"] = signal / c
    f["macd_hist"] = (line - signal) / c

    bw = r.bollinger_window
    roll = c.rolling(bw)
    mid, sd = roll.mean(), roll.std(ddof=0)
    flat = roll.max() == roll.min()
    f[f"bb_pos_{bw}"] = ratio(c - mid, r.bollinger_k * sd, 0.0).where(~flat, 0.0)
    f[f"bb_width_{bw}"] = (2 * r.bollinger_k * sd / mid).where(~flat, 0.0)

    rw = r.range_window
    hh, ll = h.rolling(rw).max(), l.rolling(rw).min()
    f[f"range_pos_{rw}"] = ratio(c - ll, hh - ll, 0.5)

    vw = r.volume_window
    vroll = v.rolling(vw)
    vmean, vstd = vroll.mean(), vroll.std()
    f[f"vol_z_{vw}"] = ratio(v - vmean, vstd, 0.0).where(vroll.max() != vroll.min(), 0.0)
    f[f"vol_ratio_{vw}"] = ratio(v, vmean, 1.0).where(vroll.max() > 0, 1.0)

    ww = r.vwap_window
    typical = (h + l + c) / 3
    vwap = (typical * v).rolling(ww).sum() / v.rolling(ww).sum()
    vwap = vwap.where(v.rolling(ww).max() > 0, typical.rolling(ww).mean())
    f[f"vwap_dist_{ww}"] = c / vwap - 1

    if r.time_features:
        when = pd.to_datetime(df["timestamp"], unit="ms", utc=True)
        minutes = when.dt.hour * 60 + when.dt.minute + when.dt.second / 60
        f["tod_sin"] = np.sin(2 * np.pi * minutes / 1440)
        f["tod_cos"] = np.cos(2 * np.pi * minutes / 1440)
        f["dow_sin"] = np.sin(2 * np.pi * when.dt.dayofweek / 7)
        f["dow_cos"] = np.cos(2 * np.pi * when.dt.dayofweek / 7)

    w = r.cross_window
    for ref_symbol, tag in r.reference_tags().items():
        names = [f"beta_{tag}_{w}", f"corr_{tag}_{w}", f"rs_{tag}_{w}"]
        if symbol == ref_symbol:
            f[names[0]], f[names[1]], f[names[2]] = 1.0, 1.0, 0.0
        elif refs and ref_symbol in refs:
            ref = refs[ref_symbol][["timestamp", "close"]].rename(columns={"close": "ref_close"})
            rc = df[["timestamp"]].merge(ref, on="timestamp", how="left")["ref_close"]
            rc.index = df.index
            ref_ret = np.log(rc / rc.shift(1))
            valid = ret1.notna() & ref_ret.notna()
            x, y = ret1.where(valid, 0.0), ref_ret.where(valid, 0.0)
            cnt = valid.astype(float).rolling(w).sum()
            sx, sy = x.rolling(w).sum(), y.rolling(w).sum()
            cov = ((x * y).rolling(w).sum() - sx * sy / cnt) / (cnt - 1)
            vx = ((x * x).rolling(w).sum() - sx * sx / cnt) / (cnt - 1)
            vy = ((y * y).rolling(w).sum() - sy * sy / cnt) / (cnt - 1)
            enough = (cnt >= r.cross_min_pairs) & rc.notna()
            beta = (cov / vy).where(vy > 1e-18, 0.0)
            corr = (cov / np.sqrt(vx * vy)).clip(-1, 1).where((vx > 1e-18) & (vy > 1e-18), 0.0)
            f[names[0]] = beta.where(enough)
            f[names[1]] = corr.where(enough)
            f[names[2]] = np.log(c / c.shift(w)) - np.log(rc / rc.shift(w))
        else:
            f[names[0]] = f[names[1]] = f[names[2]] = np.nan

    row = np.arange(len(df))
    for name, lookback in r.lookbacks.items():
        f[name] = f[name].where(row >= lookback)
    out = pd.concat([df[["timestamp", "open", "high", "low", "close", "volume"]], f[r.columns()]], axis=1)
    out["warmup"] = row < r.warmup_bars() - 1
    return out
