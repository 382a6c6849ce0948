"""Housekeeping deletes only old folders nothing refers to; a dry run deletes nothing (local and S3)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from huracan_core.archive import paths
from huracan_core.archive.pointers import append_promotion
from huracan_core.archive.prune import prune_archive, prune_challengers, references
from huracan_core.archive.storage import Storage
from huracan_core.cli import app
from huracan_core.db import connect, record_model, upgrade
from huracan_core.exceptions import CorruptFileError

NOW = datetime.now(UTC)
LATER = NOW + timedelta(days=60)  # files written now are 60 days old by then
PREVIOUS = "models/BTCUSDT/20250101_020000Z"  # the pointer's previous_model_id: the rollback target
UNUSED = "models/BTCUSDT/20250102_020000Z"  # old, named by nothing
IN_HISTORY = "models/BTCUSDT/20250103_020000Z"  # named only by promotions.json
IN_ROSTER = "models/ETHUSDT/20250104_020000Z"  # named only by the roster
CHAMPION = "challengers/BTCUSDT/20250105_030000Z"  # the current champion, a Mechanic challenger
UNUSED_CHALLENGER = "challengers/BTCUSDT/20250106_030000Z"
RECENT = f"models/BTCUSDT/{paths.model_id_for(LATER - timedelta(days=1))}"  # younger than the cutoff
ENCODER_KEPT, ENCODER_UNUSED, ENCODER_NEWEST = (
    "encoders/20250101_020000Z", "encoders/20250102_020000Z", "encoders/20250107_020000Z",
)  # fmt: skip


def bundle(storage: Storage, folder: str, encoder: str | None = None) -> None:
    """The files of a bundle folder (their content does not matter to housekeeping, only their names)."""
    storage.write_bytes(f"{folder}/model.bin", b"\0" * 1000)
    storage.write_json(f"{folder}/config.json", {"shared_encoder": encoder})
    storage.write_bytes(f"{folder}/sha256.txt", b"-")


def pointer(symbol: str, folder: str, previous: str | None) -> dict[str, object]:
    return {
        "symbol": symbol, "model_id": folder.rsplit("/", 1)[-1], "path": folder, "model_sha256": "a" * 64,
        "feature_recipe_hash": "b" * 64, "promoted_at": "2025-01-05T03:10:00+00:00", "promoted_by": "mechanic",
        "previous_model_id": previous, "metrics": {},
    }  # fmt: skip


@pytest.fixture
def archive(storage: Storage) -> Storage:
    bundle(storage, PREVIOUS, ENCODER_KEPT)
    bundle(storage, UNUSED, ENCODER_UNUSED)
    for folder in (IN_HISTORY, IN_ROSTER, CHAMPION, UNUSED_CHALLENGER, RECENT):
        bundle(storage, folder)
    for encoder in (ENCODER_KEPT, ENCODER_UNUSED, ENCODER_NEWEST):
        storage.write_bytes(f"{encoder}/encoder.safetensors", b"\0" * 500)
        storage.write_json(f"{encoder}/encoder.json", {})
    storage.write_json(paths.champion_pointer("BTCUSDT"), pointer("BTCUSDT", CHAMPION, "20250101_020000Z"))
    append_promotion(storage, {"symbol": "BTCUSDT", "model_id": "20250103_020000Z", "previous_model_id": None,
                               "promoted_at": "2025-01-03T02:30:00+00:00", "promoted_by": "engine",
                               "path": IN_HISTORY})  # fmt: skip
    storage.write_json(paths.champion_roster(), {"champions": [{"symbol": "ETHUSDT", "model_id": "20250104_020000Z"}]})
    return storage


def folders(storage: Storage) -> set[str]:
    return {"/".join(k.split("/")[:3]) for k in storage.list("", recursive=True)
            if k.startswith(("models/", "challengers/"))} | {
        "/".join(k.split("/")[:2]) for k in storage.list("encoders", recursive=True)}  # fmt: skip


EXPECTED_REMOVED = {UNUSED, UNUSED_CHALLENGER, ENCODER_UNUSED}


def test_a_dry_run_lists_the_unreferenced_old_folders_and_deletes_nothing(archive: Storage) -> None:
    before = archive.list("", recursive=True)
    report = prune_archive(archive, 30, now=LATER, apply=False)
    assert {f.key for f in report.removed} == EXPECTED_REMOVED
    assert archive.list("", recursive=True) == before
    assert report.kept_referenced == 4 and report.kept_recent == 1
    unused = next(f for f in report.removed if f.key == UNUSED)
    assert (unused.kind, unused.files) == ("model", 3) and unused.size >= 1000


def test_apply_deletes_only_what_nothing_refers_to(archive: Storage) -> None:
    everything = folders(archive)
    report = prune_archive(archive, 30, now=LATER, apply=True)
    assert {f.key for f in report.removed} == EXPECTED_REMOVED
    assert folders(archive) == everything - EXPECTED_REMOVED
    # The pointer's champion and its rollback target, the history's and the roster's models all survive.
    assert {PREVIOUS, CHAMPION, IN_HISTORY, IN_ROSTER, RECENT, ENCODER_KEPT, ENCODER_NEWEST} <= folders(archive)


def test_a_protected_pair_such_as_a_database_champion_survives(archive: Storage) -> None:
    report = prune_archive(archive, 30, now=LATER, apply=True, protect={("BTCUSDT", "20250102_020000Z")})
    assert UNUSED in folders(archive) and ENCODER_UNUSED in folders(archive)
    assert {f.key for f in report.removed} == {UNUSED_CHALLENGER}


def test_an_old_id_whose_files_are_being_written_now_is_not_touched(archive: Storage) -> None:
    """A backfill writes an old date's folder today: its id is old, its files are not."""
    report = prune_archive(archive, 1, now=NOW + timedelta(minutes=5), apply=True)
    assert report.removed == [] and report.kept_recent == 3  # UNUSED, UNUSED_CHALLENGER (fresh files), RECENT
    assert {UNUSED, UNUSED_CHALLENGER, ENCODER_UNUSED} <= folders(archive)


def test_prune_challengers_keeps_the_newest_and_every_referenced_one(storage: Storage) -> None:
    ids = [f"2025010{d}_030000Z" for d in range(1, 8)]  # oldest first
    for model_id in ids:
        bundle(storage, f"challengers/SOLUSDT/{model_id}")
    bundle(storage, "challengers/BTCUSDT/20250101_030000Z")  # another coin: never touched
    storage.write_json(paths.champion_pointer("SOLUSDT"), pointer("SOLUSDT", f"challengers/SOLUSDT/{ids[1]}", ids[0]))
    removed = prune_challengers(storage, "SOLUSDT", 3, protect={ids[3]})
    assert removed == [f"challengers/SOLUSDT/{ids[2]}"]
    left = sorted(k.rsplit("/", 1)[-1] for k in storage.list("challengers/SOLUSDT"))
    assert left == [ids[0], ids[1], ids[3], *ids[4:]]
    assert storage.exists("challengers/BTCUSDT/20250101_030000Z/model.bin")
    # With nothing referenced, at most `keep` challengers stay.
    storage.delete(paths.champion_pointer("SOLUSDT"))
    prune_challengers(storage, "SOLUSDT", 2, protect=set())
    assert sorted(k.rsplit("/", 1)[-1] for k in storage.list("challengers/SOLUSDT")) == ids[-2:]


def test_an_unreadable_pointer_stops_housekeeping_before_anything_is_deleted(archive: Storage) -> None:
    archive.write_bytes(paths.champion_pointer("ETHUSDT"), b"{not json")
    before = archive.list("", recursive=True)
    with pytest.raises(CorruptFileError, match=r"ETHUSDT/latest\.json"):
        prune_archive(archive, 30, now=LATER, apply=True)
    with pytest.raises(CorruptFileError, match=r"ETHUSDT/latest\.json"):
        references(archive)
    assert archive.list("", recursive=True) == before


def test_encoders_are_left_alone_when_a_kept_bundle_cannot_be_read(archive: Storage) -> None:
    archive.delete(f"{RECENT}/config.json")  # a bundle being written: its config is not there yet
    report = prune_archive(archive, 30, now=LATER, apply=False)
    assert ENCODER_UNUSED not in {f.key for f in report.removed}
    assert report.encoders_note and "encoders left alone" in report.encoders_note


def _age_files(root: Path, days: float) -> None:
    moment = (NOW - timedelta(days=days)).timestamp()
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (moment, moment))


def test_cli_prune_is_a_dry_run_unless_told_to_apply(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "archive")
    bundle(storage, PREVIOUS)
    bundle(storage, UNUSED)
    bundle(storage, "models/BTCUSDT/20250108_020000Z")
    storage.write_json(paths.champion_pointer("BTCUSDT"), pointer("BTCUSDT", PREVIOUS, None))
    _age_files(tmp_path / "archive", 400)
    db = f"sqlite:///{tmp_path / 'huracan.db'}"
    upgrade(db)
    engine = connect(db)
    record_model(engine, symbol="BTCUSDT", model_id="20250108_020000Z", path="models/BTCUSDT/20250108_020000Z",
                 sha256="a" * 64, feature_recipe_hash="b" * 64, config_hash="c" * 64, trained_as_of=NOW,
                 created_at=NOW, status="champion")  # fmt: skip
    engine.dispose()
    runner = CliRunner()
    base = ["archive", "prune", "--older-than", "30", "--archive", str(tmp_path / "archive"), "--db", db]
    dry = runner.invoke(app, base)
    assert dry.exit_code == 0, dry.output
    assert "Would remove 1 folder(s)" in dry.output and UNUSED in dry.output and "--apply" in dry.output
    assert storage.exists(f"{UNUSED}/model.bin")
    done = runner.invoke(app, [*base, "--apply"])
    assert done.exit_code == 0, done.output
    assert "Removed 1 folder(s)" in done.output
    assert not storage.exists(f"{UNUSED}/model.bin")
    assert storage.exists(f"{PREVIOUS}/model.bin") and storage.exists("models/BTCUSDT/20250108_020000Z/model.bin")
    missing = runner.invoke(app, ["archive", "prune", "--older-than", "30", "--archive", str(tmp_path / "archive"),
                                  "--db", f"sqlite:///{tmp_path / 'none.db'}"])  # fmt: skip
    assert missing.exit_code == 0 and "database not consulted" in missing.output
    assert not (tmp_path / "none.db").exists()
