"""Kill -9 at any moment and run the same command again: no trade lost, none duplicated.

A replay is killed (SIGKILL, no chance to clean up) at random moments and restarted each time; it must end
with exactly the trades, trade log and equity of the same replay run without interruption. On SQLite with a
local archive it is killed 20 times over two weeks; on PostgreSQL with an S3 archive (moto on loopback,
reached by the child processes through the AWS variables) 8 times over four days, each restart costing a
Python start-up.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import create_engine, text

from tests.stubs.hamilton_world import PARITY_ENV, WINDOW, Backend, World, copy_archive

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
KILLS = {"sqlite-local": 20, "postgres-s3": 8}
WINDOWS = {"sqlite-local": WINDOW, "postgres-s3": (WINDOW[0], "2026-03-05T00:00")}


def _command(archive: Path | str, db: str, window: tuple[str, str] = WINDOW) -> list[str]:
    start, end = window
    return [sys.executable, "-m", "hamilton_service", "--clock", "replay", "--mode", "paper", "--from", start,
            "--to", end, "--archive", str(archive), "--db", db]  # fmt: skip


def _env(tmp: Path) -> dict[str, str]:
    env = {**os.environ, **PARITY_ENV, "HURACAN__HAMILTON__REPLAY_COMMIT_BARS": "4"}
    env["HURACAN__GENERAL__LOG_DIR"] = str(tmp / "logs")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


class _Journal:
    """Reads the journal of the run under test while another process writes it (one engine per test)."""

    def __init__(self, db: str) -> None:
        self.engine = create_engine(db)

    def committed_bar(self) -> int | None:
        """The last committed bar (None before the first commit or while the database is created)."""
        try:
            with self.engine.connect() as conn:
                return conn.execute(text("SELECT max(bar_ms) FROM hamilton_state")).scalar()
        except Exception:  # the database or its table does not exist yet
            return None

    def committed_range(self) -> tuple[int, int]:
        with self.engine.connect() as conn:
            first, last = conn.execute(text("SELECT min(entry_time), max(exit_time) FROM live_trades")).one()
        return int(first), int(last)

    def close(self) -> None:
        self.engine.dispose()


def _committed_bar(db: str) -> int | None:
    journal = _Journal(db)
    try:
        return journal.committed_bar()
    finally:
        journal.close()


def _results(world: World) -> tuple[pl.DataFrame, list[tuple], list[tuple]]:
    engine = create_engine(world.db)
    with engine.connect() as conn:
        trades = conn.execute(text(
            "SELECT trade_id, symbol, side, size, entry_time, exit_time, entry_fill_price, exit_fill_price, "
            "net_pnl_pct FROM live_trades ORDER BY trade_id")).all()  # fmt: skip
        equity = conn.execute(
            text("SELECT trade_day, equity, trades FROM daily_equity ORDER BY trade_day")
        ).all()
    engine.dispose()
    return world.trades(), [tuple(r) for r in trades], [tuple(r) for r in equity]


def test_a_replay_killed_at_random_moments_ends_with_exactly_the_trades_of_one_that_never_stopped(
    backend: Backend, tmp_path: Path
) -> None:
    kills_wanted, window = KILLS[backend.name], WINDOWS[backend.name]
    calm, crashed = backend.world("calm"), backend.world("crashed")

    done = subprocess.run(
        _command(calm.archive, calm.db, window), env=_env(tmp_path / "calm"), cwd=ROOT, capture_output=True,
        text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]

    # Kill points spread over the window: each run is killed once the journal has reached its target bar,
    # after a random extra moment (mid-bar, mid-commit, mid-file-write: wherever SIGKILL lands).
    rng = random.Random(20)
    reference, journal = _Journal(calm.db), _Journal(crashed.db)
    first, last_bar = reference.committed_range()
    reference.close()
    targets = sorted(rng.randint(first, last_bar) for _ in range(kills_wanted))
    kills = 0
    for target in targets:
        process = subprocess.Popen(
            _command(crashed.archive, crashed.db, window), env=_env(tmp_path / "crashed"), cwd=ROOT,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        while process.poll() is None and (journal.committed_bar() or 0) < target:
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.03))
        if process.poll() is not None:
            continue  # it got past the target and finished: the next start resumes a finished run
        process.kill()
        process.wait()
        kills += 1
    journal.close()
    last = subprocess.run(_command(crashed.archive, crashed.db, window), env=_env(tmp_path / "crashed"), cwd=ROOT,
                          capture_output=True, text=True)  # fmt: skip
    assert last.returncode == 0, last.stderr[-3000:]
    assert kills >= kills_wanted - 3, f"only {kills} kills landed before the replay finished"

    calm_log, calm_trades, calm_equity = _results(calm)
    log, trades, equity = _results(crashed)
    assert calm_log.height > 10
    assert log.equals(calm_log)
    assert trades == calm_trades
    assert equity == calm_equity


def test_sigterm_finishes_the_bar_commits_it_and_exits_zero(champion_archive: Path, tmp_path: Path) -> None:
    archive = copy_archive(champion_archive, tmp_path / "archive")
    db = f"sqlite:///{tmp_path / 'h.db'}"
    process = subprocess.Popen(_command(archive, db), env=_env(tmp_path), cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)  # fmt: skip
    while process.poll() is None and _committed_bar(db) is None:
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output[-2000:]
    assert "Stopping after bar" in output
    stopped_at = _committed_bar(db)
    assert stopped_at is not None
    again = subprocess.run(
        _command(archive, db), env=_env(tmp_path), cwd=ROOT, capture_output=True, text=True
    )
    assert again.returncode == 0 and "(resumed)" in again.stdout, again.stdout[-2000:] + again.stderr[-2000:]
