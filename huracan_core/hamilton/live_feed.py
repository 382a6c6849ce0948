"""The live feed: closed candles from the exchange as they close, each newest bar computed from a tail.

`LiveClock` says what time it is and waits; the feed polls the candle source (ccxt, the lake, anything
with `fetch(..., now_ms=...)`, which drops a bar still open) and yields each newly closed bar once. Bars
missed while the service was down are fetched and yielded too, marked as catch-up: the loop steps them
(features, regime, the combiner's outcomes stay exact) but never trades them after the fact.

Each bar's row comes from `latest_research` on a candle tail long enough that its values equal the full
history's, and from `run_engines_latest`: the incremental twins of what the replay feed computes in batch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from huracan_core.alphas.registry import run_engines_latest
from huracan_core.config import CostsConfig
from huracan_core.costs import FeeSchedule
from huracan_core.evaluation.latest import latest_research
from huracan_core.evaluation.research import REFERENCE_CLOSES
from huracan_core.features.cross_section import cross_sectional_ranks
from huracan_core.hamilton.champions import Champion
from huracan_core.hamilton.frames import history_bars
from huracan_core.hamilton.trader import BarInputs
from huracan_core.market.base import CandleSource
from huracan_core.market.funding import normalise_funding
from huracan_core.sizing import VOL_COLUMN
from huracan_core.timeframe import timeframe_ms

log = logging.getLogger("huracan.hamilton")


@dataclass
class LiveClock:
    """Wall-clock time and waiting, injected so tests can run the live loop on a simulated clock."""

    now_fn: Callable[[], float] = time.time  # seconds since the epoch
    sleep_fn: Callable[[float], None] = time.sleep
    stop: threading.Event = field(default_factory=threading.Event)

    def now_ms(self) -> int:
        return int(self.now_fn() * 1000)

    def wait(self, seconds: float) -> None:
        if not self.stop.is_set():
            self.sleep_fn(seconds)


FUNDING_CHECK_MS = 3_600_000  # funding settles every 8 h (1 h on some coins): an hourly check is enough


class LiveFeed:
    """Newly closed bars of `symbols` (and the reference coins), one at a time, as they close."""

    def __init__(
        self,
        source: CandleSource,
        symbols: Sequence[str],
        timeframe: str,
        clock: LiveClock,
        *,
        cost_config: CostsConfig,
        fees: FeeSchedule | None = None,
        poll_seconds: float = 5.0,
        max_bars: int | None = None,
        funding: Mapping[str, pl.DataFrame] | None = None,
    ) -> None:
        self.source = source
        self.symbols = list(symbols)
        self.timeframe = timeframe
        self.tf = timeframe_ms(timeframe)
        self.clock = clock
        self.cost_config = cost_config
        self.fees = fees
        self.poll_seconds = poll_seconds
        self.max_bars = max_bars  # stop after this many bars (tests, smoke runs)
        # Funding history per coin (the lake's at start): joined per bar exactly as the batch frames do, and
        # topped up from the source while running (`_refresh_funding`), or it would go stale within a day.
        self.funding = dict(funding or {})
        self._funding_checked_ms: int | None = None
        self.tail = history_bars(timeframe)
        self._candles: dict[str, pl.DataFrame] = {}
        self._newest_closed: int | None = None
        self.catching_up: set[int] = set()
        self._available: set[str] | None = None  # the source's symbols, asked once
        self._bar_cache: tuple[int, dict[str, pl.DataFrame], dict[str, pl.DataFrame]] | None = None
        self.errors: list[str] = []

    # --- the clock -----------------------------------------------------------------------------------
    def bars(self, after_ms: int | None) -> Iterator[int]:
        """Each closed bar after `after_ms` once, in order; waits for the next close; stops when asked."""
        served = 0
        last = after_ms
        while not self.clock.stop.is_set():
            now = self.clock.now_ms()
            newest = (now // self.tf) * self.tf - self.tf  # open time of the newest closed bar
            if last is None:
                last = newest - self.tf  # a fresh start trades from the newest closed bar on
            if newest > last:
                if not self._refresh(now):
                    self.clock.wait(self.poll_seconds)
                    continue
                for bar_ms in range(last + self.tf, newest + self.tf, self.tf):
                    if bar_ms < newest:
                        self.catching_up.add(bar_ms)
                    yield bar_ms
                    served += 1
                    last = bar_ms
                    if self.max_bars is not None and served >= self.max_bars:
                        return
            else:
                self.clock.wait(self.poll_seconds)

    def watch(self, symbols: Sequence[str]) -> None:
        """Also fetch these coins from now on (a coin selected after the start); their tail is fetched whole."""
        for symbol in symbols:
            if symbol not in self.symbols:
                self.symbols.append(symbol)
                log.info("%s: now watched (first fetch brings its whole tail)", symbol)

    def tradable(self, bar_ms: int) -> bool:
        """False for a bar fetched after downtime: it is stepped, never traded after the fact."""
        return bar_ms not in self.catching_up

    def last_bar(self, symbol: str) -> None:
        return None

    def next_is_last(self, symbol: str, bar_ms: int) -> bool:
        return False

    def _refresh(self, now_ms: int) -> bool:
        """Bring every coin's candle tail up to the newest closed bar; False (and a logged error) on failure."""
        wanted = list(dict.fromkeys([*self.symbols, *REFERENCE_CLOSES]))
        start = (now_ms // self.tf) * self.tf - (self.tail + 2) * self.tf
        try:
            for symbol in wanted:
                have = self._candles.get(symbol)
                since = start if have is None or have.height == 0 else int(have["timestamp"][-1]) + self.tf
                if self._available is None:  # asked once: the source's symbols do not change bar to bar
                    self._available = set(self.source.list_symbols(self.timeframe))
                if symbol not in self.symbols and symbol not in self._available:
                    continue
                new = self.source.fetch(symbol, self.timeframe, max(since, start), now_ms, now_ms=now_ms)
                frame = new if have is None else pl.concat([have, new]).unique("timestamp", keep="last")
                self._candles[symbol] = frame.sort("timestamp").filter(pl.col("timestamp") >= start)
        except Exception as exc:  # an exchange error is a log line and a retry, never a crash loop
            message = f"candles could not be fetched: {type(exc).__name__}: {exc}"
            self.errors.append(message)
            log.warning("⚠️ %s; retrying in %gs", message, self.poll_seconds)
            return False
        self._refresh_funding(now_ms)
        return True

    def _refresh_funding(self, now_ms: int) -> None:
        """Ask the source for the rates settled since the newest one held, at most once an hour, for the coins
        that came with a funding history (those whose champions learned from it). A failure is a warning: the
        held rates stay, and a rate older than a day is null at the join, so the engine abstains, never guesses."""
        fetch = getattr(self.source, "fetch_funding", None)
        if fetch is None or not self.funding:
            return
        if self._funding_checked_ms is not None and now_ms - self._funding_checked_ms < FUNDING_CHECK_MS:
            return
        self._funding_checked_ms = now_ms
        for symbol, held in list(self.funding.items()):
            since = int(held["timestamp"][-1]) + 1 if held.height else now_ms - FUNDING_CHECK_MS
            try:
                new = fetch(symbol, since, now_ms)
                if new.height:
                    self.funding[symbol] = normalise_funding(pl.concat([held, new]), symbol)
            except Exception as exc:  # a stale rate is nulled at the join; trading goes on without it
                message = f"{symbol}: funding rates could not be fetched: {type(exc).__name__}: {exc}"
                self.errors.append(message)
                log.warning("⚠️ %s", message)

    # --- rows ----------------------------------------------------------------------------------------
    def _at(self, bar_ms: int) -> tuple[dict[str, pl.DataFrame], dict[str, pl.DataFrame]]:
        """Every coin's candles up to `bar_ms` and the cross-sectional ranks, computed once per bar."""
        if self._bar_cache is None or self._bar_cache[0] != bar_ms:
            upto = {s: c.filter(pl.col("timestamp") <= bar_ms) for s, c in self._candles.items()}
            universe = {s: c for s, c in upto.items() if s in self.symbols}
            ranks = cross_sectional_ranks(universe) if universe else {}
            self._bar_cache = (bar_ms, upto, ranks)
        return self._bar_cache[1], self._bar_cache[2]

    def row(self, symbol: str, bar_ms: int, champion: Champion | None) -> BarInputs | None:
        if symbol not in self._candles:
            return None
        tails, all_ranks = self._at(bar_ms)
        upto = tails[symbol]
        if upto.height == 0 or int(upto["timestamp"][-1]) != bar_ms:
            return None  # the coin has no candle at this bar (a gap): nothing to decide
        refs = {r: c for r, c in tails.items() if r in REFERENCE_CLOSES}
        ranks = all_ranks.get(symbol)
        latest = latest_research(
            upto, symbol, self.timeframe, refs=refs, rows=max(r.lookback_bars for r in champion.engines)
            if champion else 1, cost_config=self.cost_config, fees=self.fees, extra_columns=ranks,
            funding=self.funding.get(symbol),
        )  # fmt: skip
        signals: dict[str, dict[str, float]] = {}
        if champion is not None:
            run = run_engines_latest(champion.engines, latest.frame, champion.states)
            for name, sig in run.signals.items():
                signals[name] = {
                    k: float(np.nan_to_num(sig[k])) for k in ("direction", "edge_bps", "confidence")
                }
        last = upto.row(-1, named=True)
        return BarInputs(
            bar_ms=bar_ms,
            open=float(last["open"]),
            close=float(last["close"]),
            regime=latest.regime,
            cost_bps=latest.costs["cost_bps"],
            spread_bps=latest.costs["spread_bps"],
            fee_bps=latest.costs["fee_bps"],
            slippage_bps=latest.costs["slippage_bps"],
            volatility_pct=latest.costs[VOL_COLUMN],
            signals=signals,
        )
