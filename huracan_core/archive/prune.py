"""Archive housekeeping: delete model folders nothing refers to any more, never one that may still be needed.

A folder is referenced when a champion pointer names it (as champion or as previous_model_id, the one-step
rollback target), the roster lists it, or any promotion record names it (a replay needs every model that
ever traded). References are by (symbol, model id), so a model id referenced under models/ also protects a
challenger folder of the same name: deleting is the one thing here that cannot be undone.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from huracan_core.archive import paths
from huracan_core.archive.pointers import read_pointer, read_promotions
from huracan_core.archive.storage import Storage, StoredFile
from huracan_core.exceptions import CorruptFileError

log = logging.getLogger("huracan.archive")

MODEL_ROOTS = ("models", "challengers")
_ID = re.compile(r"^\d{8}_\d{6}Z$")
_SYMBOL = re.compile(r"^[A-Z0-9]{2,20}$")


@dataclass(frozen=True)
class References:
    """What the archive's pointers, roster and promotion history refer to."""

    models: frozenset[tuple[str, str]]  # (symbol, model id)
    paths: frozenset[str]  # bundle folder keys named by a pointer or a record

    def protects(self, symbol: str, model_id: str, folder: str) -> bool:
        return (symbol, model_id) in self.models or folder in self.paths


def references(storage: Storage) -> References:
    """Every model a pointer, the roster or a promotion record names.

    A pointer or roster that cannot be read raises CorruptFileError: housekeeping must not guess what is
    referenced, so it stops instead (fix the file, then prune).
    """
    models: set[tuple[str, str]] = set()
    folders: set[str] = set()

    def add(symbol: Any, model_id: Any, path: Any = None) -> None:
        if isinstance(symbol, str) and isinstance(model_id, str):
            models.add((symbol, model_id))
        if isinstance(path, str) and path:
            folders.add(path.rstrip("/"))

    for key in storage.list("champion"):
        name = key.rsplit("/", 1)[-1]
        if name.endswith(".json") or not _SYMBOL.match(name):
            continue
        pointer = read_pointer(storage, name)  # CorruptFileError names the file
        if pointer is not None:
            add(name, pointer["model_id"], pointer["path"])
            add(name, pointer["previous_model_id"])
    try:
        roster = storage.read_json(paths.champion_roster())
    except FileNotFoundError:
        roster = {"champions": []}
    entries = roster.get("champions") if isinstance(roster, dict) else None
    if not isinstance(entries, list):
        raise CorruptFileError(f"{storage.url(paths.champion_roster())} has no list of champions; fix it by hand")
    for entry in entries:
        if isinstance(entry, dict):
            add(entry.get("symbol"), entry.get("model_id"))
    for record in read_promotions(storage):
        if isinstance(record, dict):
            add(record.get("symbol"), record.get("model_id"), record.get("path"))
            add(record.get("symbol"), record.get("previous_model_id"))
    return References(models=frozenset(models), paths=frozenset(folders))


def prune_challengers(storage: Storage, symbol: str, keep: int, *, protect: set[str]) -> list[str]:
    """Keep the newest `keep` challenger folders of `symbol` (by name); delete the older unreferenced ones.

    `protect` adds model ids to what pointers, the roster and promotion records already protect (those are
    read here, so a caller cannot forget them). Returns the deleted folder keys, oldest first. Called by the
    Mechanic after each run: the newest folders include the one just written, so it is never deleted.
    """
    if keep < 1:
        raise ValueError(f"keep must be at least 1 (the newest challenger), got {keep}")
    if not _SYMBOL.match(symbol):
        raise ValueError(f"symbol {symbol!r} is not like BTCUSDT")
    base = f"challengers/{symbol}"
    folders = sorted(key for key in storage.list(base) if _ID.match(key.rsplit("/", 1)[-1]))
    older = folders[: max(len(folders) - keep, 0)]
    if not older:
        return []
    refs = references(storage)
    removed = []
    for folder in older:
        model_id = folder.rsplit("/", 1)[-1]
        if model_id in protect or refs.protects(symbol, model_id, folder):
            continue
        storage.delete(folder, recursive=True)
        removed.append(folder)
    if removed:
        log.info("%s: removed %d old challenger folder(s), kept the newest %d", symbol, len(removed), keep)
    return removed


@dataclass(frozen=True)
class PrunedFolder:
    key: str
    kind: str  # model | challenger | encoder
    files: int
    size: int  # bytes


@dataclass
class PruneReport:
    """What a prune removed (or, in a dry run, would remove), and what it kept and why."""

    cutoff: str
    applied: bool
    removed: list[PrunedFolder] = field(default_factory=list)
    kept_referenced: int = 0
    kept_recent: int = 0  # id or files newer than the cutoff (young, or being written now)
    encoders_note: str | None = None

    @property
    def removed_bytes(self) -> int:
        return sum(f.size for f in self.removed)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "removed_bytes": self.removed_bytes}


def prune_archive(
    storage: Storage,
    older_than_days: float,
    *,
    now: datetime,
    apply: bool,
    protect: Iterable[tuple[str, str]] = (),
) -> PruneReport:
    """List (dry run) or delete (`apply`) model and challenger folders older than `older_than_days`
    that nothing refers to, and shared encoders no remaining model uses.

    A folder is old when its id (YYYYMMDD_HHMMSSZ) AND every file in it are older than the cutoff: a backfill
    writes an old id today, and a folder being written now has fresh files, so neither is touched. `protect`
    adds (symbol, model id) pairs, e.g. the database's champions. References are read again just before
    deleting, so a rollback to an old model during the prune keeps its folder.
    """
    if older_than_days <= 0:
        raise ValueError(f"--older-than must be a positive number of days, got {older_than_days:g}")
    cutoff = now - timedelta(days=older_than_days)
    extra = frozenset(protect)
    report = PruneReport(cutoff=cutoff.isoformat(), applied=apply)
    refs = references(storage)
    candidates: list[PrunedFolder] = []
    kept_models: list[str] = []
    for root in MODEL_ROOTS:
        kind = "model" if root == "models" else "challenger"
        for folder, files in _folders(storage.list_files(root), depth=3).items():
            symbol, model_id = _symbol_and_id(folder)
            if not _SYMBOL.match(symbol) or not _ID.match(model_id):
                kept_models.append(folder)  # not ours to judge
                continue
            if refs.protects(symbol, model_id, folder) or (symbol, model_id) in extra:
                report.kept_referenced += 1
                kept_models.append(folder)
            elif not _older(model_id, files, cutoff):
                report.kept_recent += 1
                kept_models.append(folder)
            else:
                candidates.append(_pruned(folder, kind, files))
    if apply and candidates:
        refs = references(storage)  # a pointer may have moved to an old model since we looked
        now_referenced = [c for c in candidates if refs.protects(*_symbol_and_id(c.key), c.key)]
        report.kept_referenced += len(now_referenced)
        kept_models += [c.key for c in now_referenced]
        candidates = [c for c in candidates if c not in now_referenced]
    encoders, report.encoders_note = _unused_encoders(storage, kept_models, cutoff)
    report.removed = candidates + encoders
    if apply:
        for folder in report.removed:
            storage.delete(folder.key, recursive=True)
        log.info("Archive prune: removed %d folder(s), %d bytes", len(report.removed), report.removed_bytes)
    return report


def _folders(files: list[StoredFile], *, depth: int) -> dict[str, list[StoredFile]]:
    """Files grouped by their folder `depth` levels down (models/SYMBOL/ID); shallower files are ignored."""
    out: dict[str, list[StoredFile]] = {}
    for item in files:
        parts = item.key.split("/")
        if len(parts) > depth:
            out.setdefault("/".join(parts[:depth]), []).append(item)
    return out


def _symbol_and_id(folder: str) -> tuple[str, str]:
    _, symbol, model_id = folder.split("/")
    return symbol, model_id


def _id_time(model_id: str) -> datetime:
    return datetime.strptime(model_id, "%Y%m%d_%H%M%SZ").replace(tzinfo=UTC)


def _older(model_id: str, files: list[StoredFile], cutoff: datetime) -> bool:
    """Old by its id and by every file's modification time (unknown times count as new)."""
    if _id_time(model_id) >= cutoff:
        return False
    return all(f.modified is not None and f.modified < cutoff for f in files)


def _pruned(folder: str, kind: str, files: list[StoredFile]) -> PrunedFolder:
    return PrunedFolder(key=folder, kind=kind, files=len(files), size=sum(f.size for f in files))


def _unused_encoders(
    storage: Storage, kept_models: list[str], cutoff: datetime
) -> tuple[list[PrunedFolder], str | None]:
    """Old shared encoders that no kept bundle names in config.json["shared_encoder"].

    Bundles embed their encoder's weights, so an encoder folder is needed only to warm-start the next night
    (the newest one, always kept) and by bundles that name it. When any kept bundle's config cannot be read,
    nothing is known for sure and no encoder is removed (the note says so).
    """
    grouped = _folders(storage.list_files(paths.encoders_root()), depth=2)
    if not grouped:
        return [], None
    newest = max(grouped)
    old = {
        key: files
        for key, files in grouped.items()
        if key != newest and _ID.match(key.rsplit("/", 1)[-1]) and _older(key.rsplit("/", 1)[-1], files, cutoff)
    }
    if not old:
        return [], None
    used: set[str] = set()
    for folder in kept_models:
        try:
            config = storage.read_json(f"{folder}/config.json")
        except (FileNotFoundError, CorruptFileError) as exc:
            return [], f"encoders left alone: {exc}"
        encoder = config.get("shared_encoder") if isinstance(config, dict) else None
        if isinstance(encoder, str):
            used.add(encoder.rstrip("/"))
    return [_pruned(key, "encoder", files) for key, files in sorted(old.items()) if key not in used], None
