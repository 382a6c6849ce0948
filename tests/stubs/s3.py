"""A real S3 API on loopback for tests: moto's server on 127.0.0.1, a fresh bucket per test.

Production code reaches it only through the standard AWS variables (AWS_ENDPOINT_URL, keys, region),
exactly as it would reach MinIO or AWS. Use from a conftest:

    from tests.stubs.s3 import moto_server, s3_bucket  # noqa: F401  (fixtures)

`s3_bucket` yields an `S3Bucket` (name, endpoint, `url(prefix)`, a boto3 `client`) and sets the env
for the test. Helpers below switch moto's IAM checks on to make it really deny a request.
"""

from __future__ import annotations

import functools
import json
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
import requests
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

REGION = "us-east-1"
# moto accepts any keys while its IAM checks are off (the default); these are the "admin" keys.
ADMIN_KEY_ID = "testing"
ADMIN_SECRET = "testing"


class _QuietHandler(MotoRequestHandler):
    """moto's request handler without one stderr line per request."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class _OneRequestAtATime:
    """WSGI wrapper that serves requests one by one.

    Real S3 applies a conditional PUT (If-Match / If-None-Match) atomically; moto checks the
    condition and stores the object in two steps, so two threads could both pass the check.
    Serialising requests gives the tests S3's guarantee, so a race test fails only on our bugs.
    """

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self._lock:
            result = self._app(environ, start_response)
            try:
                return list(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()


@dataclass
class MotoServer:
    """A running moto server on 127.0.0.1 (its endpoint is http://127.0.0.1:PORT)."""

    endpoint: str
    _server: BaseWSGIServer
    _thread: threading.Thread

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)

    def reset(self) -> None:
        """Forget every bucket, user and policy (moto's own reset endpoint)."""
        requests.post(f"{self.endpoint}/moto-api/reset", timeout=10).raise_for_status()

    def set_auth(self, enabled: bool) -> None:
        """Switch moto's signature and IAM policy checks on or off for every later request."""
        count = "0" if enabled else "inf"
        requests.post(f"{self.endpoint}/moto-api/reset-auth", data=count, timeout=10).raise_for_status()


def start_moto_server() -> MotoServer:
    """Start moto on a free loopback port (port 0: the OS picks) and wait until it serves."""
    app = _OneRequestAtATime(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="moto-s3", daemon=True
    )
    thread.start()
    host, port = server.server_address[:2]
    return MotoServer(endpoint=f"http://{host}:{port}", _server=server, _thread=thread)


@dataclass
class S3Bucket:
    """A bucket on the moto server, with a boto3 client that bypasses the code under test."""

    name: str
    endpoint: str
    server: MotoServer

    def url(self, prefix: str = "") -> str:
        prefix = prefix.strip("/")
        return f"s3://{self.name}/{prefix}" if prefix else f"s3://{self.name}"

    def client(self, key_id: str = ADMIN_KEY_ID, secret: str = ADMIN_SECRET) -> Any:
        return _client(self.endpoint, key_id, secret)

    def get(self, key: str) -> bytes:
        """Object bytes read straight from the server (to check what is really stored)."""
        return self.client().get_object(Bucket=self.name, Key=key)["Body"].read()

    def keys(self) -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.name)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


@functools.lru_cache(maxsize=32)
def _client(endpoint: str, key_id: str, secret: str) -> Any:
    """A boto3 S3 client (cached: building one costs ~0.1 s, and tests ask for many)."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
    )


def use_credentials(monkeypatch: pytest.MonkeyPatch, endpoint: str, key_id: str, secret: str) -> None:
    """Point the standard AWS variables at `endpoint` with these keys (what production code reads)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    # Never read a developer's ~/.aws files during tests.
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/huracan-test-aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/huracan-test-aws-credentials")


def create_user_with_policy(server: MotoServer, statements: list[dict[str, Any]]) -> tuple[str, str]:
    """Create an IAM user whose only policy is `statements`; return its (key id, secret).

    Call while auth is off; the policy takes effect once `server.set_auth(True)`.
    """
    iam = boto3.client(
        "iam",
        endpoint_url=server.endpoint,
        region_name=REGION,
        aws_access_key_id=ADMIN_KEY_ID,
        aws_secret_access_key=ADMIN_SECRET,
    )
    name = f"user-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=name)
    iam.put_user_policy(
        UserName=name,
        PolicyName="test-policy",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}),
    )
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """One moto server for the whole test session (starting one costs ~0.1 s)."""
    server = start_moto_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Bucket]:
    """A fresh, empty bucket for one test, with the AWS env pointing at the moto server."""
    use_credentials(monkeypatch, moto_server.endpoint, ADMIN_KEY_ID, ADMIN_SECRET)
    bucket = S3Bucket(
        name=f"huracan-test-{uuid.uuid4().hex[:12]}", endpoint=moto_server.endpoint, server=moto_server
    )
    bucket.client().create_bucket(Bucket=bucket.name)
    try:
        yield bucket
    finally:
        # A test that switched IAM checks on must not leave them on for the next one.
        moto_server.set_auth(False)
