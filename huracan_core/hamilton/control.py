"""The control files the Telegram bot writes and Hamilton reads each bar: what to trade, and the manual pause.

`control/symbols_selector.json` (absent: trade `hamilton.symbols`, or every trade_ok champion)::

    {"mode": "top", "n": 5, "symbols": [], "updated_by": "telegram:123456789",
     "updated_at": "2026-12-05T10:00:00Z"}

`mode` is `top` (the first `n` trade_ok champions of champion/champion.json, in its ranking), `list`
(`symbols`, e.g. ["BTCUSDT", "ETHUSDT"], each only if it has a trade_ok champion), `off` (nothing) or
`all` (every trade_ok champion). `n` belongs to `top` only and `symbols` to `list` only.

`control/pause.json` (absent: not paused; a file, so a pause survives restarts)::

    {"paused": true, "reason": "exchange maintenance", "updated_by": "telegram:123456789",
     "updated_at": "2026-12-05T10:00:00Z"}

Both are written atomically; times are timezone-aware UTC. A present but unreadable or invalid file raises
`CorruptFileError` (a DataIntegrityError) naming the file and the problem: Hamilton then keeps its
previous selection and logs it; for the pause file it should fail closed and act as paused. Hamilton
never trades a coin without a trade_ok champion, whatever the files say.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from huracan_core.archive import Storage, paths
from huracan_core.exceptions import CorruptFileError, DataIntegrityError

_SYMBOL = re.compile(r"^[A-Z0-9]{2,20}$")
_EXAMPLE_TIME = "2026-12-05T10:00:00Z"
# Pydantic's wording for common mistakes, replaced by what is allowed.
_MESSAGES = {
    "timezone_aware": f"must carry a timezone (UTC), e.g. {_EXAMPLE_TIME}",
    "datetime_parsing": f"must be an ISO-8601 time with a timezone, e.g. {_EXAMPLE_TIME}",
    "datetime_type": f"must be an ISO-8601 time with a timezone, e.g. {_EXAMPLE_TIME}",
    "datetime_from_date_parsing": f"must be an ISO-8601 time with a timezone, e.g. {_EXAMPLE_TIME}",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be a string",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
}

SelectorMode = Literal["top", "list", "off", "all"]


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


# A timestamp that must carry a timezone; it is stored and compared in UTC.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]


def normalize_symbol(text: str) -> str:
    """`btc/usdt` -> `BTCUSDT`; ValueError naming the symbol when it is not seed-form letters and digits."""
    symbol = str(text).strip().upper().replace("/", "")
    if not _SYMBOL.match(symbol):
        raise ValueError(f"symbol {text!r} is not like BTCUSDT (2-20 letters or digits)")
    return symbol


def describe_validation_error(exc: ValidationError) -> str:
    """Pydantic's errors as `field: what is allowed (got value)`, one clause per problem."""
    parts = []
    for item in exc.errors():
        where = ".".join(str(p) for p in item["loc"]) or "file"
        msg = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            msg = "unknown field"
        elif item["type"] == "literal_error":
            msg = f"allowed: {item.get('ctx', {}).get('expected', '')}"
        elif item["type"] == "missing":
            msg = "required"
        elif item["type"] in _MESSAGES:
            msg = _MESSAGES[item["type"]]
        got = "" if item["type"] == "missing" else f" (got {item.get('input')!r})"
        parts.append(f"{where}: {msg}{got}")
    return "; ".join(parts)


class _ControlFile(BaseModel):
    # Frozen and strict about unknown fields: a typo in the bot must fail loudly, not be ignored.
    model_config = ConfigDict(frozen=True, extra="forbid")


class SymbolsSelector(_ControlFile):
    """What the bot asked Hamilton to trade (`/trade 5`, `/trade BTCUSDT,ETHUSDT`, `/trade off`, `/trade all`)."""

    mode: SelectorMode
    # Fields are validated in this order, so `n` and `symbols` can be checked against `mode`.
    n: int | None = Field(default=None, strict=True, validate_default=True)
    symbols: list[str] = Field(default_factory=list, validate_default=True)
    updated_by: str
    updated_at: UtcDatetime

    @field_validator("n")
    @classmethod
    def _n(cls, value: int | None, info: ValidationInfo) -> int | None:
        mode = info.data.get("mode")
        if mode == "top":
            if value is None:
                raise ValueError(
                    "required with mode 'top': how many trade_ok champions to trade (a whole number >= 1)"
                )
            if value < 1:
                raise ValueError("must be a whole number >= 1 with mode 'top'")
        elif value is not None and mode is not None:
            raise ValueError(f"only allowed with mode 'top' (mode is {mode!r}); leave it out or null")
        return value

    @field_validator("symbols", mode="before")
    @classmethod
    def _symbols(cls, value: Any, info: ValidationInfo) -> list[str]:
        if value is None:
            value = []
        if not isinstance(value, list | tuple):
            raise ValueError("must be a list of symbols like BTCUSDT")
        out: list[str] = []
        for item in value:
            symbol = normalize_symbol(item)
            if symbol not in out:
                out.append(symbol)
        mode = info.data.get("mode")
        if mode == "list" and not out:
            raise ValueError("required with mode 'list': a non-empty list of symbols like BTCUSDT")
        if mode is not None and mode != "list" and out:
            raise ValueError(f"only allowed with mode 'list' (mode is {mode!r}); leave it out or empty")
        return out

    @field_validator("updated_by")
    @classmethod
    def _who(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name who set it, e.g. telegram:123456789")
        return value.strip()


class PauseState(_ControlFile):
    """The manual pause: while paused, Hamilton opens and increases nothing (exits still happen)."""

    paused: bool
    # None only for the state of a missing file (never paused); `write_pause` requires both.
    updated_by: str | None = None
    updated_at: UtcDatetime | None = None
    reason: str | None = None


NOT_PAUSED = PauseState(paused=False)


def _read_control(storage: Storage, key: str, model: type[_ControlFile], what: str) -> Any:
    """The validated model of `key`, None when the file is absent; CorruptFileError when it is not valid."""
    try:
        raw = storage.read_json(key)
    except FileNotFoundError:
        return None
    except CorruptFileError as exc:  # not JSON at all (empty, truncated, hand-edited)
        raise CorruptFileError(f"{storage.url(key)} is not a valid {what}: {exc}") from None
    if not isinstance(raw, Mapping):
        raise CorruptFileError(
            f"{storage.url(key)} is not a valid {what}: it must hold a JSON object, got {type(raw).__name__}"
        )
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise CorruptFileError(
            f"{storage.url(key)} is not a valid {what}: {describe_validation_error(exc)}"
        ) from None


def read_selector(storage: Storage) -> SymbolsSelector | None:
    """The bot's symbols selector, or None when there is none (then `hamilton.symbols` decides).

    Raises CorruptFileError (a DataIntegrityError) naming the file and the problem when it is present but
    unreadable or invalid; storage outages propagate as StorageUnavailableError.
    """
    return _read_control(storage, paths.symbols_selector(), SymbolsSelector, "symbols selector")


def write_selector(storage: Storage, selector: SymbolsSelector) -> None:
    """Replace the selector atomically (what the bot calls): Hamilton sees the old file or the new one."""
    storage.write_json(paths.symbols_selector(), selector.model_dump(mode="json"))


def read_pause(storage: Storage) -> PauseState:
    """The manual pause; an absent file means not paused. An invalid file raises CorruptFileError."""
    state = _read_control(storage, paths.pause_file(), PauseState, "pause file")
    return NOT_PAUSED if state is None else state


def write_pause(storage: Storage, state: PauseState) -> None:
    """Set or lift the pause atomically; who and when are required so the pause can be audited."""
    if state.updated_by is None or state.updated_at is None:
        raise ValueError("a pause file records who set it and when: give updated_by and updated_at")
    storage.write_json(paths.pause_file(), state.model_dump(mode="json"))


@dataclass
class Selection:
    """Which symbols Hamilton trades this bar, how they were chosen, and why wanted symbols were left out.

    `mode` is the selector's mode, or `configured` (no selector file, `hamilton.symbols` set), or `all`
    (no selector file and no `hamilton.symbols`). `dropped` maps a wanted symbol to the reason it is not
    traded (only for `list` and `configured`, where symbols are named one by one).
    """

    symbols: list[str]
    mode: str
    how: str
    dropped: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_roster(storage: Storage) -> Mapping[str, Any] | None:
    """champion/champion.json as written by the Engine (ranked, with trade_ok), or None when there is none.

    Not JSON at all raises CorruptFileError naming the file; its shape is checked by `roster_entries`.
    """
    try:
        return storage.read_json(paths.champion_roster())
    except FileNotFoundError:
        return None


def roster_entries(roster: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    """The roster's champion entries in ranking order; entries without a symbol are not champions."""
    if roster is None:
        return []
    if not isinstance(roster, Mapping):
        raise DataIntegrityError(f"the champion roster must be a JSON object, got {type(roster).__name__}")
    champions = roster.get("champions", [])
    if not isinstance(champions, list):
        raise DataIntegrityError(
            f"the champion roster's 'champions' must be a list, got {type(champions).__name__}"
        )
    seen: set[str] = set()
    entries = []
    for entry in champions:
        if (
            isinstance(entry, Mapping)
            and isinstance(entry.get("symbol"), str)
            and entry["symbol"] not in seen
        ):
            seen.add(entry["symbol"])
            entries.append(entry)
    return entries


def _why_not(
    symbol: str, by_symbol: Mapping[str, Mapping[str, Any]], roster: Mapping[str, Any] | None
) -> str:
    if roster is None:
        return "no champion roster yet (champion/champion.json is absent)"
    entry = by_symbol.get(symbol)
    if entry is None:
        return "no champion"
    reason = entry.get("reason") or "no reason given"
    return f"champion {entry.get('model_id') or '?'} is not trade_ok: {reason}"


def _set_by(selector: SymbolsSelector) -> str:
    return f"set by {selector.updated_by} at {selector.updated_at.strftime('%Y-%m-%d %H:%M UTC')}"


def choose_symbols(
    selector: SymbolsSelector | None,
    roster: Mapping[str, Any] | None,
    *,
    configured: Sequence[str] | None,
) -> Selection:
    """Apply the selector to the roster (champion/champion.json as read); see `select_symbols`.

    Only champions with `trade_ok: true` are ever chosen; the roster's order is its ranking.
    """
    entries = roster_entries(roster)
    by_symbol = {entry["symbol"]: entry for entry in entries}
    tradeable = [entry["symbol"] for entry in entries if entry.get("trade_ok") is True]

    def named(wanted: Sequence[str]) -> tuple[list[str], dict[str, str]]:
        kept, dropped = [], {}
        for symbol in wanted:
            if symbol in kept or symbol in dropped:
                continue
            if symbol in tradeable:
                kept.append(symbol)
            else:
                dropped[symbol] = _why_not(symbol, by_symbol, roster)
        return kept, dropped

    if selector is None:
        if configured is None:
            return Selection(
                tradeable, "all", "every trade_ok champion (no selector file, hamilton.symbols unset)"
            )
        wanted = [normalize_symbol(symbol) for symbol in configured]
        kept, dropped = named(wanted)
        return Selection(kept, "configured", "hamilton.symbols (no selector file)", dropped)
    if selector.mode == "off":
        return Selection([], "off", f"trading off, {_set_by(selector)}")
    if selector.mode == "all":
        return Selection(tradeable, "all", f"every trade_ok champion, {_set_by(selector)}")
    if selector.mode == "top":
        n = selector.n or 0
        chosen = tradeable[:n]
        short = f" (only {len(chosen)} available)" if len(chosen) < n else ""
        return Selection(
            chosen, "top", f"top {n} trade_ok champions of the roster{short}, {_set_by(selector)}"
        )
    kept, dropped = named(selector.symbols)
    return Selection(kept, "list", f"list of {len(selector.symbols)}, {_set_by(selector)}", dropped)


def select_symbols(
    selector: SymbolsSelector | None,
    roster: Mapping[str, Any] | None,
    *,
    configured: Sequence[str] | None,
) -> list[str]:
    """The symbols to trade: top N / list / off / all from the selector, else `configured` (hamilton.symbols).

    - top N: the first N roster champions with trade_ok (fewer when the roster has fewer);
    - list: the listed symbols that have a trade_ok champion, in the listed order; the others are dropped;
    - off: none; all: every trade_ok champion in roster order;
    - no selector: `configured` intersected with the trade_ok champions, or every trade_ok champion when
      `configured` is None.
    A missing roster (None) means no champions, so nothing is traded. `choose_symbols` also says why
    each wanted symbol was dropped.
    """
    return choose_symbols(selector, roster, configured=configured).symbols
