"""The guardrails inside the loop: they refuse entries and increases, never exits, and say why.

Every guardrail is checked end to end, through `huracan hamilton run` or `run_hamilton`, on SQLite with a
local archive and on PostgreSQL with an S3 archive: the net edge floor, the spread threshold, the daily loss
cap (also across a restart the same UTC day), the maximum of open positions, the notional cap per coin, stale
data, a stale model (with its alert) and the manual pause (also across a restart). The rules themselves are
unit-tested in tests/unit/hamilton/test_guardrails.py; here the question is whether the loop obeys them.
Replays use a few days, live-clock runs a few dozen bars: the rules bind within them.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from huracan_core.archive import paths
from huracan_core.cli import app
from huracan_core.config import load_config
from huracan_core.decision import BELOW_EDGE_THRESHOLD, SPREAD_TOO_WIDE
from huracan_core.features import DEFAULT_RECIPE
from huracan_core.hamilton.champions import ChampionBook
from huracan_core.hamilton.control import PauseState, write_pause
from huracan_core.hamilton.run import HamiltonRequest, run_hamilton
from huracan_core.hamilton.service import Hamilton, RunSummary
from huracan_core.hamilton.status import HamiltonStatus, read_status
from huracan_core.hamilton.trader import BarDecision
from huracan_core.market.base import CandleSource
from huracan_core.market.planted import PlantedEdgeSource
from huracan_core.timeframe import DAY_MS, timeframe_ms
from tests.stubs.hamilton_world import (
    BTC_DECIDED_MS,
    ETH_DECIDED_MS,
    LIVE_START_MS,
    PARITY_ENV,
    WINDOW,
    Backend,
    SimulatedClock,
    World,
)

pytestmark = pytest.mark.slow

TF = timeframe_ms("15m")
FOUR_DAYS = (WINDOW[0], "2026-03-05T00:00")  # enough entries for every rule to bind and to let some pass


def _ms(text_utc: str) -> int:
    return int(datetime.fromisoformat(text_utc).replace(tzinfo=UTC).timestamp() * 1000)


def _replay(
    world: World, monkeypatch: pytest.MonkeyPatch, window: tuple[str, str] = WINDOW, **settings: str
) -> pl.DataFrame:
    for key, value in {**PARITY_ENV, **settings}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HURACAN__GENERAL__LOG_DIR", str(world.home / "logs"))
    result = CliRunner().invoke(
        app, ["hamilton", "run", "--clock", "replay", "--from", window[0], "--to", window[1],
              "--archive", world.archive, "--db", world.db],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return world.trades()


def _decisions(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int, BarDecision]]:
    """Every decision the loop hands to its guardrails, as (symbol, bar, decision), recorded as it runs."""
    seen: list[tuple[str, int, BarDecision]] = []
    guarded = Hamilton._guarded

    def spy(self: Hamilton, coin: Any, made: BarDecision, price: float, bar_ms: int) -> Any:
        seen.append((coin.symbol, bar_ms, made))
        return guarded(self, coin, made, price, bar_ms)

    monkeypatch.setattr(Hamilton, "_guarded", spy)
    return seen


def _live(
    world: World, monkeypatch: pytest.MonkeyPatch, clock: SimulatedClock, bars: int,
    source: CandleSource | None = None, **settings: str,
) -> RunSummary:  # fmt: skip
    """Paper trading on the live clock for `bars` bars: one start of the service, stopped after them."""
    for key, value in {**PARITY_ENV, **settings}.items():
        monkeypatch.setenv(key, value)
    config = load_config(
        None,
        overrides={"general.archive": world.archive, "general.database": world.db,
                   "general.log_dir": str(world.home / "logs")},
    )  # fmt: skip
    return run_hamilton(
        config, HamiltonRequest(mode="paper", clock="live", max_bars=bars),
        source=source or PlantedEdgeSource(7), clock=clock,
    )  # fmt: skip


def _status(world: World) -> HamiltonStatus:
    status = read_status(world.storage)
    assert status is not None
    return status


def _units_after_each_fill(world: World) -> pl.DataFrame:
    """Each fill with its decision bar, the coin's signed base units once it filled, and whether it opened
    or increased a position (what guardrails may refuse)."""
    engine = create_engine(world.db)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT f.symbol, f.side, f.quantity, f.filled_at, o.bar_ms, o.leg FROM fills f "
            "JOIN orders o ON o.run_key = f.run_key AND o.client_order_id = f.client_order_id "
            "ORDER BY f.symbol, f.filled_at")).all()  # fmt: skip
    engine.dispose()
    frame = pl.DataFrame([dict(r._mapping) for r in rows])
    signed = pl.when(pl.col("side") == "buy").then(pl.col("quantity")).otherwise(-pl.col("quantity"))
    frame = frame.with_columns(signed.cum_sum().over("symbol").alias("units"))
    before = pl.col("units") - signed
    # An entry or an increase: more units than before, or units on the other side (a reversal).
    increase = (pl.col("units").abs() > before.abs() + 1e-12) | (pl.col("units") * before < 0)
    return frame.with_columns(increase.alias("increase"))


def _refusals(announced: list[logging.LogRecord], code: str) -> list[logging.LogRecord]:
    return [r for r in announced if f"entry refused ({code}" in r.getMessage()]


# --- replays ---------------------------------------------------------------------------------------------
def test_with_one_position_allowed_two_coins_never_hold_positions_at_once(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    free = _replay(backend.world("free"), monkeypatch)
    capped = _replay(backend.world("capped"), monkeypatch, HURACAN__HAMILTON__MAX_OPEN_POSITIONS="1")

    def overlaps(trades: pl.DataFrame) -> int:
        rows = trades.select("symbol", "entry_time", "exit_time").rows()
        return sum(
            1
            for i, a in enumerate(rows)
            for b in rows[i + 1 :]
            if a[0] != b[0] and b[1] < a[2] and a[1] < b[2]
        )

    assert overlaps(free) > 0, "without the cap the coins overlap: otherwise the test proves nothing"
    assert overlaps(capped) == 0
    assert 0 < capped.height < free.height


def test_after_the_daily_loss_cap_no_position_opens_until_the_next_utc_day(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = backend.world()
    trades = _replay(world, monkeypatch, HURACAN__HAMILTON__DAILY_LOSS_CAP_PCT="0.05")
    day = (pl.col("entry_time") // 86_400_000).alias("day")
    losers = trades.filter(
        pl.col("net_pnl_pct") < -0.05 * 2
    )  # a loss alone beyond the cap, on half the equity
    assert losers.height > 0, "no losing trade big enough: the cap is never tested"
    for loser in losers.iter_rows(named=True):
        same_day_after = trades.filter(
            (pl.col("entry_time") // 86_400_000 == loser["exit_time"] // 86_400_000)
            & (pl.col("entry_time") > loser["exit_time"])
        )
        assert same_day_after.height == 0, (loser, same_day_after)
    assert trades.select(day).n_unique() > 1  # trading resumed on later days
    # The journal says on which days the cap stopped entries, and when: the Mechanic's rollback reads it.
    engine = create_engine(world.db)
    with engine.connect() as conn:
        hits = {str(row.trade_day)[:10]: row.loss_cap_hit_ms for row in conn.execute(text(
            "SELECT trade_day, loss_cap_hit_ms FROM daily_equity WHERE loss_cap_hit_ms IS NOT NULL"))}  # fmt: skip
        days = conn.execute(text("SELECT count(*) FROM daily_equity")).scalar_one()
    engine.dispose()
    assert 0 < len(hits) < days  # not every day: a record of the days the cap bound
    for hit_day, hit_ms in hits.items():
        assert datetime.fromtimestamp(hit_ms / 1000, UTC).date().isoformat() == hit_day
        # Decisions of the bar that hit it were made before its close; nothing enters later that day.
        later = trades.filter((pl.col("entry_time") > hit_ms) & (pl.col("entry_time") // DAY_MS == hit_ms // DAY_MS))
        assert later.height == 0, (hit_day, later)


def test_a_position_opens_only_on_a_net_edge_above_the_floor(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    floor = 20.0
    decided = _decisions(monkeypatch)
    trades = _replay(
        backend.world(), monkeypatch, FOUR_DAYS, HURACAN__HAMILTON__EDGE_THRESHOLD_BPS=str(floor)
    )
    by_bar = {(symbol, bar_ms): made for symbol, bar_ms, made in decided}
    assert trades.height > 0
    for trade in trades.iter_rows(named=True):  # each trade opened at the open after its decision
        made = by_bar[(trade["symbol"], trade["entry_time"] - TF)]
        assert made.side == trade["side"] and made.expected_net_edge_bps > floor, (trade, made)
    below = [m for _, _, m in decided if m.reason == BELOW_EDGE_THRESHOLD and m.expected_net_edge_bps > 0]
    assert below, "no net edge between 0 and the floor: the floor never refused anything"


def test_no_position_opens_when_the_spread_is_wider_than_the_threshold(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    threshold = 4.0  # full spread, bps; the planted market's estimate ranges from 1 to about 17
    decided = _decisions(monkeypatch)
    trades = _replay(backend.world(), monkeypatch, FOUR_DAYS,
                     HURACAN__HAMILTON__SPREAD_THRESHOLD_BPS=str(threshold))  # fmt: skip
    assert trades.height > 0
    # spread_bps is the half spread the entry paid, estimated at the bar that decided it.
    assert (2 * trades["spread_bps"] <= threshold).all(), trades.filter(2 * pl.col("spread_bps") > threshold)
    wide = [m for _, _, m in decided if m.reason == SPREAD_TOO_WIDE and m.expected_net_edge_bps > 0]
    assert wide, "no tradable edge met a wide spread: the threshold never refused anything"


def test_no_order_takes_a_coin_above_the_notional_cap_at_the_price_it_was_decided_at(
    backend: Backend, monkeypatch: pytest.MonkeyPatch, announced: list[logging.LogRecord]
) -> None:
    cap = 300.0  # quote currency; an equal share of the 10,000 paper wallet is 5,000
    world = backend.world()
    _replay(world, monkeypatch, FOUR_DAYS, HURACAN__HAMILTON__MAX_NOTIONAL_PER_COIN=str(cap))
    fills = _units_after_each_fill(world)
    market = PlantedEdgeSource(7)
    closes = pl.concat(
        market.fetch(s, "15m", _ms(FOUR_DAYS[0]) - DAY_MS, _ms(FOUR_DAYS[1])).select(
            pl.lit(s).alias("symbol"), pl.col("timestamp").alias("bar_ms"), "close"
        )
        for s in fills["symbol"].unique()
    )
    fills = fills.join(closes, on=["symbol", "bar_ms"], how="left")
    notional = (pl.col("units").abs() * pl.col("close")).alias("notional")
    increases = fills.filter("increase").with_columns(notional)
    assert increases["close"].null_count() == 0
    over = increases.filter(pl.col("notional") > cap * (1 + 1e-9))
    assert over.height == 0, over.select("symbol", "bar_ms", "leg", "units", "close", "notional").rows()
    assert increases["notional"].max() >= 0.99 * cap, "the cap never bound: the test proves nothing"
    assert increases.filter(pl.col("leg") == "resize").height > 0, "no resize upwards: half of it is untested"
    assert _refusals(announced, "MAX_NOTIONAL"), "no increase was ever refused: the guardrail never acted"


# --- the live clock ----------------------------------------------------------------------------------------
def test_a_champion_older_than_the_age_limit_opens_nothing_and_raises_an_alert(
    backend: Backend, monkeypatch: pytest.MonkeyPatch, announced: list[logging.LogRecord]
) -> None:
    world = backend.world()
    book = ChampionBook(world.storage, recipe_hash=DEFAULT_RECIPE.hash())
    trained = book.at("ETHUSDT", LIVE_START_MS).trained_as_of_ms  # both coins come from the same night
    assert book.at("BTCUSDT", LIVE_START_MS).trained_as_of_ms == trained
    # Too old from 09:20 on: BTC's decision (taken at 09:15) is in time, ETH's (at 09:30) is not.
    limit_days = (ETH_DECIDED_MS + 5 * 60_000 - trained) / DAY_MS
    _live(world, monkeypatch, SimulatedClock(LIVE_START_MS), 12,
          HURACAN__HAMILTON__MAX_MODEL_AGE_DAYS=repr(limit_days))  # fmt: skip
    status = _status(world)
    assert status.positions["BTCUSDT"].entry_time == BTC_DECIDED_MS + TF  # decided while the model was fresh
    assert "ETHUSDT" not in status.positions and world.trades().height == 0
    fills = _units_after_each_fill(world)
    resized_up = fills.filter(pl.col("increase") & (pl.col("bar_ms") >= ETH_DECIDED_MS))
    assert resized_up.height == 0, resized_up.rows()
    assert status.guardrails.blocked["ETHUSDT"].startswith("STALE_MODEL")
    alerts = [r for r in _refusals(announced, "STALE_MODEL") if r.levelno >= logging.WARNING]
    assert any("ETHUSDT" in r.getMessage() for r in alerts), "the stale model was refused without an alert"


def test_the_pause_stops_entries_and_increases_but_not_exits_and_holds_after_a_restart(
    backend: Backend, monkeypatch: pytest.MonkeyPatch, announced: list[logging.LogRecord]
) -> None:
    world = backend.world()

    def pause_before_the_eth_decision(now_ms: int) -> None:
        if now_ms > ETH_DECIDED_MS + TF and not world.storage.exists(paths.pause_file()):
            state = PauseState(paused=True, updated_by="test", updated_at=datetime.now(UTC), reason="testing")
            write_pause(world.storage, state)

    clock = SimulatedClock(LIVE_START_MS, on_bar=pause_before_the_eth_decision)
    first = _live(world, monkeypatch, clock, 8)  # 07:30 .. 09:15: BTC bought, then paused
    assert first.last_bar_ms == ETH_DECIDED_MS and _status(world).paused
    assert _refusals(announced, "PAUSED"), "nothing was refused before the restart: the pause is untested"
    announced.clear()
    # Stopped and started again: the journal resumes after 09:15 and the pause file still says paused.
    second = _live(world, monkeypatch, SimulatedClock(clock.t - 2_000), 12)  # 09:30 .. 12:15
    assert second.resumed_from_ms == first.last_bar_ms and second.bars == 12
    refused = _refusals(announced, "PAUSED")
    assert any("ETHUSDT" in r.getMessage() for r in refused), "ETH's entry was not refused after the restart"
    trades = world.trades()
    assert trades["symbol"].to_list() == ["BTCUSDT"]  # ETH never opened
    btc = trades.row(0, named=True)
    assert btc["entry_time"] == BTC_DECIDED_MS + TF  # opened before the pause
    assert btc["max_size"] == btc["size"]  # never increased while paused
    assert btc["exit_time"] <= second.last_bar_ms  # and its exit was not blocked
    status = _status(world)
    assert status.paused and not status.positions


def test_a_daily_loss_cap_hit_before_a_restart_still_holds_after_it_the_same_utc_day(
    backend: Backend, monkeypatch: pytest.MonkeyPatch, announced: list[logging.LogRecord]
) -> None:
    world = backend.world()
    cap = {"HURACAN__HAMILTON__DAILY_LOSS_CAP_PCT": "0.01"}  # BTC's entry costs alone lose more than this
    clock = SimulatedClock(LIVE_START_MS)
    first = _live(world, monkeypatch, clock, 8, **cap)  # 07:30 .. 09:15: BTC bought at 09:15
    hit = _status(world).guardrails
    assert first.last_bar_ms == ETH_DECIDED_MS
    assert hit.loss_cap_hit and hit.day == "2026-03-01", "the cap was not hit before the restart"
    announced.clear()
    second = _live(world, monkeypatch, SimulatedClock(clock.t - 2_000), 12, **cap)  # 09:30 .. 12:15
    assert second.resumed_from_ms == first.last_bar_ms
    refused = _refusals(announced, "DAILY_LOSS_CAP")
    assert refused, "no entry or increase was wanted after the restart: the test proves nothing"
    fills = _units_after_each_fill(world)
    after = fills.filter(pl.col("increase") & (pl.col("bar_ms") > first.last_bar_ms))
    assert after.height == 0, after.rows()
    status = _status(world).guardrails
    assert status.loss_cap_hit and status.day == hit.day and status.day_start_equity == hit.day_start_equity


class _SlowExchange(CandleSource):
    """The planted market behind an exchange that, once, takes `bars` bars to answer: the wall clock runs on
    while the candles are fetched, so the bar they bring is decided late."""

    def __init__(self, clock: SimulatedClock, slow_from_ms: int, bars: int) -> None:
        self.market, self.clock = PlantedEdgeSource(7), clock
        self.slow_from_ms, self.bars, self.slowed = slow_from_ms, bars, False

    def list_symbols(self, timeframe: str | None = None) -> list[str]:
        return self.market.list_symbols(timeframe)

    def quote_volumes(self, symbols: Any, *, timeframe: str | None = None, as_of_ms: int | None = None) -> dict[str, float]:
        return self.market.quote_volumes(symbols, timeframe=timeframe)

    def fetch(
        self, symbol: str, timeframe: str, start_ms: int, end_ms: int, *, now_ms: int | None = None
    ) -> pl.DataFrame:
        if not self.slowed and now_ms is not None and now_ms >= self.slow_from_ms:
            self.slowed = True
            self.clock.t += self.bars * TF
        return self.market.fetch(symbol, timeframe, start_ms, end_ms, now_ms=now_ms)


def test_a_bar_decided_more_than_the_stale_limit_after_it_closed_opens_nothing(
    backend: Backend, monkeypatch: pytest.MonkeyPatch, announced: list[logging.LogRecord]
) -> None:
    world = backend.world()
    clock = SimulatedClock(LIVE_START_MS)
    # The candles of the 09:00 bar (BTC's buy) take three bars to come: that bar is decided at 10:00, four
    # bars after it opened (the limit is two). 09:15 and 09:30 are caught up, 09:45 is on time again.
    slow = _SlowExchange(clock, BTC_DECIDED_MS + TF, 3)
    summary = _live(world, monkeypatch, clock, 11, source=slow, HURACAN__HAMILTON__STALE_DATA_BARS="2")
    fresh_again = BTC_DECIDED_MS + 3 * TF
    assert slow.slowed and summary.last_bar_ms == fresh_again + TF  # 07:30 .. 10:00
    refused = [r for r in _refusals(announced, "STALE_DATA") if "BTCUSDT" in r.getMessage()]
    assert refused and "opened 2026-03-01 09:00 UTC" in refused[0].getMessage(), [
        r.getMessage() for r in refused
    ]
    assert refused[0].levelno >= logging.WARNING  # an alert, not only a log line
    engine = create_engine(world.db)
    with engine.connect() as conn:
        decided = dict(conn.execute(text("SELECT symbol, min(bar_ms) FROM orders GROUP BY symbol")).all())
    engine.dispose()
    # Nothing ordered on the late bar (nor on the caught-up ones); both coins buy once the data is fresh.
    assert decided == {"BTCUSDT": fresh_again, "ETHUSDT": fresh_again}
