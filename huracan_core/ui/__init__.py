"""The Huracan page in the Airflow UI: its data as plain dicts (views), and their rendering (page, chart)."""

from huracan_core.ui.page import render_page
from huracan_core.ui.views import (
    champions,
    coins,
    equity_curve,
    hamilton,
    last_night,
    model_history,
    overview,
    promotions,
    section,
    selector,
)

__all__ = [
    "champions",
    "coins",
    "equity_curve",
    "hamilton",
    "last_night",
    "model_history",
    "overview",
    "promotions",
    "render_page",
    "section",
    "selector",
]
