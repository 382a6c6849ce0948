"""seasonality learns a planted time-of-day effect; anomaly learns whether shocks continue or revert."""

from __future__ import annotations

import numpy as np
import polars as pl

from huracan_core.alphas import RULE_ENGINES, fit_engine_fenced
from tests.stubs.alpha_frames import add_features, candles_from_closes

HOUR_MS = 3_600_000


def _planted_hour(n_days: int = 120, *, hour: int = 10, bump: float = 0.005, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n = n_days * 24
    hours = np.arange(n) % 24  # the stub's start is midnight UTC, one bar per hour
    rets = rng.normal(0.0, 0.004, n) + np.where(hours == hour, bump, 0.0)
    return add_features(candles_from_closes(100 * np.exp(np.cumsum(rets)), bar_ms=HOUR_MS))


def test_seasonality_learns_a_planted_time_of_day_effect() -> None:
    frame = _planted_hour()
    engine = RULE_ENGINES["seasonality"]()
    state = fit_engine_fenced(engine, frame)
    active_hours = [h for h, on in enumerate(state["hour"]["active"]) if on]
    # The 4-bar forward move from rows at 06..09 UTC contains the 10:00 bar.
    assert {6, 7, 8, 9} <= set(active_hours)
    assert all(state["hour"]["mean_bps"][h] > 0 for h in (6, 7, 8, 9))
    out = engine.signal(frame, state)
    hours = (frame["timestamp"] // HOUR_MS) % 24
    at_eight = out.filter(hours == 8)
    assert (at_eight["direction"] == 1).all() and (at_eight["edge_bps"] > 20).all()
    assert (out.filter(hours == 16)["direction"] == 0).mean() > 0.5


def test_seasonality_needs_enough_days_before_trusting_a_bucket() -> None:
    frame = _planted_hour(n_days=20)  # fewer than min_periods=30 days per bucket
    engine = RULE_ENGINES["seasonality"]()
    state = engine.fit(frame)
    assert not any(state["hour"]["active"]) and not any(state["weekday"]["active"])
    assert (engine.signal(frame, state)["direction"] == 0).all()


def _shocks(after: float, *, n: int = 3000, seed: int = 1) -> pl.DataFrame:
    """Random walk with 60 up and 60 down shocks (5%, on 10x volume), each followed by `after` x the
    shock over the next 4 bars."""
    rng = np.random.default_rng(seed)
    rets = rng.normal(0.0, 0.002, n)
    volumes = rng.lognormal(np.log(100.0), 0.2, n)
    spots = rng.choice(np.arange(200, n - 10, 20), 120, replace=False)
    for k, i in enumerate(spots):
        sign = 1 if k % 2 == 0 else -1
        rets[i] = sign * 0.05
        rets[i + 1 : i + 5] += sign * 0.05 * after / 4
        volumes[i] *= 10
    return add_features(candles_from_closes(100 * np.exp(np.cumsum(rets)), volumes=volumes))


def test_anomaly_follows_shocks_that_kept_going_in_training() -> None:
    frame = _shocks(after=0.5)
    engine = RULE_ENGINES["anomaly"]()
    state = engine.fit(frame)
    assert state["mode_up"] == 1 and state["mode_down"] == 1
    out = engine.signal(frame, state)
    up = frame["ret_1"] > 0.04
    assert (out.filter(up)["direction"] == 1).all() and (out.filter(up)["edge_bps"] > 0).all()
    down = frame["ret_1"] < -0.04
    assert (out.filter(down)["direction"] == -1).all() and (out.filter(down)["edge_bps"] < 0).all()


def test_anomaly_fades_shocks_that_reverted_in_training() -> None:
    frame = _shocks(after=-0.5)
    engine = RULE_ENGINES["anomaly"]()
    state = engine.fit(frame)
    assert state["mode_up"] == -1 and state["mode_down"] == -1
    out = engine.signal(frame, state)
    up = frame["ret_1"] > 0.04
    assert (out.filter(up)["direction"] == -1).all() and (out.filter(up)["edge_bps"] < 0).all()


def test_anomaly_without_enough_shocks_in_training_abstains() -> None:
    frame = _shocks(after=0.5)[:400]
    engine = RULE_ENGINES["anomaly"]()
    state = engine.fit(frame)
    assert state["mode_up"] == 0 and state["mode_down"] == 0
    assert (engine.signal(frame, state)["direction"] == 0).all()
