"""One storage API over fsspec: a local folder by default, s3://bucket/prefix in production.

Paths given to a Storage are relative keys built by `huracan_core.archive.paths`; nothing else joins
archive paths by hand. Writes are atomic (local: temp file + rename; S3: one PUT), so a reader never
sees half a file. `update_json` is a compare-and-swap: a conditional PUT (If-Match / If-None-Match)
on S3, an exclusive lock plus re-check on a local folder; a lost race raises ConcurrentWriteError and
writes nothing. Failures come back as the errors of `huracan_core.exceptions`, naming the location.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import json
import os
import socket
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fsspec
import fsspec.asyn
import polars as pl

from huracan_core.exceptions import (
    ConcurrentWriteError,
    CorruptFileError,
    StorageAccessError,
    StorageUnavailableError,
)

# S3 error codes (botocore ClientError "Code") and what they mean for the caller.
_ACCESS_CODES = frozenset(
    {
        "AccessDenied",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "AccountProblem",
        "403",
        "Forbidden",
    }
)
_MISSING_BUCKET_CODES = frozenset({"NoSuchBucket"})
_UNAVAILABLE_CODES = frozenset(
    {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "500", "502", "503", "504"}
)
_CONFLICT_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412", "409"})
_UNAVAILABLE_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ETIMEDOUT,
        errno.EHOSTDOWN,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENOTCONN,
        errno.ESTALE,
    }
)
# Exception class names of botocore/aiohttp transport failures (matched by name: neither library is
# a dependency we want to import here just for isinstance checks).
_TRANSPORT_ERROR_NAMES = frozenset(
    {
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "ReadTimeoutError",
        "ConnectionClosedError",
        "HTTPClientError",
        "ProxyConnectionError",
        "ResponseParserError",
        "IncompleteReadError",
        "ClientConnectorError",
        "ClientOSError",
        "ServerDisconnectedError",
        "ClientPayloadError",
        "ServerTimeoutError",
        "ResponseStreamingError",
        "IncompleteRead",
    }
)


def _s3_options() -> dict[str, Any]:
    """Options for s3fs from the standard AWS variables; AWS_ENDPOINT_URL points at MinIO or moto.

    Retries happen in one place, botocore's "standard" mode (jittered exponential backoff over
    connection errors, throttling and 5xx), bounded by HURACAN_S3_MAX_ATTEMPTS in total. s3fs's own
    retry loop is switched off in `Storage.__init__`: stacked on botocore's it multiplied the attempts
    and a dead endpoint took most of a minute to report. A StorageUnavailableError is a
    TemporaryError, so callers that can wait retry through `huracan_core.retry`.
    """
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    opts: dict[str, Any] = {}
    if endpoint:
        opts["endpoint_url"] = endpoint
    opts["config_kwargs"] = {
        "connect_timeout": float(os.environ.get("HURACAN_S3_CONNECT_TIMEOUT", "5")),  # seconds
        "read_timeout": float(os.environ.get("HURACAN_S3_READ_TIMEOUT", "30")),  # seconds
        "retries": {
            "mode": "standard",
            "total_max_attempts": int(os.environ.get("HURACAN_S3_MAX_ATTEMPTS", "3")),
        },
    }
    # Keys from the environment are passed explicitly (botocore would pick the same ones first), so
    # fsspec's instance cache, keyed on these options, hands out one client per endpoint and key set:
    # creating an S3 client costs ~0.3 s, and changed variables still give a new client.
    for option, variable in (
        ("key", "AWS_ACCESS_KEY_ID"),
        ("secret", "AWS_SECRET_ACCESS_KEY"),
        ("token", "AWS_SESSION_TOKEN"),
    ):
        if os.environ.get(variable):
            opts[option] = os.environ[variable]
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        opts["client_kwargs"] = {"region_name": region}
    return opts


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and its causes/contexts (s3fs wraps botocore's ClientError in an OSError)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _s3_code(exc: BaseException) -> str | None:
    """The S3 error code (e.g. AccessDenied) behind `exc`, or its HTTP status, if any."""
    for err in _chain(exc):
        response = getattr(err, "response", None)
        if isinstance(response, dict):
            code = response.get("Error", {}).get("Code")
            if code:
                return str(code)
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if status:
                return str(status)
    return None


def _is_transport_failure(exc: BaseException) -> bool:
    for err in _chain(exc):
        if type(err).__name__ in _TRANSPORT_ERROR_NAMES:
            return True
        if isinstance(err, ConnectionError | TimeoutError | socket.timeout):
            return True
        if isinstance(err, OSError) and err.errno in _UNAVAILABLE_ERRNOS:
            return True
    return False


def _translate(exc: BaseException, what: str) -> BaseException:
    """Turn fsspec/botocore/OS errors into errors that say what the caller should do.

    Returns `exc` itself when it is none of these (a bug or an unexpected failure stays visible).
    """
    code = _s3_code(exc)
    if code in _MISSING_BUCKET_CODES:
        return StorageAccessError(f"{what}: the bucket does not exist; create it or fix the archive root")
    if code in _ACCESS_CODES or isinstance(exc, PermissionError):
        return StorageAccessError(
            f"{what}: access denied ({exc or type(exc).__name__}); check credentials and bucket policy"
        )
    if isinstance(exc, OSError) and exc.errno == errno.EROFS:
        return StorageAccessError(f"{what}: the archive is on a read-only file system")
    if code in _UNAVAILABLE_CODES or _is_transport_failure(exc):
        return StorageUnavailableError(f"{what}: storage endpoint unreachable ({exc or type(exc).__name__})")
    return exc


@dataclass(frozen=True)
class StoredFile:
    """One file of the archive as a listing describes it (no read needed)."""

    key: str
    size: int  # bytes
    modified: datetime | None  # UTC; None when the backend does not say


def _modified(info: dict[str, Any]) -> datetime | None:
    """Last modification from an fsspec listing entry: S3's LastModified, a local file's mtime."""
    value = info.get("LastModified", info.get("mtime"))
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), tz=UTC)
    return None


def _is_hidden(relative: str) -> bool:
    """Temp files (.tmp-*), lock files (.locks/) and other dotfiles are never part of the archive."""
    return any(part.startswith(".") for part in relative.split("/") if part)


class Storage:
    """A root (local folder or s3://bucket/prefix) and the operations Huracan needs on it."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        root = str(root)
        self.is_s3 = root.startswith("s3://")
        self._bucket_checked = False
        if self.is_s3:
            self.root = root.rstrip("/")
            if not self.root[len("s3://") :]:
                raise ValueError(f"archive root {root!r} names no bucket; use s3://bucket/prefix")
            self.fs = fsspec.filesystem("s3", **_s3_options())
            self.fs.retries = 1  # botocore retries (see _s3_options); s3fs must not multiply them
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

    def _bucket_key(self, key: str) -> tuple[str, str]:
        bucket, _, object_key = self._fspath(key).partition("/")
        return bucket, object_key

    @contextlib.contextmanager
    def _errors(self, what: str, key: str | None = None) -> Iterator[None]:
        try:
            yield
        except (StorageAccessError, StorageUnavailableError, CorruptFileError, ConcurrentWriteError):
            raise
        except FileNotFoundError as exc:
            if _s3_code(exc) in _MISSING_BUCKET_CODES:
                raise _translate(exc, what) from exc
            if key is not None:
                self._check_bucket(what)
                raise FileNotFoundError(errno.ENOENT, f"{self.url(key)} does not exist") from exc
            raise
        except Exception as exc:
            translated = _translate(exc, what)
            if translated is exc:
                raise
            raise translated from exc

    def _check_bucket(self, what: str) -> None:
        """On S3, tell a missing bucket apart from a missing key (both look like "not found").

        Called only when something was not found, and at most once per Storage once it passes, so
        the happy path costs no extra request. A 403 here is inconclusive (HeadBucket needs
        s3:ListBucket, which a narrow policy may not grant) and is ignored.
        """
        if not self.is_s3 or self._bucket_checked:
            return
        bucket, _ = self._bucket_key("")
        try:
            self.fs.call_s3("head_bucket", Bucket=bucket)
        except Exception as exc:
            code = _s3_code(exc)
            if code in _MISSING_BUCKET_CODES or code == "404" or isinstance(exc, FileNotFoundError):
                raise StorageAccessError(
                    f"{what}: bucket {bucket!r} does not exist; create it or fix the archive root"
                ) from exc
            translated = _translate(exc, what)
            if isinstance(translated, StorageUnavailableError):
                raise translated from exc
        self._bucket_checked = True

    # --- queries ----------------------------------------------------------------------------
    def exists(self, key: str) -> bool:
        what = f"checking {self.url(key)}"
        with self._errors(what):
            if self.is_s3:
                self.fs.invalidate_cache()
            found = bool(self.fs.exists(self._fspath(key)))
            if not found:
                self._check_bucket(what)
            return found

    def list(self, prefix: str = "", *, recursive: bool = False) -> list[str]:
        """Keys under `prefix`, relative to the root, sorted. Immediate children unless recursive.

        Temp files of unfinished writes, lock files and other dotfiles are never listed.
        """
        base = self._fspath(prefix).rstrip("/")
        what = f"listing {self.url(prefix)}"
        with self._errors(what):
            if self.is_s3:
                self.fs.invalidate_cache()
            if not self.fs.exists(base):
                self._check_bucket(what)
                return []
            entries = self.fs.find(base) if recursive else self.fs.ls(base, detail=False)
        root = self._fspath("").rstrip("/") + "/"
        out = []
        for entry in entries:
            entry = str(entry).rstrip("/")
            if entry.startswith(root):
                entry = entry[len(root) :]
            if entry and not _is_hidden(entry):
                out.append(entry)
        return sorted(out)

    def list_files(self, prefix: str = "") -> list[StoredFile]:
        """Every file under `prefix` (recursive) with its size and last modification, from ONE listing.

        Housekeeping needs sizes and ages of thousands of files; one listing per prefix costs one paged
        LIST on S3 instead of a HEAD per file. Hidden files (temp files, locks) are left out as in `list`.
        """
        base = self._fspath(prefix).rstrip("/")
        what = f"listing {self.url(prefix)}"
        with self._errors(what):
            if self.is_s3:
                self.fs.invalidate_cache()
            if not self.fs.exists(base):
                self._check_bucket(what)
                return []
            entries = self.fs.find(base, detail=True)
        root = self._fspath("").rstrip("/") + "/"
        out = []
        for name, info in entries.items():
            name = str(name).rstrip("/")
            key = name[len(root) :] if name.startswith(root) else name
            if key and not _is_hidden(key) and info.get("type", "file") == "file":
                out.append(StoredFile(key=key, size=int(info.get("size") or 0), modified=_modified(info)))
        return sorted(out, key=lambda f: f.key)

    # --- bytes ------------------------------------------------------------------------------
    def read_bytes(self, key: str) -> bytes:
        """The stored bytes; FileNotFoundError naming the location when the key does not exist."""
        if self.is_s3:
            return self._s3_get(key)[0]
        with self._errors(f"reading {self.url(key)}", key), self.fs.open(self._fspath(key), "rb") as fh:
            return fh.read()

    def write_bytes(self, key: str, data: bytes) -> None:
        """Write atomically: a reader sees the old content or the new, never a part."""
        path = self._fspath(key)
        with self._errors(f"writing {self.url(key)}", key):
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
        """Remove `key` (a folder only with recursive=True); a missing key is not an error."""
        if not self.exists(key):
            return
        what = f"deleting {self.url(key)}"
        path = self._fspath(key)
        with self._errors(what):
            if self.fs.isdir(path):
                if not recursive:
                    raise IsADirectoryError(errno.EISDIR, f"{self.url(key)} is a folder; pass recursive=True")
                if self.is_s3:
                    self._s3_delete_many(what, [str(p) for p in self.fs.find(path)])
                    return
                self.fs.rm(path, recursive=True)
            else:
                # One file: on S3 delete_object raises on refusal, unlike s3fs's bulk delete.
                self.fs.rm_file(path)

    def _s3_delete_many(self, what: str, fspaths: list[str]) -> None:
        """Delete S3 objects in batches, raising on any key S3 refused (DeleteObjects answers 200
        and lists refusals in its body, which s3fs ignores: a silent partial delete)."""
        try:
            for start in range(0, len(fspaths), 1000):
                batch = fspaths[start : start + 1000]
                bucket = batch[0].partition("/")[0]
                objects = [{"Key": p.partition("/")[2]} for p in batch]
                answer = self.fs.call_s3(
                    "delete_objects", Bucket=bucket, Delete={"Objects": objects, "Quiet": True}
                )
                errors = answer.get("Errors") or []
                if errors:
                    first = errors[0]
                    code = str(first.get("Code"))
                    reason = "access denied" if code in _ACCESS_CODES else f"refused ({code})"
                    raise StorageAccessError(
                        f"{what}: {reason} for {len(errors)} key(s), first {first.get('Key')!r}: "
                        f"{first.get('Message')}; check credentials and bucket policy"
                    )
        finally:
            self.fs.invalidate_cache()

    # --- JSON -------------------------------------------------------------------------------
    def read_json(self, key: str) -> Any:
        return self._parse_json(key, self.read_bytes(key))

    def write_json(self, key: str, obj: Any) -> None:
        self.write_bytes(key, dumps_json(obj))

    def update_json(self, key: str, change: Callable[[Any | None], Any]) -> Any:
        """Read-modify-write `key` as a compare-and-swap; return the value written.

        `change` gets the current value (None if absent) and returns the new one; it may raise to
        refuse the update (nothing is written). If another writer replaced the file between our read
        and our write, nothing is written and ConcurrentWriteError is raised, so no promotion or
        append is silently lost; the caller may re-run the update.

        S3: the PUT carries If-Match (the ETag we read) or If-None-Match: * (the key was absent), so
        S3 itself refuses a stale write; no window. Local folder: writers of one key take an
        exclusive flock on `<root>/.locks/<key>.lock` and re-check the bytes before the rename, so
        concurrent `update_json` calls on one machine are serialised and all applied. The lock is
        advisory: a plain `write_json` on the same key, or a writer on another host sharing an NFS
        mount without working flock, is detected only if it lands before our re-check.
        """
        if self.is_s3:
            return self._s3_update_json(key, change)
        with self._lock(key):
            before = self.read_bytes(key) if self.exists(key) else None
            current = None if before is None else self._parse_json(key, before)
            new = change(current)
            now = self.read_bytes(key) if self.exists(key) else None
            if _digest(now) != _digest(before):
                raise ConcurrentWriteError(
                    f"{self.url(key)} changed while it was being updated; nothing was written, retry"
                )
            self.write_json(key, new)
            return new

    def _s3_update_json(self, key: str, change: Callable[[Any | None], Any]) -> Any:
        try:
            before, etag = self._s3_get(key)
        except FileNotFoundError:
            before, etag = None, None
        current = None if before is None else self._parse_json(key, before)
        new = change(current)
        bucket, object_key = self._bucket_key(key)
        condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        what = f"updating {self.url(key)}"
        try:
            self.fs.call_s3("put_object", Bucket=bucket, Key=object_key, Body=dumps_json(new), **condition)
        except Exception as exc:
            code = _s3_code(exc)
            lost = code in _CONFLICT_CODES or isinstance(exc, FileExistsError)
            # If-Match on a key deleted meanwhile answers NoSuchKey: also someone else's change.
            lost = lost or (etag is not None and isinstance(exc, FileNotFoundError) and code == "NoSuchKey")
            if lost:
                raise ConcurrentWriteError(
                    f"{self.url(key)} changed while it was being updated; nothing was written, retry"
                ) from exc
            translated = _translate(exc, what)
            if translated is exc:
                raise
            raise translated from exc
        finally:
            self.fs.invalidate_cache()
        return new

    def _s3_get(self, key: str) -> tuple[bytes, str]:
        """Bytes and ETag of one object from ONE GET, so the ETag is that of the bytes we hold."""
        bucket, object_key = self._bucket_key(key)

        async def get() -> tuple[bytes, str]:
            response = await self.fs._call_s3("get_object", Bucket=bucket, Key=object_key)
            try:
                body = await response["Body"].read()
            finally:
                response["Body"].close()
            return body, str(response["ETag"])

        with self._errors(f"reading {self.url(key)}", key):
            return fsspec.asyn.sync(self.fs.loop, get)

    def _parse_json(self, key: str, data: bytes) -> Any:
        try:
            return json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CorruptFileError(f"{self.url(key)} is not valid JSON: {exc}") from None

    @contextlib.contextmanager
    def _lock(self, key: str) -> Iterator[None]:
        """Exclusive flock serialising `update_json` writers of one key on a local archive.

        Lock files live apart under `<root>/.locks/` so they never appear in listings or inside a
        bundle folder, and they are never deleted (deleting a lock file lets two holders coexist).
        """
        lock_path = Path(self.root) / ".locks" / f"{key.lstrip('/')}.lock"
        with self._errors(f"locking {self.url(key)}"):
            lock_path.parent.mkdir(parents=True, exist_ok=True)
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
