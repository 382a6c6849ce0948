"""Champion pointers: the one format of `champion/SYMBOL/latest.json` and the promotions history.

A pointer moves only by compare-and-swap on the model it replaces, so two promoters (engine and
mechanic, or two mechanic runs) cannot clobber each other, and only after the bundle it names has
been verified. Every move is appended to `champion/promotions.json`, which is never rewritten.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from huracan_core.archive import paths
from huracan_core.archive.storage import Storage
from huracan_core.exceptions import ConcurrentWriteError, CorruptFileError
from huracan_core.retry import retry

POINTER_FIELDS = (
    "symbol",
    "model_id",
    "path",
    "model_sha256",
    "feature_recipe_hash",
    "promoted_at",
    "promoted_by",
    "previous_model_id",
    "metrics",
)
PROMOTERS = ("engine", "mechanic", "rollback")
PROMOTION_FIELDS = ("symbol", "model_id", "previous_model_id", "promoted_at", "promoted_by")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def validate_pointer(pointer: Mapping[str, Any]) -> None:
    """Raise ValueError naming the first missing or malformed field of a champion pointer."""
    if not isinstance(pointer, Mapping):
        raise ValueError(f"champion pointer must be a JSON object, got {type(pointer).__name__}")
    missing = [name for name in POINTER_FIELDS if name not in pointer]
    if missing:
        raise ValueError(f"champion pointer is missing field(s): {', '.join(missing)}")
    symbol = pointer["symbol"]
    if not isinstance(symbol, str):
        raise ValueError(f"champion pointer field 'symbol' must be a string like BTCUSDT, got {symbol!r}")
    paths.model_dir(symbol, _text(pointer, "model_id"))  # validates both; ValueError names the bad one
    if pointer["previous_model_id"] is not None:
        paths.model_dir(symbol, _text(pointer, "previous_model_id"))
    if not _text(pointer, "path"):
        raise ValueError("champion pointer field 'path' is empty")
    if not _SHA256.match(_text(pointer, "model_sha256")):
        raise ValueError(
            f"champion pointer field 'model_sha256' must be 64 lowercase hex digits, got {pointer['model_sha256']!r}"
        )
    if not _text(pointer, "feature_recipe_hash"):
        raise ValueError("champion pointer field 'feature_recipe_hash' is empty")
    _aware_timestamp(pointer, "promoted_at")
    if pointer["promoted_by"] not in PROMOTERS:
        raise ValueError(
            f"champion pointer field 'promoted_by' is {pointer['promoted_by']!r}; expected one of {', '.join(PROMOTERS)}"
        )
    if not isinstance(pointer["metrics"], Mapping):
        raise ValueError(f"champion pointer field 'metrics' must be an object, got {pointer['metrics']!r}")


def read_pointer(storage: Storage, symbol: str) -> dict[str, Any] | None:
    """The current champion pointer of `symbol`, or None if it has none yet.

    A pointer that exists but is not a valid pointer raises CorruptFileError naming the file: a
    trader must never guess which model is live.
    """
    key = paths.champion_pointer(symbol)
    try:
        pointer = storage.read_json(key)
    except FileNotFoundError:
        return None
    try:
        validate_pointer(pointer)
    except ValueError as exc:
        raise CorruptFileError(f"{storage.url(key)} is not a valid champion pointer: {exc}") from None
    if pointer["symbol"] != symbol:
        raise CorruptFileError(f"{storage.url(key)} names symbol {pointer['symbol']!r}, not {symbol!r}")
    return dict(pointer)


def write_pointer(
    storage: Storage,
    symbol: str,
    pointer: Mapping[str, Any],
    *,
    expected_model_id: str | None,
    verify: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Move `symbol`'s champion pointer to `pointer`, atomically, if it still names `expected_model_id`.

    `expected_model_id` is the model the caller saw as champion (None: there was no champion) and
    must equal `pointer["previous_model_id"]`, unless the pointer re-publishes that same model (a re-run
    of its date), which keeps the previous_model_id it had. `verify(pointer["path"])` runs before the pointer
    moves and should raise (BundleVerificationError) for an incomplete or tampered bundle; the old
    pointer then stays. If the pointer changed since the caller looked, ConcurrentWriteError is
    raised and the file is left as the other promoter wrote it. Returns the pointer written.
    """
    validate_pointer(pointer)
    if pointer["symbol"] != symbol:
        raise ValueError(f"champion pointer names symbol {pointer['symbol']!r} but is written for {symbol!r}")
    refresh = pointer["model_id"] == expected_model_id  # the same model re-published (a re-run of its date)
    if pointer["previous_model_id"] != expected_model_id and not refresh:
        raise ValueError(
            f"champion pointer for {symbol}: previous_model_id {pointer['previous_model_id']!r} "
            f"must be the expected current champion {expected_model_id!r}"
        )
    if verify is not None:
        verify(str(pointer["path"]))
    key = paths.champion_pointer(symbol)
    new = dict(pointer)

    def swap(current: Any | None) -> dict[str, Any]:
        if current is not None and not isinstance(current, dict):
            raise CorruptFileError(f"{storage.url(key)} is not a JSON object; fix or remove it by hand")
        current_id = None if current is None else current.get("model_id")
        if current_id != expected_model_id:
            raise ConcurrentWriteError(
                f"champion pointer for {symbol} now names {current_id!r}, not the expected "
                f"{expected_model_id!r}; another promoter moved it, nothing was written"
            )
        return new

    storage.update_json(key, swap)
    return new


def append_promotion(storage: Storage, record: Mapping[str, Any], *, attempts: int = 8) -> None:
    """Append one pointer move to `champion/promotions.json` (a JSON list, oldest first).

    Appends commute, so a lost compare-and-swap is simply re-run on the fresh list (up to
    `attempts` times, with short backoff); earlier entries are never changed or dropped.
    """
    missing = [name for name in PROMOTION_FIELDS if name not in record]
    if missing:
        raise ValueError(f"promotion record is missing field(s): {', '.join(missing)}")
    if record["promoted_by"] not in PROMOTERS:
        raise ValueError(
            f"promotion record field 'promoted_by' is {record['promoted_by']!r}; expected one of {', '.join(PROMOTERS)}"
        )
    key = paths.promotions_log()
    entry = dict(record)

    def append(current: Any | None) -> list[Any]:
        if current is None:
            return [entry]
        if not isinstance(current, list):
            raise CorruptFileError(f"{storage.url(key)} is not a JSON list of promotions; fix it by hand")
        return [*current, entry]

    retry(
        lambda: storage.update_json(key, append),
        what=f"appending to {storage.url(key)}",
        retry_on=(ConcurrentWriteError,),
        attempts=attempts,
        base_delay_s=0.02,
        max_delay_s=0.5,
    )


def read_promotions(storage: Storage) -> list[dict[str, Any]]:
    """Every recorded pointer move, oldest first (empty when there has been none)."""
    key = paths.promotions_log()
    try:
        history = storage.read_json(key)
    except FileNotFoundError:
        return []
    if not isinstance(history, list):
        raise CorruptFileError(f"{storage.url(key)} is not a JSON list of promotions")
    return history


def _text(pointer: Mapping[str, Any], name: str) -> str:
    value = pointer[name]
    if not isinstance(value, str):
        raise ValueError(f"champion pointer field {name!r} must be a string, got {value!r}")
    return value


def _aware_timestamp(pointer: Mapping[str, Any], name: str) -> None:
    text = _text(pointer, name)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"champion pointer field {name!r} is not an ISO-8601 time: {text!r}") from None
    if moment.tzinfo is None:
        raise ValueError(f"champion pointer field {name!r} must carry a timezone (UTC), got {text!r}")
