"""Model bundles: write, load and verify `models/SYMBOL/MODEL_ID/` (DESIGN "Models and bundles").

Files: model.bin (safetensors), config.json, metrics.json, costs.json, and LAST sha256.txt in
`sha256sum` format. Loading checks every hash before parsing anything and never runs code: tensors
come from safetensors, the XGBoost model from its JSON inside model.bin. No pickle, no torch.load.
"""

from __future__ import annotations

import json
import platform
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import safetensors
import safetensors.torch
import torch
import xgboost

from huracan_core.archive.paths import BUNDLE_FILES, CHECKSUM_FILE
from huracan_core.archive.storage import Storage, dumps_json, sha256_bytes
from huracan_core.exceptions import BundleVerificationError
from huracan_core.models.xgb import XGB_TENSOR, booster_from_tensor

MODEL_FILE = "model.bin"
# Keys config.json must carry so a bundle describes itself (STYLE rule 11).
REQUIRED_CONFIG_KEYS: tuple[str, ...] = (
    "feature_recipe",
    "feature_recipe_hash",
    "engines",
    "gate_table",
    "horizon_bars",
    "versions",
    "seed",
    "data_window",
    "code_version",
)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_LINE = re.compile(r"^([0-9a-f]{64}) [ *](\S+)$")


def library_versions() -> dict[str, str]:
    """Versions that shape a model's numbers; recorded in config.json["versions"]."""
    import huracan_core

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "xgboost": xgboost.__version__,
        "safetensors": safetensors.__version__,
        "numpy": np.__version__,
        "polars": pl.__version__,
        "huracan_core": huracan_core.__version__,
    }


@dataclass(frozen=True)
class Bundle:
    """A verified bundle, loaded."""

    folder_key: str
    tensors: dict[str, torch.Tensor]
    config: dict[str, Any]
    metrics: dict[str, Any]
    costs: dict[str, Any]
    hashes: dict[str, str]  # file name -> sha256, as listed (and checked) in sha256.txt

    @property
    def model_sha256(self) -> str:
        return self.hashes[MODEL_FILE]

    def xgboost_booster(self) -> xgboost.Booster:
        """The XGBoost model stored in model.bin (KeyError naming the tensor when absent)."""
        if XGB_TENSOR not in self.tensors:
            raise KeyError(f"bundle {self.folder_key} has no {XGB_TENSOR!r} tensor")
        return booster_from_tensor(self.tensors[XGB_TENSOR])

    def tensors_with_prefix(self, prefix: str) -> dict[str, torch.Tensor]:
        """Tensors under `prefix` with the prefix removed (e.g. "encoder." -> a module's state dict)."""
        return {k[len(prefix) :]: v for k, v in self.tensors.items() if k.startswith(prefix)}


def checksum_text(hashes: Mapping[str, str]) -> str:
    """`sha256sum` output for `hashes` (two spaces, sorted by file name, one line each)."""
    return "".join(f"{hashes[name]}  {name}\n" for name in sorted(hashes))


def _check_config(config: Mapping[str, Any]) -> None:
    missing = [key for key in REQUIRED_CONFIG_KEYS if key not in config]
    if missing:
        raise ValueError(
            f"bundle config lacks required key(s) {missing}; required: {list(REQUIRED_CONFIG_KEYS)}"
        )
    if not isinstance(config["feature_recipe"], Mapping):
        raise ValueError("bundle config 'feature_recipe' must be the recipe as a dict")
    if not _HEX64.match(str(config["feature_recipe_hash"])):
        raise ValueError(
            f"bundle config 'feature_recipe_hash' {config['feature_recipe_hash']!r} is not 64 hex"
        )


def save_bundle(
    storage: Storage,
    folder_key: str,
    *,
    tensors: Mapping[str, torch.Tensor],
    config: Mapping[str, Any],
    metrics: Mapping[str, Any],
    costs: Mapping[str, Any],
) -> dict[str, Any]:
    """Write a complete bundle into `folder_key` (from `archive.paths.model_dir`/`challenger_dir`).

    sha256.txt is removed first and written last, so while the folder is being (re)written it never
    verifies; files left from an earlier bundle in the same folder are removed. `config["versions"]`
    defaults to `library_versions()`. Returns {path, url, model_sha256, hashes, feature_recipe_hash}.
    """
    config = dict(config)
    config.setdefault("versions", library_versions())
    _check_config(config)
    if not tensors:
        raise ValueError("a bundle needs at least one tensor")
    bad = [name for name, t in tensors.items() if not isinstance(t, torch.Tensor)]
    if bad:
        raise TypeError(f"bundle tensors must be torch.Tensor; not: {bad}")
    contents = {
        MODEL_FILE: safetensors.torch.save({k: v.detach().cpu().contiguous() for k, v in tensors.items()}),
        "config.json": _json_bytes(config, "config"),
        "metrics.json": _json_bytes(metrics, "metrics"),
        "costs.json": _json_bytes(costs, "costs"),
    }
    if tuple(contents) != BUNDLE_FILES:  # pragma: no cover - the archive's file list changed under us
        raise RuntimeError(
            f"bundle writer knows {list(contents)} but the archive expects {list(BUNDLE_FILES)}"
        )
    prefix = folder_key.rstrip("/")
    storage.delete(f"{prefix}/{CHECKSUM_FILE}")
    for key in storage.list(prefix):
        if key.rsplit("/", 1)[-1] not in contents:
            storage.delete(key, recursive=True)
    hashes = {}
    for name, data in contents.items():
        storage.write_bytes(f"{prefix}/{name}", data)
        hashes[name] = sha256_bytes(data)
    storage.write_bytes(f"{prefix}/{CHECKSUM_FILE}", checksum_text(hashes).encode())
    return {
        "path": prefix,
        "url": storage.url(prefix),
        "model_sha256": hashes[MODEL_FILE],
        "hashes": hashes,
        "feature_recipe_hash": config["feature_recipe_hash"],
    }


def _json_bytes(obj: Mapping[str, Any], what: str) -> bytes:
    try:
        json.dumps(obj, allow_nan=False, default=str)
    except ValueError as exc:
        raise ValueError(f"bundle {what}.json holds a NaN or infinity: {exc}") from exc
    return dumps_json(obj)


def _parse_checksums(text: str, where: str) -> dict[str, str]:
    hashes: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = _LINE.match(line)
        if not match:
            raise BundleVerificationError(f"{where}: line {number} of {CHECKSUM_FILE} is malformed: {line!r}")
        digest, name = match.groups()
        if name in hashes:
            raise BundleVerificationError(f"{where}: {CHECKSUM_FILE} lists {name} twice")
        hashes[name] = digest
    if set(hashes) != set(BUNDLE_FILES):
        missing = sorted(set(BUNDLE_FILES) - set(hashes))
        extra = sorted(set(hashes) - set(BUNDLE_FILES))
        raise BundleVerificationError(
            f"{where}: {CHECKSUM_FILE} must list exactly {list(BUNDLE_FILES)}; missing {missing}, unexpected {extra}"
        )
    return hashes


def _verified_files(storage: Storage, folder_key: str) -> tuple[dict[str, str], dict[str, bytes]]:
    """(hashes from sha256.txt, file bytes), every file present and matching its hash."""
    prefix = folder_key.rstrip("/")
    where = f"bundle {storage.url(prefix)}"
    try:
        text = storage.read_bytes(f"{prefix}/{CHECKSUM_FILE}").decode("utf-8")
    except FileNotFoundError:
        raise BundleVerificationError(f"{where}: {CHECKSUM_FILE} is missing (incomplete bundle)") from None
    except UnicodeDecodeError:
        raise BundleVerificationError(f"{where}: {CHECKSUM_FILE} is not UTF-8 text") from None
    hashes = _parse_checksums(text, where)
    files: dict[str, bytes] = {}
    for name in BUNDLE_FILES:
        try:
            data = storage.read_bytes(f"{prefix}/{name}")
        except FileNotFoundError:
            raise BundleVerificationError(f"{where}: {name} is missing") from None
        actual = sha256_bytes(data)
        if actual != hashes[name]:
            raise BundleVerificationError(
                f"{where}: {name} sha256 {actual} does not match {CHECKSUM_FILE} ({hashes[name]})"
            )
        files[name] = data
    return hashes, files


def verify_bundle(storage: Storage, folder_key: str) -> dict[str, str]:
    """Raise BundleVerificationError unless the bundle is complete and every hash matches.

    Returns the checked hashes ({file: sha256}); pointers record hashes[MODEL_FILE].
    """
    hashes, _ = _verified_files(storage, folder_key)
    return hashes


def load_bundle(storage: Storage, folder_key: str, *, expected_recipe_hash: str | None) -> Bundle:
    """Verify, then load. `expected_recipe_hash` (the live recipe's hash) must equal the bundle's,
    so a model never runs on features it was not trained with; None skips that check."""
    hashes, files = _verified_files(storage, folder_key)
    where = f"bundle {storage.url(folder_key.rstrip('/'))}"
    docs: dict[str, dict[str, Any]] = {}
    for name in ("config.json", "metrics.json", "costs.json"):
        try:
            docs[name] = json.loads(files[name])
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BundleVerificationError(f"{where}: {name} is not valid JSON: {exc}") from None
    config = docs["config.json"]
    recipe_hash = config.get("feature_recipe_hash")
    if expected_recipe_hash is not None and recipe_hash != expected_recipe_hash:
        raise BundleVerificationError(
            f"{where}: feature recipe hash {recipe_hash} differs from the expected {expected_recipe_hash}; "
            "the model was trained on other features"
        )
    try:
        tensors = safetensors.torch.load(files[MODEL_FILE])
    except Exception as exc:  # safetensors raises its own SafetensorError on a malformed header
        raise BundleVerificationError(
            f"{where}: {MODEL_FILE} is not a valid safetensors file: {exc}"
        ) from None
    return Bundle(
        folder_key=folder_key.rstrip("/"),
        tensors=dict(tensors),
        config=config,
        metrics=docs["metrics.json"],
        costs=docs["costs.json"],
        hashes=hashes,
    )
