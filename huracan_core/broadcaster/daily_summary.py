"""The daily summary: one UTC day of trading as plain data, and a PNG of the equity curve and its drawdown.

The bot sends it every day just after midnight UTC (`telegram.daily_summary_utc`) and on `/daily`. Numbers
come from the database Hamilton journals to (`daily_equity`, `live_trades`, `promotions`) and from the
night's summary in the archive; nothing is estimated.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from huracan_core.archive import Storage, paths
from huracan_core.broadcaster.commands import (
    DayPnl,
    NightRun,
    PnlView,
    PromotionRow,
    night_from_summary,
    pnl_view,
)
from huracan_core.db.queries import promotions_on
from huracan_core.db.rows import Bind

CURVE_DAYS = 30  # days of equity the chart shows, ending on the summarised day


@dataclass(frozen=True)
class DailySummary:
    """One UTC day: the trading run's end-of-day equity and return, its closed trades, promotions, the night."""

    day: date
    pnl: PnlView  # the day alone (days=1, ending on `day`)
    curve: tuple[DayPnl, ...]  # up to CURVE_DAYS days ending on `day`, for the chart
    promotions: tuple[PromotionRow, ...]
    night: NightRun | None  # the nightly run of that day (its summary in the archive), if it ran

    @property
    def run_key(self) -> str | None:
        return self.pnl.run_key

    @property
    def day_row(self) -> DayPnl | None:
        return self.pnl.rows[-1] if self.pnl.rows else None

    @property
    def max_drawdown_pct(self) -> float | None:
        """Deepest fall from a running peak over the chart's days, percent (<= 0)."""
        drawdowns = drawdown_pct([row.equity for row in self.curve])
        return min(drawdowns) if drawdowns else None


def drawdown_pct(equity: Sequence[float]) -> list[float]:
    """Per point, percent below the highest equity so far (0 at a new high)."""
    out, peak = [], float("-inf")
    for value in equity:
        peak = max(peak, value)
        out.append(100.0 * (value / peak - 1.0) if peak > 0 else 0.0)
    return out


def summary_day(now: datetime) -> date:
    """The day the scheduled summary describes: the UTC day that ended last."""
    return now.astimezone(UTC).date() - timedelta(days=1)


def daily_summary(
    storage: Storage, db: Bind, *, day: date, run_key: str | None = None, curve_days: int = CURVE_DAYS
) -> DailySummary:
    """Read the summary of `day` (a UTC date) for the trading run (see `trading_run_key`)."""
    end_of_day = datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=UTC)
    pnl = pnl_view(storage, db, days=1, now=end_of_day, run_key=run_key)
    curve: tuple[DayPnl, ...] = ()
    if pnl.run_key is not None:
        curve = pnl_view(storage, db, days=curve_days, now=end_of_day, run_key=pnl.run_key).rows
    promotions = tuple(PromotionRow.from_row(r) for r in promotions_on(db, day))
    key = paths.daily_summary(day)
    night = night_from_summary(storage, key) if storage.exists(key) else None
    return DailySummary(day=day, pnl=pnl, curve=curve, promotions=promotions, night=night)


def equity_chart_png(curve: Sequence[DayPnl], *, title: str, quote: str = "USDT") -> bytes | None:
    """A PNG (bytes) of end-of-day equity and its drawdown, or None when there is no day to draw.

    Drawn with matplotlib's Agg canvas on a private Figure: no display, no global pyplot state, so it is safe
    in a thread of the bot.
    """
    if not curve:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    days = [datetime(r.day.year, r.day.month, r.day.day, tzinfo=UTC) for r in curve]
    equity = [r.equity for r in curve]
    drawdown = drawdown_pct(equity)
    figure = Figure(figsize=(8, 5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    top.plot(days, equity, color="#1f77b4", marker="o" if len(days) < 3 else None, linewidth=1.6)
    top.set_ylabel(f"equity ({quote})")
    top.set_title(title, loc="left", fontsize=11)
    top.grid(alpha=0.3)
    bottom.fill_between(days, drawdown, 0.0, color="#d62728", alpha=0.35, step=None)
    bottom.plot(days, drawdown, color="#d62728", linewidth=1.0)
    bottom.set_ylabel("drawdown (%)")
    bottom.set_ylim(min(min(drawdown) * 1.15, -0.5), 0.1)
    bottom.grid(alpha=0.3)
    locator = AutoDateLocator()
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


__all__ = ["CURVE_DAYS", "DailySummary", "daily_summary", "drawdown_pct", "equity_chart_png", "summary_day"]
