"""The live clock runs the same loop as the replay: against a local Binance (a real ccxt.binance pointed at
a replay server on loopback), on a simulated wall clock that moves one bar per wait, Hamilton trades each
newly closed bar once, and its trades are the replay's trades over the same bars.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import create_engine, text

from huracan_core.archive import Storage
from huracan_core.config import load_config
from huracan_core.hamilton.run import HamiltonRequest, run_hamilton
from huracan_core.hamilton.status import read_status
from huracan_core.market.ccxt_source import CcxtSource
from huracan_core.market.planted import PlantedEdgeSource
from huracan_core.timeframe import DAY_MS, timeframe_ms
from tests.stubs.exchange_replay import ReplayMarket, exchange_replay
from tests.stubs.hamilton_world import AS_OF, LIVE_START_MS, PARITY_ENV, SimulatedClock, copy_archive

pytestmark = pytest.mark.slow

TF = timeframe_ms("15m")
START = int(AS_OF.timestamp() * 1000) + DAY_MS  # the service starts a day after the champions' as-of
BARS = 3 * 96  # three days of 15m bars


def _config(tmp: Path, archive: Path, db: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    for key, value in PARITY_ENV.items():
        monkeypatch.setenv(key, value)
    return load_config(
        None,
        overrides={
            "general.archive": str(archive),
            "general.database": db,
            "general.log_dir": str(tmp / "logs"),
        },
    )


def test_the_live_clock_trades_each_closed_bar_once_like_a_replay_of_those_bars(
    champion_archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    market = PlantedEdgeSource(7)
    history = START - 40 * DAY_MS
    candles = {
        (s, "15m"): market.fetch(s, "15m", history, START + 4 * DAY_MS)
        for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")
    }
    markets = [ReplayMarket(s, s[:-4], "USDT", 1e9) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")]
    live_archive = copy_archive(champion_archive, tmp_path / "live" / "archive")
    replay_archive = copy_archive(champion_archive, tmp_path / "replay" / "archive")

    with exchange_replay(markets, candles) as exchange:
        source = CcxtSource(exchange.binance(), attempts=2, sleep=lambda _s: None)
        config = _config(tmp_path / "live", live_archive, f"sqlite:///{tmp_path / 'live.db'}", monkeypatch)
        live = run_hamilton(
            config,
            HamiltonRequest(mode="paper", clock="live", max_bars=BARS),
            source=source,
            clock=SimulatedClock(START),
        )
        first_bar = START - TF
        # The same bars from the same exchange, on the replay clock.
        config = _config(
            tmp_path / "replay", replay_archive, f"sqlite:///{tmp_path / 'replay.db'}", monkeypatch
        )
        replay = run_hamilton(
            config,
            HamiltonRequest(
                mode="paper", clock="replay", start_ms=first_bar, end_ms=first_bar + (BARS + 1) * TF
            ),
            source=source,
        )
    assert live.bars == BARS and live.bar_symbols == 2 * BARS  # BTC and ETH have champions, SOL does not
    assert live.last_bar_ms == first_bar + (BARS - 1) * TF
    assert replay.bars == BARS + 1
    status = read_status(Storage(live_archive))
    assert status is not None and status.mode == "paper" and status.clock == "live"
    assert status.bar_ms == live.last_bar_ms and set(status.champions) == {"BTCUSDT", "ETHUSDT"}

    def closed(archive: Path) -> pl.DataFrame:
        files = sorted((archive / "live_logs/trades").glob("*.parquet"))
        frame = pl.concat([pl.read_parquet(p) for p in files], how="diagonal")
        # The replay closes everything at its window's last open; live trading does not stop there.
        return frame.filter(pl.col("exit_time") <= live.last_bar_ms).sort("entry_time", "symbol")

    got, want = closed(live_archive), closed(replay_archive)
    assert want.height >= 3, "too few trades in three days for the comparison to mean something"
    exact = ["symbol", "side", "entry_time", "exit_time", "entry_price", "exit_price"]
    assert got.select(exact).equals(want.select(exact)), (got.select(exact), want.select(exact))
    # The newest bar's costs come from numpy on a tail, the replay's from polars over the history: equal to
    # rounding (the incremental-equals-batch tests bound it), so sizes and costs are compared to 1e-9.
    for column in ("size", "entry_cost_bps", "costs_bps"):
        assert got[column].to_list() == pytest.approx(want[column].to_list(), rel=1e-9), column
    assert (got["mode"] == "paper").all() and (want["mode"] == "replay").all()


def _journal(db: str) -> tuple[int, dict[str, Any], list[tuple[str, int]]]:
    """The last committed bar, its state, and every order as (symbol, decision bar)."""
    engine = create_engine(db)
    with engine.connect() as conn:
        bar_ms, state = conn.execute(text("SELECT bar_ms, state FROM hamilton_state")).one()
        orders = [
            tuple(r) for r in conn.execute(text("SELECT symbol, bar_ms FROM orders ORDER BY bar_ms, symbol"))
        ]
    engine.dispose()
    return int(bar_ms), json.loads(state), orders


def test_after_downtime_the_missed_bars_are_stepped_but_never_traded_after_the_fact(
    champion_archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One service runs 07:30 .. 09:45 without stopping; another stops after 08:15 and is back at 10:00, when
    09:45 is the newest closed bar. The five bars it missed (08:30 .. 09:30, when the calm one bought BTC and
    ETH) are fetched and stepped, so its champions' state equals the calm one's, but nothing is ordered on
    them; from 09:45 on it trades again and holds what the calm one holds."""

    # Bars this late are also refused entries by the stale-data guardrail; lifted here, so that what is
    # tested is the catch-up rule itself (which also keeps exits where they were).
    monkeypatch.setenv("HURACAN__HAMILTON__STALE_DATA_BARS", "1000")

    def run(name: str, clock: SimulatedClock, bars: int) -> Any:
        archive = copy_archive(champion_archive, tmp_path / name / "archive")
        config = _config(tmp_path / name, archive, f"sqlite:///{tmp_path / name / 'h.db'}", monkeypatch)
        return run_hamilton(config, HamiltonRequest(mode="paper", clock="live", max_bars=bars),
                            source=PlantedEdgeSource(7), clock=clock)  # fmt: skip

    calm = run("calm", SimulatedClock(LIVE_START_MS), 10)
    first = run("down", SimulatedClock(LIVE_START_MS), 4)
    back = SimulatedClock(LIVE_START_MS + 9 * TF)  # 10:00: 09:45 is the newest closed bar
    archive = tmp_path / "down" / "archive"
    config = _config(tmp_path / "down", archive, f"sqlite:///{tmp_path / 'down' / 'h.db'}", monkeypatch)
    second = run_hamilton(config, HamiltonRequest(mode="paper", clock="live", max_bars=6),
                          source=PlantedEdgeSource(7), clock=back)  # fmt: skip
    missed = range(first.last_bar_ms + TF, calm.last_bar_ms, TF)
    assert second.resumed_from_ms == first.last_bar_ms and second.bars == len(missed) + 1 == 6
    assert second.last_bar_ms == calm.last_bar_ms

    calm_bar, calm_state, calm_orders = _journal(f"sqlite:///{tmp_path / 'calm' / 'h.db'}")
    bar, state, orders = _journal(f"sqlite:///{tmp_path / 'down' / 'h.db'}")
    assert bar == calm_bar
    assert any(b in missed for _, b in calm_orders), "the calm service ordered nothing then: vacuous"
    assert not [o for o in orders if o[1] in missed], "a missed bar was traded after the fact"
    for symbol in ("BTCUSDT", "ETHUSDT"):
        coin, calm_coin = state["coins"][symbol], calm_state["coins"][symbol]
        # Stepped through every missed bar: the combiner learned the same outcomes, the hold rule is where
        # the calm one's is, and the book counted the same bars.
        assert coin["trader"] == calm_coin["trader"]
        assert coin["book"]["bar"] == calm_coin["book"]["bar"]
        assert coin["pending"]["target"] == calm_coin["pending"]["target"] != 0  # trades on from 09:45
