"""Daily summary and daily report: what the nightly job did, in the seed's shape.

`summaries/daily/DATE.json` holds the run's counts and reasons; `reports/DATE/daily_report.json` holds the
seed's fields (date, models_trained, promotions, total_trades, avg_pnl_pct, hit_rate_pct). A metric that
was not measured is null, never a made-up number. Writing the same date again replaces that date's files.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from huracan_core.archive import Storage, paths


def write_daily_summary(storage: Storage, day: date, summary: dict[str, Any]) -> str:
    """Write (or replace) the day's summary; returns its location."""
    key = paths.daily_summary(day)
    storage.write_json(key, {"date": day.isoformat(), **summary})
    return storage.url(key)


def write_daily_report(
    storage: Storage,
    day: date,
    *,
    models_trained: int,
    promotions: int,
    total_trades: int,
    avg_pnl_pct: float | None,
    hit_rate_pct: float | None,
    extra: dict[str, Any] | None = None,
) -> str:
    """Write (or replace) the day's report with the seed's fields first; returns its location."""
    report: dict[str, Any] = {
        "date": day.isoformat(),
        "models_trained": models_trained,
        "promotions": promotions,
        "total_trades": total_trades,
        "avg_pnl_pct": avg_pnl_pct,
        "hit_rate_pct": hit_rate_pct,
    }
    report.update(extra or {})
    key = paths.daily_report(day)
    storage.write_json(key, report)
    return storage.url(key)
