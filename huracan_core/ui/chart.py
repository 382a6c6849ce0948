"""Hamilton's equity and drawdown per UTC day as one inline SVG, drawn on the server: no script, nothing loaded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

WIDTH, HEIGHT = 760, 250  # px of the whole picture
LEFT, RIGHT, TOP = 78, 16, 14  # px of margin around the plots (left: the value labels)
EQUITY_H, GAP, DRAWDOWN_H = 140, 26, 50  # px: the equity plot, the space between, the drawdown plot
LINE, FILL, DRAWDOWN = "#0f6fb8", "#0f6fb81f", "#c0392b"


def equity_svg(curve: Sequence[Mapping[str, Any]], *, quote: str = "USDT") -> str:
    """The curve of `huracan_core.ui.views.equity_curve` (day, equity, drawdown_pct; oldest first) as SVG text."""
    title = f"Hamilton equity ({quote}) and drawdown per UTC day"
    if not curve:
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{WIDTH}" height="60" '
            f'viewBox="0 0 {WIDTH} 60"><title>{escape(title)}</title>'
            '<text x="10" y="34" font-size="14" fill="#666">No equity recorded yet: Hamilton writes one row per '
            "UTC day to daily_equity once it trades.</text></svg>"
        )
    equity = [float(point["equity"]) for point in curve]
    drawdown = [min(0.0, float(point.get("drawdown_pct") or 0.0)) for point in curve]
    low, high = min(equity), max(equity)
    if high - low < 1e-9:  # a flat line: give it a band to sit in
        low, high = low - 1.0, high + 1.0
    deepest = min(min(drawdown), -1.0)  # at least a 1% scale, so a tiny drawdown does not fill the plot
    plot_w = WIDTH - LEFT - RIGHT
    dd_top = TOP + EQUITY_H + GAP

    def x(i: int) -> float:
        return LEFT + (plot_w * i / (len(curve) - 1) if len(curve) > 1 else plot_w / 2)

    def y_equity(value: float) -> float:
        return TOP + EQUITY_H * (high - value) / (high - low)

    def y_drawdown(value: float) -> float:
        return dd_top + DRAWDOWN_H * value / deepest

    line = " ".join(f"{x(i):.1f},{y_equity(v):.1f}" for i, v in enumerate(equity))
    area = f"{x(0):.1f},{TOP + EQUITY_H} {line} {x(len(curve) - 1):.1f},{TOP + EQUITY_H}"
    dd_line = " ".join(f"{x(i):.1f},{y_drawdown(v):.1f}" for i, v in enumerate(drawdown))
    dd_area = f"{x(0):.1f},{dd_top} {dd_line} {x(len(curve) - 1):.1f},{dd_top}"
    first, last = escape(str(curve[0]["day"])), escape(str(curve[-1]["day"]))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="system-ui, sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{EQUITY_H}" fill="#fafbfc" stroke="#e3e6ea"/>',
        f'<rect x="{LEFT}" y="{dd_top}" width="{plot_w}" height="{DRAWDOWN_H}" fill="#fafbfc" stroke="#e3e6ea"/>',
        f'<polygon points="{area}" fill="{FILL}"/>',
        f'<polyline points="{line}" fill="none" stroke="{LINE}" stroke-width="2"/>',
        f'<polygon points="{dd_area}" fill="{DRAWDOWN}" fill-opacity="0.25" stroke="{DRAWDOWN}"/>',
        _label(LEFT - 6, TOP + 4, f"{high:,.2f}"),
        _label(LEFT - 6, TOP + EQUITY_H, f"{low:,.2f}"),
        _label(LEFT - 6, TOP + EQUITY_H / 2 + 4, quote, fill="#888"),
        _label(LEFT - 6, dd_top + 4, "0%"),
        _label(LEFT - 6, dd_top + DRAWDOWN_H, f"{deepest:.1f}%"),
        f'<text x="{LEFT + 4}" y="{dd_top - 6}" fill="#555">drawdown from the running peak</text>',
        f'<text x="{LEFT}" y="{HEIGHT - 4}" fill="#555">{first}</text>',
        f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 4}" fill="#555" text-anchor="end">{last}</text>',
    ]
    if len(curve) == 1:
        parts.append(f'<circle cx="{x(0):.1f}" cy="{y_equity(equity[0]):.1f}" r="4" fill="{LINE}"/>')
    parts.append("</svg>")
    return "".join(parts)


def _label(x: float, y: float, text: str, *, fill: str = "#333") -> str:
    return f'<text x="{x:.0f}" y="{y:.0f}" fill="{fill}" text-anchor="end">{escape(text)}</text>'
