"""Fixtures for the UI's tests: databases on SQLite and on a fresh PostgreSQL database."""

from tests.unit.db.databases import db_url, migrated, postgres_server

__all__ = ["db_url", "migrated", "postgres_server"]  # re-exported so pytest finds the fixtures
