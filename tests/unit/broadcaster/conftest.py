"""Fixtures for the broadcaster tests: the outbox on a SQLite file and on a fresh PostgreSQL database."""

from __future__ import annotations

from tests.unit.db.databases import db_url, migrated, postgres_server

__all__ = ["db_url", "migrated", "postgres_server"]  # re-exported so pytest finds the fixtures
