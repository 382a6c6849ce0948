"""Funding rates: `huracan data fetch` stores them from the local Binance replay (incrementally, skipping coins
without a perpetual, refusing bad data), and research frames carry them point in time to the funding engine."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import typer
from typer.testing import CliRunner

from huracan_core.alphas.cross_asset import FundingEngine
from huracan_core.alphas.registry import fit_states, run_engines
from huracan_core.config import load_config
from huracan_core.evaluation.firing_states import firing_states
from huracan_core.evaluation.research import build_research_frame
from huracan_core.market.funding import funding_at_bars, lake_funding, read_funding
from huracan_core.market.lake import LakeSource
from huracan_core.market.synthetic import SyntheticSource
from huracan_core.timeframe import DAY_MS
from tests.stubs.exchange_replay import ExchangeReplay, ReplayMarket, exchange_replay

runner = CliRunner()
H8 = 8 * 3_600_000
M15 = 900_000
MARKETS = [ReplayMarket("BTCUSDT", "BTC", "USDT"), ReplayMarket("ETHUSDT", "ETH", "USDT")]



def _rates(last_ms: int, n: int) -> pl.DataFrame:
    """`n` rates settled every 8 hours up to `last_ms`, both signs, many beyond the engine's threshold."""
    times = [last_ms - k * H8 for k in range(n - 1, -1, -1)]
    values = [round((-1) ** k * 1e-4 * (1 + k % 4), 8) for k in range(n)]  # |rate| 1e-4..4e-4 > 5e-5
    return pl.DataFrame({"timestamp": times, "funding_rate": values})


def _fetch(app: typer.Typer, replay: ExchangeReplay, lake: Path, *extra: str) -> str:
    args = ["data", "fetch", "--source", "ccxt", "--symbols", "BTCUSDT,ETHUSDT", "--days", "6",
            "--timeframe", "15m", "--lake", str(lake), *extra]  # fmt: skip
    result = runner.invoke(app, args, obj={"exchange": replay.binance()})
    assert result.exit_code == 0, result.output
    return result.output


def _candles(now_ms: int) -> dict[tuple[str, str], pl.DataFrame]:
    end = now_ms // M15 * M15
    src = SyntheticSource(seed=3)
    return {(s, "15m"): src.fetch(s, "15m", end - 7 * DAY_MS, end) for s in ("BTCUSDT", "ETHUSDT")}


def test_fetch_stores_funding_incrementally_and_skips_a_coin_without_a_perpetual(
    app: typer.Typer, tmp_path: Path
) -> None:
    now = int(datetime.now(UTC).timestamp() * 1000)
    rates = _rates(now // H8 * H8, 30)  # 10 days of rates; the fetch keeps 6
    first_part = rates.head(25)
    with exchange_replay(
        MARKETS, _candles(now), perpetuals=["BTCUSDT"], funding={"BTCUSDT": first_part}
    ) as replay:
        out = _fetch(app, replay, tmp_path / "lake")
        assert "ETHUSDT: no perpetual swap on binance, funding skipped" in out
        assert replay.funding_requests("ETHUSDT") == []
        (asked,) = replay.funding_requests("BTCUSDT")[:1]
        start = int(asked.params["startTime"])
        assert now - 6 * DAY_MS - 60_000 <= start <= now - 6 * DAY_MS + 60_000  # --days 6 of history
        lake = LakeSource(tmp_path / "lake")
        stored = read_funding(lake, "BTCUSDT")
        assert stored is not None
        assert stored.equals(first_part.filter(pl.col("timestamp") >= start))
        assert stored.schema == {"timestamp": pl.Int64, "funding_rate": pl.Float64}
        assert Path(tmp_path / "lake" / "funding" / "BTCUSDT.parquet").exists()
        assert not Path(tmp_path / "lake" / "funding" / "ETHUSDT.parquet").exists()
        assert f"BTCUSDT: {stored.height} funding rates added" in out

        # Five more rates settle: the second fetch asks only for what comes after the last stored one.
        replay.funding["BTCUSDT"] = rates
        replay.requests.clear()
        out = _fetch(app, replay, tmp_path / "lake")
        second = replay.funding_requests("BTCUSDT")
        assert int(second[0].params["startTime"]) == int(stored["timestamp"][-1]) + 1
        assert "BTCUSDT: 5 funding rates added" in out
        assert read_funding(lake, "BTCUSDT").equals(rates.filter(pl.col("timestamp") >= start))  # type: ignore[union-attr]

        replay.requests.clear()
        _fetch(app, replay, tmp_path / "lake", "--no-funding")
        assert replay.funding_requests() == []


def test_a_nan_rate_is_refused_by_name_and_the_stored_file_stays_as_it_was(
    app: typer.Typer, tmp_path: Path
) -> None:
    now = int(datetime.now(UTC).timestamp() * 1000)
    rates = _rates(now // H8 * H8, 12)
    with exchange_replay(
        MARKETS, _candles(now), perpetuals=["BTCUSDT"], funding={"BTCUSDT": rates.head(8)}
    ) as replay:
        _fetch(app, replay, tmp_path / "lake")
        path = tmp_path / "lake" / "funding" / "BTCUSDT.parquet"
        before = path.read_bytes()
        bad = rates.with_columns(
            pl.when(pl.col("timestamp") == rates["timestamp"][10]).then(None).otherwise(pl.col("funding_rate"))
            .alias("funding_rate")
        )  # fmt: skip
        replay.funding["BTCUSDT"] = bad
        args = ["data", "fetch", "--source", "ccxt", "--symbols", "BTCUSDT", "--days", "6",
                "--timeframe", "15m", "--lake", str(tmp_path / "lake")]  # fmt: skip
        result = runner.invoke(app, args, obj={"exchange": replay.binance()})
    assert result.exit_code == 1, result.output
    assert "BTCUSDT" in result.output and "not finite" in result.output
    assert path.read_bytes() == before


def test_a_rate_reaches_the_first_bar_whose_close_is_at_or_after_its_funding_time() -> None:
    t0 = 1_709_251_200_000  # a funding time (00:00 UTC)
    candles = pl.DataFrame({"timestamp": [t0 - 2 * M15 + k * M15 for k in range(6)]})
    rates = pl.DataFrame({"timestamp": [t0 - H8, t0, t0 + 30_000], "funding_rate": [1e-4, 2e-4, 3e-4]})
    got = funding_at_bars(candles, rates, "15m")["funding_rate"].to_list()
    # bars open at t0-30m (closes t0-15m), t0-15m (closes t0: the t0 rate is known), t0 (closes t0+15m) ...
    assert got == [1e-4, 2e-4, 3e-4, 3e-4, 3e-4, 3e-4]
    assert funding_at_bars(candles, rates.tail(1), "15m")["funding_rate"].to_list()[:3] == [None, None, 3e-4]
    stale = funding_at_bars(candles.with_columns(pl.col("timestamp") + 2 * DAY_MS), rates, "15m")
    assert stale["funding_rate"].null_count() == 6  # a rate a day old is no longer the coin's funding


def test_research_frames_from_the_fetched_lake_carry_funding_point_in_time_and_the_engine_fires(
    app: typer.Typer, tmp_path: Path
) -> None:
    now = int(datetime.now(UTC).timestamp() * 1000)
    rates = _rates(now // H8 * H8, 30)
    with exchange_replay(MARKETS, _candles(now), perpetuals=["BTCUSDT"], funding={"BTCUSDT": rates}) as replay:
        _fetch(app, replay, tmp_path / "lake")
    config = load_config(None, overrides={"data.source": "lake", "data.lake_dir": str(tmp_path / "lake")})
    funding = lake_funding(config, ["BTCUSDT", "ETHUSDT"])
    assert set(funding) == {"BTCUSDT"}  # ETH has no file: no column, its funding engine abstains
    lake = LakeSource(tmp_path / "lake")
    candles = lake.read("BTCUSDT", "15m")
    frame = build_research_frame(candles, "BTCUSDT", "15m", funding=funding["BTCUSDT"]).frame
    assert "funding_rate" not in build_research_frame(lake.read("ETHUSDT", "15m"), "ETHUSDT", "15m").frame.columns

    # Each stored rate first shows on the bar whose close (open + 15m) is at or after its funding time.
    for ts, rate in funding["BTCUSDT"].tail(5).iter_rows():
        first = frame.filter(pl.col("timestamp") + M15 >= ts).row(0, named=True)
        assert first["funding_rate"] == rate
        before = frame.filter(pl.col("timestamp") + M15 < ts)["funding_rate"].tail(1).to_list()
        assert before != [rate]

    engine = FundingEngine()
    states, errors = fit_states([engine], frame)
    assert errors == {}
    run = run_engines([engine], frame, firing_states([engine], states))
    direction = run.signals["funding"]["direction"].to_numpy()
    rate = frame["funding_rate"].to_numpy()
    beyond = np.abs(np.nan_to_num(rate)) >= FundingEngine.defaults["rate_min"]
    assert beyond.sum() > 100
    assert (direction[beyond] == -np.sign(rate[beyond])).all()  # positive funding: short, and vice versa
    assert (direction[~beyond] == 0).all()
