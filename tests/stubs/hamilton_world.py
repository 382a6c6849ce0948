"""A small world for Hamilton's integration tests: an archive with champions trained by the real Engine on
the planted-edge synthetic market, the settings under which a replay must equal the backtest, and `World`
(an archive and a journal database) made by a `Backend` (SQLite + a local folder, or PostgreSQL + S3).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from huracan_core.archive import Storage
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


# On the live clock, champions started fresh at LIVE_START (its newest closed bar opens at 07:30) decide to
# buy BTC at the close of the 09:00 bar and ETH at the close of the 09:15 bar, then resize both upwards
# until 09:45 and hold them until about 12:00; nothing else happens before 19:00. Live-clock tests of a
# few dozen bars use this morning.
LIVE_START_MS = int(datetime(2026, 3, 1, 7, 45, tzinfo=UTC).timestamp() * 1000)
BTC_DECIDED_MS = int(datetime(2026, 3, 1, 9, 0, tzinfo=UTC).timestamp() * 1000)
ETH_DECIDED_MS = int(datetime(2026, 3, 1, 9, 15, tzinfo=UTC).timestamp() * 1000)


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


def upload_archive(archive: Path, url: str) -> str:
    """Every file of a local archive written under `url` (an S3 prefix) through `Storage`; returns `url`."""
    target = Storage(url)
    for path in sorted(archive.rglob("*")):
        if path.is_file():
            target.write_bytes(path.relative_to(archive).as_posix(), path.read_bytes())
    return url


@dataclass(frozen=True)
class World:
    """One Hamilton installation: an archive holding the champions, and an empty journal database."""

    archive: str  # a local folder or s3://bucket/prefix
    db: str  # SQLAlchemy URL
    home: Path  # a local folder for what is never remote (the log files)

    @property
    def storage(self) -> Storage:
        return Storage(self.archive)

    def trades(self) -> pl.DataFrame:
        """The trade log (live_logs/trades/*.parquet) as one frame, read as a user would, through Storage."""
        storage = self.storage
        keys = sorted(k for k in storage.list("live_logs/trades") if k.endswith(".parquet"))
        if not keys:
            return pl.DataFrame()
        return pl.concat([storage.read_parquet(k) for k in keys], how="diagonal").sort("entry_time", "symbol")


@dataclass(frozen=True)
class Backend:
    """Makes `World`s on one backend; `world(name)` gives a fresh archive and database each call."""

    name: str
    _archive: Callable[[str], str]
    _db: Callable[[str], str]
    _home: Path

    def world(self, name: str = "h") -> World:
        return World(archive=self._archive(name), db=self._db(name), home=self._home / name)


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
