"""Writers queue notifications in the database outbox: per-kind switches, never an exception, bounded size.

On a SQLite file and on a fresh PostgreSQL database (tests/unit/db/databases.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from huracan_core.broadcaster import announce, broadcast, notifications_to, outbox, use_config
from huracan_core.broadcaster.callbacks import RunEvent
from huracan_core.config import HuracanConfig, NotifyConfig
from huracan_core.db.tables import NOTIFICATION_KINDS, notifications

TOKEN = "987654:SECRET-TOKEN-never-logged-0123456789"
NOW = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def no_process_target() -> Iterator[None]:
    with notifications_to(None):
        outbox._process.paused_until.clear()
        yield
        outbox._process.paused_until.clear()


def make_config(database: str, **telegram: Any) -> HuracanConfig:
    section = {"token": TOKEN, "chat_id": "-100777", **telegram}
    return HuracanConfig.model_validate({"general": {"database": database}, "telegram": section})


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def queued(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(notifications).order_by(notifications.c.id))]


def test_the_kinds_of_the_table_are_the_switches_of_the_config() -> None:
    assert tuple(NotifyConfig.model_fields) == NOTIFICATION_KINDS


@pytest.mark.parametrize(
    ("mode", "rows", "silent"), [("on", 1, False), ("silent", 1, True), ("off", 0, None)]
)
def test_each_kind_is_queued_with_sound_without_sound_or_not_at_all(
    migrated: Engine, mode: str, rows: int, silent: bool | None
) -> None:
    config = make_config(url_of(migrated), notify={"trades": mode})
    assert outbox.enqueue("trades", "[PAPER] BTCUSDT long opened", config=config) is (rows == 1)
    assert outbox.enqueue("engine", "other kinds are unaffected", config=config)
    found = queued(migrated)
    assert len(found) == rows + 1
    if rows:
        row = found[0]
        assert (row["kind"], row["silent"], row["chat_id"], row["attempts"]) == (
            "trades",
            silent,
            "-100777",
            0,
        )
        assert row["sent_at"] is None and row["next_attempt_at"] == row["created_at"]


def test_without_a_token_or_a_chat_nothing_is_queued_and_the_line_is_still_logged(
    migrated: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="huracan.broadcaster")
    for config in (make_config(url_of(migrated), token=None), make_config(url_of(migrated), chat_id="")):
        with notifications_to(config):
            assert announce("🚀 Engine started", kind="engine") == "🚀 Engine started"
    assert queued(migrated) == []
    assert [r.getMessage() for r in caplog.records] == ["🚀 Engine started"] * 2


def test_broadcast_sends_failures_and_only_logs_successes_through_the_process_config(
    migrated: Engine,
) -> None:
    use_config(make_config(url_of(migrated)))
    broadcast(RunEvent(outcome="succeeded", dag_id="huracan_engine_nightly", task_id="universe"))
    broadcast(
        RunEvent(outcome="failed", dag_id="huracan_engine_nightly", task_id="train_batch", error="boom")
    )
    announce("log only")  # no kind: a log line, never a message
    assert [(r["kind"], r["text"]) for r in queued(migrated)] == [
        ("failures", "❌ huracan_engine_nightly.train_batch failed: boom.")
    ]


def test_an_unknown_kind_is_sent_as_an_error_rather_than_lost(migrated: Engine) -> None:
    assert outbox.enqueue("gossip", "hello", config=make_config(url_of(migrated)))
    assert queued(migrated)[0]["kind"] == "errors"


def test_an_unreachable_database_is_one_log_line_without_secrets_and_never_an_exception(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    config = make_config("postgresql+psycopg2://huracan:db-password@127.0.0.1:1/huracan")
    started = time.monotonic()
    assert announce("❌ night failed", kind="failures", config=config) == "❌ night failed"
    assert announce("❌ and again", kind="failures", config=config)  # within the pause: not even tried
    assert time.monotonic() - started < 5
    problems = [
        r.getMessage() for r in caplog.records if r.getMessage().startswith("notification not queued")
    ]
    assert len(problems) == 2
    assert "127.0.0.1:1" in problems[0] and "unreachable" in problems[0]
    assert "failed moments ago" in problems[1]
    everything = caplog.text + "".join(capfd.readouterr())
    assert TOKEN not in everything and "db-password" not in everything


def test_a_database_without_the_outbox_table_says_to_run_the_upgrade(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(f"sqlite:///{tmp_path / 'empty.db'}")
    assert not outbox.enqueue("errors", "lost?", config=config)
    assert "huracan db upgrade" in caplog.text and TOKEN not in caplog.text


def test_the_outbox_drops_the_oldest_unsent_beyond_its_bound_and_finished_rows_after_keep_days(
    migrated: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(url_of(migrated), outbox_max_rows=10)
    for i in range(14):
        outbox.enqueue("trades", f"trade {i}", config=config, now=NOW + timedelta(seconds=i))
    with migrated.begin() as conn:  # two finished long ago, one finished just now
        conn.execute(update(notifications).where(notifications.c.text == "trade 13").values(sent_at=NOW))
        conn.execute(
            update(notifications)
            .where(notifications.c.text.in_(["trade 11", "trade 12"]))
            .values(sent_at=NOW - timedelta(days=30))
        )
    dropped, deleted = outbox.trim(migrated, max_rows=10, keep_days=7, now=NOW)
    assert (dropped, deleted) == (1, 2)
    assert [r["text"] for r in queued(migrated)] == [
        f"trade {i}" for i in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13)
    ]
    assert "dropped the 1 oldest" in caplog.text


def test_cut_keeps_short_texts_and_marks_long_ones() -> None:
    assert outbox.cut("short", 10) == "short"
    assert outbox.cut("x" * 20, 10) == "xxxx" + outbox.CUT_MARK
