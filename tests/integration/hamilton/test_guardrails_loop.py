"""The guardrails inside the loop: they refuse entries and increases, never exits, and say why.

On SQLite with a local archive and on PostgreSQL with an S3 archive.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import polars as pl
import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from huracan_core.cli import app
from huracan_core.market.planted import PlantedEdgeSource
from huracan_core.timeframe import DAY_MS
from tests.stubs.hamilton_world import PARITY_ENV, WINDOW, Backend, World

pytestmark = pytest.mark.slow

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
    trades = _replay(backend.world(), monkeypatch, HURACAN__HAMILTON__DAILY_LOSS_CAP_PCT="0.05")
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
