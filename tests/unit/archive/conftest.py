"""Fixtures for the archive tests: a Storage on a local temp folder and on S3 (moto on loopback)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# `tests.stubs` is imported from the repository root; pyproject's pytest `pythonpath = ["."]` does this
# for the whole suite. This guard keeps the folder runnable on its own until then.
_ROOT = str(Path(__file__).resolve().parents[3])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from huracan_core.archive.storage import Storage  # noqa: E402
from tests.stubs.s3 import S3Bucket, moto_server, s3_bucket  # noqa: E402

__all__ = ["moto_server", "s3_bucket"]  # re-exported so pytest finds the fixtures


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    """The same tests run against a local folder and against s3://bucket/prefix."""
    if request.param == "local":
        return Storage(tmp_path / "archive")
    bucket: S3Bucket = request.getfixturevalue("s3_bucket")
    return Storage(bucket.url("archive"))
