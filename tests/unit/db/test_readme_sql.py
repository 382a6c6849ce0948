"""Every query the README shows runs unchanged on SQLite and PostgreSQL and finds the rows it is about.

The queries are read from README.md itself (between its `readme-sql` markers), so a query edited there is the
query tested here; `README_SQL` holds the same text for the tests that check exact rows.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from huracan_core.db.queries import README_SQL
from tests.stubs.huracan_rows import seed_database

README = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
TABLES_A_USER_QUERIES = ("models", "model_metrics", "promotions", "live_trades", "daily_equity", "trials")


def readme_queries() -> list[str]:
    """The SQL statements between the README's readme-sql markers, without their comment lines."""
    section = re.search(r"<!-- readme-sql:start -->(.*?)<!-- readme-sql:end -->", README, flags=re.DOTALL)
    assert section, "README.md lost its <!-- readme-sql:start --> ... <!-- readme-sql:end --> markers"
    blocks = re.findall(r"```sql\n(.*?)```", section.group(1), flags=re.DOTALL)
    statements = []
    for block in blocks:
        for chunk in block.split(";"):
            lines = [line for line in chunk.strip().splitlines() if not line.lstrip().startswith("--")]
            if lines:
                statements.append("\n".join(lines).strip() + ";")
    return statements


def _tables(statement: str) -> set[str]:
    return set(re.findall(r"\b(?:FROM|JOIN)\s+(\w+)", statement))


def test_the_readme_shows_exactly_the_queries_the_code_keeps_and_one_for_each_table() -> None:
    queries = readme_queries()
    assert sorted(queries) == sorted(README_SQL.values())
    queried = set().union(*(_tables(q) for q in queries))
    assert set(TABLES_A_USER_QUERIES) <= queried, set(TABLES_A_USER_QUERIES) - queried


def test_every_readme_query_runs_unchanged_and_finds_its_rows(migrated: Engine) -> None:
    # "Today" is when the rollback happened, so the query for today's promotions has a row on either backend.
    seed_database(migrated, now=datetime.now(UTC).replace(microsecond=0))
    empty = []
    for statement in readme_queries():
        with migrated.connect() as conn:
            if not conn.exec_driver_sql(statement).all():
                empty.append(statement)
    assert not empty, f"no rows on {migrated.dialect.name} for:\n" + "\n\n".join(empty)
