"""A small world for Hamilton's integration tests: an archive with champions trained by the real Engine on
the planted-edge synthetic market, and the settings under which a replay must equal the backtest.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from huracan_core.engine.run import run_engine
from huracan_core.hamilton.live_feed import LiveClock
from huracan_core.timeframe import timeframe_ms

AS_OF = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
WINDOW = ("2026-03-01T02:00", "2026-03-15T00:00")
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT")

# The market and the trading settings, as environment variables every command (and child process) reads.
MARKET_ENV = {
    "HURACAN__DATA__SOURCE": "synthetic",
    "HURACAN__DATA__SYNTHETIC_VARIANT": "planted_edge",
    "HURACAN__DATA__SYNTHETIC_SEED": "7",
    "HURACAN__GENERAL__TIMEFRAME": "15m",
}
# Guardrails out of the way and every net edge traded: the backtest has no guardrails, so parity is
# checked where none of them binds (each is tested on its own elsewhere).
PARITY_ENV = {
    **MARKET_ENV,
    "HURACAN__HAMILTON__EDGE_THRESHOLD_BPS": "0",
    "HURACAN__HAMILTON__MAX_MODEL_AGE_DAYS": "3650",
    "HURACAN__HAMILTON__DAILY_LOSS_CAP_PCT": "100",
    "HURACAN__HAMILTON__MAX_NOTIONAL_PER_COIN": "1000000000",
}


def train_champions(root: Path) -> Path:
    """Run the nightly Engine as of AS_OF into `root/archive`; returns the archive (2+ champions)."""
    result = run_engine(
        None,
        AS_OF,
        overrides={
            "general.archive": str(root / "archive"),
            "general.database": f"sqlite:///{root / 'engine.db'}",
            "general.log_dir": str(root / "logs"),
            "general.symbols": ",".join(SYMBOLS),
            "data.source": "synthetic",
            "data.synthetic_variant": "planted_edge",
            "data.synthetic_seed": 7,
            "engine.lookback_days": 90,
            "engine.folds": 3,
            "engine.max_concurrent": 2,
        },
    )
    assert len(result.promoted) >= 2, result.promoted
    return root / "archive"


def copy_archive(archive: Path, to: Path) -> Path:
    shutil.copytree(archive, to)
    return to


def settings(env: dict[str, str], **extra: Any) -> dict[str, str]:
    return {**env, **{k: str(v) for k, v in extra.items()}}


class SimulatedClock(LiveClock):
    """Wall-clock time that stands still until the service waits, then jumps to just after the next close.

    `on_bar(t)` (optional) runs at each jump: a test changes the world between two bars there.
    """

    def __init__(self, start_ms: int, timeframe: str = "15m", on_bar: Any = None) -> None:
        self.tf = timeframe_ms(timeframe)
        self.t = start_ms + 2_000  # two seconds after a bar closed
        self.on_bar = on_bar
        super().__init__(now_fn=lambda: self.t / 1000, sleep_fn=self._advance)

    def _advance(self, _seconds: float) -> None:
        self.t += self.tf
        if self.on_bar is not None:
            self.on_bar(self.t)
