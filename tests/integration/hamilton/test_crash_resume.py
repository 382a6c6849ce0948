"""Kill -9 at any moment and run the same command again: no trade lost, none duplicated.

A replay is killed (SIGKILL, no chance to clean up) at 20 random moments and restarted each time; it must
end with exactly the trades, trade log and equity of the same replay run without interruption.
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

from tests.stubs.hamilton_world import PARITY_ENV, WINDOW, copy_archive

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
KILLS = 20


def _command(archive: Path, db: str) -> list[str]:
    start, end = WINDOW
    return [sys.executable, "-m", "hamilton_service", "--clock", "replay", "--mode", "paper", "--from", start,
            "--to", end, "--archive", str(archive), "--db", db]  # fmt: skip


def _env(tmp: Path) -> dict[str, str]:
    env = {**os.environ, **PARITY_ENV, "HURACAN__HAMILTON__REPLAY_COMMIT_BARS": "4"}
    env["HURACAN__GENERAL__LOG_DIR"] = str(tmp / "logs")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def _committed_bar(db: str) -> int | None:
    """The journal's last committed bar (None before the first commit or while the file is created)."""
    engine = create_engine(db)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT max(bar_ms) FROM hamilton_state")).scalar()
    except Exception:  # the database or its table does not exist yet
        return None
    finally:
        engine.dispose()


def _committed_range(db: str) -> tuple[int, int]:
    engine = create_engine(db)
    with engine.connect() as conn:
        first, last = conn.execute(text("SELECT min(entry_time), max(exit_time) FROM live_trades")).one()
    engine.dispose()
    return int(first), int(last)


def _results(archive: Path, db: str) -> tuple[pl.DataFrame, list[tuple], list[tuple]]:
    logs = sorted((archive / "live_logs/trades").glob("*.parquet"))
    log = pl.concat([pl.read_parquet(p) for p in logs], how="diagonal").sort("entry_time", "symbol")
    engine = create_engine(db)
    with engine.connect() as conn:
        trades = conn.execute(text(
            "SELECT trade_id, symbol, side, size, entry_time, exit_time, entry_fill_price, exit_fill_price, "
            "net_pnl_pct FROM live_trades ORDER BY trade_id")).all()  # fmt: skip
        equity = conn.execute(
            text("SELECT trade_day, equity, trades FROM daily_equity ORDER BY trade_day")
        ).all()
    engine.dispose()
    return log, [tuple(r) for r in trades], [tuple(r) for r in equity]


def test_a_replay_killed_twenty_times_ends_with_exactly_the_trades_of_one_that_never_stopped(
    champion_archive: Path, tmp_path: Path
) -> None:
    calm, crashed = tmp_path / "calm", tmp_path / "crashed"
    calm_archive = copy_archive(champion_archive, calm / "archive")
    crashed_archive = copy_archive(champion_archive, crashed / "archive")
    calm_db, crashed_db = f"sqlite:///{calm / 'h.db'}", f"sqlite:///{crashed / 'h.db'}"

    done = subprocess.run(
        _command(calm_archive, calm_db), env=_env(calm), cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]

    # Kill points spread over the window: each run is killed once the journal has reached its target bar,
    # after a random extra moment (mid-bar, mid-commit, mid-file-write: wherever SIGKILL lands).
    rng = random.Random(20)
    first, last_bar = _committed_range(calm_db)
    targets = sorted(rng.randint(first, last_bar) for _ in range(KILLS))
    kills = 0
    for target in targets:
        process = subprocess.Popen(
            _command(crashed_archive, crashed_db), env=_env(crashed), cwd=ROOT,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        while process.poll() is None and (_committed_bar(crashed_db) or 0) < target:
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.03))
        if process.poll() is not None:
            continue  # it got past the target and finished: the next start resumes a finished run
        process.kill()
        process.wait()
        kills += 1
    last = subprocess.run(_command(crashed_archive, crashed_db), env=_env(crashed), cwd=ROOT, capture_output=True,
                          text=True)  # fmt: skip
    assert last.returncode == 0, last.stderr[-3000:]
    assert kills >= KILLS - 3, f"only {kills} kills landed before the replay finished"

    calm_log, calm_trades, calm_equity = _results(calm_archive, calm_db)
    log, trades, equity = _results(crashed_archive, crashed_db)
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
