"""When storage fails, the error says what to do about it, and nothing already stored is damaged."""

from __future__ import annotations

import io
import socket
import time

import polars as pl
import pytest

from huracan_core.archive.storage import Storage
from huracan_core.exceptions import CorruptFileError, StorageAccessError, StorageUnavailableError
from tests.stubs.s3 import ADMIN_KEY_ID, ADMIN_SECRET, S3Bucket, create_user_with_policy, use_credentials

POINTER = "champion/BTCUSDT/latest.json"
POINTER_BYTES = b'{\n  "model_id": "20250101_020000Z"\n}\n'


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def s3_with_pointer(s3_bucket: S3Bucket) -> S3Bucket:
    s3_bucket.client().put_object(Bucket=s3_bucket.name, Key=f"archive/{POINTER}", Body=POINTER_BYTES)
    return s3_bucket


def test_s3_write_denied_by_policy_is_an_access_error_and_keeps_the_stored_file(
    s3_with_pointer: S3Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = s3_with_pointer
    key_id, secret = create_user_with_policy(
        bucket.server,
        [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
            {"Effect": "Deny", "Action": ["s3:PutObject", "s3:DeleteObject"], "Resource": "*"},
        ],
    )
    bucket.server.set_auth(True)
    use_credentials(monkeypatch, bucket.endpoint, key_id, secret)
    storage = Storage(bucket.url("archive"))

    assert storage.read_bytes(POINTER) == POINTER_BYTES  # the policy really lets reads through
    with pytest.raises(StorageAccessError, match=r"writing s3://.*latest\.json: access denied"):
        storage.write_json(POINTER, {"model_id": "20250102_020000Z"})
    with pytest.raises(StorageAccessError, match=r"access denied"):
        storage.update_json(POINTER, lambda current: {"model_id": "20250102_020000Z"})
    with pytest.raises(StorageAccessError, match=r"deleting .*access denied"):
        storage.delete(POINTER)
    with pytest.raises(StorageAccessError, match=r"deleting .*access denied"):
        storage.delete("champion", recursive=True)

    bucket.server.set_auth(False)
    assert bucket.get(f"archive/{POINTER}") == POINTER_BYTES


def test_s3_unknown_credentials_are_an_access_error(
    s3_with_pointer: S3Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = s3_with_pointer
    bucket.server.set_auth(True)
    use_credentials(monkeypatch, bucket.endpoint, "AKIANOTAREALKEY00000", "not-the-secret")
    storage = Storage(bucket.url("archive"))

    with pytest.raises(StorageAccessError, match=r"access denied.*check credentials"):
        storage.read_json(POINTER)
    with pytest.raises(StorageAccessError, match="access denied"):
        storage.write_json(POINTER, {"model_id": "20250102_020000Z"})

    bucket.server.set_auth(False)
    assert bucket.get(f"archive/{POINTER}") == POINTER_BYTES


def test_s3_endpoint_down_is_reported_as_unavailable_within_seconds(
    s3_bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    use_credentials(monkeypatch, endpoint, ADMIN_KEY_ID, ADMIN_SECRET)
    storage = Storage(s3_bucket.url("archive"))

    for attempt in (lambda: storage.read_json(POINTER), lambda: storage.write_json(POINTER, {})):
        started = time.monotonic()
        with pytest.raises(StorageUnavailableError, match=rf"s3://{s3_bucket.name}/archive.*unreachable"):
            attempt()
        # botocore's retries are bounded: a dead endpoint must not stall a job for a minute.
        assert time.monotonic() - started < 8


def test_s3_missing_bucket_is_an_access_error(s3_bucket: S3Bucket) -> None:
    storage = Storage(f"s3://{s3_bucket.name}-missing/archive")
    for attempt in (
        lambda: storage.read_json(POINTER),
        lambda: storage.write_json(POINTER, {}),
        lambda: storage.update_json(POINTER, lambda current: {}),
        lambda: storage.exists(POINTER),
        lambda: storage.list("champion"),
    ):
        with pytest.raises(StorageAccessError, match=r"bucket .*does not exist"):
            attempt()
    assert s3_bucket.keys() == []


def test_corrupt_json_is_reported_with_its_key_and_left_untouched(storage: Storage) -> None:
    broken = b'{"model_id": "20250101_02'
    storage.write_bytes(POINTER, broken)

    with pytest.raises(CorruptFileError, match=r"champion/BTCUSDT/latest\.json is not valid JSON"):
        storage.read_json(POINTER)
    with pytest.raises(CorruptFileError, match=r"champion/BTCUSDT/latest\.json"):
        storage.update_json(POINTER, lambda current: {"model_id": "20250102_020000Z"})
    assert storage.read_bytes(POINTER) == broken


def test_json_that_is_not_text_is_reported_as_corrupt(storage: Storage) -> None:
    storage.write_bytes("engine_status.json", b"\xff\xfe\x00garbage")
    with pytest.raises(CorruptFileError, match=r"engine_status\.json"):
        storage.read_json("engine_status.json")


def test_truncated_parquet_is_reported_as_corrupt(storage: Storage) -> None:
    buf = io.BytesIO()
    pl.DataFrame({"timestamp": list(range(1000)), "close": [1.0] * 1000}).write_parquet(buf)
    truncated = buf.getvalue()[: len(buf.getvalue()) // 2]
    storage.write_bytes("live_logs/trades/20250101.parquet", truncated)

    with pytest.raises(
        CorruptFileError, match=r"live_logs/trades/20250101\.parquet is not a readable parquet"
    ):
        storage.read_parquet("live_logs/trades/20250101.parquet")
    assert storage.read_bytes("live_logs/trades/20250101.parquet") == truncated
