"""The guardrails as the loop uses them: roll the day each bar, refuse an entry with its code and reason.

Time is the bar's close (the moment the decision is taken), so a replay applies the same daily loss cap,
stale-model and position rules as live trading would have at that moment. The manual pause is a live
control: it is read from `control/pause.json` at most once per bar in live trading, and a replay of the
past ignores today's pause.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from huracan_core.hamilton.champions import Champion
from huracan_core.hamilton.guardrails import GuardrailSettings, GuardrailState, entry_block, roll_day
from huracan_core.timeframe import timeframe_ms

log = logging.getLogger("huracan.hamilton")


class EntryGuardrails:
    """Guardrail state carried across bars (journaled with everything else), and the last refusals."""

    def __init__(
        self,
        settings: GuardrailSettings,
        *,
        paused: Callable[[], bool] | None = None,
        now_ms: Callable[[int], int] | None = None,
    ) -> None:
        self.settings = settings
        self.state = GuardrailState()
        self._paused = paused  # None in replay
        self._tf = timeframe_ms(settings.timeframe)
        # Live: wall-clock now (a late bar is stale); replay: the bar's close.
        self._now = now_ms or (lambda bar_ms: bar_ms + self._tf)
        self._pause_cache: tuple[int, bool] | None = None
        self.blocked: dict[str, str] = {}

    def on_equity(self, *, bar_ms: int, equity: float) -> None:
        self.state = roll_day(self.state, now_ms=self._now(bar_ms), equity=equity, settings=self.settings)

    def is_paused(self, bar_ms: int) -> bool:
        if self._paused is None:
            return False
        if self._pause_cache is None or self._pause_cache[0] != bar_ms:
            try:
                paused = bool(self._paused())
            except Exception as exc:  # an unreadable pause file: when in doubt, open nothing
                log.warning("⚠️ pause file unreadable (%s); treating Hamilton as paused", exc)
                paused = True
            self._pause_cache = (bar_ms, paused)
        return self._pause_cache[1]

    def check(
        self,
        *,
        symbol: str,
        bar_ms: int,
        champion: Champion,
        opening: bool,
        notional_after: float,
        open_positions: int,
    ) -> str | None:
        block = entry_block(
            self.settings, self.state, symbol=symbol, now_ms=self._now(bar_ms), last_bar_ms=bar_ms,
            model_trained_as_of_ms=champion.trained_as_of_ms or None, open_positions=open_positions,
            already_open=not opening, notional_after=notional_after, paused=self.is_paused(bar_ms),
        )  # fmt: skip
        if block is None:
            self.blocked.pop(symbol, None)
            return None
        reason = f"{block.code}: {block.reason}"
        self.blocked[symbol] = reason
        return reason

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state.to_dict(), "blocked": dict(self.blocked)}

    def restore(self, data: dict[str, Any]) -> None:
        if data.get("state"):
            self.state = GuardrailState.from_dict(data["state"])
        self.blocked = dict(data.get("blocked") or {})
