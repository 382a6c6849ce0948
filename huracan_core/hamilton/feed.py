"""Where Hamilton's bars come from: the replay feed serves precomputed research rows in time order.

Each bar a coin needs its research row (prices, regime, cost estimate) and its champion's engine signals.
The replay feed computes both over the whole window at once, with the same functions the live path uses on
the newest bar (`build_research_frame`, `run_engines`; their last rows equal `latest_research` and
`run_engines_latest`, which the test suite checks), then hands them out one bar at a time. The bar-by-bar
decision path downstream is the same for every feed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl

from huracan_core.alphas.registry import run_engines
from huracan_core.exceptions import DataIntegrityError
from huracan_core.hamilton.champions import Champion
from huracan_core.hamilton.frames import ReplayFrames
from huracan_core.hamilton.trader import BarInputs
from huracan_core.meta import SignalRow
from huracan_core.sizing import VOL_COLUMN

log = logging.getLogger("huracan.hamilton")


@dataclass(frozen=True)
class _Columns:
    ts: np.ndarray
    open: np.ndarray
    close: np.ndarray
    regime: np.ndarray
    cost: np.ndarray
    spread: np.ndarray
    fee: np.ndarray
    slippage: np.ndarray
    volatility: np.ndarray
    index: dict[int, int]


@dataclass(frozen=True)
class _Signals:
    names: tuple[str, ...]
    direction: np.ndarray  # [n, k]
    edge: np.ndarray
    confidence: np.ndarray


class ReplayFeed:
    """Research rows and champion signals of a replay window, bar by bar."""

    def __init__(self, frames: ReplayFrames) -> None:
        self.start_ms = frames.start_ms
        self.end_ms = frames.end_ms
        self._frames = frames.frames
        self._columns: dict[str, _Columns] = {}
        self._signals: dict[tuple[str, str], _Signals] = {}
        self.engine_errors: dict[str, dict[str, str]] = {}
        self._last: dict[str, int | None] = {}
        for symbol, rf in frames.frames.items():
            f, c = rf.frame, rf.costs
            ts = f["timestamp"].to_numpy()
            self._columns[symbol] = _Columns(
                ts=ts,
                open=f["open"].to_numpy(),
                close=f["close"].to_numpy(),
                regime=f["regime"].cast(pl.Utf8).to_numpy(),
                cost=c["cost_bps"].to_numpy(),
                spread=c["spread_bps"].to_numpy(),
                fee=c["fee_bps"].to_numpy(),
                slippage=c["slippage_bps"].to_numpy(),
                volatility=c[VOL_COLUMN].cast(pl.Float64).fill_null(np.nan).to_numpy(),
                index={int(t): i for i, t in enumerate(ts.tolist())},
            )

    @property
    def symbols(self) -> list[str]:
        return sorted(self._columns)

    def bars(self, after_ms: int | None = None) -> Iterator[int]:
        """Open times of every bar in the window (any coin), in order, after `after_ms` when resuming."""
        times: set[int] = set()
        for cols in self._columns.values():
            inside = cols.ts[(cols.ts >= self.start_ms) & (cols.ts < self.end_ms)]
            times.update(int(t) for t in inside.tolist())
        for t in sorted(times):
            if after_ms is None or t > after_ms:
                yield t

    def tradable(self, bar_ms: int) -> bool:
        """Every replayed bar is traded."""
        return True

    def last_bar(self, symbol: str) -> int | None:
        """The coin's last bar inside the window: positions are closed at its open, as the backtest does."""
        if symbol not in self._last:
            cols = self._columns[symbol]
            inside = cols.ts[(cols.ts >= self.start_ms) & (cols.ts < self.end_ms)]
            self._last[symbol] = int(inside[-1]) if inside.size else None
        return self._last[symbol]

    def next_is_last(self, symbol: str, bar_ms: int) -> bool:
        """Whether the coin's bar after `bar_ms` is its last one in the window."""
        cols = self._columns[symbol]
        i = cols.index.get(bar_ms)
        last = self.last_bar(symbol)
        return i is not None and last is not None and i + 1 < len(cols.ts) and int(cols.ts[i + 1]) == last

    def row(self, symbol: str, bar_ms: int, champion: Champion | None) -> BarInputs | None:
        """The coin's bar at `bar_ms` with `champion`'s signals (none without a champion), or None (no bar)."""
        cols = self._columns.get(symbol)
        if cols is None or bar_ms not in cols.index:
            return None
        i = cols.index[bar_ms]
        signals: Mapping[str, Mapping[str, float]] = {}
        if champion is not None:
            sig = self._signals_of(symbol, champion)
            # The bar's row of each [n, k] array: no per-engine dicts (the combiner reads arrays).
            signals = SignalRow.of_clean_arrays(sig.names, sig.direction[i], sig.edge[i], sig.confidence[i])
        return BarInputs(
            bar_ms=bar_ms,
            open=float(cols.open[i]),
            close=float(cols.close[i]),
            regime=None if cols.regime[i] is None else str(cols.regime[i]),
            cost_bps=float(cols.cost[i]),
            spread_bps=float(cols.spread[i]),
            fee_bps=float(cols.fee[i]),
            slippage_bps=float(cols.slippage[i]),
            volatility_pct=float(cols.volatility[i]),
            signals=signals,
        )

    def _signals_of(self, symbol: str, champion: Champion) -> _Signals:
        key = (symbol, champion.model_id)
        if key not in self._signals:
            run = run_engines(champion.engines, self._frames[symbol].frame, champion.states)
            if run.errors:
                self.engine_errors[f"{symbol}:{champion.model_id}"] = {
                    k: str(v) for k, v in run.errors.items()
                }
                log.warning(
                    "⚠️ %s: engines set aside for %s: %s", symbol, champion.model_id, sorted(run.errors)
                )
            names = list(run.signals)

            if len(set(names)) != len(names):
                raise DataIntegrityError(f"{symbol}: engines named twice in the signals: {names}")

            def stack(column: str) -> np.ndarray:
                """[bars, engines], C order (a bar's row is contiguous), read-only; every value is finite
                and -0.0 is 0.0 (`+ 0.0`), which is what `SignalRow` stores: rows are taken as they are."""
                if not names:
                    out = np.zeros((len(self._columns[symbol].ts), 0))
                else:
                    out = np.ascontiguousarray(
                        np.column_stack(
                            [np.nan_to_num(run.signals[n][column].cast(pl.Float64).to_numpy()) for n in names]
                        )
                        + 0.0
                    )
                out.flags.writeable = False
                return out

            self._signals[key] = _Signals(
                tuple(names), stack("direction"), stack("edge_bps"), stack("confidence")
            )
        return self._signals[key]
