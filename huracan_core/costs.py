"""Trading costs per symbol per bar: taker fee, half the bid-ask spread and square-root slippage, per fill.

Every estimate at row t uses bars <= t only, so the backtest charges what a live trader could have known.
A round trip (or a reversal) pays two fills. Funding is NOT a cost here: it is a carry that can be paid or
received, and the funding alpha engine reads it as a signal instead.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from huracan_core.config import CostsConfig
from huracan_core.exceptions import ConfigError, DataIntegrityError
from huracan_core.timeframe import bars_per_day

COST_COLUMNS = ("fee_bps", "spread_bps", "slippage_bps", "cost_bps")
SPREAD_METHODS = ("abdi_ranaldo", "corwin_schultz")
SLIPPAGE_METHOD = "square_root_impact"
_BPS = 10_000.0
_CANDLE_COLUMNS = ("timestamp", "high", "low", "close", "volume")


class FeeSchedule(BaseModel):
    """Fees in bps of notional; `source` says whether the exchange or config.yaml supplied them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    taker_bps: float = Field(ge=0)
    maker_bps: float
    source: Literal["exchange", "config"]


# Hours of history behind the spread, volatility and volume estimates: a whole day averages over the
# intraday volume and volatility profile, so the estimate does not swing with the hour of day.
COST_WINDOW_HOURS = 24.0


class CostParams(BaseModel):
    """Estimator settings; windows are in BARS (the square-root law makes slippage timeframe-free).

    The defaults are a day of 15m bars; `CostParams.for_timeframe` gives the same day at any timeframe,
    which is what the research path and Hamilton use.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    spread_method: Literal["abdi_ranaldo", "corwin_schultz"] = "abdi_ranaldo"
    # Bars averaged by the spread estimator: one bar pair is pure noise, ~a day of 15m bars is stable.
    spread_window_bars: int = Field(default=96, ge=2)
    # Floor on the FULL quoted spread (bps): no liquid market quotes tighter than about a tick.
    min_spread_bps: float = Field(default=1.0, ge=0)
    # FULL spread (bps) assumed before the estimator has `min_samples` bars: deliberately pessimistic.
    fallback_spread_bps: float = Field(default=10.0, ge=0)
    # Bars of 1-bar log returns behind sigma, and of close*volume behind the bar quote volume.
    vol_window_bars: int = Field(default=96, ge=2)
    volume_window_bars: int = Field(default=96, ge=1)
    # Slippage (bps) assumed before sigma and volume have `min_samples` bars.
    fallback_slippage_bps: float = Field(default=10.0, ge=0)
    # Cap on slippage per fill (bps): beyond this the impact model is meaningless; do not trade there.
    max_slippage_bps: float = Field(default=500.0, gt=0)
    # Bars of history needed before an estimate replaces its fallback (windows grow until full).
    min_samples: int = Field(default=12, ge=2)

    @classmethod
    def for_timeframe(cls, timeframe: str, **overrides: Any) -> CostParams:
        """The estimator windows spanning COST_WINDOW_HOURS of `timeframe` bars (96 on 15m, 288 on 5m, 24 on
        1h); `min_samples` stays a count of bars, since it is how many samples a std or mean needs, not a
        duration (capped at the window on long bars)."""
        window = max(2, round(COST_WINDOW_HOURS * bars_per_day(timeframe) / 24.0))
        base = cls()
        values: dict[str, Any] = {
            "spread_window_bars": window,
            "vol_window_bars": window,
            "volume_window_bars": window,
            "min_samples": min(base.min_samples, window),
        }
        return cls(**{**values, **overrides})


def fees_from_market(market: dict[str, Any], fallback: FeeSchedule | None = None) -> FeeSchedule:
    """Fees from a ccxt market dict, whose 'taker'/'maker' are fractions (0.001 means 10 bps).

    Without a usable 'taker' the `fallback` is returned when given, else a ConfigError names the market.
    """
    taker, maker = market.get("taker"), market.get("maker")
    if taker is None or not _is_number(taker) or float(taker) < 0:
        if fallback is not None:
            return fallback
        name = market.get("symbol") or market.get("id") or "?"
        raise ConfigError(
            f"market {name}: no taker fee in the exchange's market info (got {taker!r}); "
            "set costs.taker_fee_bps in config.yaml and use fees_from_config"
        )
    maker_bps = float(maker) * _BPS if maker is not None and _is_number(maker) else float(taker) * _BPS
    return FeeSchedule(taker_bps=float(taker) * _BPS, maker_bps=maker_bps, source="exchange")


def fees_from_config(costs_config: CostsConfig) -> FeeSchedule:
    """Fees from config.yaml's `costs` section (used offline, on the lake and on synthetic data)."""
    return FeeSchedule(
        taker_bps=costs_config.taker_fee_bps, maker_bps=costs_config.maker_fee_bps, source="config"
    )


def spread_from_book(bid: float, ask: float) -> float:
    """HALF the quoted spread in bps of the mid: what one fill pays, same unit as `spread_bps`."""
    if not (_is_number(bid) and _is_number(ask)) or bid <= 0 or ask < bid:
        raise DataIntegrityError(f"order book top is not usable: bid={bid!r} ask={ask!r}")
    mid = (bid + ask) / 2.0
    return (ask - bid) / mid / 2.0 * _BPS


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _abdi_ranaldo_sq() -> pl.Expr:
    """Per-bar product whose mean is s^2/4 (Abdi & Ranaldo 2017), shifted back one bar to be causal.

    The paper uses close_t with the mid-ranges of t and t+1; here the pair is (t-1, t), so the value at
    row t is known at t's close.
    """
    c = pl.col("close").log()
    eta = (pl.col("high").log() + pl.col("low").log()) / 2.0
    return 4.0 * (c.shift(1) - eta.shift(1)) * (c.shift(1) - eta)


def _corwin_schultz() -> pl.Expr:
    """Two-bar Corwin & Schultz (2012) spread from bars t-1 and t (no overnight term: crypto is 24/7)."""
    k = 3.0 - 2.0 * math.sqrt(2.0)
    hl = (pl.col("high") / pl.col("low")).log() ** 2
    beta = hl + hl.shift(1)
    gamma = (
        pl.max_horizontal(pl.col("high"), pl.col("high").shift(1))
        / pl.min_horizontal(pl.col("low"), pl.col("low").shift(1))
    ).log() ** 2
    alpha = ((2.0 * beta).sqrt() - beta.sqrt()) / k - (gamma / k).sqrt()
    return 2.0 * (alpha.exp() - 1.0) / (1.0 + alpha.exp())


def _full_spread_bps(params: CostParams) -> pl.Expr:
    """Smoothed FULL relative spread in bps, floored; null during warm-up."""
    window = {"window_size": params.spread_window_bars, "min_samples": params.min_samples}
    if params.spread_method == "abdi_ranaldo":
        # Average the products first and clip after: clipping each noisy bar at 0 first biases upward.
        raw = _abdi_ranaldo_sq().rolling_mean(**window).clip(lower_bound=0.0).sqrt()
    else:
        # Corwin-Schultz's usual rule: negative two-bar estimates count as 0, then average.
        raw = _corwin_schultz().clip(lower_bound=0.0).rolling_mean(**window)
    return (raw * _BPS).clip(lower_bound=params.min_spread_bps)


def _slippage_bps(params: CostParams, notional: float, coefficient: float) -> pl.Expr:
    """Square-root impact per fill: k * sigma_bar_bps * sqrt(notional / mean bar quote volume), capped."""
    sigma_bps = (pl.col("close").log().diff()).rolling_std(
        window_size=params.vol_window_bars, min_samples=params.min_samples
    ) * _BPS
    quote_volume = (pl.col("close") * pl.col("volume")).rolling_mean(
        window_size=params.volume_window_bars, min_samples=min(params.min_samples, params.volume_window_bars)
    )
    impact = coefficient * sigma_bps * (notional / quote_volume).sqrt()
    cap = params.max_slippage_bps
    # No volume at all: any order moves the price as far as the model allows.
    impact = pl.when(quote_volume <= 0).then(pl.lit(cap)).otherwise(impact)
    return impact.clip(upper_bound=cap)


def bar_costs(
    candles: pl.DataFrame,
    symbol: str,
    cost_config: CostsConfig,
    fees: FeeSchedule | None = None,
    order_notional: float | None = None,
    *,
    params: CostParams | None = None,
) -> pl.DataFrame:
    """Per-bar costs of ONE fill (one side), aligned row for row with `candles`.

    Columns: timestamp, fee_bps (taker), spread_bps (HALF the estimated spread), slippage_bps, cost_bps
    (their sum). Multiply by |position change| to charge a trade; a reversal is two fills. Warm-up rows
    get the pessimistic fallbacks of `params`, never a later bar's estimate. `order_notional` (quote
    currency of the symbol) defaults to costs.order_notional.
    """
    params = params or CostParams()
    missing = [c for c in _CANDLE_COLUMNS if c not in candles.columns]
    if missing:
        raise DataIntegrityError(f"{symbol}: candles lack column(s) {', '.join(missing)} needed for costs")
    fees = fees or fees_from_config(cost_config)
    notional = float(order_notional if order_notional is not None else cost_config.order_notional)
    if not notional > 0:
        raise ConfigError(f"{symbol}: order_notional must be > 0 (got {notional})")
    half_spread = _full_spread_bps(params).fill_null(params.fallback_spread_bps) / 2.0
    slippage = _slippage_bps(params, notional, cost_config.impact_coefficient).fill_null(
        params.fallback_slippage_bps
    )
    out = candles.select(
        pl.col("timestamp"),
        pl.lit(fees.taker_bps, dtype=pl.Float64).alias("fee_bps"),
        half_spread.fill_nan(params.fallback_spread_bps / 2.0).cast(pl.Float64).alias("spread_bps"),
        slippage.fill_nan(params.fallback_slippage_bps).cast(pl.Float64).alias("slippage_bps"),
    )
    return out.with_columns(
        (pl.col("fee_bps") + pl.col("spread_bps") + pl.col("slippage_bps")).alias("cost_bps")
    )


def round_trip_bps(costs: pl.DataFrame) -> pl.Series:
    """Cost of entering and leaving (two fills) at each bar's per-side estimate."""
    return (2.0 * costs["cost_bps"]).alias("round_trip_bps")


def costs_summary(
    costs_frame: pl.DataFrame,
    fees: FeeSchedule,
    *,
    order_notional: float | None = None,
    symbol: str | None = None,
    params: CostParams | None = None,
    cost_config: CostsConfig | None = None,
) -> dict[str, Any]:
    """Plain-data description of the costs a model was evaluated with; saved as costs.json in bundles.

    `order_notional` defaults to cost_config.order_notional; pass the same values given to bar_costs.
    """
    params = params or CostParams()
    if order_notional is None and cost_config is not None:
        order_notional = cost_config.order_notional
    impact_coefficient = cost_config.impact_coefficient if cost_config is not None else None
    components: dict[str, dict[str, float | None]] = {}
    for column in COST_COLUMNS:
        col = costs_frame[column].drop_nulls()
        components[column] = {
            "median": _round(col.median()),
            "mean": _round(col.mean()),
            "p90": _round(col.quantile(0.9, interpolation="linear")),
        }
    round_trip = 2.0 * costs_frame["cost_bps"].drop_nulls()
    return {
        "symbol": symbol,
        "unit": "bps of notional, per fill (one side)",
        "round_trip_fills": 2,
        "rows": costs_frame.height,
        "fee_source": fees.source,
        "taker_fee_bps": fees.taker_bps,
        "maker_fee_bps": fees.maker_bps,
        "order_notional": order_notional,
        "impact_coefficient": impact_coefficient,
        "spread_method": params.spread_method,
        "slippage_method": SLIPPAGE_METHOD,
        "funding": "not a cost (carry, read by the funding engine)",
        "params": params.model_dump(),
        "components": components,
        "round_trip_bps_median": _round(round_trip.median()),
    }


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 4)
