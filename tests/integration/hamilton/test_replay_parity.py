"""The test users care about most: a Hamilton replay makes exactly the backtest's trades.

The same window, symbols, market and archive go to `huracan backtest --champions` (the vectorised path)
and to `huracan hamilton run --clock replay --mode paper` (the bar-by-bar loop with the paper broker,
journal and trade log); every trade must agree: entry and exit time, side, size, prices, costs.
Run on SQLite with a local archive and on PostgreSQL with an S3 archive.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from huracan_core.archive import Storage
from huracan_core.cli import app
from tests.stubs.candles import REAL_CANDLES_5M
from tests.stubs.hamilton_world import PARITY_ENV, WINDOW, copy_archive, upload_archive
from tests.unit.db.databases import PG_HOST, PG_PORT

pytestmark = pytest.mark.slow

EXACT = (
    "symbol",
    "side",
    "entry_time",
    "exit_time",
    "entry_price",
    "exit_price",
    "entry_cost_bps",
    "bars_held",
)
CLOSE = ("size", "max_size", "costs_bps", "gross_pnl_pct", "net_pnl_pct")  # float sums in another order


def replay_and_backtest(
    tmp_path: Path,
    archive: str,
    db: str,
    monkeypatch: pytest.MonkeyPatch,
    *,
    window: tuple[str, str] = WINDOW,
    env: dict[str, str] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame, Any]:
    for key, value in {**PARITY_ENV, **(env or {})}.items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    out = tmp_path / "bt"
    start, end = window
    backtest = runner.invoke(
        app,
        ["backtest", "--champions", "--from", start, "--to", end, "--archive", archive, "--out", str(out)],
    )
    assert backtest.exit_code == 0, backtest.output
    replay = runner.invoke(
        app,
        ["hamilton", "run", "--clock", "replay", "--mode", "paper", "--from", start, "--to", end,
         "--archive", archive, "--db", db],
    )  # fmt: skip
    assert replay.exit_code == 0, replay.output
    expected = pl.concat([pl.read_parquet(p) for p in sorted(out.glob("*/trades.parquet"))], how="diagonal")
    storage = Storage(archive)
    logged = [storage.read_parquet(k) for k in storage.list("live_logs/trades") if k.endswith(".parquet")]
    got = pl.concat(logged, how="diagonal")
    return expected.sort("entry_time", "symbol"), got.sort("entry_time", "symbol"), replay


def assert_same_trades(expected: pl.DataFrame, got: pl.DataFrame) -> None:
    assert got.height == expected.height, (got.height, expected.height)
    for column in EXACT:
        mismatch = got[column].to_numpy() != expected[column].to_numpy()
        assert not mismatch.any(), (
            column,
            got.filter(pl.Series(mismatch)).head(3),
            expected.filter(pl.Series(mismatch)).head(3),
        )
    for column in CLOSE:
        np.testing.assert_allclose(got[column].to_numpy(), expected[column].to_numpy(), rtol=1e-9, atol=1e-9)
    assert (got["mode"] == "replay").all()
    assert got["model_id"].to_list() == expected["model_id"].to_list()


def test_a_replay_trades_exactly_what_the_backtest_of_the_champions_trades(
    champion_archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = copy_archive(champion_archive, tmp_path / "archive")
    expected, got, _ = replay_and_backtest(
        tmp_path, str(archive), f"sqlite:///{tmp_path / 'h.db'}", monkeypatch
    )
    assert expected.height >= 20, "too few trades for the comparison to mean something"
    assert_same_trades(expected, got)
    # Run again: the finished replay resumes at its end and changes nothing.
    again = CliRunner().invoke(
        app, ["hamilton", "run", "--clock", "replay", "--from", WINDOW[0], "--to", WINDOW[1],
              "--archive", str(archive), "--db", f"sqlite:///{tmp_path / 'h.db'}"],
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    assert "0 bars" in again.output and "(resumed)" in again.output
    logs = sorted((archive / "live_logs/trades").glob("*.parquet"))
    rerun = pl.concat([pl.read_parquet(p) for p in logs], how="diagonal").sort("entry_time", "symbol")
    assert rerun.equals(got)


def test_with_volatility_targeting_the_replay_trades_exactly_the_sized_trades_of_the_backtest(
    champion_archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sizes capped at target / realised vol: the same numbers reach `decide` in both paths."""
    archive = copy_archive(champion_archive, tmp_path / "archive")
    expected, got, _ = replay_and_backtest(
        tmp_path, str(archive), f"sqlite:///{tmp_path / 'h.db'}", monkeypatch,
        env={"HURACAN__HAMILTON__TARGET_VOLATILITY_PCT": "40"},
    )  # fmt: skip
    assert expected.height >= 20, "too few trades for the comparison to mean something"
    assert_same_trades(expected, got)
    # The target bound: the same trades as without it, smaller (the synthetic coins' volatility is above 40%).
    monkeypatch.delenv("HURACAN__HAMILTON__TARGET_VOLATILITY_PCT")
    out = tmp_path / "bt_unsized"
    unsized = CliRunner().invoke(
        app, ["backtest", "--champions", "--from", WINDOW[0], "--to", WINDOW[1], "--archive", str(archive),
              "--out", str(out)],
    )  # fmt: skip
    assert unsized.exit_code == 0, unsized.output
    plain = pl.concat([pl.read_parquet(p) for p in sorted(out.glob("*/trades.parquet"))], how="diagonal")
    plain = plain.sort("entry_time", "symbol")
    assert plain["entry_time"].equals(got["entry_time"]) and plain["symbol"].equals(got["symbol"])
    assert (got["size"].to_numpy() <= plain["size"].to_numpy()).all()
    assert (got["size"].to_numpy() < plain["size"].to_numpy()).mean() > 0.5


@pytest.mark.postgres
def test_the_same_parity_holds_on_postgresql_with_an_s3_archive(
    champion_archive: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    s3_bucket: Any,
    postgres_server: Any,
) -> None:
    archive = upload_archive(champion_archive, s3_bucket.url("prod"))
    user, name = postgres_server
    db = f"postgresql+psycopg2://{user}@{PG_HOST}:{PG_PORT}/{name}"
    expected, got, _ = replay_and_backtest(tmp_path, archive, db, monkeypatch)
    assert_same_trades(expected, got)


REAL_LAKE = REAL_CANDLES_5M.parents[1]  # ../shared/data: candles/5m and candles/15m


@pytest.mark.skipif(
    not (REAL_LAKE / "candles/15m").is_dir(), reason="../shared/data (real candles) is not here"
)
def test_on_real_binance_candles_the_replay_also_trades_exactly_what_the_backtest_trades(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Champions trained by the Engine on real 2024 candles (gates opened so that there is a champion to
    trade: real markets rarely give one), then June 2024 replayed and backtested."""
    from datetime import UTC, datetime

    from huracan_core.engine.run import run_engine

    result = run_engine(
        None,
        datetime(2024, 6, 1, tzinfo=UTC),
        overrides={
            "general.archive": str(tmp_path / "archive"), "general.database": f"sqlite:///{tmp_path / 'e.db'}",
            "general.log_dir": str(tmp_path / "logs"), "general.symbols": "BTCUSDT,ETHUSDT,SOLUSDT,XRPUSDT,DOGEUSDT",
            "data.source": "lake", "data.lake_dir": str(REAL_LAKE), "engine.lookback_days": 120,
            "engine.max_concurrent": 2, "engine.gates.min_oos_trades": 1, "engine.gates.min_net_pnl_pct": -100,
            "engine.gates.min_sharpe": -100, "engine.gates.max_drawdown_pct": 100,
            "engine.gates.min_deflated_sharpe": 0,
        },
    )  # fmt: skip
    assert result.promoted, "no champion on real candles even with open gates"
    expected, got, _ = replay_and_backtest(
        tmp_path,
        str(tmp_path / "archive"),
        f"sqlite:///{tmp_path / 'h.db'}",
        monkeypatch,
        window=("2024-06-01", "2024-07-01"),
        env={"HURACAN__DATA__SOURCE": "lake", "HURACAN__DATA__LAKE_DIR": str(REAL_LAKE)},
    )
    assert expected.height >= 3
    assert_same_trades(expected, got)
