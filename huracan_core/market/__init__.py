"""Market data: candle sources (ccxt, lake, synthetic), the universe (top N), data gates, resampling."""

from __future__ import annotations

import os

from huracan_core.config import HuracanConfig
from huracan_core.market.base import CandleSource
from huracan_core.market.candles import (
    CANDLE_COLUMNS,
    CANDLE_SCHEMA,
    candles_from_rows,
    empty_candles,
    merge_candles,
    normalise_candles,
    validate_candles,
)
from huracan_core.market.gates import LOW_VOLUME, GateResult, apply_gates, check_candles
from huracan_core.market.lake import LakeSource
from huracan_core.market.resample import ResampleResult, resample_candles, resample_lake
from huracan_core.market.symbols import from_ccxt, split_symbol, to_ccxt
from huracan_core.market.synthetic import SyntheticSource
from huracan_core.market.universe import read_symbol_file, resolve_universe, top_symbols

__all__ = [
    "CANDLE_COLUMNS",
    "CANDLE_SCHEMA",
    "LOW_VOLUME",
    "CandleSource",
    "GateResult",
    "LakeSource",
    "ResampleResult",
    "SyntheticSource",
    "apply_gates",
    "candles_from_rows",
    "check_candles",
    "empty_candles",
    "from_ccxt",
    "merge_candles",
    "normalise_candles",
    "open_lake",
    "open_source",
    "read_symbol_file",
    "resample_candles",
    "resample_lake",
    "resolve_universe",
    "split_symbol",
    "to_ccxt",
    "top_symbols",
    "validate_candles",
]


def open_lake(config: HuracanConfig, lake: LakeSource | str | os.PathLike[str] | None = None) -> LakeSource:
    """The lake named by `lake` (a LakeSource or a root), else config.data.lake_dir."""
    if isinstance(lake, LakeSource):
        return lake
    return LakeSource(config.data.lake_dir if lake is None else lake)


def open_source(
    config: HuracanConfig,
    lake: LakeSource | str | os.PathLike[str] | None = None,
    exchange: object | None = None,
) -> CandleSource:
    """The candle source config.data.source names: ccxt (exchange config.data.exchange, or the given
    ccxt exchange object), lake, or synthetic (seed config.data.synthetic_seed). Never a silent swap."""
    kind = config.data.source
    if kind == "synthetic":
        variant = config.data.synthetic_variant
        if variant == "planted_edge":
            from huracan_core.market.planted import PlantedEdgeSource

            return PlantedEdgeSource(config.data.synthetic_seed, drift_bps=config.data.synthetic_drift_bps)
        return SyntheticSource(config.data.synthetic_seed, no_edge=variant == "no_edge")
    if kind == "lake":
        return open_lake(config, lake)
    # ccxt is imported here so that lake- and synthetic-only users do not pay for it.
    from huracan_core.market.ccxt_source import CcxtSource

    return CcxtSource(exchange if exchange is not None else config.data.exchange)  # type: ignore[arg-type]
