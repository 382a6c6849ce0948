"""The README stays true: the SQL it shows is the SQL the tests run, and its commands exist."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from huracan_core.cli import app
from huracan_core.db.queries import README_SQL

README = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")


def test_readme_shows_exactly_the_tested_sql_queries() -> None:
    for name, sql in README_SQL.items():
        assert sql in README, f"README lost or changed the {name} query"


def test_every_huracan_command_in_the_readme_exists() -> None:
    commands = set()
    for line in README.splitlines():
        line = line.strip()
        if line.startswith(".venv/bin/huracan "):
            words = line.split()[1:3]
            commands.add(tuple(w for w in words if not w.startswith("-") and w.isidentifier()))
    assert commands
    for words in commands:
        result = CliRunner().invoke(app, [*words, "--help"])
        assert result.exit_code == 0, (
            f"`huracan {' '.join(words)}` from the README does not exist: {result.output}"
        )
