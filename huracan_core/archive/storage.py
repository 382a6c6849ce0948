"""One storage API over fsspec: a local folder by default, s3://bucket/prefix in production.

Paths given to a Storage are relative keys built by `huracan_core.archive.paths`; nothing else joins
archive paths by hand. JSON and pointer writes are atomic (local: temp file + rename; S3: one PUT), so a
reader never sees half a file. Pointer updates go through `update_json`, a compare-and-swap that
refuses to overwrite a value another writer changed in the meantime.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fsspec
import polars as pl

from huracan_core.exceptions import (
    ConcurrentWriteError,
    CorruptFileError,
    StorageAccessError,
    StorageUnavailableError,
)


def _s3_options() -> dict[str, Any]:
    """Options for s3fs from the standard AWS variables; AWS_ENDPOINT_URL points at MinIO or moto."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    opts: dict[str, Any] = {}
    if endpoint:
        opts["endpoint_url"] = endpoint
    # Fail fast on a dead endpoint instead of botocore's long default retry ladder.
    opts["config_kwargs"] = {
        "connect_timeout": float(os.environ.get("HURACAN_S3_CONNECT_TIMEOUT", "5")),
        "read_timeout": float(os.environ.get("HURACAN_S3_READ_TIMEOUT", "30")),
        "retries": {"max_attempts": int(os.environ.get("HURACAN_S3_MAX_ATTEMPTS", "3"))},
    }
    opts["skip_instance_cache"] = True
    return opts


def _translate(exc: BaseException, what: str) -> BaseException:
    """Turn fsspec/botocore/OS errors into errors that say what the caller should do."""
    text = str(exc)
    name = type(exc).__name__
    if isinstance(exc, PermissionError) or "AccessDenied" in text or "Forbidden" in text or "403" in text:
        return StorageAccessError(f"{what}: access denied ({text or name}); check credentials and bucket policy")
    if "NoSuchBucket" in text:
        return StorageAccessError(f"{what}: bucket does not exist ({text})")
    if (
        "Could not connect" in text
        or "EndpointConnectionError" in name
        or "ConnectTimeout" in name
        or "connect" in text.lower() and "refused" in text.lower()
        or isinstance(exc, ConnectionError | TimeoutError)
    ):
        return StorageUnavailableError(f"{what}: storage endpoint unreachable ({text or name})")
    return exc


class Storage:
    """A root (local folder or s3://bucket/prefix) and the operations Huracan needs on it."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        root = str(root)
        self.is_s3 = root.startswith("s3://")
        if self.is_s3:
            self.fs = fsspec.filesystem("s3", **_s3_options())
            self.root = root.rstrip("/")
        else:
            self.fs = fsspec.filesystem("file")
            self.root = str(Path(root).expanduser().resolve())

    def __repr__(self) -> str:
        return f"Storage({self.root!r})"

    # --- paths ------------------------------------------------------------------------------
    def url(self, key: str) -> str:
        """Full location of `key` (what a user would paste into `aws s3 ls` or `ls`)."""
        key = key.lstrip("/")
        if ".." in Path(key).parts:
            raise ValueError(f"archive key {key!r} must not contain '..'")
        return f"{self.root}/{key}" if key else self.root

    def _fspath(self, key: str) -> str:
        url = self.url(key)
        return url[len("s3://") :] if self.is_s3 else url

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except (StorageAccessError, StorageUnavailableError, CorruptFileError, ConcurrentWriteError):
            raise
        except FileNotFoundError:
            raise
        except Exception as exc:
            translated = _translate(exc, what)
            if translated is exc:
                raise
            raise translated from exc

    # --- queries ----------------------------------------------------------------------------
    def exists(self, key: str) -> bool:
        with self._errors(f"checking {self.url(key)}"):
            if self.is_s3:
                self.fs.invalidate_cache()
            return bool(self.fs.exists(self._fspath(key)))

    def list(self, prefix: str = "", *, recursive: bool = False) -> list[str]:
        """Keys under `prefix`, relative to the root, sorted. Immediate children unless recursive."""
        base = self._fspath(prefix).rstrip("/")
        with self._errors(f"listing {self.url(prefix)}"):
            if self.is_s3:
                self.fs.invalidate_cache()
            if not self.fs.exists(base):
                return []
            entries = self.fs.find(base) if recursive else self.fs.ls(base, detail=False)
        root = self._fspath("").rstrip("/") + "/"
        out = []
        for entry in entries:
            entry = str(entry)
            if entry.startswith(root):
                entry = entry[len(root) :]
            if Path(entry).name.startswith(".tmp-"):
                continue
            out.append(entry.rstrip("/"))
        return sorted(out)

    # --- bytes ------------------------------------------------------------------------------
    def read_bytes(self, key: str) -> bytes:
        with self._errors(f"reading {self.url(key)}"):
            with self.fs.open(self._fspath(key), "rb") as fh:
                return fh.read()

    def write_bytes(self, key: str, data: bytes) -> None:
        """Write atomically: a reader sees the old content or the new, never a part."""
        path = self._fspath(key)
        with self._errors(f"writing {self.url(key)}"):
            if self.is_s3:
                # A single PUT is atomic on S3: the object appears whole or not at all.
                self.fs.pipe_file(path, data)
                return
            folder = Path(path).parent
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise

    def delete(self, key: str, *, recursive: bool = False) -> None:
        with self._errors(f"deleting {self.url(key)}"):
            path = self._fspath(key)
            if self.fs.exists(path):
                self.fs.rm(path, recursive=recursive)

    # --- JSON -------------------------------------------------------------------------------
    def read_json(self, key: str) -> Any:
        data = self.read_bytes(key)
        try:
            return json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CorruptFileError(f"{self.url(key)} is not valid JSON: {exc}") from None

    def write_json(self, key: str, obj: Any) -> None:
        self.write_bytes(key, dumps_json(obj))

    def update_json(self, key: str, change: Callable[[Any | None], Any]) -> Any:
        """Read-modify-write `key` as a compare-and-swap; raise ConcurrentWriteError on a lost race.

        `change` gets the current value (None if absent) and returns the new one. If another writer
        replaced the file between our read and our write, nothing is written and the caller is told,
        so no promotion or append is silently lost.
        """
        with self._lock(key):
            before = self.read_bytes(key) if self.exists(key) else None
            current = None
            if before is not None:
                try:
                    current = json.loads(before)
                except json.JSONDecodeError as exc:
                    raise CorruptFileError(f"{self.url(key)} is not valid JSON: {exc}") from None
            new = change(current)
            now = self.read_bytes(key) if self.exists(key) else None
            if _digest(now) != _digest(before):
                raise ConcurrentWriteError(
                    f"{self.url(key)} changed while it was being updated; nothing was written, retry"
                )
            self.write_json(key, new)
            return new

    @contextlib.contextmanager
    def _lock(self, key: str) -> Iterator[None]:
        """Serialise writers of one key on a local archive (flock); S3 relies on the re-check above."""
        if self.is_s3:
            yield
            return
        import fcntl

        path = Path(self._fspath(key))
        path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = path.parent / f".{path.name}.lock"
        with open(lock_path, "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    # --- parquet ----------------------------------------------------------------------------
    def read_parquet(self, key: str) -> pl.DataFrame:
        data = self.read_bytes(key)
        try:
            return pl.read_parquet(io.BytesIO(data))
        except Exception as exc:
            raise CorruptFileError(f"{self.url(key)} is not a readable parquet file: {exc}") from None

    def write_parquet(self, key: str, frame: pl.DataFrame) -> None:
        buf = io.BytesIO()
        frame.write_parquet(buf, compression="zstd", statistics=True)
        self.write_bytes(key, buf.getvalue())


def dumps_json(obj: Any) -> bytes:
    """Stable, readable JSON (sorted keys, UTF-8, trailing newline) so hashes and diffs are stable."""
    return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n").encode()


def _digest(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
