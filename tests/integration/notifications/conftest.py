"""Notification tests: a fake Bot API server, a migrated outbox on SQLite and PostgreSQL, and a config
that points Huracan at both. No test here reaches the internet."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from huracan_core.broadcaster import notifications_to
from huracan_core.config import HuracanConfig
from tests.stubs.fake_telegram import FakeTelegram
from tests.unit.db.databases import db_url, migrated, postgres_server  # noqa: F401  (fixtures)

CHAT = "-1001234567890"


@pytest.fixture(autouse=True)
def no_process_target() -> Iterator[None]:
    """Each test starts and ends with no process-wide notification target."""
    with notifications_to(None):
        yield


@pytest.fixture
def fake_telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as tg:
        yield tg


def telegram_config(
    database: str, tg: FakeTelegram, *, notify: dict[str, str] | None = None, **telegram: Any
) -> HuracanConfig:
    """A config whose notifications go to `tg`'s chat through the outbox in `database`."""
    section = {"token": tg.token, "chat_id": CHAT, "api_base_url": tg.base_url, "notify": notify or {}}
    return HuracanConfig.model_validate(
        {"general": {"database": database}, "telegram": {**section, **telegram}}
    )


@pytest.fixture
def config_for(migrated: Engine, fake_telegram: FakeTelegram) -> Callable[..., HuracanConfig]:  # noqa: F811
    url = migrated.url.render_as_string(hide_password=False)
    return lambda **kw: telegram_config(url, fake_telegram, **kw)
