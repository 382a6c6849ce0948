"""Every error Huracan raises on purpose, grouped by what the caller should do about it.

- ConfigError: fail at start, tell the user which key to fix.
- TemporaryError: retry (through `huracan_core.retry`), then give up with the last reason.
- DataIntegrityError: the data cannot be trusted; halt trading / skip the symbol, never guess.
- EngineError: one alpha engine misbehaved; set that engine aside, the others carry on.
"""

from __future__ import annotations


class HuracanError(Exception):
    """Base of every deliberate Huracan error."""


# --- configuration: fail at start -------------------------------------------------------------
class ConfigError(HuracanError):
    """The configuration (file, environment, flags) is invalid; the message names key, value and fix."""


class UnknownSymbolError(ConfigError):
    """A symbol was asked for that the source does not have."""


# --- temporary: retry ---------------------------------------------------------------------------
class TemporaryError(HuracanError):
    """Something outside us failed in a way that may pass (network, rate limit, busy database)."""


class ExchangeUnavailableError(TemporaryError):
    """The exchange could not be reached or kept failing after retries."""


class StorageUnavailableError(TemporaryError):
    """The archive (local folder or S3 endpoint) could not be reached."""


class DatabaseUnavailableError(TemporaryError):
    """The database server could not be reached."""


# --- storage problems that are not temporary ---------------------------------------------------
class StorageAccessError(HuracanError):
    """The archive refused us (access denied, missing bucket): credentials or policy must be fixed."""


class ConcurrentWriteError(HuracanError):
    """Another writer changed a pointer between our read and our write; nothing was overwritten."""


class RollbackRefused(HuracanError):
    """A champion rollback was not done (no champion, no earlier model, a target that is missing or does
    not verify, a pointer moved meanwhile); the message says why, and nothing was changed."""


# --- data integrity: halt / skip ---------------------------------------------------------------
class DataIntegrityError(HuracanError):
    """Stored or fetched data is corrupt or inconsistent (bad file, bad hash, broken candles)."""


class CorruptFileError(DataIntegrityError):
    """A stored file could not be read back (truncated parquet, invalid JSON)."""


class DataGateRejected(DataIntegrityError):
    """A data gate refused a symbol's candles; `reason` is the human-readable cause."""

    def __init__(self, symbol: str, reason: str) -> None:
        super().__init__(f"{symbol}: {reason}")
        self.symbol = symbol
        self.reason = reason


class BundleVerificationError(DataIntegrityError):
    """A model bundle failed verification (hash mismatch, missing file, wrong recipe)."""


# --- engine: set that engine aside -------------------------------------------------------------
class EngineError(HuracanError):
    """One alpha engine raised or returned malformed output; it is set aside for this run."""

    def __init__(self, engine: str, message: str) -> None:
        super().__init__(f"engine {engine!r}: {message}")
        self.engine = engine
