"""5m, 15m and 1h end to end: the nightly Engine, the costs, the regimes and Hamilton's replay at each.

Per timeframe, the nightly Engine trains two coins of the planted-edge synthetic market at that timeframe
(the planted drift is set per hour, so every timeframe sees the same market), and what a user relies on
is checked: a verified bundle per coin, costs in the 15m band and estimated over a day of bars, and a
Hamilton replay of the champions that makes exactly the vectorised backtest's trades.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from huracan_core.costs import bar_costs
from huracan_core.engine.run import EngineRunResult, run_engine
from huracan_core.market import SyntheticSource
from huracan_core.market.resample import resample_candles
from huracan_core.regime import REGIMES, classify_regimes, regime_shares
from huracan_core.timeframe import DAY_MS, bars_per_day, timeframe_ms
from tests.integration.hamilton.test_replay_parity import assert_same_trades, replay_and_backtest

pytestmark = pytest.mark.slow

AS_OF = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
MODEL_ID = "20260301_020000Z"
REPLAY = ("2026-03-01T02:00", "2026-03-02T12:00")
SYMBOLS = ("BTCUSDT", "ETHUSDT")
# About 2,000-4,300 bars of history at each timeframe: the same work for the Engine, different spans.
LOOKBACK_DAYS = {"5m": 15, "15m": 30, "1h": 90}
# The planted time-of-day edge: 120 bps per hour during its hours, split over the hour's bars.
DRIFT_BPS_PER_HOUR = 120.0
# Gates opened so that every coin gets a champion to replay (the gates themselves are tested elsewhere).
OPEN_GATES = {
    "engine.folds": 3,
    "engine.min_signals": 5,
    "engine.max_concurrent": 2,
    "engine.gates.min_oos_trades": 1,
    "engine.gates.min_net_pnl_pct": -100,
    "engine.gates.min_sharpe": -100,
    "engine.gates.max_drawdown_pct": 100,
    "engine.gates.min_deflated_sharpe": 0,
    "hamilton.edge_threshold_bps": 0,
}


def drift_bps(timeframe: str) -> float:
    return DRIFT_BPS_PER_HOUR * timeframe_ms(timeframe) / 3_600_000


@pytest.fixture(scope="module", params=["5m", "15m", "1h"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    timeframe = request.param
    root = tmp_path_factory.mktemp(f"tf_{timeframe}")
    result = run_engine(
        None,
        AS_OF,
        overrides={
            "general.archive": str(root / "archive"),
            "general.database": f"sqlite:///{root / 'engine.db'}",
            "general.log_dir": str(root / "logs"),
            "general.symbols": ",".join(SYMBOLS),
            "general.timeframe": timeframe,
            "data.source": "synthetic",
            "data.synthetic_variant": "planted_edge",
            "data.synthetic_seed": 7,
            "data.synthetic_drift_bps": drift_bps(timeframe),
            "engine.lookback_days": LOOKBACK_DAYS[timeframe],
            **OPEN_GATES,
        },
    )
    return {"timeframe": timeframe, "root": root, "result": result}


def bundle(world: dict[str, Any], symbol: str, name: str) -> Any:
    return json.loads((world["root"] / "archive/models" / symbol / MODEL_ID / name).read_text(encoding="utf-8"))


def test_the_engine_finishes_with_a_bundle_and_a_champion_per_coin(world: dict[str, Any]) -> None:
    result: EngineRunResult = world["result"]
    assert result.trained == list(SYMBOLS), (result.skipped, result.failed)
    assert sorted(result.promoted) == sorted(SYMBOLS)
    for symbol in SYMBOLS:
        config = bundle(world, symbol, "config.json")
        metrics = bundle(world, symbol, "metrics.json")
        assert metrics["scope"].startswith("out-of-sample")
        assert config["engines"]["xgboost"]["trained"] is True
        # The training window is the lookback in days, whatever the bar length.
        window = config["data_window"]
        span_days = (window["end_ms"] - window["start_ms"]) / DAY_MS
        assert span_days == pytest.approx(LOOKBACK_DAYS[world["timeframe"]], abs=1.0), window


def _reference_round_trip(symbol: str) -> float:
    """Median round trip (bps) of the 15m bars of the same synthetic window: the band every timeframe is in."""
    from huracan_core.config import CostsConfig
    from huracan_core.costs import CostParams

    end = int(AS_OF.timestamp() * 1000)
    candles = SyntheticSource(7).fetch(symbol, "15m", end - 30 * DAY_MS, end)
    costs = bar_costs(candles, symbol, CostsConfig(), params=CostParams.for_timeframe("15m"))
    return float(2.0 * costs["cost_bps"].median())  # type: ignore[operator]


def test_costs_cover_a_day_of_bars_and_stay_in_the_15m_band(world: dict[str, Any]) -> None:
    timeframe = world["timeframe"]
    for symbol in SYMBOLS:
        costs = bundle(world, symbol, "costs.json")
        params = costs["params"]
        for key in ("spread_window_bars", "vol_window_bars", "volume_window_bars"):
            assert params[key] * timeframe_ms(timeframe) == DAY_MS, (key, params)
        reference = _reference_round_trip(symbol)
        round_trip = costs["round_trip_bps_median"]
        assert reference / 1.5 <= round_trip <= reference * 1.5, (timeframe, symbol, round_trip, reference)


def test_hamilton_replays_exactly_the_vectorised_backtest_at_this_timeframe(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    timeframe, root = world["timeframe"], world["root"]
    env = {"HURACAN__GENERAL__TIMEFRAME": timeframe, "HURACAN__DATA__SYNTHETIC_DRIFT_BPS": str(drift_bps(timeframe))}
    expected, got, _ = replay_and_backtest(
        root, str(root / "archive"), f"sqlite:///{root / 'hamilton.db'}", monkeypatch, window=REPLAY, env=env
    )
    assert expected.height > 0
    assert_same_trades(expected, got)
    # Entries and exits at the opens of this timeframe's bars.
    tf = timeframe_ms(timeframe)
    assert (got["entry_time"] % tf == 0).all() and (got["exit_time"] % tf == 0).all()


@pytest.mark.parametrize("coarse", ["15m", "1h"])
def test_regimes_of_one_price_path_agree_when_it_is_sampled_at_5m_15m_and_1h(coarse: str) -> None:
    end = int(AS_OF.timestamp() * 1000)
    five = SyntheticSource(7).fetch("SOLUSDT", "5m", end - 60 * DAY_MS, end)
    resampled = resample_candles(five, "SOLUSDT", "5m", coarse).frame
    assert resampled.height == five.height // round(bars_per_day("5m") / bars_per_day(coarse))
    fine = regime_shares(classify_regimes(five, "5m"))
    other = regime_shares(classify_regimes(resampled, coarse))
    for name in REGIMES:
        assert abs(fine[name] - other[name]) < 0.08, (name, fine, other)
    for shares in (fine, other):
        assert max(shares.values()) < 0.8, shares  # not all one regime
        assert shares["TREND"] > 0.1 and shares["RANGE"] > 0.1, shares
