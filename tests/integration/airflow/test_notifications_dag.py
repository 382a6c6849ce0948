"""Airflow callbacks never wait for Telegram: with the Bot API server down, a DAG's tasks run as usual,
the nightly DAG's callbacks and `HuracanNotifier` queue their messages, and the bot sends them once the
server is back.

A user's small DAG under dag.test(): one task that succeeds (a templated HuracanNotifier message), one
that fails with HuracanNotifier(), one that fails with the nightly DAG's own task callback, and the run's
failure through the nightly DAG's run callback and a HuracanNotifier.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from huracan_core.broadcaster import notifications_to
from huracan_core.config import load_config
from huracan_core.db import connect, upgrade
from huracan_core.db.tables import notifications
from huracan_telegram.bot_api import make_bot
from huracan_telegram.delivery import deliver_pending
from tests.stubs.airflow_env import DAGS
from tests.stubs.fake_telegram import FakeTelegram

pytestmark = pytest.mark.slow

CHAT = "-100424242"


USER_DAG = """
import huracan_airflow_support as support
from airflow.sdk import dag, task
from huracan_notifier import HuracanNotifier


@dag(
    dag_id="user_dag_with_huracan_notifications",
    schedule=None,
    catchup=False,
    default_args={"retries": 0, "on_failure_callback": support.on_task_failure},
    on_failure_callback=[support.on_run_failure, HuracanNotifier("{{ dag.dag_id }}: the run failed")],
)
def user_dag():
    @task(on_success_callback=HuracanNotifier("{{ ti.task_id }} loaded its rows"))
    def load():
        return 3

    @task(on_failure_callback=HuracanNotifier())
    def check(rows):
        raise ValueError(f"{rows} rows, expected 4")

    @task
    def report():
        raise RuntimeError("report template missing")

    check(load())
    report()


user_dag()
"""


def _user_dag(folder: Path) -> Any:
    """The DAG above as a user's DAG file, parsed and serialized the way the dag-processor would."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db

    if str(DAGS) not in sys.path:
        sys.path.append(str(DAGS))  # what Airflow does for the DAG folder, where huracan_notifier.py lives
    folder.mkdir()
    (folder / "user_dag.py").write_text(USER_DAG, encoding="utf-8")
    bag = BundleDagBag(dag_folder=folder, bundle_path=folder, bundle_name="dags-folder")
    assert not bag.import_errors, bag.import_errors
    DagBundlesManager().sync_bundles_to_db()
    sync_bag_to_db(bag, "dags-folder", None)
    return bag.dags["user_dag_with_huracan_notifications"]


def test_a_dag_runs_as_usual_while_telegram_is_down_and_its_messages_arrive_afterwards(
    airflow_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = f"sqlite:///{tmp_path / 'huracan.db'}"
    upgrade(database)
    with FakeTelegram() as tg:
        config_file = tmp_path / "config.yaml"
        config_file.write_text(
            f"general: {{database: '{database}', archive: '{tmp_path / 'archive'}'}}\n"
            "telegram:\n  token: ${HURACAN_TEST_TG_TOKEN}\n"
            f"  chat_id: '{CHAT}'\n  api_base_url: {tg.base_url}\n",
            encoding="utf-8",
        )
        monkeypatch.setenv("HURACAN_TEST_TG_TOKEN", tg.token)
        monkeypatch.setenv("HURACAN_CONFIG", str(config_file))
        tg.go_down()
        with notifications_to(None):  # only what the callbacks themselves load
            run = _user_dag(tmp_path / "user_dags").test()
        states = {ti.task_id: ti.state for ti in run.get_task_instances()}
        assert states == {"load": "success", "check": "failed", "report": "failed"}
        assert run.state == "failed"

        engine = connect(database)
        with engine.connect() as conn:
            queued = [tuple(r) for r in conn.execute(select(notifications.c.kind, notifications.c.text))]
        engine.dispose()
        expected = {
            ("engine", "load loaded its rows"),
            ("failures", "❌ user_dag_with_huracan_notifications.check failed on try 1 of 1: ValueError: 3 rows, expected 4."),
            ("failures", "❌ user_dag_with_huracan_notifications.report failed on try 1 of 1: RuntimeError: report template missing."),
            ("failures", "user_dag_with_huracan_notifications: the run failed"),
        }  # fmt: skip
        assert expected <= set(queued), queued
        run_failed = [
            text for kind, text in queued if text.startswith("❌ user_dag_with_huracan_notifications run")
        ]
        assert len(run_failed) == 1 and "failed" in run_failed[0]
        assert tg.calls == []  # nothing was sent while the server was down: nothing waited for it

        tg.come_back()
        config = load_config(config_file)

        async def send() -> int:
            async with make_bot(config) as bot:
                return await deliver_pending(bot, config)

        assert asyncio.run(send()) == len(queued) == 5
        assert sorted(tg.texts(chat_id=CHAT)) == sorted(text for _kind, text in queued)
