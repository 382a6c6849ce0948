"""The champion pointer is always valid: a bad bundle never becomes champion, and the old one stays."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import torch

from huracan_core.archive import Storage, paths
from huracan_core.archive.pointers import read_pointer, read_promotions
from huracan_core.config import PromotionGatesConfig
from huracan_core.engine.champion import gate_failures, promote, write_roster
from huracan_core.exceptions import BundleVerificationError
from huracan_core.features import DEFAULT_RECIPE
from huracan_core.models.bundle import load_bundle, save_bundle

NOW = datetime(2026, 1, 16, 2, 0, tzinfo=UTC)
GOOD = {"net_pnl_pct": 4.0, "sharpe": 2.0, "max_drawdown_pct": 3.0, "trades": 40, "hit_rate": 0.6, "deflated_sharpe": 0.99}


def make_bundle(storage: Storage, symbol: str, model_id: str, value: float) -> dict[str, Any]:
    config = {
        "feature_recipe": DEFAULT_RECIPE.model_dump(mode="json"),
        "feature_recipe_hash": DEFAULT_RECIPE.hash(),
        "engines": {},
        "gate_table": {"allowed": {}, "stats": {}, "min_signals": 30},
        "horizon_bars": 8,
        "seed": 1,
        "data_window": {},
        "code_version": "test",
    }
    saved = save_bundle(
        storage, paths.model_dir(symbol, model_id), tensors={"w": torch.full((4,), value)}, config=config,
        metrics=GOOD, costs={},
    )
    return {
        "symbol": symbol, "model_id": model_id, "path": saved["path"], "model_sha256": saved["model_sha256"],
        "feature_recipe_hash": DEFAULT_RECIPE.hash(), "metrics": GOOD,
    }


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return Storage(tmp_path / "archive")


@pytest.fixture
def champion_a(storage: Storage) -> dict[str, Any]:
    result = make_bundle(storage, "BTCUSDT", "20260115_020000Z", 1.0)
    verdict = promote(storage, {**result, "comparison": {"champion_model_id": None}}, gates=PromotionGatesConfig(),
                      promoted_at=NOW)
    assert verdict["promoted"], verdict
    return result


def challenger(storage: Storage, champion: dict[str, Any]) -> dict[str, Any]:
    result = make_bundle(storage, "BTCUSDT", "20260116_020000Z", 2.0)
    return {**result, "comparison": {"champion_model_id": champion["model_id"], "verdict": "new model at least as good"}}


def test_a_flipped_byte_in_model_bin_is_refused_and_the_pointer_keeps_its_old_target(
    storage: Storage, champion_a: dict[str, Any]
) -> None:
    new = challenger(storage, champion_a)
    model = Path(storage.url(new["path"])) / "model.bin"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))
    with pytest.raises(BundleVerificationError, match=r"model\.bin"):
        load_bundle(storage, new["path"], expected_recipe_hash=DEFAULT_RECIPE.hash())
    verdict = promote(storage, new, gates=PromotionGatesConfig(), promoted_at=NOW)
    assert not verdict["promoted"] and "model.bin" in verdict["reason"]
    assert read_pointer(storage, "BTCUSDT")["model_id"] == champion_a["model_id"]
    assert [p["model_id"] for p in read_promotions(storage)] == [champion_a["model_id"]]


def test_a_missing_file_is_refused_and_the_pointer_keeps_its_old_target(
    storage: Storage, champion_a: dict[str, Any]
) -> None:
    new = challenger(storage, champion_a)
    (Path(storage.url(new["path"])) / "costs.json").unlink()
    with pytest.raises(BundleVerificationError, match=r"costs\.json"):
        load_bundle(storage, new["path"], expected_recipe_hash=None)
    verdict = promote(storage, new, gates=PromotionGatesConfig(), promoted_at=NOW)
    assert not verdict["promoted"]
    assert read_pointer(storage, "BTCUSDT")["model_id"] == champion_a["model_id"]


def test_a_wrong_recipe_hash_is_refused_at_load_naming_both_hashes(
    storage: Storage, champion_a: dict[str, Any]
) -> None:
    other = "0" * 64
    with pytest.raises(BundleVerificationError) as info:
        load_bundle(storage, champion_a["path"], expected_recipe_hash=other)
    assert DEFAULT_RECIPE.hash() in str(info.value) and other in str(info.value)
    assert read_pointer(storage, "BTCUSDT")["model_id"] == champion_a["model_id"]


def test_a_sound_challenger_that_beat_the_champion_moves_the_pointer_and_is_logged(
    storage: Storage, champion_a: dict[str, Any]
) -> None:
    new = challenger(storage, champion_a)
    verdict = promote(storage, new, gates=PromotionGatesConfig(), promoted_at=NOW)
    assert verdict["promoted"]
    pointer = read_pointer(storage, "BTCUSDT")
    assert pointer["model_id"] == new["model_id"] and pointer["previous_model_id"] == champion_a["model_id"]
    assert [p["model_id"] for p in read_promotions(storage)] == [champion_a["model_id"], new["model_id"]]
    roster = write_roster(storage, PromotionGatesConfig(), updated_at=NOW)
    assert roster["champions"][0]["symbol"] == "BTCUSDT" and roster["champions"][0]["trade_ok"] is True


def test_a_challenger_the_champion_beat_on_the_same_bars_is_not_promoted(
    storage: Storage, champion_a: dict[str, Any]
) -> None:
    new = {**challenger(storage, champion_a)}
    new["comparison"] = {**new["comparison"], "verdict": "champion better"}
    verdict = promote(storage, new, gates=PromotionGatesConfig(), promoted_at=NOW)
    assert not verdict["promoted"] and "champion better" in verdict["reason"]
    assert read_pointer(storage, "BTCUSDT")["model_id"] == champion_a["model_id"]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"trades": 3}, "3 OOS trades < 10"),
        ({"net_pnl_pct": -0.5}, "net PnL after costs -0.50%"),
        ({"net_pnl_pct": 0.0}, "net PnL after costs +0.00% not above 0%"),
        ({"sharpe": 0.1}, "Sharpe 0.10 < 0.5"),
        ({"sharpe": None}, "Sharpe n/a"),
        ({"max_drawdown_pct": 35.0}, "max drawdown +35.00% > 20%"),
        ({"deflated_sharpe": 0.3, "trials": 120}, "deflated Sharpe 0.30 < 0.5 (120 trials)"),
        ({"deflated_sharpe": None}, "deflated Sharpe n/a"),
    ],
)
def test_each_gate_refuses_with_its_reason(change: dict[str, Any], fragment: str) -> None:
    failures = gate_failures({**GOOD, **change}, PromotionGatesConfig())
    assert len(failures) == 1 and fragment in failures[0]
