"""Trades from the position path, one bar at a time, with the backtest's own accounting.

The backtest (`huracan_core.evaluation.backtest`) turns a whole position path into trades: a trade is a
maximal run of one side; resizing stays in the trade; a reversal splits its fill (|old| units close the old
trade, the rest open the new one); a fill at bar b's open pays the cost estimated at bar b-1; gross PnL of
bar b is position[b] * (open[b+1] / open[b] - 1), booked once the next open is known. This module applies
the same rules bar by bar, so Hamilton's trade log equals the backtest's trade list row for row.

Amounts are fractions of the coin's allocation (1.0 = all of it), as in the backtest.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class OpenTrade:
    """A trade while its position is held."""

    trade_id: str
    symbol: str
    side: int
    size: float
    max_size: float
    entry_bar: int
    entry_time: int
    entry_price: float
    entry_cost_bps: float
    model_id: str
    regime: str | None
    engine_mix: str | None
    cost: float = 0.0  # fraction of the allocation paid in fills
    gross: float = 0.0  # fraction of the allocation earned before costs
    fill_cost_bps: dict[str, float] = field(default_factory=dict)  # entry fill's components
    guardrail_reason: str | None = None
    quantity: float = 0.0  # base units the broker filled at entry
    entry_fill_price: float | None = None


@dataclass
class TradeBook:
    """One coin's position (fraction of its allocation), its open trade and the bar counter."""

    symbol: str
    position: float = 0.0
    bar: int = -1  # rows seen (the open of row `bar` was the last one applied)
    last_open: float | None = None
    trades_opened: int = 0
    open_trade: OpenTrade | None = None

    def on_open(
        self,
        *,
        bar_ms: int,
        open_price: float,
        target: float,
        fill_cost_bps: float,
        model_id: str,
        regime: str | None = None,
        engine_mix: str | None = None,
        cost_parts: Mapping[str, float] | None = None,
        guardrail_reason: str | None = None,
    ) -> list[dict[str, Any]]:
        """Apply one bar's open: book the last bar's gross, move the position to `target`, return closed trades.

        `fill_cost_bps` is the per-side cost estimated at the decision bar (the bar before this one);
        `regime` and `engine_mix` describe that decision, and go on a trade it opens.
        """
        self.bar += 1
        if self.last_open is not None and self.open_trade is not None:
            self.open_trade.gross += self.position * (open_price / self.last_open - 1.0)
        self.last_open = open_price
        closed: list[dict[str, Any]] = []
        previous, target = self.position, float(target)
        if target == previous:
            return closed
        cost = abs(target - previous) * fill_cost_bps / 1e4
        old_side, new_side = _sign(previous), _sign(target)
        if old_side != 0 and new_side != old_side:
            to_old = abs(previous) * fill_cost_bps / 1e4
            trade = self.open_trade
            assert trade is not None
            trade.cost += to_old
            closed.append(self._close(trade, bar_ms, open_price))
            cost -= to_old
            self.open_trade = None
        if new_side != 0 and new_side != old_side:
            self.trades_opened += 1
            self.open_trade = OpenTrade(
                trade_id=f"{self.symbol}-{bar_ms}",
                symbol=self.symbol,
                side=new_side,
                size=abs(target),
                max_size=abs(target),
                entry_bar=self.bar,
                entry_time=bar_ms,
                entry_price=open_price,
                entry_cost_bps=fill_cost_bps,
                model_id=model_id,
                regime=regime,
                engine_mix=engine_mix,
                fill_cost_bps=dict(cost_parts or {}),
                guardrail_reason=guardrail_reason,
            )
        if self.open_trade is not None:
            self.open_trade.cost += cost
            self.open_trade.max_size = max(self.open_trade.max_size, abs(target))
        self.position = target
        return closed

    def _close(self, trade: OpenTrade, bar_ms: int, open_price: float) -> dict[str, Any]:
        parts = trade.fill_cost_bps
        return {
            "trade_id": trade.trade_id,
            "symbol": trade.symbol,
            "side": trade.side,
            "size": trade.size,
            "max_size": trade.max_size,
            "bars_held": self.bar - trade.entry_bar,
            "entry_time": trade.entry_time,
            "exit_time": bar_ms,
            "entry_price": trade.entry_price,
            "exit_price": open_price,
            "entry_cost_bps": trade.entry_cost_bps,
            "costs_bps": trade.cost * 1e4,
            "fee_bps": parts.get("fee_bps"),
            "spread_bps": parts.get("spread_bps"),
            "slippage_bps": parts.get("slippage_bps"),
            "gross_pnl_pct": trade.gross * 100.0,
            "net_pnl_pct": (trade.gross - trade.cost) * 100.0,
            "engine_mix": trade.engine_mix,
            "regime": trade.regime,
            "model_id": trade.model_id,
            "guardrail_reason": trade.guardrail_reason,
            "quantity": trade.quantity,
            "entry_fill_price": trade.entry_fill_price,
        }

    def open_record(self) -> dict[str, Any] | None:
        """The open trade as a trade-log row with empty exit fields (what the database keeps while it runs)."""
        trade = self.open_trade
        if trade is None:
            return None
        row = self._close(trade, 0, math.nan)
        row.update(exit_time=None, exit_price=None, bars_held=self.bar - trade.entry_bar)
        return row

    # --- state -------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TradeBook:
        trade = data.get("open_trade")
        return cls(
            symbol=str(data["symbol"]),
            position=float(data["position"]),
            bar=int(data["bar"]),
            last_open=None if data.get("last_open") is None else float(data["last_open"]),
            trades_opened=int(data.get("trades_opened", 0)),
            open_trade=None if trade is None else OpenTrade(**trade),
        )


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)
