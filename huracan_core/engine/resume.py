"""Resume ledger: which symbols of one as-of run are already done, so a re-run starts where the last stopped.

Only the scheduling parent process writes it (workers return their results to it). Every write is a
`Storage.update_json` compare-and-swap, so two writers of one ledger never lose each other's entries.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from huracan_core.exceptions import ConcurrentWriteError, CorruptFileError
from huracan_core.retry import retry

if TYPE_CHECKING:  # the archive pulls in fsspec and polars; spawned workers never need them
    from huracan_core.archive import Storage

LEDGER_FORMAT = "huracan.resume_ledger/1"

# A compare-and-swap lost to another writer is re-run on fresh data; the merge is idempotent, so
# re-applying it is safe. Locally update_json serialises writers with a lock and rarely refuses;
# on S3 two parents racing for one ledger refuse each other until one wins.
_CAS_ATTEMPTS = 8
_CAS_BASE_DELAY_S = 0.05
_CAS_MAX_DELAY_S = 1.0


class ResumeLedger:
    """Per as-of date: the symbols whose work is done, each with the info its task returned (ids)."""

    def __init__(self, storage: Storage, key: str, *, sleep: Callable[[float], None] = time.sleep) -> None:
        if not key or key.endswith("/"):
            raise ValueError(
                f"resume ledger key {key!r} must name a file, e.g. engine_runs/2025-01-01/ledger.json"
            )
        self.storage = storage
        self.key = key
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"ResumeLedger({self.storage.url(self.key)!r})"

    # --- reading ----------------------------------------------------------------------------
    def entries(self, as_of: str) -> dict[str, dict[str, Any]]:
        """Symbol -> recorded info for every symbol done for `as_of` (empty when none)."""
        _check_as_of(as_of)
        runs = self._runs(self.storage.read_json(self.key) if self.storage.exists(self.key) else None)
        return {symbol: dict(info) for symbol, info in runs.get(as_of, {}).items()}

    def done(self, as_of: str) -> set[str]:
        return set(self.entries(as_of))

    # --- writing ----------------------------------------------------------------------------
    def mark_done(self, as_of: str, symbol: str, info: Mapping[str, Any]) -> None:
        self.mark_many(as_of, {symbol: info})

    def mark_many(self, as_of: str, infos: Mapping[str, Mapping[str, Any]]) -> None:
        """Record several symbols as done in one write (a batch's coins finish together)."""
        _check_as_of(as_of)
        if not infos:
            return
        new = {symbol: dict(info) for symbol, info in infos.items()}

        def change(runs: dict[str, dict[str, Any]]) -> None:
            runs.setdefault(as_of, {}).update(new)

        self._update(change, what=f"marking {sorted(new)} done for {as_of}")

    def unmark(self, as_of: str, symbols: Iterable[str]) -> None:
        """Forget symbols (a forced re-run failed them: the next resume must run them again)."""
        _check_as_of(as_of)
        gone = set(symbols)
        if not gone or not gone & self.done(as_of):
            return

        def change(runs: dict[str, dict[str, Any]]) -> None:
            kept = {s: info for s, info in runs.get(as_of, {}).items() if s not in gone}
            if kept:
                runs[as_of] = kept
            else:
                runs.pop(as_of, None)

        self._update(change, what=f"unmarking {sorted(gone)} for {as_of}")

    def clear(self, as_of: str) -> None:
        """Forget everything done for `as_of` (other dates in the same ledger are kept)."""
        _check_as_of(as_of)
        if not self.storage.exists(self.key):
            return
        self._update(lambda runs: runs.pop(as_of, None), what=f"clearing {as_of}")

    # --- internals --------------------------------------------------------------------------
    def _runs(self, stored: Any) -> dict[str, dict[str, Any]]:
        if stored is None:
            return {}
        runs = stored.get("runs") if isinstance(stored, dict) else None
        if (
            not isinstance(stored, dict)
            or stored.get("format") != LEDGER_FORMAT
            or not isinstance(runs, dict)
            or not all(isinstance(v, dict) for v in runs.values())
        ):
            raise CorruptFileError(
                f"{self.storage.url(self.key)} is not a resume ledger ({LEDGER_FORMAT}); "
                "delete it to run every symbol again"
            )
        return runs

    def _update(self, change: Callable[[dict[str, dict[str, Any]]], object], *, what: str) -> None:
        def apply(stored: Any) -> dict[str, Any]:
            runs = {as_of: dict(symbols) for as_of, symbols in self._runs(stored).items()}
            change(runs)
            return {"format": LEDGER_FORMAT, "runs": runs}

        retry(
            lambda: self.storage.update_json(self.key, apply),
            what=f"resume ledger {self.storage.url(self.key)}: {what}",
            retry_on=(ConcurrentWriteError,),
            attempts=_CAS_ATTEMPTS,
            base_delay_s=_CAS_BASE_DELAY_S,
            max_delay_s=_CAS_MAX_DELAY_S,
            sleep=self._sleep,
        )


def _check_as_of(as_of: str) -> None:
    if not isinstance(as_of, str) or not as_of.strip():
        raise ValueError(f"as_of {as_of!r} must be a non-empty string such as '2025-01-01'")
