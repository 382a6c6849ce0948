"""engine_status.json: what a long job is doing right now, kept current while it runs.

Fields: job, phase, symbols_total / done / failed / skipped, current_symbol, started_at, updated_at, eta
(UTC ISO-8601, from the mean time per finished symbol), last_error. Written atomically through the archive,
so a reader (a person, the Airflow UI page, Telegram) never sees half a file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

from huracan_core.archive import Storage, paths


@dataclass
class EngineStatus:
    job: str
    phase: str
    symbols_total: int = 0
    symbols_done: list[str] = field(default_factory=list)
    symbols_failed: dict[str, str] = field(default_factory=dict)
    symbols_skipped: dict[str, str] = field(default_factory=dict)
    current_symbol: str | None = None
    started_at: str | None = None
    updated_at: str | None = None
    eta: str | None = None
    last_error: str | None = None
    finished: bool = False


class StatusWriter:
    """Keeps one EngineStatus and rewrites engine_status.json on every change."""

    def __init__(
        self,
        storage: Storage,
        *,
        job: str,
        symbols_total: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._storage = storage
        self._clock = clock
        start = clock()
        self._started = start
        self.status = EngineStatus(
            job=job, phase="starting", symbols_total=symbols_total, started_at=start.isoformat()
        )
        self._write()

    def _eta(self) -> str | None:
        finished = (
            len(self.status.symbols_done) + len(self.status.symbols_failed) + len(self.status.symbols_skipped)
        )
        remaining = self.status.symbols_total - finished
        if finished == 0 or remaining <= 0:
            return None
        elapsed = (self._clock() - self._started).total_seconds()
        return (self._clock() + timedelta(seconds=elapsed / finished * remaining)).isoformat()

    def _write(self) -> None:
        self.status.updated_at = self._clock().isoformat()
        self.status.eta = self._eta()
        self._storage.write_json(paths.engine_status(), asdict(self.status))

    def phase(self, phase: str, *, current_symbol: str | None = None) -> None:
        self.status.phase = phase
        self.status.current_symbol = current_symbol
        self._write()

    def working_on(self, symbol: str) -> None:
        self.status.current_symbol = symbol
        self._write()

    def done(self, symbol: str) -> None:
        if symbol not in self.status.symbols_done:
            self.status.symbols_done.append(symbol)
        self.status.current_symbol = None
        self._write()

    def failed(self, symbol: str, reason: str) -> None:
        self.status.symbols_failed[symbol] = reason
        self.status.last_error = f"{symbol}: {reason}"
        self.status.current_symbol = None
        self._write()

    def skipped(self, symbol: str, reason: str) -> None:
        self.status.symbols_skipped[symbol] = reason
        self.status.current_symbol = None
        self._write()

    def finish(self, phase: str = "finished") -> None:
        self.status.phase = phase
        self.status.current_symbol = None
        self.status.finished = True
        self._write()
