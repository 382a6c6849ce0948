"""hamilton_status.json: what the trading service holds and when it last showed signs of life.

Hamilton rewrites it (atomically) every bar and at every heartbeat; `huracan hamilton status`, the bot's
/status and the Airflow UI page read it, and `huracan hamilton health` (the container's healthcheck) checks
the heartbeat's age. Writing it must never stop trading, so `write_status` reports a failure as False.
Times are timezone-aware UTC ISO-8601; bar times are UTC epoch milliseconds (bar open), like the trade log.

    {"run_key": "paper-20261205T100000Z", "mode": "paper", "clock": "live",
     "started_at": "2026-12-05T10:00:00Z", "heartbeat": "2026-12-05T10:30:05Z", "bar_ms": 1796465700000,
     "last_bar": {"BTCUSDT": 1796465700000},
     "positions": {"BTCUSDT": {"side": "long", "size": 0.1, "quantity": 0.01, "entry_price": 97000.0,
                               "entry_time": 1796464800000, "model_id": "20261205_020000Z"}},
     "equity": 10012.5, "cash": 9042.5,
     "guardrails": {"day": "2026-12-05", "day_start_equity": 10000.0, "loss_cap_hit": false,
                    "blocked": {"ETHUSDT": "STALE_DATA: newest closed bar ..."}},
     "paused": false, "pause_reason": null, "champions": {"BTCUSDT": "20261205_020000Z"},
     "selection": {"symbols": ["BTCUSDT"], "mode": "top", "how": "top 1 trade_ok champions ...", "dropped": {}},
     "errors": [{"at": "2026-12-05T10:15:03Z", "message": "..."}], "pending_db_commits": 0}
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from huracan_core.archive import Storage, paths
from huracan_core.exceptions import CorruptFileError
from huracan_core.hamilton.control import Selection, UtcDatetime, describe_validation_error
from huracan_core.hamilton.guardrails import Block, GuardrailState
from huracan_core.timeframe import timeframe_ms

log = logging.getLogger(__name__)

MAX_ERRORS = 10  # the last few errors are enough to see what is wrong; the log keeps the rest
HEALTHY_BARS = 3  # default health limit: a heartbeat older than this many bars means Hamilton is stuck


class _StatusModel(BaseModel):
    # Frozen snapshots; unknown fields are refused when Hamilton builds one (a typo fails loudly).
    model_config = ConfigDict(frozen=True, extra="forbid")


class PositionStatus(_StatusModel):
    side: Literal["long", "short"]
    size: float  # fraction of the coin's allocation the position was opened at (>= 0; `side` gives the direction)
    quantity: float  # base-asset units held
    entry_price: float  # average entry fill price, quote currency
    entry_time: int  # UTC ms of the entry fill
    model_id: str  # the champion that opened it


class GuardrailsStatus(_StatusModel):
    day: str | None = None  # the UTC day the loss cap counts (YYYY-MM-DD)
    day_start_equity: float | None = None
    loss_cap_hit: bool = False
    blocked: dict[str, str] = Field(default_factory=dict)  # symbol -> why its last entry was refused

    @classmethod
    def from_state(
        cls, state: GuardrailState, blocked: Mapping[str, Block | str] | None = None
    ) -> GuardrailsStatus:
        """The status view of the guardrail state and of this bar's refused entries."""
        reasons = {
            symbol: f"{b.code}: {b.reason}" if isinstance(b, Block) else str(b)
            for symbol, b in (blocked or {}).items()
        }
        return cls(
            day=state.day,
            day_start_equity=state.day_start_equity,
            loss_cap_hit=state.loss_cap_hit,
            blocked=reasons,
        )


class SelectionStatus(_StatusModel):
    symbols: list[str] = Field(default_factory=list)  # what Hamilton trades now
    mode: str = (
        "none"  # top | list | off | all | configured (see control.Selection); none before the first bar
    )
    how: str = ""
    dropped: dict[str, str] = Field(default_factory=dict)  # wanted symbol -> why it is not traded

    @classmethod
    def from_selection(cls, selection: Selection) -> SelectionStatus:
        return cls.model_validate(selection.to_dict())


class ErrorEntry(_StatusModel):
    at: UtcDatetime
    message: str


class HamiltonStatus(_StatusModel):
    """One snapshot of Hamilton, as written to hamilton_status.json."""

    run_key: str  # identifies one run of the service (its journal and trade-log rows carry it)
    mode: Literal["paper", "live", "replay"]
    clock: Literal["live", "replay"]
    started_at: UtcDatetime
    heartbeat: UtcDatetime  # wall-clock time of this write
    bar_ms: int | None = None  # the last bar processed (open time, UTC ms)
    last_bar: dict[str, int] = Field(default_factory=dict)  # symbol -> newest closed bar seen (UTC ms)
    positions: dict[str, PositionStatus] = Field(default_factory=dict)
    equity: float  # quote currency, positions marked at the last close
    cash: float  # quote currency
    guardrails: GuardrailsStatus = Field(default_factory=GuardrailsStatus)
    paused: bool = False
    pause_reason: str | None = None
    champions: dict[str, str] = Field(default_factory=dict)  # symbol -> model_id Hamilton trades it with
    selection: SelectionStatus = Field(default_factory=SelectionStatus)
    errors: list[ErrorEntry] = Field(default_factory=list)  # the last MAX_ERRORS, oldest first
    pending_db_commits: int = Field(default=0, ge=0)  # trades journaled but not yet in the database

    @model_validator(mode="after")
    def _mode_and_clock(self) -> HamiltonStatus:
        # A live account on a replayed clock, or a replay on the wall clock, would be a wiring mistake.
        if self.mode == "live" and self.clock != "live":
            raise ValueError("clock: mode 'live' trades on the live clock only")
        if self.mode == "replay" and self.clock != "replay":
            raise ValueError("clock: mode 'replay' runs on the replay clock only")
        return self

    def with_error(self, message: str, *, at: datetime, keep: int = MAX_ERRORS) -> HamiltonStatus:
        """A copy with `message` appended to the errors, keeping only the last `keep`."""
        entry = ErrorEntry(at=at, message=message)
        return self.model_copy(update={"errors": [*self.errors, entry][-keep:]})


def write_status(storage: Storage, status: HamiltonStatus) -> bool:
    """Replace hamilton_status.json atomically; True when written.

    Any failure (an S3 outage, a full disk) is logged and returned as False, never raised: the status file
    is for people, and trading must not stop because it could not be written.
    """
    key = paths.hamilton_status()
    try:
        storage.write_json(key, status.model_dump(mode="json"))
    except Exception as exc:
        log.warning(
            "Could not write the Hamilton status to %s: %s: %s", storage.url(key), type(exc).__name__, exc
        )
        return False
    return True


def read_status(storage: Storage) -> HamiltonStatus | None:
    """The latest status, or None when Hamilton never wrote one to this archive.

    A present but invalid file raises CorruptFileError naming it. Top-level fields this code does not know
    (a newer Hamilton wrote them) are ignored, so an older reader still shows what it understands.
    """
    key = paths.hamilton_status()
    try:
        raw = storage.read_json(key)
    except FileNotFoundError:
        return None
    except CorruptFileError as exc:  # not JSON at all (empty, truncated)
        raise CorruptFileError(f"{storage.url(key)} is not a valid Hamilton status: {exc}") from None
    if not isinstance(raw, Mapping):
        raise CorruptFileError(
            f"{storage.url(key)} is not a valid Hamilton status: it must hold a JSON object"
        )
    known = {name: value for name, value in raw.items() if name in HamiltonStatus.model_fields}
    try:
        return HamiltonStatus.model_validate(known)
    except ValidationError as exc:
        raise CorruptFileError(
            f"{storage.url(key)} is not a valid Hamilton status: {describe_validation_error(exc)}"
        ) from None


def heartbeat_age_seconds(status: HamiltonStatus, now: datetime) -> float:
    """Seconds since the heartbeat (negative when the writer's clock runs ahead of `now`'s)."""
    if now.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime (UTC)")
    return (now - status.heartbeat).total_seconds()


def default_max_age_seconds(timeframe: str) -> float:
    """The health limit when none is given: HEALTHY_BARS bars of the timeframe."""
    return HEALTHY_BARS * timeframe_ms(timeframe) / 1000


@dataclass(frozen=True)
class HealthCheck:
    """The healthcheck's verdict as plain data; the CLI prints `message` and exits 0 when `ok`."""

    ok: bool
    age_seconds: float | None  # None when there is no status file
    max_age_seconds: float
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "age_seconds": self.age_seconds,
            "max_age_seconds": self.max_age_seconds,
            "message": self.message,
        }


def check_health(status: HamiltonStatus | None, *, now: datetime, max_age_seconds: float) -> HealthCheck:
    """Healthy when the heartbeat is younger than `max_age_seconds` (exactly that old is unhealthy)."""
    if status is None:
        return HealthCheck(False, None, max_age_seconds, "no Hamilton status file: Hamilton has not started")
    age = heartbeat_age_seconds(status, now)
    ok = age < max_age_seconds
    verdict = "healthy" if ok else "unhealthy"
    return HealthCheck(
        ok,
        age,
        max_age_seconds,
        f"{verdict}: heartbeat {age:,.0f} s old (limit {max_age_seconds:,.0f} s), "
        f"last at {status.heartbeat.strftime('%Y-%m-%d %H:%M:%S UTC')}",
    )
