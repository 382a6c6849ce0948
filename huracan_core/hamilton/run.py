"""`huracan hamilton run`: build Hamilton for a mode (paper | live) and a clock (live | replay) and run it.

The same loop (`service.Hamilton`) runs in every case; what changes is injected here: the feed (a
replay window, or closed candles as they close), the broker (the paper book, or ccxt when live is asked
for explicitly AND credentials are in the environment), the journal's run key, and the clock of the
guardrails. Live trading starts only after reconciling the exchange with the journal: any difference is
listed and nothing is traded (fail closed) until the user resolves it.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from huracan_core.archive import Storage
from huracan_core.config import HuracanConfig
from huracan_core.costs import fees_from_config
from huracan_core.decision import DecisionSettings
from huracan_core.exceptions import ConfigError, HuracanError
from huracan_core.features import DEFAULT_RECIPE
from huracan_core.hamilton.brokers.paper import PaperBroker
from huracan_core.hamilton.champions import ChampionBook, trade_symbols
from huracan_core.hamilton.control import Selection, choose_symbols, read_pause, read_roster, read_selector
from huracan_core.hamilton.entry_guard import EntryGuardrails
from huracan_core.hamilton.feed import ReplayFeed
from huracan_core.hamilton.frames import replay_frames
from huracan_core.hamilton.guardrails import GuardrailSettings
from huracan_core.hamilton.live_feed import LiveClock, LiveFeed
from huracan_core.hamilton.service import Hamilton, RunSummary
from huracan_core.hamilton.status import (
    GuardrailsStatus,
    HamiltonStatus,
    PositionStatus,
    SelectionStatus,
    write_status,
)
from huracan_core.market.base import CandleSource
from huracan_core.market.funding import lake_funding

log = logging.getLogger("huracan.hamilton")


@dataclass
class HamiltonRequest:
    """What the user asked for on the command line (or the service's defaults)."""

    mode: str = "paper"  # paper | live
    clock: str = "live"  # live | replay
    start_ms: int | None = None  # replay window [start, end)
    end_ms: int | None = None
    symbols: list[str] | None = None
    fresh: bool = False  # forget this run's journal first (a replay from scratch)
    max_bars: int | None = None  # live clock: stop after this many bars (tests, smoke runs)
    stop: threading.Event = field(default_factory=threading.Event)


def run_key_for(request: HamiltonRequest) -> str:
    """The journal's key: one per service mode, one per replay window (re-running a window resumes it)."""
    if request.clock == "replay":
        start = datetime.fromtimestamp((request.start_ms or 0) / 1000, UTC).strftime("%Y%m%dT%H%M")
        end = datetime.fromtimestamp((request.end_ms or 0) / 1000, UTC).strftime("%Y%m%dT%H%M")
        return f"replay:{start}:{end}"
    return request.mode


def trade_mode(request: HamiltonRequest) -> str:
    """What trade rows and the status say: replay on the replay clock, else the broker's mode."""
    return "replay" if request.clock == "replay" else request.mode


def run_hamilton(
    config: HuracanConfig,
    request: HamiltonRequest,
    *,
    source: CandleSource | None = None,
    exchange: Any | None = None,
    clock: LiveClock | None = None,
) -> RunSummary:
    """Build and run Hamilton; returns what it did. Raises `ConfigError` for a request it must refuse."""
    from huracan_core.db import upgrade
    from huracan_core.db.connection import connect
    from huracan_core.hamilton.journal import Journal
    from huracan_core.market import open_source

    if request.mode not in ("paper", "live") or request.clock not in ("live", "replay"):
        raise ConfigError(
            f"--mode must be paper or live and --clock live or replay (got {request.mode}, {request.clock})"
        )
    if request.mode == "live" and request.clock == "replay":
        raise ConfigError("--mode live trades real money on the live clock only; a replay is always paper")
    if request.fresh and request.clock != "replay":
        raise ConfigError(
            "--fresh forgets a replay window's journal; the paper and live journals are never wiped"
        )
    if request.mode == "live" and source is None and config.data.source != "ccxt":
        raise ConfigError(
            f"--mode live trades on the exchange's own candles: data.source must be ccxt (got {config.data.source})"
        )
    if request.clock == "replay" and (request.start_ms is None or request.end_ms is None):
        raise ConfigError(
            "--clock replay needs --from and --to (UTC dates, e.g. --from 2024-12-01 --to 2025-01-01)"
        )
    _one_torch_thread()
    from huracan_core.broadcaster import use_config

    # Trades, guardrail stops and errors go to Telegram as telegram.* says (a replay's only to the log).
    use_config(config)
    storage = Storage(config.general.archive)
    upgrade(config.general.database)
    db = connect(config.general.database)
    run_key = run_key_for(request)
    mode = trade_mode(request)
    journal = Journal(db, run_key, mode)
    if request.fresh:
        journal.reset()
    timeframe = config.general.timeframe
    decision = DecisionSettings.from_config(config)
    replay = request.clock == "replay"
    book = ChampionBook(storage, recipe_hash=DEFAULT_RECIPE.hash(), point_in_time=replay)
    clock = clock or LiveClock()
    started = datetime.now(UTC)
    settings = GuardrailSettings.from_config(config)

    status = _StatusWriter(storage, run_key=run_key, mode=mode, clock=request.clock, started=started)
    if replay:
        symbols = trade_symbols(book, request.symbols or config.hamilton.symbols)
        if not symbols:
            raise ConfigError("no symbol to replay: none of them has a champion in champion/promotions.json")
        frames = replay_frames(
            config, symbols, int(request.start_ms or 0), int(request.end_ms or 0), source=source
        )
        for symbol, reason in frames.skipped.items():
            log.warning("⚠️ %s: %s; not replayed", symbol, reason)
        feed: Any = ReplayFeed(frames)
        symbols = feed.symbols
        guard = EntryGuardrails(settings)
        select = None
    else:
        source = source or open_source(config)
        configured = request.symbols or config.hamilton.symbols
        status.selection = _live_selection(storage, configured)
        symbols = status.selection.symbols
        feed = LiveFeed(
            source, sorted(set(book.symbols()) | set(symbols)), timeframe, clock, cost_config=config.costs,
            fees=fees_from_config(config.costs), poll_seconds=config.hamilton.poll_seconds, max_bars=request.max_bars,
            funding=lake_funding(config, sorted(set(book.symbols()) | set(symbols))),
        )  # fmt: skip
        guard = EntryGuardrails(
            settings, paused=lambda: read_pause(storage).paused, now_ms=lambda _bar: clock.now_ms()
        )

        def select(_bar_ms: int) -> list[str]:
            status.selection = _live_selection(storage, configured)
            return status.selection.symbols

    broker = _broker(config, request, journal, exchange, source=None if replay else source, symbols=symbols)
    if request.mode == "live":
        _reconcile_or_refuse(broker, journal, sorted(set(book.symbols()) | set(symbols)))

    hamilton = Hamilton(
        run_key=run_key, mode=mode, timeframe=timeframe, storage=storage, journal=journal, broker=broker,
        book=book, feed=feed, decision=decision, symbols=symbols, guard=guard,
        max_notional_per_coin=config.hamilton.max_notional_per_coin,
        commit_every=config.hamilton.replay_commit_bars if replay else 1, close_at_end=replay, select=select,
        on_commit=status.write, should_stop=request.stop.is_set,
    )  # fmt: skip
    with _stop_on_sigterm(request.stop, clock):
        log.info("Hamilton %s on the %s clock (%s), run %s: %s", mode, request.clock, broker.mode, run_key,
                 ", ".join(symbols) or "nothing selected yet")  # fmt: skip
        summary = hamilton.run()
    db.dispose()
    return summary


def _one_torch_thread() -> None:
    """One torch thread unless the user set OMP_NUM_THREADS: the per-bar inference is tiny, and with the
    default (all cores) a busy machine pushed the 20-coin cycle's p99 from 0.75 s to 4 s (bench_hamilton)."""
    import os

    if "OMP_NUM_THREADS" not in os.environ:
        import torch

        torch.set_num_threads(1)


def _live_selection(storage: Storage, configured: Sequence[str] | None) -> Selection:
    """What to trade now: the selector file over the roster's trade_ok champions (see control.py)."""
    return choose_symbols(read_selector(storage), read_roster(storage), configured=configured)


def _broker(
    config: HuracanConfig,
    request: HamiltonRequest,
    journal: Any,
    exchange: Any | None,
    *,
    source: CandleSource | None = None,
    symbols: Sequence[str] = (),
) -> Any:
    if request.mode == "paper":
        return PaperBroker(config.hamilton.paper_wallet, rules=_exchange_rules(source, symbols))
    from huracan_core.hamilton.brokers.ccxt_live import CcxtBroker, build_live_exchange

    exchange = exchange or build_live_exchange(config.data.exchange, config.exchange_credentials)
    return CcxtBroker(exchange, journal_intent=journal.record_intent)


def _exchange_rules(source: CandleSource | None, symbols: Sequence[str]) -> dict[str, Any]:
    """Paper on the live clock: the exchange's lot sizes and minimums (ccxt markets), when it has them."""
    exchange = getattr(source, "exchange", None)
    if exchange is None:
        return {}
    from huracan_core.hamilton.brokers.ccxt_live import market_rules

    rules: dict[str, Any] = {}
    try:
        for symbol in symbols:
            rules[symbol] = market_rules(exchange, source.ccxt_symbol(symbol), symbol)  # type: ignore[union-attr]
    except Exception as exc:  # markets unavailable: paper orders then know no exchange limits
        log.warning(
            "⚠️ exchange market limits not loaded (%s); paper orders are not checked against them", exc
        )
    return rules


def _reconcile_or_refuse(broker: Any, journal: Any, traded: Sequence[str]) -> None:
    """Fail closed: trade live only when the exchange agrees with what the journal says was done."""
    from huracan_core.hamilton.reconcile import ExpectedAccount, reconcile

    saved = journal.load()
    snapshot = broker.snapshot()  # an unanswered question raises: never "flat" from silence
    open_ids = [o["client_order_id"] for o in journal.orders(["placed", "intent", "unknown"])]
    positions: dict[str, float] = {}
    quote = snapshot.quote
    if saved is not None:
        for symbol, coin in saved["state"]["coins"].items():
            if coin.get("quantity"):
                positions[symbol] = float(coin["quantity"])
        quote = float((saved["state"].get("account") or {}).get("quote", snapshot.quote))
    expected = ExpectedAccount(quote=quote, positions=positions, open_order_ids=tuple(open_ids))
    # Only the coins Hamilton trades: an account may hold others (dust, BNB for fees) that are not its business.
    differences = reconcile(expected, snapshot, symbols=sorted(set(positions) | set(traded)))
    if differences:
        for d in differences:
            log.error("❌ reconciliation: %s", d.message)
        raise HuracanError(
            f"the exchange and the journal disagree ({len(differences)} difference(s): "
            + "; ".join(d.message for d in differences)
            + "). Hamilton will not trade until you resolve them."
        )


class _StatusWriter:
    """hamilton_status.json after every commit (and so after every live bar)."""

    def __init__(self, storage: Storage, *, run_key: str, mode: str, clock: str, started: datetime) -> None:
        self.storage, self.run_key, self.mode = storage, run_key, mode
        self.clock, self.started = clock, started
        self.selection: Selection | None = None  # the live selection as last chosen

    def write(self, hamilton: Hamilton, bar_ms: int) -> None:
        snapshot = hamilton.snapshot()
        positions = {}
        for symbol, coin in hamilton.coins.items():
            trade = coin.book.open_trade
            if trade is None or coin.book.position == 0:
                continue
            positions[symbol] = PositionStatus(
                side="long" if coin.book.position > 0 else "short", size=abs(coin.book.position),
                quantity=abs(coin.quantity), entry_price=trade.entry_fill_price or trade.entry_price,
                entry_time=trade.entry_time, model_id=trade.model_id,
            )  # fmt: skip
        guard = hamilton.guard
        guardrails = GuardrailsStatus()
        paused = False
        if isinstance(guard, EntryGuardrails):
            guardrails = GuardrailsStatus.from_state(guard.state, dict(guard.blocked))
            paused = guard.is_paused(bar_ms)
        status = HamiltonStatus(
            run_key=self.run_key, mode=self.mode, clock=self.clock, started_at=self.started,  # type: ignore[arg-type]
            heartbeat=datetime.now(UTC), bar_ms=bar_ms,
            last_bar={s: c.last_bar_ms for s, c in hamilton.coins.items() if c.last_bar_ms is not None},
            positions=positions, equity=hamilton.equity(), cash=snapshot.quote, guardrails=guardrails, paused=paused,
            champions={s: c.champion.model_id for s, c in hamilton.coins.items() if c.champion is not None},
            selection=SelectionStatus.from_selection(self.selection) if self.selection is not None
            else SelectionStatus(symbols=sorted(hamilton.selected), mode="replay", how="coins with a champion"),
            pending_db_commits=int(getattr(hamilton.journal, "pending_commits", 0) or 0),
        )  # fmt: skip
        problems = [*hamilton.errors]
        problems += [
            (datetime.now(UTC), f"{e['symbol']}: champion refused: {e['refused']}")
            for e in hamilton.book.events
        ]
        feed_errors = getattr(hamilton.feed, "errors", [])
        problems += [(datetime.now(UTC), message) for message in feed_errors[-5:]]
        journal_error = getattr(hamilton.journal, "last_error", None)
        if journal_error:
            problems.append((datetime.now(UTC), f"database: {journal_error}"))
        for at, message in problems[-10:]:
            status = status.with_error(message, at=at)
        write_status(self.storage, status)


class _stop_on_sigterm:
    """SIGTERM (docker stop) finishes the current bar, commits it, and exits cleanly."""

    def __init__(self, stop: threading.Event, clock: LiveClock) -> None:
        self.stop, self.clock = stop, clock
        self.previous: Any = None

    def __enter__(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def handler(signum: int, _frame: Any) -> None:
            log.info("Signal %d: finishing the current bar, then stopping.", signum)
            self.stop.set()
            self.clock.stop.set()

        self.previous = signal.signal(signal.SIGTERM, handler)

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)


def symbols_arg(text: str | None) -> list[str] | None:
    """--symbols BTCUSDT,ETHUSDT -> ["BTCUSDT", "ETHUSDT"]; None or empty: every champion."""
    if not text:
        return None
    return [s.strip().upper() for s in text.split(",") if s.strip()]


__all__: Sequence[str] = ("HamiltonRequest", "run_hamilton", "run_key_for", "symbols_arg")
