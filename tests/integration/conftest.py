"""Fixtures every integration test may use: a moto S3 server on loopback and a PostgreSQL database."""

from tests.stubs.s3 import moto_server, s3_bucket  # noqa: F401  (fixtures)
from tests.unit.db.databases import postgres_server  # noqa: F401  (fixture)
