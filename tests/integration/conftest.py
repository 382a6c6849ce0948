"""Fixtures every integration test may use: a moto S3 server on loopback, a PostgreSQL database and a fake
Telegram Bot API server on loopback."""

from collections.abc import Iterator

import pytest

from tests.stubs.fake_telegram import FakeTelegram
from tests.stubs.s3 import moto_server, s3_bucket  # noqa: F401  (fixtures)
from tests.unit.db.databases import postgres_server  # noqa: F401  (fixture)


@pytest.fixture
def fake_telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as tg:
        yield tg
