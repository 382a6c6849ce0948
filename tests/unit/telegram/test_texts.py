"""What the bot says: escaped HTML, within Telegram's limits, plain text for the outbox."""

from __future__ import annotations

from datetime import UTC, datetime

from huracan_core.broadcaster.commands import StatusView
from huracan_telegram import texts


def test_long_answers_are_cut_at_a_line_within_telegrams_limit() -> None:
    text = "\n".join(f"<b>line {i}</b> " + "x" * 90 for i in range(100))
    cut = texts.fit(text)
    assert len(cut) <= 4096 and cut.endswith("\n... (cut)")
    assert all(line.count("<b>") == line.count("</b>") for line in cut.splitlines())
    assert texts.fit("short") == "short"


def test_values_are_escaped_and_the_plain_form_drops_the_markup() -> None:
    assert texts.e("<script>&") == "&lt;script&gt;&amp;"
    assert texts.plain("<b>PnL</b> a &lt; b <code>/pnl 30</code>") == "PnL a < b /pnl 30"


def test_status_without_hamilton_says_so_and_names_every_problem() -> None:
    now = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    view = StatusView(now=now, hamilton=None, heartbeat_age_s=None, stale_after_s=2700, pause=None,
                      selector=None, night=None, problems=("pause file: x is not a valid pause file: <bad>",))  # fmt: skip
    text = texts.status_text(view, quote="USDT", refusals=3)
    assert "no status file yet" in text and "Pause file: unreadable (Hamilton treats it as paused)" in text
    assert "⚠️ pause file: x is not a valid pause file: &lt;bad&gt;" in text
    assert "Refused commands since the bot started: 3" in text


def test_every_command_of_the_menu_has_an_example_in_help() -> None:
    help_text = texts.help_text()
    assert [name for name, _, _ in texts.COMMANDS][-1] == "help"
    for name, _what, example in texts.COMMANDS:
        assert f"/{name}:" in help_text and texts.e(example) in help_text
