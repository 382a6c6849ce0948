"""Fixtures for the bot's tests: a fresh PostgreSQL database for the case that reads it."""

from __future__ import annotations

from tests.unit.db.databases import postgres_server  # noqa: F401  (fixture)
