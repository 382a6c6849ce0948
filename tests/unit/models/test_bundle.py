"""Bundle save / load / verify: hashes, sha256sum compatibility, recipe check, no pickle."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from huracan_core.archive.paths import model_dir
from huracan_core.archive.storage import Storage
from huracan_core.exceptions import BundleVerificationError
from huracan_core.models.bundle import MODEL_FILE, load_bundle, save_bundle, verify_bundle
from huracan_core.models.xgb import XGBConfig, booster_to_tensor, train_xgb, xgb_predict

RECIPE_HASH = "a" * 64
FOLDER = model_dir("SOLUSDT", "20250101_020000Z")
REPO = Path(__file__).resolve().parents[3]


def _config(**over):
    config = {
        "feature_recipe": {"version": 1, "return_windows": [1, 4]},
        "feature_recipe_hash": RECIPE_HASH,
        "engines": ["trend", "xgboost", "neural"],
        "gate_table": {"trend": {"TREND": True, "RANGE": False}},
        "horizon_bars": 4,
        "seed": 7,
        "data_window": {"train_start": 1, "train_end": 2},
        "code_version": "0.1.0+test",
    }
    config.update(over)
    return config


def _tensors() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return {"encoder.w": torch.randn(3, 4), "heads.b": torch.arange(5, dtype=torch.float32)}


@pytest.fixture
def saved(tmp_path):
    storage = Storage(tmp_path / "archive")
    info = save_bundle(
        storage,
        FOLDER,
        tensors=_tensors(),
        config=_config(),
        metrics={"sharpe": 1.2},
        costs={"cost_bps": 6.5},
    )
    return storage, info


def test_round_trip_gives_back_tensors_and_documents(saved):
    storage, info = saved
    bundle = load_bundle(storage, FOLDER, expected_recipe_hash=RECIPE_HASH)
    for name, tensor in _tensors().items():
        assert torch.equal(bundle.tensors[name], tensor)
    assert bundle.config["engines"] == ["trend", "xgboost", "neural"]
    assert "torch" in bundle.config["versions"]  # filled in by save_bundle
    assert bundle.metrics == {"sharpe": 1.2} and bundle.costs == {"cost_bps": 6.5}
    assert info["model_sha256"] == bundle.model_sha256 == verify_bundle(storage, FOLDER)[MODEL_FILE]
    assert info["path"] == FOLDER


def test_sha256_file_is_sha256sum_format_and_sha256sum_accepts_it(saved):
    storage, _ = saved
    folder = Path(storage.url(FOLDER))
    text = (folder / "sha256.txt").read_text()
    assert re.fullmatch(r"([0-9a-f]{64}  \S+\n){4}", text)
    assert [line.split("  ")[1] for line in text.splitlines()] == sorted(
        ["config.json", "costs.json", "metrics.json", "model.bin"]
    )
    if shutil.which("sha256sum") is None:
        pytest.skip("sha256sum is not installed")
    result = subprocess.run(["sha256sum", "-c", "sha256.txt"], cwd=folder, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_one_flipped_byte_in_model_bin_is_caught(saved):
    storage, _ = saved
    path = Path(storage.url(f"{FOLDER}/model.bin"))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(BundleVerificationError, match=r"model\.bin sha256"):
        load_bundle(storage, FOLDER, expected_recipe_hash=None)
    with pytest.raises(BundleVerificationError, match=r"model\.bin"):
        verify_bundle(storage, FOLDER)


@pytest.mark.parametrize("name", ["costs.json", "sha256.txt"])
def test_a_missing_file_is_named(saved, name):
    storage, _ = saved
    Path(storage.url(f"{FOLDER}/{name}")).unlink()
    with pytest.raises(BundleVerificationError, match=re.escape(name)):
        verify_bundle(storage, FOLDER)


def test_checksum_list_must_name_exactly_the_four_files(saved):
    storage, _ = saved
    path = Path(storage.url(f"{FOLDER}/sha256.txt"))
    path.write_text("".join(line + "\n" for line in path.read_text().splitlines() if "costs" not in line))
    with pytest.raises(BundleVerificationError, match=r"missing \['costs.json'\]"):
        verify_bundle(storage, FOLDER)


def test_wrong_recipe_hash_names_both_hashes(saved):
    storage, _ = saved
    live = "b" * 64
    with pytest.raises(BundleVerificationError) as err:
        load_bundle(storage, FOLDER, expected_recipe_hash=live)
    assert RECIPE_HASH in str(err.value) and live in str(err.value)


def test_saving_the_same_folder_again_replaces_it(saved):
    storage, first = saved
    Path(storage.url(f"{FOLDER}/stray.txt")).write_text("left over")
    second = save_bundle(
        storage,
        FOLDER,
        tensors={"encoder.w": torch.zeros(2)},
        config=_config(seed=8),
        metrics={"sharpe": 0.5},
        costs={},
    )
    assert second["model_sha256"] != first["model_sha256"]
    bundle = load_bundle(storage, FOLDER, expected_recipe_hash=RECIPE_HASH)
    assert list(bundle.tensors) == ["encoder.w"] and bundle.config["seed"] == 8
    assert storage.list(FOLDER) == [f"{FOLDER}/{n}" for n in sorted(bundle.hashes | {"sha256.txt": ""})]


def test_config_without_required_keys_is_refused(tmp_path):
    config = _config()
    del config["gate_table"]
    with pytest.raises(ValueError, match="gate_table"):
        save_bundle(Storage(tmp_path), FOLDER, tensors=_tensors(), config=config, metrics={}, costs={})


def test_xgboost_model_travels_inside_model_bin(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 3)).astype(np.float32)
    y = 30 * X[:, 0] + rng.standard_normal(300) * 10
    booster = train_xgb(X, y, cfg=XGBConfig(n_rounds=20), seed=0).booster
    storage = Storage(tmp_path)
    tensors = {**_tensors(), "xgboost.json": booster_to_tensor(booster)}
    save_bundle(storage, FOLDER, tensors=tensors, config=_config(), metrics={}, costs={})
    loaded = load_bundle(storage, FOLDER, expected_recipe_hash=RECIPE_HASH).xgboost_booster()
    np.testing.assert_array_equal(xgb_predict(loaded, X), xgb_predict(booster, X))


def test_no_pickle_or_torch_load_in_model_code():
    files = [
        *sorted((REPO / "huracan_core" / "models").glob("*.py")),
        REPO / "huracan_core/alphas/learned.py",
    ]
    assert len(files) >= 7
    # Code that deserialises by running code; docstrings saying "no pickle" do not match.
    banned = re.compile(
        r"\bimport (c?pickle|joblib|dill)\b|\bfrom (c?pickle|joblib|dill)\b|\bpickle\.|(?<!safetensors\.)torch\.load\("
    )
    offenders = [f"{path.name}: {m.group(0)}" for path in files for m in banned.finditer(path.read_text())]
    assert offenders == []
    assert banned.search("state = torch.load(path)") and banned.search("import pickle")
    assert not banned.search("safetensors.torch.load(data)")
