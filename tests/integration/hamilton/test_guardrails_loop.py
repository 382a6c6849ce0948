"""The guardrails inside the loop: they refuse entries and increases, never exits, and say why.

On SQLite with a local archive and on PostgreSQL with an S3 archive.
"""

from __future__ import annotations

import polars as pl
import pytest
from typer.testing import CliRunner

from huracan_core.cli import app
from tests.stubs.hamilton_world import PARITY_ENV, WINDOW, Backend, World

pytestmark = pytest.mark.slow


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
