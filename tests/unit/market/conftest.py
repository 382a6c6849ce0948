"""Fixtures for the market tests: a lake in a temp folder, a Binance replay server, candle fixtures."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
import typer

_ROOT = str(Path(__file__).resolve().parents[3])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from huracan_core.cli import data  # noqa: E402
from huracan_core.market.ccxt_source import CcxtSource  # noqa: E402
from huracan_core.market.lake import LakeSource  # noqa: E402
from huracan_core.market.synthetic import SyntheticSource  # noqa: E402
from huracan_core.timeframe import DAY_MS  # noqa: E402
from tests.stubs.candles import real_candles_dir  # noqa: E402
from tests.stubs.exchange_replay import ExchangeReplay, ReplayMarket, exchange_replay  # noqa: E402
from tests.stubs.s3 import moto_server, s3_bucket  # noqa: E402

__all__ = ["moto_server", "s3_bucket"]  # re-exported so pytest finds the fixtures


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    """The `data` sub-app mounted as the lead mounts it, run in a temp folder: no config file or HURACAN_*
    variable leaks in."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith("HURACAN"):
            monkeypatch.delenv(name)
    root = typer.Typer()
    root.add_typer(data.app, name="data")
    return root

# 2024-03-01 00:00 UTC: the replayed exchange's candles end around here.
REPLAY_START_MS = 1_709_251_200_000
REPLAY_DAYS = 8  # 8 days of 5m bars = 2304 bars: three pages of 1000.

REPLAY_MARKETS = [
    ReplayMarket("BTCUSDT", "BTC", "USDT", 9.0e8),
    ReplayMarket("ETHUSDT", "ETH", "USDT", 5.0e8),
    ReplayMarket("XRPUSDT", "XRP", "USDT", 3.0e8),
    ReplayMarket("SOLUSDT", "SOL", "USDT", 4.0e8),
    ReplayMarket("BTCUPUSDT", "BTCUP", "USDT", 2.0e9),  # leveraged token: never in a top N
    ReplayMarket("USDCUSDT", "USDC", "USDT", 3.0e9),  # stablecoin pair: never in a top N
    ReplayMarket("ETHBTC", "ETH", "BTC", 1.0e3),
    ReplayMarket("JUPUSDT", "JUP", "USDT", 1.0e8),  # ends in UP but is not leveraged
]


def replay_candles() -> dict[tuple[str, str], pl.DataFrame]:
    """BTC, ETH, SOL from the synthetic market; XRP's real candles (re-timed) when the machine has them."""
    end = REPLAY_START_MS + REPLAY_DAYS * DAY_MS
    market = SyntheticSource(seed=11)
    out = {(s, "5m"): market.fetch(s, "5m", REPLAY_START_MS, end) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")}
    real = real_candles_dir()
    if real is not None and (real / "XRPUSDT.parquet").exists():
        xrp = pl.read_parquet(real / "XRPUSDT.parquet")
        shift = REPLAY_START_MS - int(xrp["timestamp"][0])
        out[("XRPUSDT", "5m")] = xrp.with_columns(pl.col("timestamp") + shift)
    else:
        out[("XRPUSDT", "5m")] = market.fetch("XRPUSDT", "5m", REPLAY_START_MS, REPLAY_START_MS + 7 * DAY_MS)
    return out


@pytest.fixture(scope="module")
def fixture_candles() -> dict[tuple[str, str], pl.DataFrame]:
    return replay_candles()


@pytest.fixture
def replay(fixture_candles: dict[tuple[str, str], pl.DataFrame]) -> Iterator[ExchangeReplay]:
    with exchange_replay(REPLAY_MARKETS, fixture_candles) as state:
        yield state


@pytest.fixture
def source(replay: ExchangeReplay) -> CcxtSource:
    """A CcxtSource over a real ccxt.binance talking to the replay; retries do not sleep."""
    return CcxtSource(replay.binance(), attempts=3, sleep=lambda _s: None)


@pytest.fixture
def lake(tmp_path: Path) -> LakeSource:
    return LakeSource(tmp_path / "lake")
