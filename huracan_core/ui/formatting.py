"""Small HTML formatters of the Huracan page: escaped text, table heads and cells, badges, times and durations."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any


def text(value: Any) -> str:
    """Escaped text; None as a dash."""
    return escape("-" if value is None else str(value))


def head(*columns: str | tuple[str, str]) -> str:
    cells = "".join(
        f'<th class="{c[1]}">{c[0]}</th>' if isinstance(c, tuple) else f"<th>{c}</th>" for c in columns
    )
    return f"<thead><tr>{cells}</tr></thead>"


def grid(items: Iterable[tuple[str, str]]) -> str:
    return '<dl class="grid">' + "".join(f"<dt>{text(k)}</dt><dd>{v}</dd>" for k, v in items) + "</dl>"


def badge(label: str, kind: str) -> str:
    """A coloured label; `kind` is a class of the page's style: ok, no, warn, info."""
    return f'<span class="badge {kind}">{text(label)}</span>'


def airflow_link(href: str, label: Any) -> str:
    """A link to a page of the Airflow UI (the page's script opens it in the Airflow window, not the frame)."""
    return f'<a class="airflow" href="{escape(href)}" target="_top">{text(label)}</a>'


def symbols(names: Sequence[str] | None) -> str:
    """`2: BTCUSDT, ETHUSDT`, or a muted none."""
    if not names:
        return '<span class="muted">none</span>'
    return f"{len(names)}: " + ", ".join(f"<strong>{text(s)}</strong>" for s in names)


def pct_cell(value: Any, *, sign: bool = True) -> str:
    """A right-aligned percent cell, green or red by sign when `sign` (a PnL), plain otherwise (a drawdown)."""
    if not isinstance(value, int | float):
        return '<td class="n muted">-</td>'
    kind = "" if not sign else " pos" if value > 0 else " neg" if value < 0 else ""
    return f'<td class="n{kind}">{value:+.2f}%</td>' if sign else f'<td class="n">{value:.2f}%</td>'


def num_cell(value: Any, digits: int = 2) -> str:
    if not isinstance(value, int | float):
        return '<td class="n muted">-</td>'
    return f'<td class="n">{value:,.{digits}f}</td>'


def money(value: Any) -> str:
    return f"{value:,.2f}" if isinstance(value, int | float) else "-"


def when(value: Any) -> str:
    """ISO-8601 text (or a datetime) as `2026-12-05 07:00 UTC`; anything else as it is."""
    if value in (None, ""):
        return '<span class="muted">-</span>'
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return text(value)
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return escape(moment.strftime("%Y-%m-%d %H:%M UTC"))


def when_ms(value: Any) -> str:
    """UTC epoch milliseconds (a bar's open) as `2026-12-05 07:00 UTC`."""
    if not isinstance(value, int | float):
        return '<span class="muted">-</span>'
    return escape(datetime.fromtimestamp(value / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC"))


def duration(seconds: Any) -> str:
    """17.2 s / 4 min 05 s / 1 h 02 min."""
    if not isinstance(seconds, int | float):
        return '<span class="muted">not recorded</span>'
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
