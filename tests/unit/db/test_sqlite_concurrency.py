"""One SQLite file, several writers at once (Hamilton, the Engine, the bot): they wait, never "database is locked"."""

from __future__ import annotations

import multiprocessing
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from huracan_core.db import connect, record_run, upgrade
from huracan_core.db.tables import runs

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def _write_runs(url: str, writer: str, count: int, hold_s: float, start: Any, results: Any) -> None:
    """Process body: first hold the write lock for `hold_s`, then write `count` runs one transaction each."""
    engine = connect(url)
    try:
        start.wait()
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE runs SET detail = detail")  # takes the write lock
            record_run(conn, run_id=f"{writer}-lock", kind="test", as_of=T0, started_at=T0)
            time.sleep(hold_s)
        for i in range(count):
            record_run(
                engine, run_id=f"{writer}-{i}", kind="test", as_of=T0, started_at=T0 + timedelta(seconds=i)
            )
        results.put((writer, "ok"))
    except Exception as exc:  # reported to the parent, which asserts on it
        results.put((writer, f"{type(exc).__name__}: {exc}"))
    finally:
        engine.dispose()


def test_every_sqlite_connection_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    engine = connect(f"sqlite:///{tmp_path / 'huracan.db'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_an_in_memory_sqlite_database_still_works_without_wal() -> None:
    engine = connect("sqlite://")
    try:
        upgrade(engine)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "memory"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    finally:
        engine.dispose()


def test_two_processes_writing_one_sqlite_file_at_once_both_succeed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'huracan.db'}"
    upgrade(url)
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(2), ctx.Queue()
    # Each holds the write lock for 1.5 s while the other wants it: without a busy timeout (SQLite's
    # default is 0) the other fails at once with "database is locked".
    writers = [
        ctx.Process(target=_write_runs, args=(url, name, 40, 1.5, start, results))
        for name in ("engine", "hamilton")
    ]
    for process in writers:
        process.start()
    for process in writers:
        process.join(timeout=120)
    outcomes = dict(results.get(timeout=5) for _ in writers)
    assert outcomes == {"engine": "ok", "hamilton": "ok"}
    engine = connect(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(runs)).scalar_one() == 2 * 41
    finally:
        engine.dispose()


def test_a_reader_in_the_middle_of_a_transaction_does_not_block_a_writer(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'huracan.db'}"
    upgrade(url)
    reader, writer = connect(url, busy_timeout_s=1.0), connect(url, busy_timeout_s=1.0)
    try:
        record_run(writer, run_id="before", kind="test", as_of=T0, started_at=T0)
        with reader.connect() as conn:
            conn.exec_driver_sql("BEGIN")
            assert conn.execute(select(func.count()).select_from(runs)).scalar_one() == 1  # holds a snapshot
            done = threading.Event()

            def write() -> None:
                # In rollback-journal mode this commit waits for the reader's lock and fails after 1 s.
                record_run(writer, run_id="during", kind="test", as_of=T0, started_at=T0)
                done.set()

            thread = threading.Thread(target=write)
            thread.start()
            thread.join(timeout=10)
            assert done.is_set()
            # The reader's snapshot is stable: it still sees one row until it ends its transaction.
            assert conn.execute(select(func.count()).select_from(runs)).scalar_one() == 1
            conn.exec_driver_sql("COMMIT")
        with reader.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM runs")).scalar_one() == 2
    finally:
        reader.dispose()
        writer.dispose()
