"""Live mode against a local fake of Binance's spot order endpoints (a real ccxt.binance with fake keys):
it refuses to trade while the exchange and the journal disagree (an order it does not know, a position
changed by hand while it was stopped; on SQLite with a local archive and on PostgreSQL with an S3 archive),
trades through real order endpoints when they agree, journals every order before sending it, resumes after
a restart, and never logs a key.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import create_engine, text

from huracan_core.config import load_config
from huracan_core.exceptions import ConfigError, HuracanError
from huracan_core.hamilton.live_feed import LiveClock
from huracan_core.hamilton.run import HamiltonRequest, run_hamilton
from huracan_core.market.ccxt_source import CcxtSource
from huracan_core.market.planted import PlantedEdgeSource
from huracan_core.timeframe import DAY_MS, timeframe_ms
from tests.stubs.exchange_account import API_KEY, API_SECRET, FAKE_MARKETS, FakeBinance, fake_binance
from tests.stubs.hamilton_world import AS_OF, BTC_DECIDED_MS, LIVE_START_MS, PARITY_ENV, Backend, copy_archive

pytestmark = pytest.mark.slow

TF = timeframe_ms("15m")
START = int(AS_OF.timestamp() * 1000) + DAY_MS
SYMBOLS = ("BTCUSDT", "ETHUSDT")


class ExchangeClock(LiveClock):
    """Simulated wall clock; each wait moves it one bar and sets the exchange's price to the new bar's open."""

    def __init__(self, fake: FakeBinance, start_ms: int) -> None:
        self.fake = fake
        self.t = start_ms + 2_000
        super().__init__(now_fn=lambda: self.t / 1000, sleep_fn=self._advance)
        self._price()

    def _advance(self, _seconds: float) -> None:
        self.t += TF
        self._price()

    def _price(self) -> None:
        bar = (self.t // TF) * TF
        self.fake.now_ms = self.t
        for (symbol, _tf), frame in self.fake.candles.items():
            row = frame.filter(pl.col("timestamp") == bar)
            if row.height:
                self.fake.prices[symbol] = float(row["open"][0])


@pytest.fixture
def account() -> Any:
    market = PlantedEdgeSource(7)
    with fake_binance([m for m in FAKE_MARKETS if m.symbol in SYMBOLS], balances={"USDT": 10_000.0}) as fake:
        fake.candles = {
            (s, "15m"): market.fetch(s, "15m", START - 40 * DAY_MS, START + 4 * DAY_MS) for s in SYMBOLS
        }
        yield fake


def _config(tmp: Path, archive: Path | str, monkeypatch: pytest.MonkeyPatch, db: str | None = None) -> Any:
    for key, value in PARITY_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HURACAN__HAMILTON__MAX_NOTIONAL_PER_COIN", "2000")
    return load_config(
        None,
        overrides={"general.archive": str(archive), "general.database": db or f"sqlite:///{tmp / 'live.db'}",
                   "general.log_dir": str(tmp / "logs")},
    )  # fmt: skip


def _live(config: Any, fake: FakeBinance, clock: ExchangeClock, bars: int) -> Any:
    exchange = fake.ccxt()
    return run_hamilton(
        config, HamiltonRequest(mode="live", clock="live", max_bars=bars),
        source=CcxtSource(exchange, attempts=2, sleep=lambda _s: None), exchange=exchange, clock=clock,
    )  # fmt: skip


def test_live_mode_without_credentials_is_refused_with_a_clear_message(
    champion_archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path, copy_archive(champion_archive, tmp_path / "archive"), monkeypatch)
    config = config.model_copy(update={"data": config.data.model_copy(update={"source": "ccxt"})})
    monkeypatch.delenv("HURACAN_EXCHANGE_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="HURACAN_EXCHANGE_API_KEY"):
        run_hamilton(config, HamiltonRequest(mode="live", clock="live", max_bars=1))


def test_live_mode_on_candles_that_are_not_the_exchanges_is_refused(
    champion_archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path, copy_archive(champion_archive, tmp_path / "archive"), monkeypatch)
    with pytest.raises(ConfigError, match=r"data\.source must be ccxt"):
        run_hamilton(config, HamiltonRequest(mode="live", clock="live", max_bars=1))


def test_an_order_the_journal_does_not_know_stops_live_trading_before_anything_is_sent(
    backend: Backend, monkeypatch: pytest.MonkeyPatch, account: FakeBinance
) -> None:
    world = backend.world()
    config = _config(world.home, world.archive, monkeypatch, db=world.db)
    account.hold = True
    account.place_by_hand("BTCUSDT", "buy", 0.01, client_order_id="web_by_hand_1")
    before = len(account.creates())
    with pytest.raises(HuracanError, match="disagree") as refused:
        _live(config, account, ExchangeClock(account, START), 4)
    assert "web_by_hand_1" in str(refused.value)
    assert len(account.creates()) == before  # fail closed: nothing was sent


def test_a_position_sold_by_hand_while_hamilton_was_stopped_stops_the_restart_before_anything_is_sent(
    backend: Backend, monkeypatch: pytest.MonkeyPatch, account: FakeBinance
) -> None:
    world = backend.world()
    config = _config(world.home, world.archive, monkeypatch, db=world.db)
    clock = ExchangeClock(account, LIVE_START_MS)
    first = _live(config, account, clock, 8)  # 07:30 .. 09:15: BTC bought at the 09:15 open
    assert first.last_bar_ms == BTC_DECIDED_MS + TF
    held = account.balances.get("BTC", 0.0)
    assert held > 0, "nothing was bought: there is no position to disagree about"
    account.place_by_hand("BTCUSDT", "sell", held, client_order_id="web_by_hand_2", hold=False)
    before = len(account.creates())
    with pytest.raises(HuracanError, match="disagree") as refused:
        _live(config, account, clock, 4)
    assert "BTCUSDT" in str(refused.value)
    assert len(account.creates()) == before  # fail closed: nothing was sent


def test_live_trading_journals_each_order_before_sending_it_and_a_restart_reconciles_and_goes_on(
    champion_archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, account: FakeBinance,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    config = _config(tmp_path, copy_archive(champion_archive, tmp_path / "archive"), monkeypatch)
    clock = ExchangeClock(account, START)
    first = _live(config, account, clock, 2 * 96)
    assert first.bars == 2 * 96
    engine = create_engine(config.general.database)
    with engine.connect() as conn:
        orders = conn.execute(
            text("SELECT client_order_id, side, status FROM orders WHERE run_key='live'")
        ).all()
        fills = conn.execute(text("SELECT client_order_id FROM fills WHERE run_key='live'")).all()
    sent = {o.params.get("newClientOrderId") for o in account.creates()}
    assert orders and {o.client_order_id for o in orders} >= sent - {None}
    assert {f.client_order_id for f in fills} <= {o.client_order_id for o in orders}
    assert all(o.client_order_id.startswith("hm") for o in orders)
    assert account.balances.get("USDT", 0) != 10_000.0  # real fills moved the account
    # Spot cannot sell short: a short decision is refused with its reason, never sent.
    assert all(o.side in ("buy", "sell") for o in orders)

    # A restart: the journal and the exchange agree, so it reconciles and trades on from the next bar.
    second = _live(config, account, clock, 24)
    assert second.bars == 24 and second.resumed_from_ms == first.last_bar_ms
    logged = caplog.text
    assert API_KEY not in logged and API_SECRET not in logged
    engine.dispose()
