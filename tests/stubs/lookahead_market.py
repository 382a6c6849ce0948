"""A small synthetic universe for lookahead checks, with the inputs every rule engine needs to fire.

Six coins (the cross-sectional rank needs five), BTC and ETH as references, and the extra columns the
pipeline does not always have: `xs_rank_ret_16` from the universe and a probe funding history.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from huracan_core.evaluation.firing_states import probe_funding_rates
from huracan_core.evaluation.research import REFERENCE_CLOSES
from huracan_core.features.cross_section import cross_sectional_ranks
from huracan_core.market import SyntheticSource

END_MS = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
DAY_MS = 86_400_000
UNIVERSE = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT", "BNBUSDT")


def synthetic_universe(days: int, *, seed: int = 7, timeframe: str = "15m") -> dict[str, pl.DataFrame]:
    """{symbol: candles} of the synthetic market over the `days` before END_MS."""
    source = SyntheticSource(seed=seed)
    return {s: source.fetch(s, timeframe, END_MS - days * DAY_MS, END_MS) for s in UNIVERSE}


def references(universe: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """The reference coins' candles (BTCUSDT, ETHUSDT) the research frame joins as closes."""
    return {s: universe[s] for s in REFERENCE_CLOSES}


def extra_inputs(universe: dict[str, pl.DataFrame], symbol: str) -> pl.DataFrame:
    """(timestamp, xs_rank_ret_16) for `symbol`: its rank in the universe."""
    return cross_sectional_ranks(universe)[symbol]


def funding_inputs(universe: dict[str, pl.DataFrame], symbol: str) -> pl.DataFrame:
    """A probe funding history for `symbol` stamped by settlement time (the `funding=` of the frames)."""
    return probe_funding_rates(universe[symbol]["timestamp"])
