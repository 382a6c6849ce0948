"""Candle timeframes and durations: the one place that knows how long a `15m` bar (or `3d`) is."""

from __future__ import annotations

import re
from collections.abc import Sequence

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


DURATION_UNITS_MS: dict[str, int] = {"m": 60_000, "h": 3_600_000, "d": DAY_MS, "w": 7 * DAY_MS}
_DURATION = re.compile(r"^([1-9][0-9]*)([mhdw])$")


def duration_ms(text: str) -> int:
    """A duration such as `90m`, `4h`, `1d` or `2w` in milliseconds; anything else is a configuration error."""
    match = _DURATION.match(str(text).strip())
    if match is None:
        raise ConfigError(
            f"duration {text!r} is not like 30m, 4h, 1d or 2w (a positive whole number and m, h, d or w)"
        )
    return int(match.group(1)) * DURATION_UNITS_MS[match.group(2)]


def format_duration(ms: int) -> str:
    """`ms` in the largest unit that divides it (`duration_ms`'s inverse for whole units): 5400000 -> 90m."""
    for unit in ("w", "d", "h", "m"):
        size = DURATION_UNITS_MS[unit]
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def horizon_candidates(timeframe: str, durations: Sequence[str]) -> tuple[int, ...]:
    """`engine.horizons` as distinct holding horizons in bars of `timeframe`, shortest first.

    A duration shorter than one bar is dropped (no trade is held for less than a bar); one that is not a
    whole number of bars is rounded to the nearest bar, halves up (2h30m at 1h bars -> 3); durations on
    the same bar count are one candidate. () for an empty list: the switch-off, each engine keeps its own
    horizon and the trade `engine.hold_bars`. A list with no duration of a bar or more is refused.
    """
    bar = timeframe_ms(timeframe)
    bars = {(ms + bar // 2) // bar for ms in map(duration_ms, durations) if ms >= bar}
    if durations and not bars:
        raise ConfigError(
            f"engine.horizons {list(durations)} are all shorter than one {timeframe} bar: give at least "
            f"one duration of {timeframe} or longer, or [] for the engines' own horizons"
        )
    return tuple(sorted(bars))
