"""Rollback puts the previous champion back, verified and recorded, and refuses cleanly when it cannot.

Real bundles (tiny, but written and verified by the real bundle code), promoted in sequence with `promote`
and recorded in the database as the nightly publish step does; trades recorded in `live_trades` as
Hamilton's journal writes them. The main cases run on SQLite + a local archive and on PostgreSQL + S3.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import torch
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from huracan_core.archive import Storage, paths
from huracan_core.archive.pointers import read_pointer, read_promotions, write_pointer
from huracan_core.cli import app
from huracan_core.config import MechanicConfig, PromotionGatesConfig
from huracan_core.db import connect, get_model, record_model, record_promotion, set_model_status, upgrade
from huracan_core.db.queries import record_daily_equity
from huracan_core.db.rows import transaction
from huracan_core.db.tables import promotions
from huracan_core.db.trading import save_trades, trade_row
from huracan_core.engine.champion import promote
from huracan_core.exceptions import ConcurrentWriteError, RollbackRefused
from huracan_core.features import DEFAULT_RECIPE
from huracan_core.hamilton.champions import ChampionBook
from huracan_core.mechanic.rollback import auto_rollback, rollback, rollback_due
from huracan_core.meta import MetaCombiner
from huracan_core.models.bundle import save_bundle
from tests.stubs.s3 import S3Bucket, moto_server, s3_bucket  # noqa: F401  (fixtures)
from tests.unit.db.databases import PG_HOST, PG_PORT, postgres_server  # noqa: F401  (fixture)

SYMBOL = "BTCUSDT"
GATES = PromotionGatesConfig()
MECHANIC = MechanicConfig()  # rollback_min_trades 20, rollback_max_psr 0.05
GOOD = {"net_pnl_pct": 4.0, "sharpe": 2.0, "max_drawdown_pct": 3.0, "trades": 40, "deflated_sharpe": 0.99,
        "probabilistic_sharpe": 0.99}  # fmt: skip
A_ID, B_ID, C_ID = "20260115_020000Z", "20260116_030000Z", "20260117_020000Z"
A_AT = datetime(2026, 1, 15, 2, 30, tzinfo=UTC)
B_AT = datetime(2026, 1, 16, 3, 10, tzinfo=UTC)
C_AT = datetime(2026, 1, 17, 2, 30, tzinfo=UTC)
ROLLBACK_AT = datetime(2026, 1, 20, 9, 0, tzinfo=UTC)


@dataclass
class World:
    storage: Storage
    url: str
    db: Engine
    bucket: S3Bucket | None = None


@pytest.fixture(params=["sqlite+local", pytest.param("postgres+s3", marks=[pytest.mark.postgres, pytest.mark.s3])])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    yield from _world(request, tmp_path, request.param)


@pytest.fixture
def local(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    yield from _world(request, tmp_path, "sqlite+local")


def _world(request: pytest.FixtureRequest, tmp_path: Path, kind: str) -> Iterator[World]:
    bucket = None
    if kind == "sqlite+local":
        storage, url = Storage(tmp_path / "archive"), f"sqlite:///{tmp_path / 'huracan.db'}"
    else:
        bucket = request.getfixturevalue("s3_bucket")
        user, name = request.getfixturevalue("postgres_server")
        storage, url = Storage(bucket.url("archive")), f"postgresql+psycopg2://{user}@{PG_HOST}:{PG_PORT}/{name}"
    upgrade(url)
    engine = connect(url)
    try:
        yield World(storage, url, engine, bucket)
    finally:
        engine.dispose()


def publish(world: World, model_id: str, value: float, *, at: datetime, folder: str = "models") -> dict[str, Any]:
    """Write a real bundle and make it champion the way the nightly publish step does (archive + database)."""
    made = publish_bundle_only(world, model_id, value, folder=folder)
    current = read_pointer(world.storage, SYMBOL)
    result = {**made, "comparison": {"champion_model_id": current["model_id"] if current else None,
                                     "verdict": "new model at least as good"}}  # fmt: skip
    saved = {"path": made["path"], "model_sha256": made["model_sha256"]}
    record_model(world.db, symbol=SYMBOL, model_id=model_id, path=saved["path"], sha256=saved["model_sha256"],
                 feature_recipe_hash=DEFAULT_RECIPE.hash(), config_hash="c" * 64, trained_as_of=at, created_at=at)
    verdict = promote(world.storage, result, gates=GATES, promoted_at=at, as_of=at - timedelta(minutes=30))
    assert verdict["promoted"], verdict
    record_promotion(world.db, symbol=SYMBOL, from_model_id=verdict["previous_model_id"], to_model_id=model_id,
                     promoted_by="engine", promoted_at=at, reason=verdict["reason"], metrics=GOOD)
    if verdict["previous_model_id"]:
        set_model_status(world.db, symbol=SYMBOL, model_id=verdict["previous_model_id"], status="retired")
    set_model_status(world.db, symbol=SYMBOL, model_id=model_id, status="champion")
    return result


def two_champions(world: World) -> None:
    """A (an Engine model under models/), then B (a Mechanic challenger under challengers/)."""
    publish(world, A_ID, 1.0, at=A_AT)
    publish(world, B_ID, 2.0, at=B_AT, folder="challengers")


def snapshot(world: World) -> dict[str, Any]:
    """Everything a refused rollback must leave exactly as it was."""
    def raw(key: str) -> bytes | None:
        return world.storage.read_bytes(key) if world.storage.exists(key) else None

    with transaction(world.db) as conn:
        rows = [tuple(r) for r in conn.execute(select(promotions).order_by(promotions.c.promotion_id))]
    return {
        "pointer": raw(paths.champion_pointer(SYMBOL)),
        "history": raw(paths.promotions_log()),
        "roster": raw(paths.champion_roster()),
        "db_promotions": rows,
        "statuses": {m: (get_model(world.db, SYMBOL, m) or {}).get("status") for m in (A_ID, B_ID, C_ID)},
    }


def status(world: World, model_id: str) -> str | None:
    return (get_model(world.db, SYMBOL, model_id) or {}).get("status")


# --- manual rollback ----------------------------------------------------------------------------------
def test_rollback_restores_the_previous_champion_and_keeps_every_record(world: World) -> None:
    two_champions(world)
    history_before = read_promotions(world.storage)
    result = rollback(world.storage, world.url, SYMBOL, reason="B trades badly", at=ROLLBACK_AT, gates=GATES)

    assert (result["from_model_id"], result["to_model_id"]) == (B_ID, A_ID)
    pointer = read_pointer(world.storage, SYMBOL)
    assert pointer["model_id"] == A_ID and pointer["previous_model_id"] == B_ID
    assert pointer["path"] == paths.model_dir(SYMBOL, A_ID)
    assert pointer["promoted_by"] == "rollback" and pointer["reason"] == "B trades badly"
    assert pointer["promoted_at"] == ROLLBACK_AT.isoformat()
    assert pointer["metrics"]["sharpe"] == GOOD["sharpe"] and pointer["metrics"]["trades"] == GOOD["trades"]
    # promotions.json only grows: the two promotions unchanged, then the rollback as of its own moment.
    history = read_promotions(world.storage)
    assert history[:2] == history_before and len(history) == 3
    assert history[2]["promoted_by"] == "rollback" and history[2]["as_of"] == ROLLBACK_AT.isoformat()
    assert (history[2]["model_id"], history[2]["previous_model_id"]) == (A_ID, B_ID)
    # The database: one more promotions row, statuses swapped.
    with transaction(world.db) as conn:
        rows = conn.execute(select(promotions).order_by(promotions.c.promoted_at)).mappings().all()
    assert len(rows) == 3
    last = rows[-1]
    assert (last["from_model_id"], last["to_model_id"], last["promoted_by"]) == (B_ID, A_ID, "rollback")
    assert last["reason"] == "B trades badly" and json.loads(last["metrics"])["to"]["sharpe"] == GOOD["sharpe"]
    assert (status(world, A_ID), status(world, B_ID)) == ("champion", "retired")
    # The roster names A, promoted by rollback, and it may trade (its metrics pass the gates).
    roster = world.storage.read_json(paths.champion_roster())
    entry = next(e for e in roster["champions"] if e["symbol"] == SYMBOL)
    assert (entry["model_id"], entry["promoted_by"], entry["trade_ok"]) == (A_ID, "rollback", True)
    assert result["trade_ok"] is True


def test_a_replay_trades_b_until_the_rollback_and_a_from_then_on(local: World) -> None:
    two_champions(local)
    rollback(local.storage, local.url, SYMBOL, reason="test", at=ROLLBACK_AT, gates=GATES)
    book = ChampionBook(local.storage, DEFAULT_RECIPE.hash(), point_in_time=True)
    ms = int((ROLLBACK_AT - timedelta(hours=1)).timestamp() * 1000)
    assert book.at(SYMBOL, ms).model_id == B_ID
    after = book.at(SYMBOL, int(ROLLBACK_AT.timestamp() * 1000))
    assert after.model_id == A_ID and after.path == paths.model_dir(SYMBOL, A_ID)
    live = ChampionBook(local.storage, DEFAULT_RECIPE.hash())
    assert live.at(SYMBOL, 0).model_id == A_ID


def test_rollback_to_a_named_earlier_model(local: World) -> None:
    two_champions(local)
    publish(local, C_ID, 3.0, at=C_AT)
    result = rollback(local.storage, local.url, SYMBOL, to_model_id=A_ID, reason="back to A", at=ROLLBACK_AT,
                      gates=GATES)  # fmt: skip
    pointer = read_pointer(local.storage, SYMBOL)
    assert (pointer["model_id"], pointer["previous_model_id"]) == (A_ID, C_ID)
    assert result["from_model_id"] == C_ID
    assert (status(local, A_ID), status(local, B_ID), status(local, C_ID)) == ("champion", "retired", "retired")


def test_rollback_to_a_challenger_finds_its_bundle_from_the_history(local: World) -> None:
    two_champions(local)
    publish(local, C_ID, 3.0, at=C_AT)
    rollback(local.storage, local.url, SYMBOL, reason="back to B", at=ROLLBACK_AT, gates=GATES)
    assert read_pointer(local.storage, SYMBOL)["path"] == paths.challenger_dir(SYMBOL, B_ID)


def _flip_byte(world: World, key: str) -> None:
    data = bytearray(world.storage.read_bytes(key))
    data[len(data) // 2] ^= 0x01
    if world.bucket is None:  # bypass the code under test: write the bytes straight to disk / S3
        Path(world.storage.url(key)).write_bytes(bytes(data))
    else:
        world.bucket.client().put_object(Bucket=world.bucket.name, Key=f"archive/{key}", Body=bytes(data))


def test_a_corrupt_target_bundle_is_refused_and_nothing_changes(world: World) -> None:
    two_champions(world)
    _flip_byte(world, f"{paths.model_dir(SYMBOL, A_ID)}/model.bin")
    before = snapshot(world)
    with pytest.raises(RollbackRefused, match=r"model\.bin") as info:
        rollback(world.storage, world.url, SYMBOL, reason="x", at=ROLLBACK_AT, gates=GATES)
    assert f"still names {B_ID}" in str(info.value)
    assert snapshot(world) == before


def test_a_rewritten_but_self_consistent_bundle_is_refused_by_its_recorded_hash(local: World) -> None:
    two_champions(local)
    # Someone re-saved A's folder with other weights: sha256.txt matches, model.bin differs from the record.
    config = local.storage.read_json(f"{paths.model_dir(SYMBOL, A_ID)}/config.json")
    save_bundle(local.storage, paths.model_dir(SYMBOL, A_ID), tensors={"w": torch.zeros(4)}, config=config,
                metrics=GOOD, costs={})  # fmt: skip
    before = snapshot(local)
    with pytest.raises(RollbackRefused, match="changed since it was recorded"):
        rollback(local.storage, local.url, SYMBOL, reason="x", at=ROLLBACK_AT, gates=GATES)
    assert snapshot(local) == before


def test_rollback_refuses_clearly_when_there_is_nothing_to_restore(local: World) -> None:
    with pytest.raises(RollbackRefused, match="no champion pointer"):
        rollback(local.storage, local.url, SYMBOL, reason="x", at=ROLLBACK_AT, gates=GATES)
    publish(local, A_ID, 1.0, at=A_AT)
    before = snapshot(local)
    with pytest.raises(RollbackRefused, match="no previous champion"):
        rollback(local.storage, local.url, SYMBOL, reason="x", at=ROLLBACK_AT, gates=GATES)
    with pytest.raises(RollbackRefused, match=r"model 20250101_000000Z not found.*models/BTCUSDT/20250101_000000Z"):
        rollback(local.storage, local.url, SYMBOL, to_model_id="20250101_000000Z", reason="x", at=ROLLBACK_AT,
                 gates=GATES)  # fmt: skip
    with pytest.raises(RollbackRefused, match="already the champion"):
        rollback(local.storage, local.url, SYMBOL, to_model_id=A_ID, reason="x", at=ROLLBACK_AT, gates=GATES)
    with pytest.raises(RollbackRefused, match="is not like"):
        rollback(local.storage, local.url, SYMBOL, to_model_id="latest", reason="x", at=ROLLBACK_AT, gates=GATES)
    assert snapshot(local) == before


class _RacingStorage(Storage):
    """A Storage on which another promoter moves the pointer just before our compare-and-swap."""

    def __init__(self, root: str, move: Any) -> None:
        super().__init__(root)
        self._move = move

    def update_json(self, key: str, change: Any) -> Any:
        if key == paths.champion_pointer(SYMBOL) and self._move is not None:
            move, self._move = self._move, None
            move()
        return super().update_json(key, change)


def test_a_pointer_moved_meanwhile_is_not_overwritten_and_nothing_is_recorded(local: World) -> None:
    two_champions(local)
    c_bundle = publish(local, C_ID, 3.0, at=C_AT)
    # Put B back as champion, then let "another promoter" move it to C during our rollback of B.
    pointer_b = {**read_pointer(local.storage, SYMBOL)}
    local.storage.write_json(paths.champion_pointer(SYMBOL), {
        **pointer_b, "model_id": B_ID, "path": paths.challenger_dir(SYMBOL, B_ID),
        "model_sha256": get_model(local.db, SYMBOL, B_ID)["sha256"], "previous_model_id": A_ID,
    })  # fmt: skip
    pointer_c = {**pointer_b, "model_id": C_ID, "path": c_bundle["path"], "model_sha256": c_bundle["model_sha256"],
                 "previous_model_id": B_ID}  # fmt: skip

    def other_promoter() -> None:
        write_pointer(Storage(local.storage.root), SYMBOL, pointer_c, expected_model_id=B_ID)

    racing = _RacingStorage(local.storage.root, other_promoter)
    before = snapshot(local)
    with pytest.raises(RollbackRefused, match="another promoter moved it") as info:
        rollback(racing, local.url, SYMBOL, reason="x", at=ROLLBACK_AT, gates=GATES)
    assert isinstance(info.value.__context__, ConcurrentWriteError)
    after = snapshot(local)
    assert read_pointer(local.storage, SYMBOL)["model_id"] == C_ID  # the other promoter's move stands
    assert {k: v for k, v in after.items() if k != "pointer"} == {k: v for k, v in before.items() if k != "pointer"}


def test_cli_rollback_reports_success_and_refusals_with_exit_codes(local: World, tmp_path: Path) -> None:
    two_champions(local)
    runner = CliRunner()
    base = ["--archive", local.storage.root, "--db", local.url]
    none = runner.invoke(app, ["champion", "rollback", "ETHUSDT", *base])
    assert none.exit_code == 1 and "ETHUSDT has no champion pointer" in none.output
    bad = runner.invoke(app, ["champion", "rollback", SYMBOL, "--to", "20250101_000000Z", *base])
    assert bad.exit_code == 1 and "not found" in bad.output
    ok = runner.invoke(app, ["champion", "rollback", "btcusdt", "--reason", "drawdown", *base])
    assert ok.exit_code == 0, ok.output
    assert f"rolled back from {B_ID} to {A_ID}" in ok.output and "trade_ok" in ok.output
    pointer = read_pointer(local.storage, SYMBOL)
    assert (pointer["model_id"], pointer["reason"]) == (A_ID, "drawdown")
    _flip_byte(local, f"{paths.challenger_dir(SYMBOL, B_ID)}/config.json")
    corrupt = runner.invoke(app, ["champion", "rollback", SYMBOL, *base])
    assert corrupt.exit_code == 1 and "config.json" in corrupt.output and "RollbackRefused" in corrupt.output
    assert read_pointer(local.storage, SYMBOL)["model_id"] == A_ID


# --- automatic rollback -------------------------------------------------------------------------------
def record_trades(world: World, net_pcts: list[float], *, mode: str = "paper", model_id: str = B_ID,
                  start: datetime = B_AT + timedelta(hours=1), run_key: str | None = None) -> None:  # fmt: skip
    """Closed trades as Hamilton's journal writes them, one hour apart."""
    rows = []
    for i, net in enumerate(net_pcts):
        opened = start + timedelta(hours=i)
        closed = opened + timedelta(minutes=45)
        rows.append(trade_row({
            "trade_id": f"{model_id}-{mode}-{start:%d%H}-{i}", "symbol": SYMBOL, "side": "long", "size": 1.0,
            "max_size": 1.0, "quantity": 0.01, "opened_at": opened, "entry_time": int(opened.timestamp() * 1000),
            "entry_price": 100.0, "entry_fill_price": 100.0, "entry_cost_bps": 11.5, "fee_bps": 10.0,
            "spread_bps": 1.0, "slippage_bps": 0.5, "closed_at": closed,
            "exit_time": int(closed.timestamp() * 1000), "exit_price": 100.0, "exit_fill_price": 100.0,
            "costs_bps": 23.0, "gross_pnl_pct": net + 0.23, "net_pnl_pct": net, "bars_held": 3,
            "model_id": model_id,
        }, run_key=run_key or mode, mode=mode))  # fmt: skip
    with transaction(world.db) as conn:
        save_trades(conn, rows)


def returns(mean: float, n: int) -> list[float]:
    """Deterministic per-trade net returns (percent) around `mean` with a spread of about 0.25%."""
    return [mean + 0.25 * math.sin(1.7 * i) for i in range(n)]


NOW = B_AT + timedelta(days=5)


def test_a_losing_record_with_enough_trades_is_rolled_back_automatically(world: World) -> None:
    two_champions(world)
    record_trades(world, returns(-0.2, 25))
    verdict = rollback_due(world.url, world.storage, SYMBOL, MECHANIC, now=NOW)
    assert verdict is not None and verdict.due and verdict.trades == 25
    assert verdict.psr is not None and verdict.psr < MECHANIC.rollback_max_psr
    out = auto_rollback(world.storage, world.url, SYMBOL, MECHANIC, gates=GATES, now=NOW)
    assert out["rolled_back"] is True
    pointer = read_pointer(world.storage, SYMBOL)
    assert (pointer["model_id"], pointer["promoted_by"]) == (A_ID, "rollback")
    assert pointer["reason"].startswith("automatic: 25 trades") and "PSR" in pointer["reason"]
    mean = sum(returns(-0.2, 25)) / 25
    assert f"mean net {mean:+.3f}% per trade" in pointer["reason"]
    assert read_promotions(world.storage)[-1]["promoted_by"] == "rollback"
    assert (status(world, A_ID), status(world, B_ID)) == ("champion", "retired")


def test_too_few_trades_give_no_verdict_and_leave_the_champion(local: World) -> None:
    two_champions(local)
    record_trades(local, returns(-1.0, MECHANIC.rollback_min_trades - 1))
    before = snapshot(local)
    out = auto_rollback(local.storage, local.url, SYMBOL, MECHANIC, gates=GATES, now=NOW)
    assert out["rolled_back"] is False and "19 closed paper/live trades" in out["reason"]
    assert "no verdict" in out["reason"] and out["verdict"]["psr"] is None
    assert snapshot(local) == before


def test_a_winning_record_keeps_the_champion(local: World) -> None:
    two_champions(local)
    record_trades(local, returns(0.2, 30))
    before = snapshot(local)
    out = auto_rollback(local.storage, local.url, SYMBOL, MECHANIC, gates=GATES, now=NOW)
    assert out["rolled_back"] is False and out["verdict"]["psr"] > 0.95 and ">= rollback_max_psr" in out["reason"]
    assert snapshot(local) == before


def test_replays_the_old_champions_trades_and_trades_outside_the_window_do_not_count(local: World) -> None:
    two_champions(local)
    losing = returns(-0.5, 30)
    record_trades(local, losing, mode="replay", run_key="replay:2026-01-16:2026-01-20")
    record_trades(local, losing, model_id=A_ID)  # the old champion's trades
    record_trades(local, losing, start=B_AT - timedelta(days=3))  # B's id, but closed before B's promotion
    record_trades(local, losing, start=NOW + timedelta(hours=1))  # after `now`: not known yet
    record_trades(local, returns(-0.5, 3), mode="live")
    verdict = rollback_due(local.url, local.storage, SYMBOL, MECHANIC, now=NOW)
    assert verdict is not None and verdict.trades == 3 and not verdict.due
    record_trades(local, returns(-0.5, 20), start=B_AT + timedelta(days=2))  # now enough real ones
    verdict = rollback_due(local.url, local.storage, SYMBOL, MECHANIC, now=NOW)
    assert verdict is not None and verdict.trades == 23 and verdict.due


def test_a_due_rollback_without_a_previous_model_is_refused_and_the_pointer_stays(local: World) -> None:
    publish(local, A_ID, 1.0, at=A_AT)
    record_trades(local, returns(-0.3, 25), model_id=A_ID, start=A_AT + timedelta(hours=1))
    before = snapshot(local)
    out = auto_rollback(local.storage, local.url, SYMBOL, MECHANIC, gates=GATES, now=NOW)
    assert out["rolled_back"] is False and out["verdict"]["due"] is True
    assert "no previous champion" in out["reason"]
    assert snapshot(local) == before


def test_the_automatic_rule_never_reinstates_a_model_it_rolled_back_from(local: World) -> None:
    two_champions(local)
    record_trades(local, returns(-0.3, 25))
    assert auto_rollback(local.storage, local.url, SYMBOL, MECHANIC, gates=GATES, now=NOW)["rolled_back"]
    # A, restored, now loses too: going back to B (rolled back for losing) is for a person to decide.
    record_trades(local, returns(-0.3, 25), model_id=A_ID, start=NOW + timedelta(hours=1))
    later = NOW + timedelta(days=3)
    before = snapshot(local)
    out = auto_rollback(local.storage, local.url, SYMBOL, MECHANIC, gates=GATES, now=later)
    assert out["rolled_back"] is False and f"{B_ID} was itself rolled back" in out["reason"]
    assert snapshot(local) == before


def test_the_engine_and_the_mechanic_moving_one_pointer_at_once_lose_no_update(world: World) -> None:
    """Both replace champion A at the same moment: exactly one wins; the other is told and changes nothing;
    retried against the new champion it applies on top. The pointer history shows both moves, in order."""
    import threading

    from huracan_core.engine.champion import move_champion

    publish(world, A_ID, 1.0, at=A_AT)
    engine_model = publish_bundle_only(world, B_ID, 2.0, folder="models")
    mechanic_model = publish_bundle_only(world, C_ID, 3.0, folder="challengers")
    start = threading.Barrier(2)
    outcome: dict[str, str | None] = {}

    def move(who: str, model: dict[str, Any], expected: str) -> None:
        start.wait()
        outcome[who] = move_champion(world.storage, model, promoted_by=who, expected=expected, promoted_at=C_AT,
                                     as_of=C_AT, evidence={})  # fmt: skip

    threads = [threading.Thread(target=move, args=("engine", engine_model, A_ID)),
               threading.Thread(target=move, args=("mechanic", mechanic_model, A_ID))]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [who for who, problem in outcome.items() if problem is None]
    assert len(winners) == 1, outcome
    loser = "mechanic" if winners == ["engine"] else "engine"
    assert str(outcome[loser]).startswith("pointer not moved") and "nothing was written" in str(outcome[loser])
    winner_model = engine_model if winners == ["engine"] else mechanic_model
    loser_model = mechanic_model if winners == ["engine"] else engine_model
    assert read_pointer(world.storage, SYMBOL)["model_id"] == winner_model["model_id"]
    # The loser, re-run against the champion it now sees, applies on top: nothing was lost.
    again = move_champion(world.storage, loser_model, promoted_by=loser, expected=winner_model["model_id"],
                          promoted_at=C_AT, as_of=C_AT, evidence={})  # fmt: skip
    assert again is None
    pointer = read_pointer(world.storage, SYMBOL)
    assert (pointer["model_id"], pointer["previous_model_id"]) == (loser_model["model_id"], winner_model["model_id"])
    moves = [(r["model_id"], r["previous_model_id"], r["promoted_by"]) for r in read_promotions(world.storage)]
    assert moves == [(A_ID, None, "engine"), (winner_model["model_id"], A_ID, winners[0]),
                     (loser_model["model_id"], winner_model["model_id"], loser)]  # fmt: skip


def publish_bundle_only(world: World, model_id: str, value: float, *, folder: str) -> dict[str, Any]:
    """A real bundle and the result dict a promoter passes to move_champion (nothing promoted yet)."""
    config = {
        "feature_recipe": DEFAULT_RECIPE.model_dump(mode="json"), "feature_recipe_hash": DEFAULT_RECIPE.hash(),
        "engines": {}, "gate_table": {"allowed": {}, "stats": {}, "min_signals": 30},
        "combiner": MetaCombiner([]).to_dict(), "horizon_bars": 8, "seed": 1, "data_window": {},
        "code_version": "test", "shared_encoder": None,
    }  # fmt: skip
    key = paths.model_dir(SYMBOL, model_id) if folder == "models" else paths.challenger_dir(SYMBOL, model_id)
    saved = save_bundle(world.storage, key, tensors={"w": torch.full((4,), value)}, config=config,
                        metrics={"scope": "out-of-sample", **GOOD, "per_regime": {}}, costs={})  # fmt: skip
    return {"symbol": SYMBOL, "model_id": model_id, "path": saved["path"], "model_sha256": saved["model_sha256"],
            "feature_recipe_hash": DEFAULT_RECIPE.hash(), "metrics": GOOD}  # fmt: skip


# --- automatic rollback on repeated daily loss-cap stops ----------------------------------------------
def loss_cap_day(world: World, day: datetime, *, mode: str = "paper", run_key: str | None = None) -> None:
    """A UTC day on which Hamilton's daily loss cap stopped entries at 14:00, as its journal records it."""
    record_daily_equity(
        world.db, trade_day=day.date(), mode=mode, equity=9_900.0, pnl_pct=-1.2, trades=2, run_key=run_key,
        loss_cap_hit_ms=int(day.replace(hour=14, minute=0).timestamp() * 1000),
    )  # fmt: skip


def test_losing_on_repeated_loss_cap_days_rolls_the_champion_back_before_the_trades_suffice(world: World) -> None:
    two_champions(world)
    days = [B_AT.replace(hour=0, minute=0) + timedelta(days=d) for d in (1, 2, 3)]
    for day in days:
        loss_cap_day(world, day)
        record_trades(world, [-0.6, 0.1], start=day.replace(hour=9))  # net -0.5% that day
    verdict = rollback_due(world.url, world.storage, SYMBOL, MECHANIC, now=NOW)
    assert verdict is not None and verdict.trades == 6 and verdict.psr is None  # too few trades for the PSR
    assert verdict.due and verdict.loss_cap_days == tuple(d.date().isoformat() for d in days)
    out = auto_rollback(world.storage, world.url, SYMBOL, MECHANIC, gates=GATES, now=NOW)
    assert out["rolled_back"] is True
    pointer = read_pointer(world.storage, SYMBOL)
    assert (pointer["model_id"], pointer["promoted_by"]) == (A_ID, "rollback")
    assert "lost money on 3 days when Hamilton's daily loss cap stopped trading" in pointer["reason"]
    assert f"{days[0].date().isoformat()} (-0.500%)" in pointer["reason"]
    assert (status(world, A_ID), status(world, B_ID)) == ("champion", "retired")


def test_loss_cap_days_count_only_where_the_champion_lost_in_paper_or_live_after_its_promotion(local: World) -> None:
    two_champions(local)
    base = B_AT.replace(hour=0, minute=0)
    loss_cap_day(local, base + timedelta(days=1))
    record_trades(local, [-0.4], start=base + timedelta(days=1, hours=9))  # counts
    loss_cap_day(local, base + timedelta(days=2))
    record_trades(local, [-0.4, 0.6], start=base + timedelta(days=2, hours=9))  # made money that day
    loss_cap_day(local, base + timedelta(days=3), mode="replay", run_key="replay:2026-01-18:2026-01-19")
    record_trades(local, [-0.4], start=base + timedelta(days=3, hours=9))  # a replay's cap is no evidence
    record_trades(local, [-0.4], start=base + timedelta(days=4, hours=9))  # lost, but the cap did not bind
    loss_cap_day(local, base - timedelta(days=1))  # before the promotion: another model's day
    loss_cap_day(local, base + timedelta(days=5))  # the cap hit, this coin did not trade that day
    loss_cap_day(local, base + timedelta(days=6), mode="live")
    record_trades(local, [-0.2], start=base + timedelta(days=6, hours=9), mode="live")  # counts
    later = NOW + timedelta(days=3)
    before = snapshot(local)
    out = auto_rollback(local.storage, local.url, SYMBOL, MECHANIC, gates=GATES, now=later)
    assert out["rolled_back"] is False and out["verdict"]["loss_cap_days"] == (
        (base + timedelta(days=1)).date().isoformat(), (base + timedelta(days=6)).date().isoformat())
    assert "lost money on 2 loss-cap day(s) < rollback_loss_cap_days 3" in out["reason"]
    assert snapshot(local) == before
    off = MechanicConfig(rollback_loss_cap_days=0)
    loss_cap_day(local, base + timedelta(days=7))
    record_trades(local, [-0.3], start=base + timedelta(days=7, hours=9))
    assert not rollback_due(local.url, local.storage, SYMBOL, off, now=later).due  # the trigger is off
    assert rollback_due(local.url, local.storage, SYMBOL, MECHANIC, now=later).due
