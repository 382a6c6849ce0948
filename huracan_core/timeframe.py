"""Candle timeframes: the one place that knows how long a `15m` bar is."""

from __future__ import annotations

from huracan_core.exceptions import ConfigError

TIMEFRAME_MS: dict[str, int] = {
    "1m": 60_000,
    "3m": 3 * 60_000,
    "5m": 5 * 60_000,
    "15m": 15 * 60_000,
    "30m": 30 * 60_000,
    "1h": 3_600_000,
    "2h": 2 * 3_600_000,
    "4h": 4 * 3_600_000,
    "6h": 6 * 3_600_000,
    "12h": 12 * 3_600_000,
    "1d": 86_400_000,
}

DAY_MS = 86_400_000


def timeframe_ms(timeframe: str) -> int:
    """Bar length in milliseconds; unknown timeframes are a configuration error."""
    try:
        return TIMEFRAME_MS[timeframe]
    except KeyError:
        allowed = ", ".join(TIMEFRAME_MS)
        raise ConfigError(f"timeframe {timeframe!r} is not supported; allowed: {allowed}") from None


def bars_per_day(timeframe: str) -> float:
    """How many bars of `timeframe` make a day (fractional above 1d, never for supported ones)."""
    return DAY_MS / timeframe_ms(timeframe)
