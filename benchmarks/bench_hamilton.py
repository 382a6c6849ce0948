"""Hamilton, the trading loop, at the issue's size: one live cycle for 20 coins, and replay throughput.

1. Live cycle (newest bar -> decisions), per coin: `LiveFeed.row` (`latest_research` on the candle tail,
   the cross-sectional rank, the champion's 23 engines through `run_engines_latest`), `SymbolTrader.on_bar`
   and the guardrail check. Candles come from an in-memory source (no network; the tail refresh is timed
   apart). Median and p99 of the whole 20-coin cycle and of one coin, a breakdown, and the whole `Hamilton`
   bar on the live clock (paper broker, SQLite journal committed every bar).
2. Replay: `Hamilton` + `ReplayFeed` + `PaperBroker` + the real `Journal` on SQLite (commit every
   `hamilton.replay_commit_bars`), the frames and signals precomputation timed apart from the loop, beside
   the vectorised backtest of the same champions on the same frames (`replay_backtest`), and the CLI's
   `backtest_champions` end to end. Target: 5,000 bar-symbols/s on two cores. The embedding cache is
   emptied before each timed path, so none reuses another's encoder work. Candles come from the synthetic
   market, generated in memory: the frames figure is features, regimes and costs, without I/O.
Torch runs as the service leaves it (its default threads) and on one thread, bar by bar (coin by coin for
the signals) in turn, so both settings see the same machine.

Champions: the real Engine trains one coin (SOLUSDT, 90 days of the planted-edge synthetic market) and that
bundle is promoted as the champion of every coin (each coin loads and verifies it on its own, runs all 23
engines on its own candles); BENCH_HAMILTON_TRAIN=all trains every coin instead (~1 min more).
Guardrails are set where none binds (as in the replay parity test), so trades happen all along the window
and the loop's trade count must equal the backtest's. The machine's load average is reported: other work
on two cores moves every figure, threaded torch most.

Run: PYTHONPATH=. .venv/bin/python benchmarks/bench_hamilton.py [--coins 20 --days 60 --cycles 60 --profile]
(`--replay-only` skips the live cycle.)
Smaller: BENCH_HAMILTON_COINS, BENCH_HAMILTON_DAYS, BENCH_HAMILTON_CYCLES (defaults 20, 60, 60);
BENCH_HAMILTON_PROFILE=1 adds a cProfile of the replay loop (five days) and of the live cycle (ten bars).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import itertools
import json
import os
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from huracan_core.archive import Storage, paths
from huracan_core.archive.pointers import append_promotion
from huracan_core.config import HuracanConfig, load_config
from huracan_core.db import upgrade
from huracan_core.db.connection import connect
from huracan_core.decision import DecisionSettings
from huracan_core.engine.coin_model import replay_backtest
from huracan_core.engine.run import run_engine
from huracan_core.features import DEFAULT_RECIPE
from huracan_core.hamilton import live_feed as live_feed_module
from huracan_core.hamilton.brokers.paper import PaperBroker
from huracan_core.hamilton.champion_backtest import backtest_champions
from huracan_core.hamilton.champions import Champion, ChampionBook
from huracan_core.hamilton.control import read_pause
from huracan_core.hamilton.entry_guard import EntryGuardrails
from huracan_core.hamilton.feed import ReplayFeed
from huracan_core.hamilton.frames import ReplayFrames, replay_frames
from huracan_core.hamilton.guardrails import GuardrailSettings
from huracan_core.hamilton.journal import Journal
from huracan_core.hamilton.live_feed import LiveClock, LiveFeed
from huracan_core.hamilton.service import Hamilton, RunSummary
from huracan_core.hamilton.trader import SymbolTrader
from huracan_core.market import open_source
from huracan_core.market.base import CandleSource
from huracan_core.market.synthetic import COINS
from huracan_core.models import embedding_cache
from huracan_core.timeframe import DAY_MS, timeframe_ms

AS_OF = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)  # the champions' training as-of; the replay starts here
TRAINED = "SOLUSDT"  # the coin whose champion every coin trades with (BENCH_HAMILTON_TRAIN=one)
TIMEFRAME = "15m"
TARGET_BAR_SYMBOLS_PER_S = 5_000  # the target on two cores
PROJECTION_DAYS = 180  # "six months of 15m bars for 20 coins replays in under two minutes"
PROJECTION_COINS = 20
PROJECTION_TARGET_S = 120.0
WARMUP_CYCLES = 5  # live cycles run before timing: first calls import, allocate and fill caches
MARKET = {  # the planted-edge synthetic market of Hamilton's integration tests
    "data.source": "synthetic",
    "data.synthetic_variant": "planted_edge",
    "data.synthetic_seed": 7,
    "general.timeframe": TIMEFRAME,
}
# Guardrails out of the way (as in the replay parity test): every decision is traded all along the window,
# so the loop does its full work and must make the backtest's trades.
OPEN_GUARDRAILS = {
    "hamilton.edge_threshold_bps": 0,
    "hamilton.max_model_age_days": 3650,
    "hamilton.daily_loss_cap_pct": 100,
    "hamilton.max_notional_per_coin": 1_000_000_000,
    "hamilton.max_open_positions": 1_000,
}


# --- the world: champions trained by the real Engine ---------------------------------------------------
def build_world(
    root: Path, symbols: Sequence[str], *, train_all: bool
) -> tuple[HuracanConfig, dict[str, Any]]:
    """Train champions with the Engine as of AS_OF and promote one for every coin; the config to trade with."""
    archive, trained = root / "archive", list(symbols) if train_all else [TRAINED]
    started = time.perf_counter()
    result = run_engine(
        None,
        AS_OF,
        overrides={
            **MARKET,
            "general.archive": str(archive),
            "general.database": f"sqlite:///{root / 'engine.db'}",
            "general.log_dir": str(root / "logs"),
            "general.symbols": ",".join(trained),
            "engine.lookback_days": 90,
            "engine.folds": 3,
            "engine.max_concurrent": 2,
        },
    )
    train_s = time.perf_counter() - started
    if TRAINED not in result.trained:
        raise RuntimeError(f"the Engine trained no model for {TRAINED}: {result.failed or result.skipped}")
    storage = Storage(str(archive))
    model_id = result.run_id  # the model id of every bundle of this run
    for symbol in symbols:
        owner = symbol if symbol in result.trained else TRAINED
        append_promotion(
            storage,
            {
                "symbol": symbol,
                "model_id": model_id,
                "previous_model_id": None,
                "promoted_at": AS_OF.isoformat(),
                "as_of": AS_OF.isoformat(),
                "promoted_by": "engine",
                "path": paths.model_dir(owner, model_id),
            },
        )
    config = load_config(
        overrides={
            **MARKET,
            **OPEN_GUARDRAILS,
            "general.archive": str(archive),
            "general.database": f"sqlite:///{root / 'hamilton.db'}",
            "general.log_dir": str(root / "logs"),
        }
    )
    how = {
        "trained": sorted(result.trained),
        "engine_train_s": round(train_s, 1),
        "champions": f"{len(symbols)} coins, " + (
            "each with its own Engine model" if train_all
            else f"all trading the {TRAINED} bundle (loaded and verified per coin, engines run on each coin's candles)"
        ),
    }  # fmt: skip
    return config, how


def _book(config: HuracanConfig) -> ChampionBook:
    return ChampionBook(
        Storage(config.general.archive), recipe_hash=DEFAULT_RECIPE.hash(), point_in_time=True
    )


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _latency(values_s: Sequence[float]) -> dict[str, float]:
    ms = np.asarray(values_s) * 1000.0
    return {"median_ms": round(float(np.median(ms)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2)}


# --- 1. the live cycle ---------------------------------------------------------------------------------
class MemorySource(CandleSource):
    """Candles held in memory, served as an exchange would: [start, end) on the open, open bars dropped."""

    name = "memory"

    def __init__(self, candles: dict[str, pl.DataFrame]) -> None:
        self.candles = candles

    def list_symbols(self, timeframe: str | None = None) -> list[str]:
        return sorted(self.candles)

    def fetch(
        self, symbol: str, timeframe: str, start_ms: int, end_ms: int, *, now_ms: int | None = None
    ) -> pl.DataFrame:
        ts = pl.col("timestamp")
        last_open = end_ms if now_ms is None else min(end_ms, now_ms - timeframe_ms(timeframe) + 1)
        return self.candles[symbol].filter((ts >= start_ms) & (ts < last_open))

    def quote_volumes(self, symbols: Sequence[str], *, timeframe: str | None = None) -> dict[str, float]:
        return {s: float(self.candles[s]["volume"].sum()) for s in symbols}


@dataclass
class SimulatedTime:
    """The live clock's time, moved by the benchmark: each wait jumps to the next bar's close."""

    now_ms: int
    tf: int

    def clock(self) -> LiveClock:
        def jump(_seconds: float) -> None:
            self.now_ms += self.tf

        return LiveClock(now_fn=lambda: self.now_ms / 1000.0, sleep_fn=jump)


def live_candles(config: HuracanConfig, symbols: Sequence[str], first_bar: int, bars: int) -> MemorySource:
    """Every coin's candles from a full live tail before `first_bar` to `bars` bars after it."""
    tf = timeframe_ms(TIMEFRAME)
    tail = LiveFeed(MemorySource({}), symbols, TIMEFRAME, LiveClock(), cost_config=config.costs).tail
    source = open_source(config)
    start, end = first_bar - (tail + 4) * tf, first_bar + (bars + 2) * tf
    return MemorySource({s: source.fetch(s, TIMEFRAME, start, end) for s in symbols})


def _trader(champion: Champion, decision: DecisionSettings) -> SymbolTrader:
    """As `Hamilton._trader` builds it."""
    return SymbolTrader(
        model_id=champion.model_id, gate=champion.gate, combiner=champion.fresh_combiner(),
        horizons=champion.horizons, hold_bars=champion.hold_bars, decision=decision,
    )  # fmt: skip


@dataclass
class _Timers:
    """Wall time spent in named functions of the live feed, per call and per torch setting (`mode`)."""

    mode: str = ""
    calls: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    @contextlib.contextmanager
    def wrapping(self, module: Any, names: Sequence[str]) -> Iterator[None]:
        originals = {name: getattr(module, name) for name in names}

        def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
            def call(*args: Any, **kwargs: Any) -> Any:
                t0 = time.perf_counter()
                try:
                    return fn(*args, **kwargs)
                finally:
                    self.calls.setdefault(self.mode, {}).setdefault(name, []).append(time.perf_counter() - t0)

            return call

        try:
            for name, fn in originals.items():
                setattr(module, name, timed(name, fn))
            yield
        finally:
            for name, fn in originals.items():
                setattr(module, name, fn)


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Torch's intra-op thread pool at `threads` inside the block."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def thread_modes() -> dict[str, int]:
    """The two torch settings measured side by side: as the service runs (torch's default) and one thread."""
    import torch

    return {"torch_default": torch.get_num_threads(), "torch_one_thread": 1}


def _alternating(modes: Sequence[str], i: int) -> list[str]:
    """Both settings, the first one alternating, so neither always runs right after the other."""
    return list(modes) if i % 2 == 0 else list(reversed(modes))


def live_cycle(config: HuracanConfig, symbols: Sequence[str], cycles: int, profile: bool) -> dict[str, Any]:
    """What Hamilton does per closed bar for every coin on the live path, network excluded.

    Each setting of torch's threads gets `cycles` bars, taken in turn, so both see the same machine.
    """
    tf = timeframe_ms(TIMEFRAME)
    modes = thread_modes()
    storage = Storage(config.general.archive)
    first_bar = _ms(AS_OF) + 2 * DAY_MS  # a bar after the champions' as-of
    side = max(10, cycles // 4)  # bars per setting for the breakdown pass
    whole_bars = min(cycles, 20)  # bars per setting of the whole `Hamilton` run on the live clock
    needed = 2 * (WARMUP_CYCLES + cycles + side) + (10 if profile else 0)
    source = live_candles(config, symbols, first_bar, max(needed, 2 * (WARMUP_CYCLES + whole_bars)) + 1)
    book, decision = _book(config), DecisionSettings.from_config(config)
    champions = {s: book.at(s, first_bar + tf) for s in symbols}
    if any(c is None for c in champions.values()):
        raise RuntimeError(f"coins without a champion: {[s for s, c in champions.items() if c is None]}")
    traders = {s: _trader(c, decision) for s, c in champions.items() if c is not None}
    guard = EntryGuardrails(
        GuardrailSettings.from_config(config), paused=lambda: read_pause(storage).paused,
        now_ms=lambda bar_ms: bar_ms + tf + 1_000,
    )  # fmt: skip
    time_now = SimulatedTime(first_bar + tf + 1_000, tf)
    feed = LiveFeed(source, symbols, TIMEFRAME, time_now.clock(), cost_config=config.costs)
    bars = feed.bars(None)
    names = ("LiveFeed.row", "SymbolTrader.on_bar", "guardrail check")
    parts: dict[str, dict[str, list[float]]] = {m: {n: [] for n in names} for m in modes}
    per_coin: dict[str, list[float]] = {m: [] for m in modes}
    cycle_s: dict[str, list[float]] = {m: [] for m in modes}
    refresh_s: list[float] = []

    def cycle(mode: str, record: bool = False) -> None:
        """One closed bar: the tail refresh (timed apart), then every coin's row, decision and guardrail."""
        with torch_threads(modes[mode]):
            t0 = time.perf_counter()
            bar_ms = next(bars)  # the feed brings every coin's candle tail up to this bar first
            t1 = time.perf_counter()
            for symbol in symbols:
                c0 = time.perf_counter()
                row = feed.row(symbol, bar_ms, champions[symbol])
                if row is None:
                    raise RuntimeError(f"{symbol}: no candle at {bar_ms}")
                c1 = time.perf_counter()
                made = traders[symbol].on_bar(row)
                c2 = time.perf_counter()
                guard.check(
                    symbol=symbol, bar_ms=bar_ms, champion=champions[symbol], opening=True,  # type: ignore[arg-type]
                    notional_after=abs(made.target) * 500.0, open_positions=0,
                )  # fmt: skip
                c3 = time.perf_counter()
                if record:
                    per_coin[mode].append(c3 - c0)
                    for name, seconds in zip(names, (c1 - c0, c2 - c1, c3 - c2), strict=True):
                        parts[mode][name].append(seconds)
            guard.on_equity(bar_ms=bar_ms, equity=10_000.0)
            t2 = time.perf_counter()
        if record:
            refresh_s.append(t1 - t0)
            cycle_s[mode].append(t2 - t1)
        time_now.now_ms += tf  # the next bar closes

    for i in range(WARMUP_CYCLES):
        for mode in _alternating(list(modes), i):
            cycle(mode)
    for i in range(cycles):
        for mode in _alternating(list(modes), i):
            cycle(mode, record=True)

    # Inside `LiveFeed.row`: its three big calls, timed by wrapping them in the live feed's namespace.
    timers = _Timers()
    inner = ("cross_sectional_ranks", "latest_research", "run_engines_latest")
    with timers.wrapping(live_feed_module, inner):
        for i in range(side):
            for mode in _alternating(list(modes), i):
                timers.mode = mode
                cycle(mode)
    breakdown = {}
    for mode in modes:
        medians = {name: statistics.median(values) for name, values in parts[mode].items()}
        medians.update({f"  {name}": statistics.median(v) for name, v in timers.calls[mode].items()})
        breakdown[mode] = {name: round(seconds * 1000, 3) for name, seconds in medians.items()}
    profile_top = None
    if profile:  # with torch on one thread: the code's own costs, not other processes' contention
        profile_top = _profile(lambda: [cycle("torch_one_thread") for _ in range(10)])

    default, one = cycle_s["torch_default"], cycle_s["torch_one_thread"]
    out: dict[str, Any] = {
        "coins": len(symbols),
        "engines": len(next(iter(champions.values())).engines),  # type: ignore[union-attr]
        "cycles_per_setting": cycles,
        "torch_threads": modes,
        "cycle_all_coins": {m: _latency(v) for m, v in cycle_s.items()},
        "per_coin": {m: _latency(v) for m, v in per_coin.items()},
        "ratio_default_over_one_thread": {
            "median": round(statistics.median(default) / statistics.median(one), 2),
            "p99": round(float(np.percentile(default, 99) / np.percentile(one, 99)), 2),
        },
        "breakdown_per_coin_median_ms": breakdown,
        "candle_refresh_all_coins_in_memory": _latency(refresh_s),
    }
    if profile_top is not None:
        out["profile_torch_one_thread"] = profile_top
    out["whole_bar_live_clock"] = live_hamilton(config, source, symbols, first_bar, whole_bars, modes)
    return out


class _TimedFeed:
    """A feed that records the loop's time per bar (from handing it out to being asked for the next one),
    switching torch's threads between the settings bar by bar."""

    def __init__(self, inner: Any, modes: dict[str, int]) -> None:
        self.inner, self.modes = inner, modes
        self.work: dict[str, list[float]] = {m: [] for m in modes}
        self.refresh: list[float] = []

    def bars(self, after_ms: int | None) -> Iterator[int]:
        source = self.inner.bars(after_ms)
        for i in itertools.count():
            t0 = time.perf_counter()
            try:
                bar_ms = next(source)
            except StopIteration:
                return
            self.refresh.append(time.perf_counter() - t0)
            mode = list(self.modes)[i % len(self.modes)]
            with torch_threads(self.modes[mode]):
                t1 = time.perf_counter()
                yield bar_ms
                self.work[mode].append(time.perf_counter() - t1)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def live_hamilton(
    config: HuracanConfig,
    source: CandleSource,
    symbols: Sequence[str],
    first_bar: int,
    bars: int,
    modes: dict[str, int],
) -> dict[str, Any]:
    """The whole `Hamilton` bar on the live clock: settle, book, decide, guard, order, journal commit."""
    tf = timeframe_ms(TIMEFRAME)
    time_now = SimulatedTime(first_bar + tf + 1_000, tf)
    clock = time_now.clock()
    total = len(modes) * (WARMUP_CYCLES + bars)
    feed = _TimedFeed(
        LiveFeed(source, symbols, TIMEFRAME, clock, cost_config=config.costs, max_bars=total), modes
    )
    storage = Storage(config.general.archive)
    with _journal(config, "paper") as journal:
        hamilton = Hamilton(
            run_key="paper", mode="paper", timeframe=TIMEFRAME, storage=storage,
            journal=journal, broker=PaperBroker(config.hamilton.paper_wallet), book=_book(config), feed=feed,
            decision=DecisionSettings.from_config(config), symbols=symbols,
            guard=EntryGuardrails(GuardrailSettings.from_config(config), paused=lambda: read_pause(storage).paused,
                                  now_ms=lambda _bar: time_now.now_ms),
            max_notional_per_coin=config.hamilton.max_notional_per_coin, commit_every=1, close_at_end=False,
        )  # fmt: skip
        summary = hamilton.run()
    return {
        "bars_per_setting": bars,
        "bar_all_coins_with_journal": {m: _latency(v[WARMUP_CYCLES:]) for m, v in feed.work.items()},
        "trades_closed": summary.trades_closed,
        "candle_refresh_all_coins_in_memory": _latency(feed.refresh[len(modes) * WARMUP_CYCLES :]),
    }


@contextlib.contextmanager
def _journal(config: HuracanConfig, mode: str, run_key: str | None = None) -> Iterator[Journal]:
    upgrade(config.general.database)
    db = connect(config.general.database)
    journal = Journal(db, run_key or mode, mode)
    journal.reset()
    try:
        yield journal
    finally:
        db.dispose()


# --- 2. replay throughput ------------------------------------------------------------------------------
def replay(config: HuracanConfig, symbols: Sequence[str], days: int, profile: bool) -> dict[str, Any]:
    """Hamilton's replay of `days` from AS_OF, split into precomputation and loop, beside the backtest.

    A one-day replay of two coins runs first, untimed: first calls of the batch engines load and compile.
    """
    _replay_once(config, symbols[:2], 1)
    out, feed, book = _replay_once(config, symbols, days)
    if profile:
        tf = timeframe_ms(TIMEFRAME)
        stop_after = min(len(set(feed.bars())), 5 * int(DAY_MS // tf))  # five days of the same window
        out["profile_loop_bars"] = stop_after
        out["profile_loop"] = _profile(lambda: _run_replay(config, feed, book, "replay:profile", stop_after))
    return out


def _replay_once(
    config: HuracanConfig, symbols: Sequence[str], days: int
) -> tuple[dict[str, Any], ReplayFeed, ChampionBook]:
    """One measured replay; the feed and champion book are returned for the profile."""
    start_ms = _ms(AS_OF)
    end_ms = start_ms + days * DAY_MS
    tf = timeframe_ms(TIMEFRAME)
    modes = thread_modes()

    t0 = time.perf_counter()
    frames = replay_frames(config, symbols, start_ms, end_ms)
    t1 = time.perf_counter()
    if frames.skipped:
        raise RuntimeError(f"coins not replayed: {frames.skipped}")
    book = _book(config)
    champions = {s: book.at(s, frames.start_ms + tf) for s in frames.frames}
    t2 = time.perf_counter()
    signals = _signals_beside_vectorised(config, frames, book, modes)
    feed = signals.feeds["torch_default"]  # the service's setting; the backtest below uses it too
    summary, loop_s = _run_replay(config, feed, book, "replay:bench")
    bar_symbols = summary.bar_symbols
    _forget_embeddings()
    t5 = time.perf_counter()
    cli = backtest_champions(config, Storage(config.general.archive), start_ms, end_ms, symbols=list(symbols))
    cli_s = time.perf_counter() - t5
    cli_trades = sum(t.height for t in cli.trades.values())
    if set(champions) != set(cli.trades) and cli.skipped:
        raise RuntimeError(f"the backtest skipped coins: {cli.skipped}")

    frames_s, load_s = t1 - t0, t2 - t1
    default_signals_s = signals.seconds["torch_default"]
    hamilton_total_s = frames_s + load_s + default_signals_s + loop_s
    loop_rate = bar_symbols / loop_s
    projected_bar_symbols = PROJECTION_DAYS * (DAY_MS // tf) * PROJECTION_COINS
    window_bars = days * (DAY_MS // tf)
    history = frames.frames[symbols[0]].frame.height - window_bars  # bars before the window, per coin
    # Frames and signals grow with each coin's rows (history + window), champions with the coins.
    scale_rows = (
        (PROJECTION_COINS / len(symbols))
        * (PROJECTION_DAYS * (DAY_MS // tf) + history)
        / (window_bars + history)
    )

    def projected(signals_s: float) -> dict[str, float]:
        pre = (frames_s + signals_s) * scale_rows + load_s * PROJECTION_COINS / len(symbols)
        loop = projected_bar_symbols / loop_rate
        return {"precompute_s": round(pre, 1), "loop_s": round(loop, 1), "total_s": round(pre + loop, 1)}

    out: dict[str, Any] = {
        "coins": len(symbols),
        "days": days,
        "bar_symbols": bar_symbols,
        "history_bars_per_coin": history,
        "commit_every_bars": config.hamilton.replay_commit_bars,
        "torch_threads": modes,
        "frames_s": round(frames_s, 2),
        "champions_load_s": round(load_s, 2),
        "signals_s": {m: round(v, 2) for m, v in signals.seconds.items()},
        "loop_s": round(loop_s, 2),
        "loop_bar_symbols_per_s": round(loop_rate),
        "target_bar_symbols_per_s": TARGET_BAR_SYMBOLS_PER_S,
        "loop_share_of_target": round(loop_rate / TARGET_BAR_SYMBOLS_PER_S, 3),
        "signals_and_loop_bar_symbols_per_s": {
            m: round(bar_symbols / (v + loop_s)) for m, v in signals.seconds.items()
        },
        "vectorised_replay_backtest_s": {m: round(v, 2) for m, v in signals.vector_seconds.items()},
        "vectorised_bar_symbols_per_s": {
            m: round(bar_symbols / v) for m, v in signals.vector_seconds.items()
        },
        "ratio_signals_and_loop_over_vectorised": {
            m: round((signals.seconds[m] + loop_s) / signals.vector_seconds[m], 2) for m in modes
        },
        "hamilton_total_s": round(hamilton_total_s, 2),
        "backtest_champions_end_to_end_s": round(cli_s, 2),
        "ratio_hamilton_total_over_backtest_champions": round(hamilton_total_s / cli_s, 2),
        "trades_hamilton": summary.trades_closed,
        "trades_vectorised": signals.vector_trades,
        "trades_backtest_champions": cli_trades,
        "trades_equal": summary.trades_closed == signals.vector_trades == cli_trades,
        "projection_6_months_20_coins": {
            "bar_symbols": projected_bar_symbols,
            "target_s": PROJECTION_TARGET_S,
            **{m: projected(v) for m, v in signals.seconds.items()},
        },
    }
    return out, feed, book


def _forget_embeddings() -> None:
    """Empty the process-wide embedding cache, so a timed path embeds its frames as a fresh process would.

    The cache is keyed by encoder weights and frame values: without this, whichever path runs second on the
    same frames would skip the encoder, most of the engines' time.
    """
    embedding_cache._cache.clear()


@dataclass
class _Signals:
    feeds: dict[str, ReplayFeed]
    seconds: dict[str, float]
    vector_seconds: dict[str, float]
    vector_trades: int


def _signals_beside_vectorised(
    config: HuracanConfig, frames: ReplayFrames, book: ChampionBook, modes: dict[str, int]
) -> _Signals:
    """Per coin, in turn for each torch setting: the replay feed's engine signals over the window (its first
    row computes them), and the vectorised replay of that coin (engines + combiner + decide + hold +
    backtester); each from champions of their own, without embeddings left over from another path."""
    tf = timeframe_ms(TIMEFRAME)
    decision = DecisionSettings.from_config(config)
    books = {(m, path): book if (m, path) == ("torch_default", "feed") else _book(config)
             for m in modes for path in ("feed", "vector")}  # fmt: skip
    out = _Signals(
        {m: ReplayFeed(frames) for m in modes}, dict.fromkeys(modes, 0.0), dict.fromkeys(modes, 0.0), 0
    )
    for i, symbol in enumerate(frames.frames):
        rf = frames.frames[symbol]
        for mode in _alternating(list(modes), i):
            feed_champion = books[mode, "feed"].at(symbol, frames.start_ms + tf)
            vector_champion = books[mode, "vector"].at(symbol, frames.start_ms + tf)
            assert feed_champion is not None and vector_champion is not None
            with torch_threads(modes[mode]):
                _forget_embeddings()
                t0 = time.perf_counter()
                out.feeds[mode].row(symbol, frames.start_ms, feed_champion)
                t1 = time.perf_counter()
                _forget_embeddings()
                t2 = time.perf_counter()
                result, errors = replay_backtest(
                    vector_champion.engines, vector_champion.states, vector_champion.gate,
                    vector_champion.fresh_combiner(), rf, start_ms=frames.start_ms,
                    hold_bars=vector_champion.hold_bars, decision=decision,
                )  # fmt: skip
                t3 = time.perf_counter()
            out.seconds[mode] += t1 - t0
            out.vector_seconds[mode] += t3 - t2
            if errors or out.feeds[mode].engine_errors:
                raise RuntimeError(f"{symbol}: engines failed: {errors or out.feeds[mode].engine_errors}")
            if mode == "torch_default":
                out.vector_trades += result.trades.height
    return out


def _run_replay(
    config: HuracanConfig, feed: ReplayFeed, book: ChampionBook, run_key: str, stop_after: int | None = None
) -> tuple[RunSummary, float]:
    """One replay of the whole window (or its first `stop_after` bars) from a fresh journal and wallet."""
    with _journal(config, "replay", run_key) as journal:
        holder: dict[str, Hamilton] = {}
        hamilton = Hamilton(
            run_key=run_key, mode="replay", timeframe=TIMEFRAME, storage=Storage(config.general.archive),
            journal=journal, broker=PaperBroker(config.hamilton.paper_wallet), book=book, feed=feed,
            decision=DecisionSettings.from_config(config), symbols=feed.symbols,
            guard=EntryGuardrails(GuardrailSettings.from_config(config)),
            max_notional_per_coin=config.hamilton.max_notional_per_coin,
            commit_every=config.hamilton.replay_commit_bars, close_at_end=True,
            should_stop=None if stop_after is None else lambda: holder["h"].summary.bars >= stop_after,
        )  # fmt: skip
        holder["h"] = hamilton
        t0 = time.perf_counter()
        summary = hamilton.run()
        return summary, time.perf_counter() - t0


# --- profile -------------------------------------------------------------------------------------------
def _profile(fn: Callable[[], Any], top: int = 20) -> dict[str, Any]:
    """cProfile of `fn`: the `top` functions by own time and by cumulative time, printed and returned."""
    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    print(text.getvalue())
    rows = [
        {"function": f"{Path(filename).name}:{line}({name})", "calls": calls, "own_s": round(tottime, 3),
         "cumulative_s": round(cumtime, 3)}
        for (filename, line, name), (_cc, calls, tottime, cumtime, _callers) in stats.stats.items()  # type: ignore[attr-defined]
    ]  # fmt: skip
    return {
        "total_s": round(max(r["cumulative_s"] for r in rows), 3),
        "by_own_time": sorted(rows, key=lambda r: -r["own_s"])[:top],
        "by_cumulative_time": sorted(rows, key=lambda r: -r["cumulative_s"])[:top],
    }


# --- entry points --------------------------------------------------------------------------------------
def run(
    coins: int | None = None,
    days: int | None = None,
    cycles: int | None = None,
    profile: bool | None = None,
    train_all: bool | None = None,
    replay_only: bool = False,
) -> dict[str, Any]:
    """Both measurements on a fresh world in a temporary folder; a JSON-able dict of the figures.

    `replay_only` leaves the live cycle out (a quick replay A/B; the live cycle takes minutes)."""
    coins = coins or int(os.environ.get("BENCH_HAMILTON_COINS", "20"))
    days = days or int(os.environ.get("BENCH_HAMILTON_DAYS", "60"))
    cycles = cycles or int(os.environ.get("BENCH_HAMILTON_CYCLES", "60"))
    profile = bool(int(os.environ.get("BENCH_HAMILTON_PROFILE", "0"))) if profile is None else profile
    train_all = os.environ.get("BENCH_HAMILTON_TRAIN", "one") == "all" if train_all is None else train_all
    eligible = [c.symbol for c in COINS if c.symbol != "RAREUSDT"]  # the thin coin fails the volume gate
    if not 2 <= coins <= len(eligible):
        raise ValueError(f"coins must be between 2 and {len(eligible)}, got {coins}")
    symbols = eligible[:coins]
    print(f"cores: {os.cpu_count()}; Hamilton with {coins} coins: {cycles} live cycles, {days} days of "
          f"{TIMEFRAME} bars replayed")  # fmt: skip
    load_before = os.getloadavg()[0]  # other work on the machine skews every figure: it is reported
    with tempfile.TemporaryDirectory(prefix="bench_hamilton_") as tmp:
        config, how = build_world(Path(tmp), symbols, train_all=train_all)
        print(f"  champions: {how['champions']} (Engine: {how['engine_train_s']} s)")
        live = None if replay_only else live_cycle(config, symbols, cycles, profile)
        if live is not None:
            _print_live(live)
        rep = replay(config, symbols, days, profile)
        _print_replay(rep)
    return {
        "benchmark": "hamilton",
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "load_average_1m_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "how_champions_were_made": how,
        "live": live,
        "replay": rep,
    }


def _print_live(live: dict[str, Any]) -> None:
    whole = live["whole_bar_live_clock"]["bar_all_coins_with_journal"]
    for mode, threads in live["torch_threads"].items():
        cyc, coin = live["cycle_all_coins"][mode], live["per_coin"][mode]
        print(
            f"  live cycle, {live['coins']} coins, torch on {threads} thread(s): median {cyc['median_ms']} ms, "
            f"p99 {cyc['p99_ms']} ms; per coin median {coin['median_ms']} ms, p99 {coin['p99_ms']} ms; whole "
            f"Hamilton bar (broker, journal) median {whole[mode]['median_ms']} ms, p99 {whole[mode]['p99_ms']} ms"
        )
        for name, ms in live["breakdown_per_coin_median_ms"][mode].items():
            print(f"    {name:<24} {ms:8.3f} ms per coin (median)")


def _print_replay(rep: dict[str, Any]) -> None:
    print(
        f"  replay, {rep['bar_symbols']} bar-symbols: frames {rep['frames_s']} s, champions "
        f"{rep['champions_load_s']} s, signals {rep['signals_s']} s, loop {rep['loop_s']} s = "
        f"{rep['loop_bar_symbols_per_s']} bar-symbols/s (target {TARGET_BAR_SYMBOLS_PER_S})"
    )
    print(
        f"    signals + loop {rep['signals_and_loop_bar_symbols_per_s']} bar-symbols/s vs vectorised "
        f"{rep['vectorised_bar_symbols_per_s']}; trades equal: {rep['trades_equal']} ({rep['trades_hamilton']})"
    )
    print(f"    6 months x 20 coins: {rep['projection_6_months_20_coins']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coins", type=int, default=None)
    parser.add_argument("--days", type=int, default=None)
    parser.add_argument("--cycles", type=int, default=None)
    parser.add_argument("--profile", action="store_true", default=None)
    parser.add_argument("--train-all", action="store_true", default=None)
    parser.add_argument("--replay-only", action="store_true", help="skip the live cycle")
    args = parser.parse_args()
    figures = run(args.coins, args.days, args.cycles, args.profile, args.train_all, args.replay_only)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
