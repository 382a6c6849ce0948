"""The README's Hamilton section stays true: its control-file examples are files Hamilton accepts."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from huracan_core.hamilton.control import PauseState, SymbolsSelector

README = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")


def json_examples(text: str) -> list[dict[str, Any]]:
    """Every one-line JSON object of a text that starts with a control file's first field, parsed."""
    return [json.loads(line) for line in re.findall(r"^ *(\{\"(?:mode|paused)\".*\}) *$", text, flags=re.MULTILINE)]


def test_the_readme_examples_are_a_valid_selector_and_a_valid_pause_file() -> None:
    section = README.split("## Hamilton: control files and status", 1)[1].split("\n## ", 1)[0]
    selector, pause = json_examples(section)
    assert SymbolsSelector.model_validate(selector).mode == "top"
    assert PauseState.model_validate(pause).paused is True
