"""Hamilton's loop: for every closed bar and every traded coin, settle, decide, guard, order, journal.

One bar of one coin, in this order:
1. the champion for this bar (verified; a moved pointer is swapped here, between bars, never inside one);
2. the broker settles the orders decided at the coin's previous bar, at this bar's open;
3. the trade book applies that decision's target at this open (the last bar of a replay window closes
   every position instead, as the backtest does), closing trades;
4. the champion's trader decides at this bar's close (same combiner, `decide` and hold rule as the
   backtest); guardrails may refuse an entry or an increase, never an exit;
5. orders for the change are placed, for the next bar's open.
After all coins of a bar, everything is committed to the journal in one transaction; a restart resumes
from the last committed bar and, the bars being replayed in the same order with the same inputs, ends
with exactly the trades of a run that never stopped.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol

from huracan_core.archive import Storage
from huracan_core.broadcaster import announce, enqueue, messages
from huracan_core.decision import DecisionSettings
from huracan_core.evaluation.backtest import mix_json
from huracan_core.exceptions import TemporaryError
from huracan_core.hamilton.brokers.base import AccountSnapshot, Broker
from huracan_core.hamilton.champions import Champion, ChampionBook
from huracan_core.hamilton.orders import Fill, OrderIntent, Rejection, client_order_id
from huracan_core.hamilton.trade_book import TradeBook
from huracan_core.hamilton.trade_log import exit_day, to_journal, write_day
from huracan_core.hamilton.trader import BarDecision, BarInputs, SymbolTrader
from huracan_core.timeframe import DAY_MS, timeframe_ms

log = logging.getLogger("huracan.hamilton")

MIX_TOP_K = 5  # engines named in a trade's engine mix (the backtest's default)


class JournalLike(Protocol):
    """What the loop needs from `huracan_core.hamilton.journal.Journal`."""

    def load(self) -> dict[str, Any] | None: ...

    def commit_bar(
        self,
        bar_ms: int,
        state: Mapping[str, Any],
        *,
        trades: Sequence[Mapping[str, Any]] = (),
        fills: Sequence[Fill] = (),
        orders: Sequence[Mapping[str, Any]] = (),
        equity: Mapping[str, Any] | None = None,
    ) -> None: ...

    def trades_on(self, day: date) -> list[dict[str, Any]]: ...


class Feed(Protocol):
    """Where bars come from: `ReplayFeed` (a window, precomputed) or `LiveFeed` (closed candles as they close)."""

    def bars(self, after_ms: int | None) -> Iterator[int]: ...

    def row(self, symbol: str, bar_ms: int, champion: Champion | None) -> BarInputs | None: ...

    def tradable(self, bar_ms: int) -> bool: ...

    def last_bar(self, symbol: str) -> int | None: ...

    def next_is_last(self, symbol: str, bar_ms: int) -> bool: ...


class EntryGuard(Protocol):
    """Guardrails as the loop sees them: a reason to refuse an entry or increase, or None."""

    def check(self, *, symbol: str, bar_ms: int, champion: Champion, opening: bool, notional_after: float,
              open_positions: int) -> str | None: ...  # fmt: skip

    def on_equity(self, *, bar_ms: int, equity: float) -> None: ...

    def to_dict(self) -> dict[str, Any]: ...


@dataclass
class CoinState:
    """One coin inside the loop: its champion's trader, its trade book and the decision waiting to fill."""

    symbol: str
    book: TradeBook
    trader: SymbolTrader | None = None
    champion: Champion | None = None
    pending: dict[str, Any] | None = None  # the last decision: target, its costs, regime, mix, model
    quantity: float = 0.0  # base units held (signed)
    last_fill_price: float | None = None
    last_bar_ms: int | None = None
    mark: float | None = None  # the last open seen: what a held quantity is worth now

    def to_dict(self) -> dict[str, Any]:
        return {
            "book": self.book.to_dict(),
            "trader": None if self.trader is None else self.trader.to_dict(),
            "model_id": None if self.champion is None else self.champion.model_id,
            "pending": self.pending,
            "quantity": self.quantity,
            "last_fill_price": self.last_fill_price,
            "last_bar_ms": self.last_bar_ms,
            "mark": self.mark,
        }


@dataclass
class RunSummary:
    run_key: str
    bars: int = 0
    bar_symbols: int = 0
    trades_closed: int = 0
    resumed_from_ms: int | None = None
    last_bar_ms: int | None = None
    refused_champions: list[dict[str, Any]] = field(default_factory=list)
    rejections: list[dict[str, Any]] = field(default_factory=list)


class Hamilton:
    """The loop over one feed, one broker, one journal. Paper, live and replay differ only in what is given."""

    def __init__(
        self,
        *,
        run_key: str,
        mode: str,
        timeframe: str,
        storage: Storage,
        journal: JournalLike,
        broker: Broker,
        book: ChampionBook,
        feed: Feed,
        decision: DecisionSettings,
        symbols: Sequence[str],
        guard: EntryGuard | None = None,
        max_notional_per_coin: float = math.inf,
        commit_every: int = 1,
        close_at_end: bool = True,
        select: Callable[[int], Sequence[str]] | None = None,
        on_commit: Callable[[Hamilton, int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        self.run_key = run_key
        self.mode = mode
        self.tf = timeframe_ms(timeframe)
        self.storage = storage
        self.journal = journal
        self.broker = broker
        self.book = book
        self.feed = feed
        self.decision = decision
        self.symbols = list(symbols)
        self.guard = guard
        self.max_notional = max_notional_per_coin
        self.commit_every = max(1, int(commit_every))
        self._loss_cap_hits: dict[str, int] = {}  # UTC day (ISO) -> epoch ms the daily loss cap was hit
        self.close_at_end = close_at_end
        self.coins = {s: CoinState(s, TradeBook(s)) for s in self.symbols}
        # Live: which coins to trade, asked once per bar (the symbols selector); a coin that leaves the
        # selection is closed at the next open and decides nothing more. Replay: the fixed `symbols`.
        self.select = select
        self.on_commit = on_commit
        self.should_stop = should_stop or (lambda: False)
        self.selected: set[str] = set(self.symbols)
        self._fills: list[Fill] = []
        self._orders: list[dict[str, Any]] = []  # order rows and status changes, journaled with the bar
        self._touched_days: set[date] = set()
        self._closed: list[dict[str, Any]] = []
        self.summary = RunSummary(run_key)
        self.day_start: tuple[str, float, int] | None = None  # UTC day, its first equity, trades closed
        self._last_block: dict[str, str] = {}
        self._bar_ms: int | None = None
        self._outcomes = 0
        self._snapshot: tuple[tuple[int | None, int], AccountSnapshot] | None = None
        self.errors: list[tuple[datetime, str]] = []  # recent problems, for the status file
        # Paper and live tell the user (Telegram); a replay of months only logs, or it would flood the chat.
        self.notify = mode != "replay"
        self._bar_blocks: dict[str, str] = {}  # entries a guardrail refused at this bar: one message per bar

    # --- resume ------------------------------------------------------------------------------------
    def restore(self, saved: Mapping[str, Any]) -> int:
        """Continue from the journal's last committed bar; returns that bar's open time."""
        state = saved["state"]
        for symbol, data in state["coins"].items():
            coin = self.coins.setdefault(symbol, CoinState(symbol, TradeBook(symbol)))
            coin.book = TradeBook.from_dict(data["book"])
            coin.pending = data["pending"]
            coin.quantity = float(data["quantity"])
            coin.last_fill_price = data["last_fill_price"]
            coin.last_bar_ms = data["last_bar_ms"]
            coin.mark = data.get("mark")
            if data["model_id"] is not None and coin.last_bar_ms is not None:
                champion = self.book.at(symbol, coin.last_bar_ms + self.tf)
                if champion is not None and champion.model_id == data["model_id"]:
                    coin.champion = champion
                    coin.trader = self._trader(champion)
                    coin.trader.restore(data["trader"])
        if hasattr(self.broker, "restore"):
            self.broker.restore(state["broker"])  # type: ignore[attr-defined]
        if self.guard is not None and hasattr(self.guard, "restore"):
            self.guard.restore(state.get("guard") or {})  # type: ignore[attr-defined]
        for day in state.get("log_days") or []:
            touched = date.fromisoformat(day)
            write_day(self.storage, touched, self.journal.trades_on(touched))
        day_start = state.get("day_start")
        self.day_start = (
            None if day_start is None else (str(day_start[0]), float(day_start[1]), int(day_start[2]))
        )
        self.summary.resumed_from_ms = int(saved["bar_ms"])
        return int(saved["bar_ms"])

    # --- the loop ----------------------------------------------------------------------------------
    def run(self) -> RunSummary:
        saved = self.journal.load()
        after = self.restore(saved) if saved else None
        since_commit = 0
        bar_ms: int | None = None
        last_ms: int | None = None
        for bar_ms in self.feed.bars(after):
            if since_commit and last_ms is not None and bar_ms // DAY_MS != last_ms // DAY_MS:
                # A UTC day ended: commit at its last bar, so the day's equity row (and its loss-cap time)
                # is the end of that day's, whatever `commit_every` is.
                self._commit(last_ms)
                since_commit = 0
            last_ms = bar_ms
            if self.select is not None:
                self._reselect(bar_ms)
            self._bar_ms = bar_ms
            for symbol in list(self.coins):
                self._coin_bar(self.coins[symbol], bar_ms)
            if self._bar_blocks:
                if self.notify:
                    enqueue("guardrails", messages.guardrail_stops(self.mode, self._bar_blocks))
                self._bar_blocks = {}
            self.summary.bars += 1
            if self.guard is not None:
                self.guard.on_equity(bar_ms=bar_ms, equity=self.equity())
                self._note_loss_cap()
            since_commit += 1
            if since_commit >= self.commit_every or self.should_stop():
                self._commit(bar_ms)
                since_commit = 0
            if self.should_stop():  # SIGTERM: the bar is finished and committed; leave cleanly
                log.info("Stopping after bar %s as asked.", bar_ms)
                break
        if since_commit and bar_ms is not None:
            self._commit(bar_ms)
        self.summary.refused_champions = list(self.book.events)
        return self.summary

    def _reselect(self, bar_ms: int) -> None:
        try:
            wanted = list(self.select(bar_ms))  # type: ignore[misc]
        except Exception as exc:  # a bad selector file keeps the previous selection
            log.warning("⚠️ symbols selector not applied (%s); keeping %s", exc, sorted(self.selected))
            return
        for symbol in wanted:
            self.coins.setdefault(symbol, CoinState(symbol, TradeBook(symbol)))
        watch = getattr(self.feed, "watch", None)
        if watch is not None:  # a coin that got its first champion since the start: fetch its candles too
            watch(wanted)
        if set(wanted) != self.selected:
            log.info("Trading %s from this bar on.", ", ".join(wanted) or "nothing")
        self.selected = set(wanted)

    def _coin_bar(self, coin: CoinState, bar_ms: int) -> None:
        selected = coin.symbol in self.selected
        if not selected and coin.book.position == 0 and coin.pending is None and coin.quantity == 0:
            return
        champion = self.book.at(coin.symbol, bar_ms + self.tf, coin.champion)
        row = self.feed.row(coin.symbol, bar_ms, champion)
        if row is None:
            return
        self.summary.bar_symbols += 1
        refused = False
        try:
            outcomes = self.broker.settle(coin.symbol, bar_ms=bar_ms, open_price=row.open)
        except TemporaryError as exc:  # the exchange did not answer: decide nothing on unknown fills
            self._error(f"{coin.symbol}: fills of bar {bar_ms} unknown ({exc}); no decision this bar")
            return
        for outcome in outcomes:
            refused |= isinstance(outcome, Rejection)
            self._on_outcome(coin, outcome, settled=True)
        last = self.close_at_end and bar_ms == self.feed.last_bar(coin.symbol)
        pending = coin.pending or {}
        # An order the broker did not fill leaves the position where it was: the book follows the account.
        target = coin.book.position if refused else float(pending.get("target", coin.book.position))
        closed = coin.book.on_open(
            bar_ms=bar_ms,
            open_price=row.open,
            target=target,
            fill_cost_bps=float(pending.get("cost_bps", 0.0)),
            model_id=str(pending.get("model_id") or (champion.model_id if champion else "")),
            regime=pending.get("regime"),
            engine_mix=pending.get("engine_mix"),
            cost_parts=pending.get("cost_parts"),
            guardrail_reason=pending.get("guardrail_reason"),
        )
        for trade in closed:
            self._close_trade(trade, coin)
        if coin.book.open_trade is not None and coin.book.open_trade.entry_time == bar_ms:
            coin.book.open_trade.entry_fill_price = coin.last_fill_price
            coin.book.open_trade.quantity = abs(coin.quantity)
            if self.mode != "replay":
                side = "long" if coin.book.position > 0 else "short"
                announce(f"[{self.mode.upper()}] {coin.symbol} {side} opened at {coin.last_fill_price} "
                         f"(size {abs(coin.book.position):.2f} of its allocation)", kind="trades")  # fmt: skip
        coin.last_bar_ms = bar_ms
        coin.mark = row.open
        coin.pending = None
        if last:  # everything was closed at this open; nothing is decided past the window
            return
        if not selected:  # left the selection: close at the next open, decide nothing
            if coin.book.position != 0:
                coin.pending = {"target": 0.0, "cost_bps": row.cost_bps, "model_id": coin.book.open_trade
                                and coin.book.open_trade.model_id, "guardrail_reason": "left the selection"}  # fmt: skip
                self._place(coin, bar_ms, 0.0, row.close, (row.fee_bps, row.spread_bps, row.slippage_bps))
            return
        if champion is None:  # never trade a coin without a champion; close what is held
            if coin.book.position:
                coin.pending = {"target": 0.0, "cost_bps": row.cost_bps, "model_id": coin.book.open_trade
                                and coin.book.open_trade.model_id}  # fmt: skip
                self._place(coin, bar_ms, 0.0, row.close, (row.fee_bps, row.spread_bps, row.slippage_bps))
            return
        if coin.champion is None or champion.model_id != coin.champion.model_id:
            coin.champion, coin.trader = champion, self._trader(champion)
            log.info("%s: trading champion %s", coin.symbol, champion.model_id)
        assert coin.trader is not None
        made = coin.trader.on_bar(row)
        target, reason = self._guarded(coin, made, row.close, bar_ms)
        if target < 0 and not self.broker.can_short:  # spot: a short decision means "hold nothing"
            target, reason = 0.0, "short decision kept flat: a spot account cannot sell short"
        if self.close_at_end and self.feed.next_is_last(coin.symbol, bar_ms):
            target, reason = 0.0, None  # the window's last open closes every position, as the backtest does
        coin.pending = {
            "target": target,
            "cost_bps": row.cost_bps,
            "cost_parts": {
                "fee_bps": row.fee_bps,
                "spread_bps": row.spread_bps,
                "slippage_bps": row.slippage_bps,
            },
            "regime": row.regime,
            "engine_mix": mix_json(made.weights, MIX_TOP_K) if made.side != 0 else None,
            "model_id": champion.model_id,
            "guardrail_reason": reason,
        }
        if not self.feed.tradable(bar_ms):  # a bar caught up after downtime: stepped, not traded
            coin.pending["target"] = coin.book.position
            return
        if target != coin.book.position:
            self._place(coin, bar_ms, target, row.close, (row.fee_bps, row.spread_bps, row.slippage_bps))

    def _trader(self, champion: Champion) -> SymbolTrader:
        return SymbolTrader(
            model_id=champion.model_id,
            gate=champion.gate,
            combiner=champion.fresh_combiner(),
            horizons=champion.horizons,
            hold_bars=champion.hold_bars,
            decision=self.decision,
        )

    def _guarded(
        self, coin: CoinState, made: BarDecision, price: float, bar_ms: int
    ) -> tuple[float, str | None]:
        """The decision's target, or the current position where a guardrail refuses an entry or increase."""
        target, position = made.target, coin.book.position
        increases = abs(target) > abs(position) or (
            target != 0 and (target > 0) != (position > 0) and position != 0
        )
        if self.guard is None or not increases or coin.champion is None:
            return target, None
        # Held now, or about to be: coins already decided this bar count with the positions they will hold.
        open_positions = sum(
            1
            for c in self.coins.values()
            if c.book.position != 0 or (c.pending or {}).get("target", 0.0) != 0
        )
        # The position the order would leave, as `_place` sizes it: a resize within the side scales the units
        # held, so after a rise it is worth more than `target` times the allocation.
        if position != 0 and (target > 0) == (position > 0):
            notional_after = abs(coin.quantity * target / position) * price
        else:
            notional_after = abs(target) * self._allocation()
        reason = self.guard.check(
            symbol=coin.symbol, bar_ms=bar_ms, champion=coin.champion, opening=position == 0,
            notional_after=notional_after, open_positions=open_positions,
        )  # fmt: skip
        if reason is None:
            self._last_block.pop(coin.symbol, None)
            return target, None
        if self._last_block.get(coin.symbol) != reason.split(":")[0]:  # once per reason, not every bar
            # Logged per coin; sent once per bar for all the coins refused at it (see run()).
            announce(f"⛔ {coin.symbol}: entry refused ({reason})", problem=self.notify)
            self._last_block[coin.symbol] = reason.split(":")[0]
            self._bar_blocks[coin.symbol] = reason
        kept = (
            position if (position == 0 or (target > 0) == (position > 0)) else 0.0
        )  # a reversal still exits
        return kept, reason

    def _allocation(self) -> float:
        """Quote amount a full-size position of one coin stands for: an equal share of equity, capped."""
        equity = self.equity()
        return min(self.max_notional, equity / max(1, len(self.selected)))

    def snapshot(self) -> AccountSnapshot:
        """The broker's account, asked once per bar and again only after a fill changed it.

        A live broker answers from the exchange: asking for every coin and every use would be a burst of
        requests each bar.
        """
        key = (self._bar_ms, self._outcomes)
        if self._snapshot is None or self._snapshot[0] != key:
            self._snapshot = (key, self.broker.snapshot())
        return self._snapshot[1]

    def equity(self) -> float:
        """Quote balance plus every position marked at its coin's last open."""
        snap = self.snapshot()
        marked = sum(
            qty * (self.coins[s].mark or 0.0) for s, qty in snap.positions.items() if s in self.coins
        )
        return float(snap.quote + marked)

    def _place(
        self, coin: CoinState, bar_ms: int, target: float, price: float, costs: tuple[float, float, float]
    ) -> None:
        """Orders that move the coin from its position to `target` (fraction of its allocation)."""
        position = coin.book.position
        held = coin.quantity
        if target == 0 or (target > 0) != (position > 0) or position == 0:
            wanted = target * self._allocation() / price
        else:  # resize within the side: scale the units held
            wanted = held * (target / position)
        change = wanted - held
        # Orders carry what the market can execute: rounded down to its lot size (never more than decided).
        quantity = self.broker.rules(coin.symbol).round_quantity(abs(change))
        if quantity <= 1e-12:
            return
        model_id = coin.champion.model_id if coin.champion else "none"
        leg = (
            "close"
            if target == 0
            else ("open" if position == 0 or (target > 0) != (position > 0) else "resize")
        )
        intent = OrderIntent(
            client_order_id=client_order_id(coin.symbol, bar_ms, model_id, leg),
            symbol=coin.symbol,
            side="buy" if change > 0 else "sell",
            quantity=quantity,
            bar_ms=bar_ms,
            model_id=model_id,
            leg=leg,  # type: ignore[arg-type]
            reference_price=price,
            target_fraction=target,
            cost_bps=costs,
        )
        try:
            refused = self.broker.place(intent)
        except (
            TemporaryError
        ) as exc:  # unanswered: the broker remembers it and settle finds out what happened
            self._error(f"{coin.symbol}: order {intent.client_order_id} unanswered ({exc}); settled next bar")
            return
        payload = {k: getattr(intent, k) for k in ("client_order_id", "symbol", "side", "quantity", "bar_ms",
                                                    "model_id", "leg")}  # fmt: skip
        if refused is not None:
            self._orders.append({**payload, "status": "rejected", "reason": refused.reason})
        elif self.broker.mode == "live":  # the broker journaled the intent before sending it
            self._orders.append({"client_order_id": intent.client_order_id, "status": "placed"})
        else:
            self._orders.append({**payload, "status": "placed"})
        if refused is not None:
            self._on_outcome(coin, refused)
            if coin.pending is not None:  # nothing will fill at the next open: the position stays
                coin.pending["target"] = coin.book.position
                coin.pending["guardrail_reason"] = f"order refused: {refused.reason}"

    def _error(self, message: str) -> None:
        """A problem that does not stop the loop: logged, announced, kept for the status file."""
        self.errors.append((datetime.now(UTC), message))
        del self.errors[:-20]
        announce(f"⚠️ {message}", problem=True, kind="errors" if self.notify else None)

    def _on_outcome(self, coin: CoinState, outcome: Fill | Rejection, *, settled: bool = False) -> None:
        self._outcomes += 1  # the account may have changed: the next snapshot asks the broker again
        if isinstance(outcome, Rejection):
            if settled:
                self._orders.append(
                    {
                        "client_order_id": outcome.client_order_id,
                        "status": "cancelled",
                        "reason": outcome.reason,
                    }
                )
            self.summary.rejections.append(outcome.to_dict())
            self._error(f"{coin.symbol}: order {outcome.client_order_id} not filled: {outcome.reason}")
            return
        signed = outcome.quantity if outcome.side == "buy" else -outcome.quantity
        coin.quantity += signed
        if abs(coin.quantity) < 1e-12:
            coin.quantity = 0.0
        coin.last_fill_price = outcome.price
        self._fills.append(outcome)
        self._orders.append(
            {"client_order_id": outcome.client_order_id, "status": "filled",
             "exchange_order_id": outcome.exchange_order_id}
        )  # fmt: skip

    def _close_trade(self, trade: dict[str, Any], coin: CoinState) -> None:
        if self.mode != "replay":  # a replay reports in bulk; live and paper trades are announced one by one
            side = "long" if trade["side"] > 0 else "short"
            announce(f"{'🟢' if trade['net_pnl_pct'] > 0 else '🔴'} [{self.mode.upper()}] {trade['symbol']} {side} "
                     f"closed: {trade['net_pnl_pct']:+.2f}% after costs ({trade['bars_held']} bars)",
                     kind="trades")  # fmt: skip
        trade.update(mode=self.mode, run_key=self.run_key, exit_fill_price=coin.last_fill_price)
        self._closed.append(trade)
        self._touched_days.add(exit_day(trade))
        self.summary.trades_closed += 1

    # --- journal -----------------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {
            "coins": {s: c.to_dict() for s, c in self.coins.items()},
            "broker": self.broker.to_dict() if hasattr(self.broker, "to_dict") else None,  # type: ignore[attr-defined]
            "guard": None if self.guard is None else self.guard.to_dict(),
            "day_start": self.day_start,
            "account": self._account(),
        }

    def _account(self) -> dict[str, Any]:
        """The broker's balances at this commit: what a restart reconciles the exchange against."""
        snap = self.snapshot()
        return {"quote": snap.quote, "positions": dict(snap.positions)}

    def _note_loss_cap(self) -> None:
        """Remember when the daily loss cap stopped entries, by its UTC day, until that day's equity row is
        committed: a replay commits at a day's last bar, whose close already starts the next guardrail day."""
        state = getattr(self.guard, "state", None)
        if state is not None and state.loss_cap_hit and state.day and state.loss_cap_hit_at_ms is not None:
            self._loss_cap_hits.setdefault(state.day, int(state.loss_cap_hit_at_ms))

    def _loss_cap_hit_ms(self, day: date) -> int | None:
        """When the daily loss cap stopped new entries on `day` (the Mechanic's rollback counts such days)."""
        for seen in [d for d in self._loss_cap_hits if d < day.isoformat()]:
            del self._loss_cap_hits[seen]  # earlier days' rows are written; nothing will ask again
        return self._loss_cap_hits.get(day.isoformat())

    def _commit(self, bar_ms: int) -> None:
        open_rows = []
        for coin in self.coins.values():
            row = coin.book.open_record()
            if row is not None:
                row.update(mode=self.mode, run_key=self.run_key)
                open_rows.append(row)
        equity = self.equity()
        day = datetime.fromtimestamp(bar_ms / 1000, UTC).date()
        if self.day_start is None or self.day_start[0] != day.isoformat():
            self.day_start = (day.isoformat(), equity, 0)
        closed_today = self.day_start[2] + sum(1 for t in self._closed if exit_day(t) == day)
        self.day_start = (self.day_start[0], self.day_start[1], closed_today)
        pnl_pct = (equity / self.day_start[1] - 1.0) * 100.0 if self.day_start[1] else 0.0
        state = self._state()
        # The trade-log days this commit touches: rewritten right after it, and again on resume in case a
        # crash came between the commit and those files.
        state["log_days"] = sorted(d.isoformat() for d in self._touched_days)
        self.journal.commit_bar(
            bar_ms,
            state,
            trades=[to_journal(t) for t in (*self._closed, *open_rows)],
            fills=self._fills,
            orders=_merged_orders(self._orders),
            equity={"trade_day": day, "equity": equity, "pnl_pct": pnl_pct, "trades": closed_today,
                    "loss_cap_hit_ms": self._loss_cap_hit_ms(day)},
        )  # fmt: skip
        self._closed, self._fills, self._orders = [], [], []
        for touched in sorted(self._touched_days):
            try:
                write_day(self.storage, touched, self.journal.trades_on(touched))
            except Exception as exc:  # an archive or database outage: the day is written at a later commit
                log.warning("⚠️ trade log of %s not written (%s); retrying at the next commit", touched, exc)
                continue
            self._touched_days.discard(touched)
        self.summary.last_bar_ms = bar_ms
        if self.on_commit is not None:
            self.on_commit(self, bar_ms)


def _merged_orders(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per order for a commit: its payload (when this commit placed it) and its latest status."""
    merged: dict[str, dict[str, Any]] = {}
    for row in rows:
        merged.setdefault(str(row["client_order_id"]), {}).update(
            {k: v for k, v in row.items() if v is not None}
        )
    return list(merged.values())
