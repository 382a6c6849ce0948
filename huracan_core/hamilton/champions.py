"""Which model trades each coin: now (the champion pointer) or at a past moment (the promotions history).

A champion is used only after its bundle verifies (sha256 of every file, the feature recipe's hash) and is
rebuilt from safetensors and JSON (no code runs). When a pointer moves to a bundle that does not verify,
the refusal is reported and the previous champion keeps trading; a coin whose only champion is bad is not
traded at all. A replay asks for the champion as it was at each bar, from `champion/promotions.json`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from huracan_core.alphas.base import AlphaEngine
from huracan_core.archive import Storage, paths
from huracan_core.archive.pointers import read_pointer, read_promotions
from huracan_core.broadcaster.callbacks import announce
from huracan_core.engine.coin_model import engines_from_bundle
from huracan_core.exceptions import (
    BundleVerificationError,
    CorruptFileError,
    DataIntegrityError,
    StorageAccessError,
    StorageUnavailableError,
)
from huracan_core.meta import GateTable, MetaCombiner
from huracan_core.models.bundle import load_bundle

log = logging.getLogger("huracan.hamilton")


@dataclass(frozen=True)
class Champion:
    """A verified champion, ready to trade: engines with their states, gate table, combiner state, hold."""

    symbol: str
    model_id: str
    path: str
    model_sha256: str
    promoted_at: str | None
    trained_as_of_ms: int
    engines: list[AlphaEngine]
    states: dict[str, dict[str, Any]]
    gate: GateTable
    combiner_state: dict[str, Any]
    hold_bars: int

    @property
    def horizons(self) -> dict[str, int]:
        return {e.name: e.horizon_bars for e in self.engines}

    def fresh_combiner(self) -> MetaCombiner:
        """The combiner as shipped (each trader learns on from here, as the backtest's replay does)."""
        return MetaCombiner.from_dict(self.combiner_state)


def load_champion(
    storage: Storage,
    symbol: str,
    model_id: str,
    path: str,
    *,
    recipe_hash: str,
    promoted_at: str | None = None,
) -> Champion:
    """Verify and load one bundle; `BundleVerificationError` names what is wrong (the caller keeps the old)."""
    try:
        bundle = load_bundle(storage, path, expected_recipe_hash=recipe_hash)
    except (CorruptFileError, FileNotFoundError) as exc:
        raise BundleVerificationError(
            f"{symbol}: champion {model_id} at {path} cannot be read: {exc}"
        ) from None
    engines, states = engines_from_bundle(bundle)
    config = bundle.config
    window = config.get("data_window") or {}
    return Champion(
        symbol=symbol,
        model_id=model_id,
        path=path,
        model_sha256=bundle.hashes.get("model.bin", ""),
        promoted_at=promoted_at,
        trained_as_of_ms=int(window.get("end_ms") or config.get("oos_window", {}).get("last_bar") or 0),
        engines=engines,
        states=states,
        gate=GateTable.from_dict(config["gate_table"]),
        combiner_state=dict(config["combiner"]),
        hold_bars=int(config.get("horizon_bars", 8)),
    )


def champion_history(storage: Storage) -> dict[str, list[dict[str, Any]]]:
    """Every pointer move per symbol, oldest first, with the moment it takes effect in epoch ms (`at_ms`).

    A move takes effect at the model's as-of (its data ends there, so using it from then on reads no
    future), or at `promoted_at` for records without one. A backfilled night therefore counts as champion
    from its as-of date, which is what a replay or a simulation of that period wants.
    """
    out: dict[str, list[dict[str, Any]]] = {}
    for record in read_promotions(storage):
        moved = dict(record)
        moment = record.get("as_of") or record["promoted_at"]
        moved["at_ms"] = int(datetime.fromisoformat(str(moment)).timestamp() * 1000)
        out.setdefault(str(record["symbol"]), []).append(moved)
    for moves in out.values():
        moves.sort(key=lambda m: m["at_ms"])
    return out


def model_path(storage: Storage, symbol: str, record: Mapping[str, Any]) -> str:
    """Where a promoted model's bundle is: the record's path, else the Engine's or Mechanic's folder."""
    if record.get("path"):
        return str(record["path"])
    for folder in (
        paths.model_dir(symbol, record["model_id"]),
        paths.challenger_dir(symbol, record["model_id"]),
    ):
        if storage.exists(f"{folder}/sha256.txt"):
            return folder
    return paths.model_dir(symbol, record["model_id"])


@dataclass
class ChampionBook:
    """The champion of each coin, loaded once per model and swapped only between bars.

    `point_in_time=True` (replay): the champion at a bar is the last promotion at or before that bar's
    close. Otherwise (live): the pointer as it is now; a moved pointer is verified before it is used.
    """

    storage: Storage
    recipe_hash: str
    point_in_time: bool = False
    _loaded: dict[tuple[str, str], Champion] = field(default_factory=dict)
    _refused: dict[tuple[str, str], str] = field(default_factory=dict)
    _history: dict[str, list[dict[str, Any]]] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    def at(self, symbol: str, close_ms: int, current: Champion | None = None) -> Champion | None:
        """The champion to trade `symbol` with for the bar closing at `close_ms` (`current` if unchanged)."""
        record = self._record(symbol, close_ms)
        if record is None:
            return current
        model_id = str(record["model_id"])
        if current is not None and current.model_id == model_id and not self._changed(current, record):
            return current
        key = (symbol, model_id)
        if key in self._refused:
            return current
        if key not in self._loaded:
            try:
                self._loaded[key] = load_champion(
                    self.storage, symbol, model_id, model_path(self.storage, symbol, record),
                    recipe_hash=self.recipe_hash, promoted_at=record.get("promoted_at"),
                )  # fmt: skip
            except (BundleVerificationError, DataIntegrityError) as exc:
                self._refused[key] = str(exc)
                kept = current.model_id if current else "nothing (this coin is not traded)"
                event = {"symbol": symbol, "model_id": model_id, "refused": str(exc), "kept": kept}
                self.events.append(event)
                kind = None if self.point_in_time else "errors"  # a replay only logs
                announce(
                    f"❌ {symbol}: champion {model_id} refused ({exc}); trading {kept}",
                    problem=True,
                    kind=kind,
                )
                return current
        return self._loaded[key]

    def symbols(self) -> list[str]:
        """Coins that ever had a champion (replay) or have a pointer now (live)."""
        if self.point_in_time:
            return sorted(self._records())
        out = []
        for folder in self.storage.list("champion"):
            name = folder.rsplit("/", 1)[-1]
            if not name.endswith(".json") and self.storage.exists(paths.champion_pointer(name)):
                out.append(name)
        return sorted(out)

    def _records(self) -> dict[str, list[dict[str, Any]]]:
        if self._history is None:
            self._history = champion_history(self.storage)
        return self._history

    def _record(self, symbol: str, close_ms: int) -> Mapping[str, Any] | None:
        if self.point_in_time:
            moves = [m for m in self._records().get(symbol, []) if m["at_ms"] <= close_ms]
            return moves[-1] if moves else None
        try:
            return read_pointer(self.storage, symbol)
        except (CorruptFileError, StorageUnavailableError, StorageAccessError) as exc:
            # An unreadable pointer or an archive outage never stops trading: the current champion stays.
            self.events.append({"symbol": symbol, "refused": str(exc)})
            log.warning("❌ %s: champion pointer unreadable (%s); keeping the current champion", symbol, exc)
            return None

    def _changed(self, current: Champion, record: Mapping[str, Any]) -> bool:
        """A live pointer naming the same model id but another model.bin (a rewritten bundle)."""
        sha = record.get("model_sha256")
        return bool(sha) and sha != current.model_sha256


def trade_symbols(book: ChampionBook, wanted: Sequence[str] | None) -> list[str]:
    """`wanted` (or every coin with a champion) restricted to coins that have one."""
    have = set(book.symbols())
    return [s for s in (wanted or sorted(have)) if s in have]
