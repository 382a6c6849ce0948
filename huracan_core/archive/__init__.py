"""Archive: one storage API (local or S3) and the one module that knows the layout."""

from huracan_core.archive import paths, pointers
from huracan_core.archive.storage import Storage, dumps_json, sha256_bytes

__all__ = ["Storage", "dumps_json", "paths", "pointers", "sha256_bytes"]
