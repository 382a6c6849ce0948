"""The Huracan page's HTML: every section formatted from the overview, friendly empty states, error blocks in
place of a failed section, text escaped, and nothing that would load from anywhere else."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from huracan_core.archive import Storage, paths
from huracan_core.db import connect, upgrade
from huracan_core.hamilton.status import write_status
from huracan_core.ui import overview, render_page
from huracan_core.ui.chart import equity_svg
from tests.stubs.huracan_archive import write_archive
from tests.stubs.huracan_rows import seed_database
from tests.unit.hamilton.status_builders import make_status

NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)


class _Cells(HTMLParser):
    """The text of each row of the table with a given id."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id, self.inside, self.rows, self.row = table_id, False, [], None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and dict(attrs).get("id") == self.table_id:
            self.inside = True
        elif self.inside and tag == "tr":
            self.row = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.inside = False
        elif tag == "tr" and self.row is not None:
            self.rows.append(" ".join(self.row))
            self.row = None

    def handle_data(self, data: str) -> None:
        if self.row is not None and data.strip():
            self.row.append(data.strip())


def _rows(page: str, table_id: str) -> list[str]:
    parser = _Cells(table_id)
    parser.feed(page)
    return parser.rows[1:]  # without the header row


def _page(tmp_path: Path, *, populated: bool, **more: Any) -> str:
    storage = Storage(str(tmp_path / "archive"))
    db = connect(f"sqlite:///{tmp_path / 'huracan.db'}")
    upgrade(db)
    if populated:
        seed_database(db, now=NOW)
        write_archive(storage, now=NOW)
        write_status(storage, make_status(heartbeat=NOW - timedelta(minutes=3), run_key="paper"))
    for key, text in more.items():
        (Path(storage.root) / key).parent.mkdir(parents=True, exist_ok=True)
        (Path(storage.root) / key).write_text(text)
    data = overview(storage, db, now=NOW, timeframe="15m", default_run_key="paper", configured=None)
    return render_page(data)


def test_the_page_shows_every_section_of_a_populated_world(tmp_path: Path) -> None:
    page = _page(tmp_path, populated=True)
    champions = _rows(page, "champions-table")
    assert [row.split()[0] for row in champions] == ["ETHUSDT", "BTCUSDT"]
    assert (
        "+3.30%" in champions[0]
        and "+1.20%" in champions[0]
        and "2.10" in champions[0]
        and "yes" in champions[0]
    )
    assert "Sharpe 1.40 < 1.5" in champions[1] and "by rollback" in champions[1]
    assert "RAREUSDT" in page and "Low volume. Skipped." in page and "kept champion 20261123_020000Z" in page
    assert "17 min 00 s" in page  # the night's duration, from the runs table
    assert [row.split()[3] for row in _rows(page, "promotions-table")][:1] == ["BTCUSDT"]
    assert "rollback" in _rows(page, "promotions-table")[0]
    assert _rows(page, "positions-table")[0].startswith("BTCUSDT long 10.00%")
    assert "<svg" in page and "drawdown from the running peak" in page
    assert 'data-symbol="SOLUSDT"' in page and "2 Mechanic trial(s)" in page
    assert 'href="api/champions"' in page


def test_an_empty_world_reads_as_friendly_empty_states(tmp_path: Path) -> None:
    page = _page(tmp_path, populated=False)
    for text in (
        "No champions yet",
        "No nightly run has finished yet",
        "Hamilton has not written a status to this archive yet",
        "No equity recorded yet",
        "no selector file",
        "No champion pointer has moved yet",
        "No model recorded in the database yet",
    ):
        assert text in page, text
    assert 'class="error"' not in page


def test_a_broken_file_shows_an_error_block_in_its_section_only(tmp_path: Path) -> None:
    page = _page(tmp_path, populated=True, **{paths.champion_roster(): "{ not json"})
    champions = page[page.index('<section id="champions">') : page.index('<section id="last-night">')]
    assert 'class="error"' in champions and "champion/champion.json" in champions
    assert "Traceback" not in page and "RAREUSDT" in page


def test_text_from_files_is_escaped(tmp_path: Path) -> None:
    storage = Storage(str(tmp_path / "archive"))
    write_archive(storage, now=NOW)
    roster = storage.read_json(paths.champion_roster())
    roster["champions"][1]["reason"] = "<script>alert(1)</script>"
    storage.write_json(paths.champion_roster(), roster)
    page = _page(tmp_path, populated=False)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_nothing_on_the_page_loads_from_elsewhere(tmp_path: Path) -> None:
    page = _page(tmp_path, populated=True)
    assert not re.search(r"""(src|href)\s*=\s*["'](https?:)?//""", page)
    assert "<link" not in page and "@import" not in page and "url(" not in page
    # The one script only makes Airflow links open in the Airflow window; it loads nothing.
    assert page.count("<script") == 1 and "fetch(" not in page and "XMLHttpRequest" not in page


@pytest.mark.parametrize("days", [0, 1, 5])
def test_the_equity_chart_draws_any_number_of_days(days: int) -> None:
    curve = [
        {"day": f"2026-11-{20 + i}", "equity": 10_000.0 + 50 * (-1) ** i * i, "drawdown_pct": -0.5 * (i % 2)}
        for i in range(days)
    ]
    svg = equity_svg(curve)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    if days == 0:
        assert "No equity recorded yet" in svg
    else:
        assert curve[-1]["day"] in svg and ("<circle" in svg) == (days == 1)


def test_a_night_in_progress_shows_its_phase_and_progress(tmp_path: Path) -> None:
    status = {"job": "engine", "phase": "training", "symbols_total": 3, "symbols_done": ["BTCUSDT"],
              "finished": False, "updated_at": "2026-11-25T02:10:00+00:00", "eta": None, "last_error": None}  # fmt: skip
    page = _page(tmp_path, populated=False, **{paths.engine_status(): json.dumps(status)})
    assert "is working: training, 1 of 3 coins done" in page and "2026-11-25 02:10 UTC" in page
