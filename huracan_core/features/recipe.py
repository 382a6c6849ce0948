"""The feature recipe: every window (in bars) of the shared feature builder, versioned and hashed.

A model bundle stores the recipe and its hash, so training and serving can prove they built the same features.
"""

from __future__ import annotations

import hashlib
import json
import math
from functools import cached_property

from pydantic import BaseModel, ConfigDict, Field, model_validator

# Quote currencies stripped from a reference symbol to name its columns ("BTCUSDT" -> "btc").
_QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "USD")


def reference_tag(symbol: str) -> str:
    """Short lower-case name of a reference coin used in column names: BTCUSDT -> btc."""
    for quote in _QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)].lower()
    return symbol.lower()


class FeatureRecipe(BaseModel):
    """Which features to build and with which windows; all windows are counted in bars.

    Recursive averages (EMA, Wilder's RSI / ATR / ADX smoothing, MACD) are FINITE windows: exponential weights
    truncated after `ema_window(...)` bars and renormalised. That is what lets the incremental mode (only the
    newest `warmup_bars()` bars) reproduce the batch value of the newest bar to ~1e-13 instead of depending on
    the whole history.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = 1
    return_windows: tuple[int, ...] = (1, 4, 16, 96)  # log close-to-close return over k bars
    realized_vol_windows: tuple[int, ...] = (16, 96)  # std (ddof=1) of 1-bar log returns
    atr_window: int = Field(14, ge=1)  # Wilder ATR, divided by close
    parkinson_window: int = Field(16, ge=1)  # Parkinson high/low volatility
    ema_slope_spans: tuple[int, ...] = (12, 48)  # 1-bar relative change of EMA(close, span)
    adx_window: int = Field(14, ge=1)  # Wilder ADX
    rsi_window: int = Field(14, ge=1)  # Wilder RSI, 0..100
    macd_fast: int = Field(12, ge=1)
    macd_slow: int = Field(26, ge=2)
    macd_signal: int = Field(9, ge=1)
    bollinger_window: int = Field(20, ge=2)
    bollinger_k: float = Field(2.0, gt=0)  # band half-width in population standard deviations
    range_window: int = Field(48, ge=1)  # close within rolling high/low
    volume_window: int = Field(48, ge=2)  # volume z-score and ratio to mean
    vwap_window: int = Field(48, ge=1)  # close / rolling VWAP - 1
    cross_window: int = Field(96, ge=2)  # beta / corr / relative strength vs each reference coin
    cross_min_pairs: int = Field(48, ge=2)  # beta / corr need this many bars with both returns present
    reference_symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")
    # Largest weight an infinite EMA would give to bars older than the finite window: sets its length.
    ema_tail_weight: float = Field(1e-4, gt=0, lt=0.5)
    time_features: bool = True  # tod_sin/cos, dow_sin/cos from the bar open time (UTC)

    @model_validator(mode="after")
    def _check(self) -> FeatureRecipe:
        for name in ("return_windows", "realized_vol_windows", "ema_slope_spans"):
            values = getattr(self, name)
            if any(v < 1 for v in values) or len(set(values)) != len(values):
                raise ValueError(f"{name}={values!r}: windows must be distinct and >= 1 bar")
        if any(v < 2 for v in self.realized_vol_windows):
            raise ValueError(f"realized_vol_windows={self.realized_vol_windows!r}: need >= 2 bars for a std")
        if self.macd_fast >= self.macd_slow:
            raise ValueError(f"macd_fast={self.macd_fast} must be shorter than macd_slow={self.macd_slow}")
        if self.cross_min_pairs > self.cross_window:
            raise ValueError(
                f"cross_min_pairs={self.cross_min_pairs} exceeds cross_window={self.cross_window}"
            )
        tags = [reference_tag(s) for s in self.reference_symbols]
        if len(set(tags)) != len(tags):
            raise ValueError(
                f"reference_symbols={self.reference_symbols!r} give clashing column names {tags}"
            )
        return self

    # --- identity -----------------------------------------------------------------------------------
    @cached_property
    def _canonical(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    def canonical_json(self) -> str:
        """Stable text form (sorted keys, no spaces) that the hash is taken over."""
        return self._canonical

    def hash(self) -> str:
        """sha256 hex digest of the canonical JSON: changes whenever any window or option changes."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    def __hash__(self) -> int:  # frozen: usable as a cache key (the builder caches its plan per recipe)
        return hash(self._canonical)

    # --- finite EMA windows -------------------------------------------------------------------------
    def ema_window(self, alpha: float) -> int:
        """Bars in the finite EMA of smoothing factor `alpha`: the shortest window whose omitted tail
        weight (1 - alpha)^N is at most `ema_tail_weight`."""
        return max(1, math.ceil(math.log(self.ema_tail_weight) / math.log1p(-alpha)))

    # --- columns and warm-up ------------------------------------------------------------------------
    def reference_tags(self) -> dict[str, str]:
        """{reference symbol: column tag}, e.g. {"BTCUSDT": "btc"}."""
        return {s: reference_tag(s) for s in self.reference_symbols}

    @cached_property
    def lookbacks(self) -> dict[str, int]:
        """{feature column: bars of history before the first row where it is valid} (row index of first value)."""
        wilder = lambda n: self.ema_window(1.0 / n)  # noqa: E731
        span = lambda s: self.ema_window(2.0 / (s + 1.0))  # noqa: E731

        def ema_lb(input_lookback: int, window: int) -> int:
            # The O(n) finite EMA needs the recursive EMA `window` bars back, hence the max with `window`.
            return max(input_lookback + window - 1, window)

        out: dict[str, int] = {}
        for k in self.return_windows:
            out[f"ret_{k}"] = k
        for n in self.realized_vol_windows:
            out[f"rv_{n}"] = n
        out[f"atr_{self.atr_window}"] = ema_lb(1, wilder(self.atr_window))
        out[f"parkinson_{self.parkinson_window}"] = self.parkinson_window - 1
        for s in self.ema_slope_spans:
            out[f"ema_slope_{s}"] = ema_lb(0, span(s)) + 1
        adx_smooth = ema_lb(1, wilder(self.adx_window))
        out[f"adx_{self.adx_window}"] = ema_lb(adx_smooth, wilder(self.adx_window))
        out[f"rsi_{self.rsi_window}"] = ema_lb(1, wilder(self.rsi_window))
        macd_line = max(ema_lb(0, span(self.macd_fast)), ema_lb(0, span(self.macd_slow)))
        macd_signal = ema_lb(macd_line, span(self.macd_signal))
        out["macd"] = macd_line
        out["macd_signal"] = macd_signal
        out["macd_hist"] = macd_signal
        out[f"bb_pos_{self.bollinger_window}"] = self.bollinger_window - 1
        out[f"bb_width_{self.bollinger_window}"] = self.bollinger_window - 1
        out[f"range_pos_{self.range_window}"] = self.range_window - 1
        out[f"vol_z_{self.volume_window}"] = self.volume_window - 1
        out[f"vol_ratio_{self.volume_window}"] = self.volume_window - 1
        out[f"vwap_dist_{self.vwap_window}"] = self.vwap_window - 1
        if self.time_features:
            for name in ("tod_sin", "tod_cos", "dow_sin", "dow_cos"):
                out[name] = 0
        for tag in self.reference_tags().values():
            w = self.cross_window
            out[f"beta_{tag}_{w}"] = w
            out[f"corr_{tag}_{w}"] = w
            out[f"rs_{tag}_{w}"] = w
        return out

    def columns(self) -> list[str]:
        """Output feature column names, in output order."""
        return list(self.lookbacks)

    def warmup_bars(self) -> int:
        """Bars needed so that the newest one has every feature: the incremental mode needs this many."""
        return max(self.lookbacks.values()) + 1


DEFAULT_RECIPE = FeatureRecipe()
