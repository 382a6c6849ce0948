"""One coin's decision state, one closed bar at a time: the vectorised research path, bar by bar.

At bar s the trader first learns the outcomes that became known at s's open (a signal from bar t with
horizon h is judged on open[t+1] -> open[t+1+h], known at bar s = t+1+h), then combines bar s's signals
through the champion's regime gate and the meta combiner, calls `decide` on the bar's four numbers and
steps the shared hold rule. That is exactly what `run_combiner` + `decide` + `hold_until_horizon` do over a frame
(`huracan_core.engine.coin_model.replay`), which is why a replay trades what the backtest trades.

Bars are counted in rows, not time, as the vectorised path counts them. The state is plain JSON.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from huracan_core.decision import DecisionSettings, HoldState, decide
from huracan_core.exceptions import DataIntegrityError
from huracan_core.meta import GateTable, MetaCombiner, Outcome, SignalRow


@dataclass(frozen=True)
class BarInputs:
    """What one closed bar brings: its candle prices, regime, cost estimate, realised volatility and every
    engine's signal."""

    bar_ms: int
    open: float
    close: float
    regime: str | None
    cost_bps: float  # per-side estimate known at this bar's close (fee + half spread + slippage)
    spread_bps: float  # half spread, per side
    fee_bps: float
    slippage_bps: float
    # annualised realised volatility (%) known at this bar's close (`huracan_core.sizing`; NaN in warm-up)
    volatility_pct: float
    # engine -> direction, edge_bps, confidence: a `SignalRow` (the replay feed's arrays) or any mapping
    signals: Mapping[str, Mapping[str, float]]


@dataclass(frozen=True)
class BarDecision:
    """The trader's answer for one bar: the target position and why."""

    bar_ms: int
    target: float  # signed fraction of the coin's allocation, held from the next bar's open
    side: int
    size: float
    reason: str  # decide's reason code
    combined_edge_bps: float
    confidence: float
    expected_net_edge_bps: float | None
    weights: dict[str, float]


class SymbolTrader:
    """The champion's gate, combiner and hold state for one coin, advanced bar by bar."""

    def __init__(
        self,
        *,
        model_id: str,
        gate: GateTable,
        combiner: MetaCombiner,
        horizons: Mapping[str, int],
        hold_bars: int,
        decision: DecisionSettings,
    ) -> None:
        self.model_id = model_id
        self.gate = gate
        self.combiner = combiner
        self.horizons = dict(horizons)
        self.decision = decision
        self.hold = HoldState(horizon=hold_bars)
        depth = max([*self.horizons.values(), 1]) + 2
        # Recent rows: (open, cost_bps, {engine: direction}); the oldest an outcome can need is 1 + h back.
        self._recent: deque[tuple[float, float, dict[str, int]]] = deque(maxlen=depth)

    def on_bar(self, bar: BarInputs) -> BarDecision:
        """Learn what became known at this bar's open, then decide at its close."""
        self._learn(bar.open)
        row = SignalRow.from_mapping(bar.signals)  # the arrays the combiner reads, once
        combined = self.combiner.combine(row, bar.regime, self.gate)
        made = decide(
            combined.edge_bps, combined.confidence, bar.cost_bps, bar.spread_bps, self.decision,
            volatility_pct=bar.volatility_pct,
        )  # fmt: skip
        target = self.hold.step(int(made.side[0]), float(made.size[0]))
        # int() of each sign, as before: a NaN direction is still an error here, never a silent 0.
        directions = dict(zip(row.names, map(int, np.sign(row.direction).tolist()), strict=True))
        self._recent.append((float(bar.open), float(bar.cost_bps), directions))
        net = made.expected_net_edge_bps[0]
        return BarDecision(
            bar_ms=bar.bar_ms,
            target=float(target),
            side=int(made.side[0]),
            size=float(made.size[0]),
            reason=str(made.reason[0]),
            combined_edge_bps=float(combined.edge_bps),
            confidence=float(combined.confidence),
            expected_net_edge_bps=float(net) if np.isfinite(net) else None,
            weights=combined.weights,
        )

    def _learn(self, open_now: float) -> None:
        """Outcomes of signals whose exit open is this bar's: bar t = now - 1 - h, entry at open[t + 1]."""
        outcomes = []
        n = len(self._recent)
        for name, h in self.horizons.items():
            back = 1 + h  # rows from signal bar t to now
            if n < back:
                continue
            _, cost, directions = self._recent[n - back]
            direction = directions.get(name, 0)
            if direction == 0:
                continue
            entry_open = self._recent[n - back + 1][0] if back > 1 else open_now
            move = (open_now / entry_open - 1.0) * 1e4
            outcomes.append(Outcome(name, direction, move, cost))
        if outcomes:
            self.combiner.update(outcomes)

    # --- state -------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "combiner": self.combiner.to_dict(),
            "hold": self.hold.to_dict(),
            "recent": [[o, c, d] for o, c, d in self._recent],
        }

    def restore(self, data: Mapping[str, Any]) -> None:
        """Continue from a journaled state of the same champion (combiner, hold rule, recent rows)."""
        if data.get("model_id") != self.model_id:
            raise DataIntegrityError(
                f"trader state is for model {data.get('model_id')!r}, not the champion {self.model_id!r}"
            )
        try:
            self.combiner = MetaCombiner.from_dict(data["combiner"])
            self.hold = HoldState.from_dict(data["hold"])
            self._recent.clear()
            for o, c, d in data["recent"]:
                self._recent.append((float(o), float(c), {str(k): int(v) for k, v in d.items()}))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataIntegrityError(f"trader state is malformed: {exc!r}") from None
