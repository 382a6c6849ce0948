"""What the bot's commands do, as plain data: /trade, /pause, /resume, /status, /champions, /pnl, /promotions.

Nothing here knows Telegram. Each function reads the archive and the database (or writes a control file
through `huracan_core.hamilton.control`, the module Hamilton reads them with) and returns a dataclass the
bot formats. Times come in as arguments; who acted is recorded as `telegram:<user id>`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from huracan_core.archive import Storage, paths
from huracan_core.db.queries import last_run, pnl_by_day, promotions_since
from huracan_core.db.rows import Bind
from huracan_core.db.trading import read_trades
from huracan_core.exceptions import CorruptFileError, HuracanError
from huracan_core.hamilton.control import (
    PauseState,
    Selection,
    SelectorMode,
    SymbolsSelector,
    choose_symbols,
    normalize_symbol,
    read_pause,
    read_roster,
    read_selector,
    roster_entries,
    write_pause,
    write_selector,
)
from huracan_core.hamilton.status import HamiltonStatus, default_max_age_seconds, read_status

TRADE_USAGE = "/trade N (the top N champions), /trade off, /trade all, or /trade BTCUSDT,ETHUSDT"
MAX_PNL_DAYS = 366  # a year of daily rows is still one short message
MAX_PROMOTION_DAYS = 366
_INTEGER = re.compile(r"^[+-]?\d+$")


class CommandError(ValueError):
    """A command's arguments are wrong; the message names the problem and what would be accepted."""


def telegram_actor(user_id: int) -> str:
    """Who set a control file, as the files record it: `telegram:123456789`."""
    return f"telegram:{int(user_id)}"


# --- /trade ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TradeChoice:
    """What a user asked to trade: the selector's mode with `n` (top) or `symbols` (list)."""

    mode: SelectorMode
    n: int | None = None
    symbols: tuple[str, ...] = ()

    def selector(self, *, updated_by: str, updated_at: datetime) -> SymbolsSelector:
        """The selector file for this choice, validated as Hamilton validates it."""
        return SymbolsSelector(
            mode=self.mode,
            n=self.n,
            symbols=list(self.symbols),
            updated_by=updated_by,
            updated_at=updated_at,
        )

    def describe(self) -> str:
        if self.mode == "top":
            return f"the top {self.n} trade_ok champion{'s' if self.n != 1 else ''}"
        if self.mode == "list":
            return "the list " + ", ".join(self.symbols)
        if self.mode == "all":
            return "every trade_ok champion"
        return "nothing (no new trades)"


def parse_trade(args: Sequence[str]) -> TradeChoice:
    """`/trade` arguments -> a choice; CommandError naming the problem when they are not understood.

    `10` -> top 10; `off` -> stop opening trades; `all` -> every trade_ok champion; `BTCUSDT,ETHUSDT`
    (commas and/or spaces, `btc/usdt` accepted) -> that list.
    """
    tokens = [part for arg in args for part in re.split(r"[,\s]+", arg) if part]
    if not tokens:
        raise CommandError(f"say what to trade: {TRADE_USAGE}")
    if len(tokens) == 1:
        word = tokens[0].lower()
        if word == "off":
            return TradeChoice(mode="off")
        if word == "all":
            return TradeChoice(mode="all")
        if _INTEGER.match(word):
            n = int(word)
            if n < 1:
                raise CommandError(f"N must be 1 or more (got {n}); /trade off stops opening trades")
            return TradeChoice(mode="top", n=n)
    symbols: list[str] = []
    for token in tokens:
        if token.lower() in ("off", "all") or _INTEGER.match(token):
            raise CommandError(f"{token!r} cannot be mixed with other arguments: give one of {TRADE_USAGE}")
        try:
            symbol = normalize_symbol(token)
        except ValueError as exc:
            raise CommandError(f"{exc}; {TRADE_USAGE}") from None
        if symbol not in symbols:
            symbols.append(symbol)
    return TradeChoice(mode="list", symbols=tuple(symbols))


@dataclass(frozen=True)
class TradePlan:
    """A choice resolved against the roster as it is now: the selector that would be written and what Hamilton
    would then trade (`selection.symbols`; `selection.dropped` names listed coins it would not trade, and why)."""

    choice: TradeChoice
    selector: SymbolsSelector
    selection: Selection
    roster_found: bool
    selector_key: str  # where the file is (or would be) written, for the answer


def plan_trade(storage: Storage, choice: TradeChoice, *, user_id: int, now: datetime) -> TradePlan:
    """What `choice` would trade now, with Hamilton's own selection rule; writes nothing."""
    selector = choice.selector(updated_by=telegram_actor(user_id), updated_at=now)
    roster = read_roster(storage)
    selection = choose_symbols(selector, roster, configured=None)
    return TradePlan(choice, selector, selection, roster is not None, storage.url(paths.symbols_selector()))


def apply_trade(storage: Storage, choice: TradeChoice, *, user_id: int, now: datetime) -> TradePlan:
    """Write the selector for `choice` atomically (who and when recorded); returns what it trades now."""
    plan = plan_trade(storage, choice, user_id=user_id, now=now)
    write_selector(storage, plan.selector)
    return plan


# --- /pause and /resume ---------------------------------------------------------------------------
@dataclass(frozen=True)
class PauseChange:
    """The pause before and after a /pause or /resume (the file Hamilton honours at its next bar)."""

    before: PauseState | None  # None: the file was unreadable (Hamilton then acts as paused)
    after: PauseState
    pause_key: str


def set_pause(
    storage: Storage, *, paused: bool, user_id: int, now: datetime, reason: str | None = None
) -> PauseChange:
    """Write control/pause.json (paused or not) atomically with who and when; returns before and after."""
    try:
        before: PauseState | None = read_pause(storage)
    except CorruptFileError:
        before = None
    text = (reason or "").strip() or None
    after = PauseState(
        paused=paused,
        reason=text if paused else None,
        updated_by=telegram_actor(user_id),
        updated_at=now,
    )
    write_pause(storage, after)
    return PauseChange(before, after, storage.url(paths.pause_file()))


# --- /status --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NightRun:
    """The newest nightly Engine run: from the `runs` table, or from its daily summary in the archive."""

    as_of: datetime
    status: str  # running | succeeded | failed | ... (runs table) or "finished" (summary only)
    started_at: datetime | None
    finished_at: datetime | None
    succeeded: int
    failed: int
    skipped: int
    total: int
    promoted: tuple[str, ...] = ()
    source: str = "database"  # database | summary


@dataclass(frozen=True)
class StatusView:
    """Everything /status shows. `problems` lists what could not be read (each named), never a crash."""

    now: datetime
    hamilton: HamiltonStatus | None
    heartbeat_age_s: float | None
    stale_after_s: float
    pause: PauseState | None
    selector: SymbolsSelector | None
    night: NightRun | None
    problems: tuple[str, ...] = ()

    @property
    def stale(self) -> bool:
        return self.heartbeat_age_s is None or self.heartbeat_age_s >= self.stale_after_s


def _dt(value: Any) -> datetime | None:
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def night_from_summary(storage: Storage, key: str) -> NightRun:
    """The nightly run a daily summary (summaries/daily/DATE.json) describes; CorruptFileError if it is not one."""
    summary = storage.read_json(key)
    if not isinstance(summary, Mapping) or not summary.get("as_of"):
        raise CorruptFileError(f"{storage.url(key)} is not a daily summary (no as_of)")
    as_of = _dt(summary["as_of"])
    assert as_of is not None
    return NightRun(
        as_of=as_of,
        status="finished",
        started_at=None,
        finished_at=None,
        succeeded=int(summary.get("symbols_succeeded") or 0),
        failed=int(summary.get("symbols_failed") or 0),
        skipped=int(summary.get("symbols_skipped") or 0),
        total=int(summary.get("symbols_total") or 0),
        promoted=tuple(str(p) for p in summary.get("promoted") or []),
        source="summary",
    )


def _newest_summary(storage: Storage) -> NightRun | None:
    keys = sorted(k for k in storage.list("summaries/daily") if k.endswith(".json"))
    return night_from_summary(storage, keys[-1]) if keys else None


def last_night(storage: Storage, db: Bind | None) -> NightRun | None:
    """The newest nightly run: the `runs` row of kind engine (`huracan engine`, run_daily.py), or the archive's
    newest daily summary (which every nightly run writes, Airflow's included) when that is newer."""
    row = last_run(db, "engine") if db is not None else None
    from_db = None
    if row is not None:
        detail = row.get("detail") or {}
        promoted = detail.get("promoted") if isinstance(detail, Mapping) else None
        from_db = NightRun(
            as_of=_dt(row["as_of"]),  # type: ignore[arg-type]
            status=str(row["status"]),
            started_at=_dt(row["started_at"]),
            finished_at=_dt(row["finished_at"]),
            succeeded=int(row["symbols_succeeded"]),
            failed=int(row["symbols_failed"]),
            skipped=int(row["symbols_skipped"]),
            total=int(row["symbols_total"]),
            promoted=tuple(str(p) for p in promoted or []),
        )
    from_summary = _newest_summary(storage)
    if from_db is None:
        return from_summary
    if from_summary is not None and from_summary.as_of > from_db.as_of:
        return from_summary
    if from_summary is not None and from_summary.as_of == from_db.as_of and not from_db.promoted:
        return NightRun(**{**from_db.__dict__, "promoted": from_summary.promoted})
    return from_db


def status_view(storage: Storage, db: Bind | None, *, now: datetime, timeframe: str) -> StatusView:
    """Hamilton's heartbeat, positions, equity, guardrails; the pause and selector files; the last night."""
    problems: list[str] = []

    def attempt(what: str, read: Any) -> Any:
        try:
            return read()
        except (HuracanError, OSError, ValueError) as exc:
            problems.append(f"{what}: {exc}")
            return None

    hamilton = attempt("Hamilton status", lambda: read_status(storage))
    age = None if hamilton is None else (now - hamilton.heartbeat).total_seconds()
    return StatusView(
        now=now,
        hamilton=hamilton,
        heartbeat_age_s=age,
        stale_after_s=default_max_age_seconds(timeframe),
        pause=attempt("pause file", lambda: read_pause(storage)),
        selector=attempt("symbols selector", lambda: read_selector(storage)),
        night=attempt("last night's run", lambda: last_night(storage, db)),
        problems=tuple(problems),
    )


# --- /champions -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChampionRow:
    symbol: str
    model_id: str | None
    trade_ok: bool
    recent_net_pnl_pct: float | None
    sharpe: float | None
    reason: str | None
    traded: bool  # chosen by the current selector (or its absence), as Hamilton would choose


@dataclass(frozen=True)
class ChampionsView:
    rows: tuple[ChampionRow, ...]
    updated_at: str | None
    selection: Selection
    roster_found: bool


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def champions_view(storage: Storage, *, configured: Sequence[str] | None) -> ChampionsView:
    """The roster in ranking order, each champion marked traded or not under the current selector.

    `configured` is `hamilton.symbols` (what Hamilton trades when there is no selector file).
    """
    roster = read_roster(storage)
    selection = choose_symbols(read_selector(storage), roster, configured=configured)
    rows = tuple(
        ChampionRow(
            symbol=str(entry["symbol"]),
            model_id=entry.get("model_id"),
            trade_ok=entry.get("trade_ok") is True,
            recent_net_pnl_pct=_float(entry.get("recent_net_pnl_pct")),
            sharpe=_float(entry.get("sharpe")),
            reason=entry.get("reason"),
            traded=entry["symbol"] in selection.symbols,
        )
        for entry in roster_entries(roster)
    )
    updated = roster.get("updated_at") if isinstance(roster, Mapping) else None
    return ChampionsView(rows, None if updated is None else str(updated), selection, roster is not None)


# --- /pnl -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DayPnl:
    day: date
    equity: float
    pnl_pct: float
    trades: int


@dataclass(frozen=True)
class PnlView:
    """A run's equity over the last `days` UTC days (today included) and its trades closed in that window."""

    run_key: str | None  # None: no paper or live run has recorded equity yet
    days: int
    start: date
    end: date
    rows: tuple[DayPnl, ...]
    equity_before: float | None  # the end-of-day equity just before the window (None: the run started inside)
    trades_closed: int
    wins: int
    best: tuple[str, float] | None  # (symbol, net % of the coin's allocation)
    worst: tuple[str, float] | None

    @property
    def change(self) -> float | None:
        """Equity change over the window, quote currency (from the day before the window, else the first day)."""
        if not self.rows:
            return None
        base = self.equity_before if self.equity_before is not None else self._first_open()
        return None if base is None else self.rows[-1].equity - base

    @property
    def change_pct(self) -> float | None:
        base = self.equity_before if self.equity_before is not None else self._first_open()
        if not self.rows or not base:
            return None
        return 100.0 * (self.rows[-1].equity / base - 1.0)

    def _first_open(self) -> float | None:
        first = self.rows[0]
        return first.equity / (1.0 + first.pnl_pct / 100.0) if first.pnl_pct > -100.0 else None


def parse_days(args: Sequence[str], *, default: int, maximum: int, what: str) -> int:
    """`/pnl 30` -> 30; no argument -> `default`; CommandError for anything but a whole number 1..maximum."""
    if not args:
        return default
    if len(args) > 1 or not _INTEGER.match(args[0]) or not 1 <= int(args[0]) <= maximum:
        raise CommandError(f"{what} takes a number of days from 1 to {maximum} (got {' '.join(args)!r})")
    return int(args[0])


def trading_run_key(storage: Storage, db: Bind) -> str | None:
    """The run /pnl and /daily report: the one Hamilton's status names (paper or live), else `live` when it
    has recorded equity, else `paper` when it has, else None."""
    try:
        status = read_status(storage)
    except HuracanError:
        status = None
    if status is not None and status.mode in ("paper", "live"):
        return status.run_key
    for key in ("live", "paper"):
        if pnl_by_day(db, key):
            return key
    return None


def _ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def pnl_view(storage: Storage, db: Bind, *, days: int, now: datetime, run_key: str | None = None) -> PnlView:
    """Daily equity of the trading run over the last `days` UTC days, and the trades it closed then."""
    end = now.astimezone(UTC).date()
    start = end - timedelta(days=days - 1)
    key = run_key if run_key is not None else trading_run_key(storage, db)
    if key is None:
        return PnlView(None, days, start, end, (), None, 0, 0, None, None)
    all_rows = [
        DayPnl(r["trade_day"], float(r["equity"]), float(r["pnl_pct"]), int(r["trades"]))
        for r in pnl_by_day(db, key)
    ]
    rows = tuple(r for r in all_rows if start <= r.day <= end)
    before = [r for r in all_rows if r.day < start]
    trades = read_trades(
        db, key, exit_since_ms=_ms(start), exit_until_ms=_ms(end + timedelta(days=1)), closed_only=True
    )
    nets = [(str(t["symbol"]), float(t["net_pnl_pct"])) for t in trades if t.get("net_pnl_pct") is not None]
    return PnlView(
        run_key=key,
        days=days,
        start=start,
        end=end,
        rows=rows,
        equity_before=before[-1].equity if before else None,
        trades_closed=len(trades),
        wins=sum(1 for _, net in nets if net > 0),
        best=max(nets, key=lambda x: x[1]) if nets else None,
        worst=min(nets, key=lambda x: x[1]) if nets else None,
    )


# --- /promotions ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PromotionRow:
    symbol: str
    from_model_id: str | None
    to_model_id: str
    promoted_by: str
    promoted_at: datetime
    reason: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> PromotionRow:
        """One row of the `promotions` table."""
        return cls(
            symbol=str(row["symbol"]),
            from_model_id=row["from_model_id"],
            to_model_id=str(row["to_model_id"]),
            promoted_by=str(row["promoted_by"]),
            promoted_at=_dt(row["promoted_at"]),  # type: ignore[arg-type]
            reason=str(row["reason"]),
        )


@dataclass(frozen=True)
class PromotionsView:
    days: int
    since: datetime
    rows: tuple[PromotionRow, ...]
    limit: int
    more: bool = field(default=False)  # True when older ones in the window were left out


def promotions_view(db: Bind, *, days: int, now: datetime, limit: int = 15) -> PromotionsView:
    """Champion pointer moves (engine, mechanic, rollback) of the last `days` days, newest first."""
    since = now.astimezone(UTC) - timedelta(days=days)
    found = promotions_since(db, since, limit=limit + 1)
    rows = tuple(PromotionRow.from_row(r) for r in found[:limit])
    return PromotionsView(days, since, rows, limit, more=len(found) > limit)


__all__ = [
    "MAX_PNL_DAYS",
    "MAX_PROMOTION_DAYS",
    "TRADE_USAGE",
    "ChampionRow",
    "ChampionsView",
    "CommandError",
    "DayPnl",
    "NightRun",
    "PauseChange",
    "PnlView",
    "PromotionRow",
    "PromotionsView",
    "StatusView",
    "TradeChoice",
    "TradePlan",
    "apply_trade",
    "champions_view",
    "last_night",
    "night_from_summary",
    "parse_days",
    "parse_trade",
    "plan_trade",
    "pnl_view",
    "promotions_view",
    "set_pause",
    "status_view",
    "telegram_actor",
    "trading_run_key",
]
