"""`huracan data fetch` and `huracan data show` through Typer's CliRunner, on a lake in a temp folder."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import typer
from typer.testing import CliRunner

from huracan_core.market.ccxt_source import CcxtSource
from huracan_core.market.lake import LakeSource
from huracan_core.market.synthetic import SyntheticSource
from huracan_core.timeframe import DAY_MS
from tests.stubs.exchange_replay import ReplayMarket, binance_at, closed_port_url, exchange_replay

runner = CliRunner()



def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def test_fetch_from_the_synthetic_market_fills_the_lake_then_only_tops_it_up(
    app: typer.Typer, tmp_path: Path
) -> None:
    lake_dir = tmp_path / "lake"
    args = [
        "data",
        "fetch",
        "--source",
        "synthetic",
        "--symbols",
        "top3",
        "--days",
        "4",
        "--timeframe",
        "15m",
        "--lake",
        str(lake_dir),
    ]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
        assert f"{symbol}: 384 bars added" in first.output
    assert str(lake_dir) in first.output
    lake = LakeSource(lake_dir)
    assert lake.symbols("15m") == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    added = [int(n) for n in re.findall(r"^[A-Z]+: (\d+) bars added", second.output, flags=re.MULTILINE)]
    assert len(added) == 3 and max(added) <= 1  # at most the bar that closed between the two runs


def test_show_summarises_a_symbol_with_its_gate_verdict(app: typer.Typer, tmp_path: Path) -> None:
    lake = LakeSource(tmp_path / "lake")
    end = _now_ms() // DAY_MS * DAY_MS
    # 35 days: more than data.gates.min_history_days (30), so the verdict is the volume's.
    lake.write("RAREUSDT", "15m", SyntheticSource(seed=7).fetch("RAREUSDT", "15m", end - 35 * DAY_MS, end))
    result = runner.invoke(
        app, ["data", "show", "RAREUSDT", "--timeframe", "15m", "--lake", str(tmp_path / "lake")]
    )
    assert result.exit_code == 0, result.output
    assert "3360" in result.output  # rows
    assert "rejected: Low volume. Skipped." in result.output
    assert "median quote volume" in result.output


def test_show_names_an_unknown_symbol(app: typer.Typer, tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "show", "BTCUSDT", "--lake", str(tmp_path / "lake")])
    assert result.exit_code == 2
    assert "unknown symbol BTCUSDT" in result.output


def test_fetch_from_the_exchange_stores_closed_bars(app: typer.Typer, tmp_path: Path) -> None:
    now = _now_ms()
    candles = SyntheticSource(seed=3).fetch("BTCUSDT", "15m", now - 3 * DAY_MS, now + DAY_MS)
    with exchange_replay([ReplayMarket("BTCUSDT", "BTC", "USDT")], {("BTCUSDT", "15m"): candles}) as replay:
        result = runner.invoke(
            app,
            [
                "data",
                "fetch",
                "--source",
                "ccxt",
                "--symbols",
                "BTCUSDT",
                "--days",
                "1",
                "--timeframe",
                "15m",
                "--lake",
                str(tmp_path / "lake"),
            ],
            obj={"exchange": replay.binance()},
        )
    assert result.exit_code == 0, result.output
    assert "BTCUSDT: 96 bars added" in result.output
    stored = LakeSource(tmp_path / "lake").read("BTCUSDT", "15m")
    assert int(stored["timestamp"][-1]) + 900_000 <= _now_ms()


def test_an_unreachable_exchange_is_a_clear_error_and_the_lake_is_untouched(
    app: typer.Typer, tmp_path: Path
) -> None:
    lake = LakeSource(tmp_path / "lake")
    end = _now_ms() // DAY_MS * DAY_MS - 2 * DAY_MS
    lake.write("BTCUSDT", "15m", SyntheticSource(seed=1).fetch("BTCUSDT", "15m", end - DAY_MS, end))
    path = Path(lake.url("BTCUSDT", "15m"))
    before = path.read_bytes()
    dead = CcxtSource(binance_at(closed_port_url()), attempts=2, sleep=lambda _s: None)
    result = runner.invoke(
        app,
        [
            "data",
            "fetch",
            "--symbols",
            "BTCUSDT,ETHUSDT",
            "--timeframe",
            "15m",
            "--lake",
            str(tmp_path / "lake"),
        ],
        obj={"source": dead},
    )
    assert result.exit_code == 1
    assert "ExchangeUnavailableError" in result.output and "binance unreachable" in result.output
    assert path.read_bytes() == before
    assert lake.symbols("15m") == ["BTCUSDT"]


def test_fetch_refuses_the_lake_as_its_own_source(app: typer.Typer, tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "fetch", "--source", "lake", "--lake", str(tmp_path / "lake")])
    assert result.exit_code == 2
    assert "--source ccxt or --source synthetic" in result.output
