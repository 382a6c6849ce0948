"""The guardrails inside the loop: they refuse entries and increases, never exits, and say why."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from huracan_core.cli import app
from tests.stubs.hamilton_world import PARITY_ENV, WINDOW, copy_archive

pytestmark = pytest.mark.slow


def _replay(tmp_path: Path, archive: Path, monkeypatch: pytest.MonkeyPatch, **settings: str) -> pl.DataFrame:
    for key, value in {**PARITY_ENV, **settings}.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(
        app, ["hamilton", "run", "--clock", "replay", "--from", WINDOW[0], "--to", WINDOW[1],
              "--archive", str(archive), "--db", f"sqlite:///{tmp_path / 'h.db'}"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    files = sorted((archive / "live_logs/trades").glob("*.parquet"))
    return pl.concat([pl.read_parquet(p) for p in files], how="diagonal").sort("entry_time")


def test_with_one_position_allowed_two_coins_never_hold_positions_at_once(
    champion_archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    free = _replay(
        tmp_path / "free", copy_archive(champion_archive, tmp_path / "free" / "archive"), monkeypatch
    )
    capped = _replay(
        tmp_path / "capped", copy_archive(champion_archive, tmp_path / "capped" / "archive"), monkeypatch,
        HURACAN__HAMILTON__MAX_OPEN_POSITIONS="1",
    )  # fmt: skip

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
    champion_archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trades = _replay(
        tmp_path, copy_archive(champion_archive, tmp_path / "archive"), monkeypatch,
        HURACAN__HAMILTON__DAILY_LOSS_CAP_PCT="0.05",
    )  # fmt: skip
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
