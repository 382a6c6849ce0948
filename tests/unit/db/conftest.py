"""Fixtures for the database tests: each test on a SQLite file and on a fresh PostgreSQL database."""

from __future__ import annotations

import sys
from pathlib import Path

# `tests.unit.db` is imported from the repository root; pyproject's pytest `pythonpath = ["."]` does this
# for the whole suite. This guard keeps the folder runnable on its own until then.
_ROOT = str(Path(__file__).resolve().parents[3])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.unit.db.databases import db_url, migrated, postgres_server  # noqa: E402

__all__ = ["db_url", "migrated", "postgres_server"]  # re-exported so pytest finds the fixtures
