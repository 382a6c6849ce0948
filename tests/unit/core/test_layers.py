"""Layers point one way: the library never imports Airflow, Telegram or the trading service."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[3] / "huracan_core"
FORBIDDEN = ("airflow", "telegram", "hamilton_service")


def imported_modules(path: Path, *, top_level_only: bool = False) -> set[str]:
    """Absolute imports of `path`: anywhere in it, or only its module-level statements."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body if top_level_only else ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted(CORE.rglob("*.py")), ids=lambda p: str(p.relative_to(CORE)))
def test_huracan_core_never_imports_airflow_telegram_or_hamilton(path: Path) -> None:
    bad = {name for name in imported_modules(path) if name.split(".")[0] in FORBIDDEN}
    assert not bad, f"{path} imports {sorted(bad)}"


@pytest.mark.parametrize("path", sorted(CORE.rglob("*.py")), ids=lambda p: str(p.relative_to(CORE)))
def test_only_the_cli_reaches_the_telegram_bot_and_only_inside_its_command(path: Path) -> None:
    # The bot (huracan_telegram) is an outer layer: the CLI may start it, lazily, so that `huracan --help`
    # and every other command never import python-telegram-bot; nothing else in the library knows it.
    inside = {name for name in imported_modules(path) if name.split(".")[0] == "huracan_telegram"}
    at_top = {name for name in imported_modules(path, top_level_only=True) if name.split(".")[0] == "huracan_telegram"}
    assert not at_top, f"{path} imports {sorted(at_top)} at module level"
    if path.relative_to(CORE).parts[0] != "cli":
        assert not inside, f"{path} imports {sorted(inside)}"


def test_the_bot_package_never_imports_airflow_or_the_trading_service() -> None:
    for path in sorted((CORE.parent / "huracan_telegram").rglob("*.py")):
        bad = {n for n in imported_modules(path) if n.split(".")[0] in ("airflow", "hamilton_service")}
        assert not bad, f"{path} imports {sorted(bad)}"
