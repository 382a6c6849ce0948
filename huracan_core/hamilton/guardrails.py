"""Guardrails: whether Hamilton may open a position or increase one. Exits and reductions are never blocked.

Pure functions over a small state that Hamilton persists every bar (`GuardrailState.to_dict`), so a restart
does not clear a daily loss cap. Time comes in as arguments (UTC epoch milliseconds), never from the clock.

Precedence, first match wins (one reason is logged per blocked entry):
1. PAUSED: a person paused trading (control/pause.json); their decision comes first.
2. DAILY_LOSS_CAP: the account lost `daily_loss_cap_pct` % of the UTC day's starting equity.
3. STALE_DATA: the symbol's newest closed bar opened more than `stale_data_bars` bars before now.
4. STALE_MODEL: the champion was trained more than `max_model_age_days` before now.
5. MAX_POSITIONS: `max_open_positions` other coins already hold a position.
6. MAX_NOTIONAL: the coin's position after the order would exceed `max_notional_per_coin`.
Account-wide reasons come before per-coin ones, and reasons about trusting the inputs before the limits on
size, so the reported reason is the one a person must act on first.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime
from typing import Any, Literal

from huracan_core.config import HuracanConfig
from huracan_core.exceptions import DataIntegrityError
from huracan_core.timeframe import DAY_MS, timeframe_ms

BlockCode = Literal["PAUSED", "DAILY_LOSS_CAP", "STALE_DATA", "STALE_MODEL", "MAX_POSITIONS", "MAX_NOTIONAL"]
BLOCK_CODES: tuple[BlockCode, ...] = (
    "PAUSED",
    "DAILY_LOSS_CAP",
    "STALE_DATA",
    "STALE_MODEL",
    "MAX_POSITIONS",
    "MAX_NOTIONAL",
)  # in order of precedence


@dataclass(frozen=True)
class GuardrailSettings:
    """The guardrail limits, from `hamilton.*` and `general.timeframe`."""

    daily_loss_cap_pct: float  # percent of the UTC day's starting equity
    max_open_positions: int  # coins holding a position at once; 0 blocks every entry
    max_notional_per_coin: float  # quote currency, absolute position value after the order
    max_model_age_days: float  # days since the champion's training as-of
    stale_data_bars: int  # bars (of `timeframe`) the newest closed bar's open may be behind now
    timeframe: str

    @classmethod
    def from_config(cls, config: HuracanConfig) -> GuardrailSettings:
        h = config.hamilton
        return cls(
            daily_loss_cap_pct=h.daily_loss_cap_pct,
            max_open_positions=h.max_open_positions,
            max_notional_per_coin=h.max_notional_per_coin,
            max_model_age_days=h.max_model_age_days,
            stale_data_bars=h.stale_data_bars,
            timeframe=config.general.timeframe,
        )


_REQUIRED_FIELDS = ("day", "day_start_equity", "loss_cap_hit")
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _is_iso_day(value: Any) -> bool:
    """YYYY-MM-DD and a real date: days are compared as strings, so the form must be exact."""
    if not isinstance(value, str) or not _ISO_DAY.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class GuardrailState:
    """What the guardrails remember between bars: the UTC day, its starting equity, and the loss cap.

    A fresh state (`GuardrailState()`) has no day yet; the first `roll_day` starts one.
    """

    day: str | None = None  # UTC date, ISO (2026-12-05)
    day_start_equity: float | None = None  # quote currency, equity at the first bar seen that day
    loss_cap_hit: bool = False
    loss_cap_hit_at_ms: int | None = None  # when the cap was hit (UTC ms)
    loss_cap_hit_equity: float | None = None  # equity that hit it
    last_equity: float | None = None  # equity at the latest roll_day, for the status page

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data; `from_dict` reads it back unchanged."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> GuardrailState:
        """Read a persisted state; DataIntegrityError naming the field when it cannot be trusted."""
        if not isinstance(data, dict):
            raise DataIntegrityError(f"guardrail state must be a JSON object, got {type(data).__name__}")
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise DataIntegrityError(f"guardrail state has unknown field(s): {', '.join(unknown)}")
        # A state missing these would silently start a fresh day and clear a cap that was hit.
        missing = [name for name in _REQUIRED_FIELDS if name not in data]
        if missing:
            raise DataIntegrityError(f"guardrail state is missing field(s): {', '.join(missing)}")
        state = cls(**data)
        if state.day is not None and not _is_iso_day(state.day):
            raise DataIntegrityError(f"guardrail state field 'day' must be YYYY-MM-DD, got {state.day!r}")
        if not isinstance(state.loss_cap_hit, bool):
            raise DataIntegrityError(
                f"guardrail state field 'loss_cap_hit' must be true or false, got {state.loss_cap_hit!r}"
            )
        for name in ("day_start_equity", "loss_cap_hit_equity", "last_equity"):
            value = getattr(state, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise DataIntegrityError(f"guardrail state field {name!r} must be a number, got {value!r}")
        hit_at = state.loss_cap_hit_at_ms
        if hit_at is not None and (isinstance(hit_at, bool) or not isinstance(hit_at, int)):
            raise DataIntegrityError(
                f"guardrail state field 'loss_cap_hit_at_ms' must be UTC ms, got {hit_at!r}"
            )
        return state


@dataclass(frozen=True)
class Block:
    """Why an entry was refused: a stable `code` for logs and counts, and a `reason` for people."""

    code: BlockCode
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def utc_day(ms: int) -> str:
    """The UTC date (YYYY-MM-DD) that epoch milliseconds fall on."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).date().isoformat()


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def roll_day(
    state: GuardrailState, *, now_ms: int, equity: float, settings: GuardrailSettings
) -> GuardrailState:
    """The state after seeing `equity` at `now_ms`: call it each bar, before `entry_block`.

    A new UTC day starts fresh from the current equity (the cap clears). Within the day, a loss of at least
    `settings.daily_loss_cap_pct` % of the day's starting equity sets `loss_cap_hit` for the rest of that
    day, even if equity recovers. A `now_ms` on a day before the state's day (a clock stepping back)
    changes nothing, so it can never clear a cap. A day starting with no equity (<= 0) has the cap hit at
    once.
    """
    if not math.isfinite(equity):
        raise ValueError(f"equity must be a finite number, got {equity!r}")
    today = utc_day(now_ms)
    if state.day is not None and today < state.day:
        return state
    if state.day != today or state.day_start_equity is None:
        state = GuardrailState(day=today, day_start_equity=equity)
    state = replace(state, last_equity=equity)
    if state.loss_cap_hit:
        return state
    start = state.day_start_equity or 0.0
    limit = start * settings.daily_loss_cap_pct / 100.0
    loss = start - equity
    if start <= 0 or loss >= limit or math.isclose(loss, limit, rel_tol=1e-9):
        return replace(state, loss_cap_hit=True, loss_cap_hit_at_ms=now_ms, loss_cap_hit_equity=equity)
    return state


def is_entry(current_quantity: float, target_quantity: float) -> bool:
    """True when going from `current` to `target` opens or increases a position (guardrails apply).

    A reduction or a close is never an entry. A flip (long to short) is a close, which always happens,
    then an entry on the other side, which the caller checks.
    """
    if target_quantity == 0:
        return False
    if current_quantity == 0 or (current_quantity > 0) != (target_quantity > 0):
        return True
    return abs(target_quantity) > abs(current_quantity)


def entry_block(
    settings: GuardrailSettings,
    state: GuardrailState,
    *,
    symbol: str,
    now_ms: int,
    last_bar_ms: int | None,
    model_trained_as_of_ms: int | None,
    open_positions: int,
    already_open: bool,
    notional_after: float,
    paused: bool,
) -> Block | None:
    """The first rule (see the module's precedence) that forbids this entry or increase, or None.

    `last_bar_ms` is the open time of the symbol's newest closed bar (None: no bar yet, which is stale);
    `model_trained_as_of_ms` the champion's training as-of (None: unknown, which is stale). `open_positions`
    counts every coin holding a position now, this one included when `already_open`. `notional_after` is
    the coin's position value after the order, quote currency (its absolute value is compared).
    Boundaries are allowed: exactly `stale_data_bars` bars old, exactly `max_model_age_days` old, exactly
    `max_notional_per_coin`.
    """
    if open_positions < (1 if already_open else 0):
        raise ValueError(
            f"open_positions={open_positions} cannot be below 1 when {symbol} already holds a position"
        )
    if paused:
        return Block("PAUSED", "trading is paused (control/pause.json): no new entries until it is lifted")
    if state.loss_cap_hit:
        lost = ""
        if state.day_start_equity and state.loss_cap_hit_equity is not None:
            pct = (state.day_start_equity - state.loss_cap_hit_equity) / state.day_start_equity * 100
            lost = f" (equity {state.loss_cap_hit_equity:,.2f}, {pct:.2f}% below the day's start {state.day_start_equity:,.2f})"
        return Block(
            "DAILY_LOSS_CAP",
            f"daily loss cap of {settings.daily_loss_cap_pct:g}% hit on {state.day}{lost}; "
            "no new entries until 00:00 UTC",
        )
    bar = timeframe_ms(settings.timeframe)
    if last_bar_ms is None:
        return Block("STALE_DATA", f"no closed bar of {symbol} yet")
    if now_ms - last_bar_ms > settings.stale_data_bars * bar:
        behind = (now_ms - last_bar_ms) / bar
        return Block(
            "STALE_DATA",
            f"newest closed bar of {symbol} opened {_when(last_bar_ms)}, {behind:.1f} bars of "
            f"{settings.timeframe} ago (more than {settings.stale_data_bars})",
        )
    if model_trained_as_of_ms is None:
        return Block("STALE_MODEL", f"the champion of {symbol} does not say when it was trained")
    if now_ms - model_trained_as_of_ms > settings.max_model_age_days * DAY_MS:
        age = (now_ms - model_trained_as_of_ms) / DAY_MS
        return Block(
            "STALE_MODEL",
            f"the champion of {symbol} was trained as of {_when(model_trained_as_of_ms)}, {age:.1f} days ago "
            f"(more than {settings.max_model_age_days:g})",
        )
    others = open_positions - (1 if already_open else 0)
    if others >= settings.max_open_positions:
        return Block(
            "MAX_POSITIONS",
            f"{others} other coins hold positions; at most {settings.max_open_positions} at once",
        )
    if abs(notional_after) > settings.max_notional_per_coin:
        return Block(
            "MAX_NOTIONAL",
            f"{symbol} would hold {abs(notional_after):,.2f} after the order, above the cap of "
            f"{settings.max_notional_per_coin:,.2f} per coin",
        )
    return None
