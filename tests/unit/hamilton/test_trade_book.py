"""Hamilton's bar-by-bar trade book gives the backtest's trade list, row for row."""

from __future__ import annotations

import numpy as np
import pytest

from huracan_core.evaluation.backtest import backtest, fill_costs
from huracan_core.hamilton.trade_book import TradeBook
from tests.stubs.signals import candles_from_opens, random_walk_opens


def _book_trades(
    opens: np.ndarray, target: np.ndarray, cost: np.ndarray, ts: np.ndarray, *, restart_at: set[int]
) -> list[dict]:
    """Feed the book like Hamilton: at bar b's open, the target decided at b-1 (flat at the last bar)."""
    book = TradeBook("TESTUSDT")
    charged = fill_costs(cost)
    closed: list[dict] = []
    n = opens.size
    for b in range(n):
        wanted = 0.0 if b in (0, n - 1) else float(target[b - 1])
        closed += book.on_open(
            bar_ms=int(ts[b]),
            open_price=float(opens[b]),
            target=wanted,
            fill_cost_bps=float(charged[b]),
            model_id="m",
        )
        if b in restart_at:  # a restart between bars changes nothing
            book = TradeBook.from_dict(book.to_dict())
    return closed


@pytest.mark.parametrize("seed", range(6))
def test_the_trade_book_equals_the_backtests_trades_on_random_paths(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 600
    opens = random_walk_opens(n, seed=seed)
    target = rng.choice([-1.0, -0.5, 0.0, 0.0, 0.3, 1.0], size=n) * (rng.random(n) < 0.6)
    target = np.where(rng.random(n) < 0.7, np.repeat(target[::7], 7)[:n], target)  # runs and flips
    cost = rng.uniform(5, 40, n)
    candles = candles_from_opens(opens)
    ts = candles["timestamp"].to_numpy()
    expected = backtest(candles, target, cost).trades
    got = _book_trades(opens, target, cost, ts, restart_at=set(rng.choice(n, 20).tolist()))
    assert len(got) == expected.height > 20
    for row, want in zip(got, expected.iter_rows(named=True), strict=True):
        for key in (
            "side",
            "size",
            "max_size",
            "entry_time",
            "exit_time",
            "entry_price",
            "exit_price",
            "bars_held",
            "entry_cost_bps",
        ):
            assert row[key] == want[key], (key, row, want)
        for key in ("costs_bps", "gross_pnl_pct", "net_pnl_pct"):
            assert row[key] == pytest.approx(want[key], abs=1e-9), (key, row, want)
