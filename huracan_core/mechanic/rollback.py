"""Rollback: put a coin's earlier champion back, by hand or when the champion's realised trades say it loses.

A rollback is a pointer move like a promotion, with the same guarantees: the target bundle verifies
(sha256 of every file, and model.bin against the hash recorded when it was promoted) before the pointer
moves; the move is a compare-and-swap on the champion the caller saw, so it never overwrites a promotion
made meanwhile; it is appended to `champion/promotions.json` (as of the rollback moment, so a replay
trades the restored model from then on) and to the database's `promotions` table; history is never
rewritten. Anything that stops it before the pointer moves raises RollbackRefused and changes nothing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Engine

from huracan_core.archive import Storage, paths
from huracan_core.archive.pointers import append_promotion, read_pointer, read_promotions, write_pointer
from huracan_core.broadcaster.callbacks import announce
from huracan_core.config import MechanicConfig, PromotionGatesConfig
from huracan_core.db.migrate import open_database, require_head
from huracan_core.db.queries import get_model, record_promotion, set_model_status
from huracan_core.db.rows import transaction
from huracan_core.db.trading import loss_cap_days, realised_trades
from huracan_core.engine.champion import write_roster
from huracan_core.evaluation.metrics import probabilistic_sharpe
from huracan_core.exceptions import BundleVerificationError, ConcurrentWriteError, RollbackRefused
from huracan_core.models.bundle import MODEL_FILE, verify_bundle

log = logging.getLogger("huracan.mechanic")

REALISED_MODES = ("paper", "live")  # replays re-trade the past: they are no evidence of a model's live record


# --- manual rollback ----------------------------------------------------------------------------------
def rollback(
    storage: Storage,
    db: str | Engine,
    symbol: str,
    *,
    to_model_id: str | None = None,
    reason: str,
    at: datetime,
    gates: PromotionGatesConfig,
) -> dict[str, Any]:
    """Move `symbol`'s champion pointer back to its previous model (or to `to_model_id`); return what was done.

    `at` (timezone-aware) is the rollback moment: promoted_at of the new pointer and as_of of the promotion
    record. `gates` are the promotion gates the roster's `trade_ok` is judged by (the Engine's). Raises
    RollbackRefused, with the pointer, history and database unchanged, when there is no champion, no
    earlier model, a target that cannot be found or does not verify, or when the pointer moved meanwhile.
    """
    if at.tzinfo is None:
        raise ValueError("rollback time `at` must be timezone-aware (UTC)")
    if not reason.strip():
        raise ValueError("a rollback needs a reason (it is recorded in the pointer and the history)")
    with _database(db) as engine:  # a database that cannot take the record stops us before the pointer moves
        current = read_pointer(storage, symbol)
        if current is None:
            raise RollbackRefused(f"{symbol} has no champion pointer ({storage.url(paths.champion_pointer(symbol))}); "
                                  "there is nothing to roll back")
        current_id = str(current["model_id"])
        target_id = to_model_id or current["previous_model_id"]
        if target_id is None:
            raise RollbackRefused(
                f"{symbol}: champion {current_id} has no previous champion to roll back to (it is the coin's "
                "first); name an earlier model with --to MODEL_ID"
            )
        target_id = _model_id(symbol, str(target_id))
        if target_id == current_id:
            raise RollbackRefused(f"{symbol}: {target_id} is already the champion; nothing to roll back")
        history = read_promotions(storage)
        record = _latest_record(history, symbol, target_id)
        db_row = get_model(engine, symbol, target_id)
        folder = _bundle_folder(storage, symbol, target_id, record, db_row)
        expected_sha = (record or {}).get("model_sha256") or (db_row or {}).get("sha256")
        try:
            model_sha256 = _verified_model_sha(storage, folder, expected_sha)
        except BundleVerificationError as exc:
            raise RollbackRefused(
                f"{symbol}: rollback to {target_id} refused, its bundle does not verify: {exc}. "
                f"The pointer still names {current_id}"
            ) from None
        config = storage.read_json(f"{folder}/config.json")  # verified above
        metrics = _target_metrics(storage.read_json(f"{folder}/metrics.json"), record)
        pointer = {
            "symbol": symbol,
            "model_id": target_id,
            "path": folder,
            "model_sha256": model_sha256,
            "feature_recipe_hash": str(config.get("feature_recipe_hash") or ""),
            "promoted_at": at.isoformat(),
            "promoted_by": "rollback",
            # Takes effect now: the model is champion again from the rollback on, not from its training as-of.
            "as_of": at.isoformat(),
            "previous_model_id": current_id,
            "reason": reason,
            "metrics": metrics,
        }
        try:
            write_pointer(storage, symbol, pointer, expected_model_id=current_id)
        except ConcurrentWriteError as exc:
            raise RollbackRefused(
                f"{symbol}: rollback to {target_id} not done: {exc}. Look at the new champion and roll back "
                "again if it is still wanted"
            ) from None
        # The pointer has moved: from here on only records follow, which never undo it.
        append_promotion(storage, {
            "symbol": symbol, "model_id": target_id, "previous_model_id": current_id,
            "promoted_at": at.isoformat(), "promoted_by": "rollback", "as_of": at.isoformat(),
            "path": folder, "model_sha256": model_sha256, "reason": reason,
            "new_metrics": metrics, "old_metrics": dict(current["metrics"]),
        })  # fmt: skip
        notes = _record_in_database(engine, symbol, current, target_id, at=at, reason=reason, metrics=metrics)
    roster = write_roster(storage, gates, updated_at=at)
    entry = next((e for e in roster["champions"] if e.get("symbol") == symbol), {})
    announce(f"↩️ {symbol}: champion rolled back from {current_id} to {target_id} ({reason})", kind="promotions")
    if not entry.get("trade_ok"):
        announce(f"⚠️ {symbol}: restored champion {target_id} is not trade_ok: {entry.get('reason')}",
                 kind="promotions", problem=True)  # fmt: skip
    return {
        "symbol": symbol,
        "from_model_id": current_id,
        "to_model_id": target_id,
        "path": folder,
        "model_sha256": model_sha256,
        "promoted_at": at.isoformat(),
        "reason": reason,
        "trade_ok": bool(entry.get("trade_ok")),
        "roster_reason": entry.get("reason"),
        "notes": notes,
    }


@contextmanager
def _database(db: str | Engine) -> Iterator[Engine]:
    """An engine at this code's schema; one we opened is closed again."""
    if isinstance(db, Engine):
        require_head(db)
        yield db
        return
    engine = open_database(db)
    try:
        yield engine
    finally:
        engine.dispose()


def _model_id(symbol: str, model_id: str) -> str:
    try:
        paths.model_dir(symbol, model_id)
    except ValueError as exc:
        raise RollbackRefused(f"{symbol}: cannot roll back to {model_id!r}: {exc}") from None
    return model_id


def _latest_record(history: list[dict[str, Any]], symbol: str, model_id: str) -> dict[str, Any] | None:
    """The newest promotion record that made `model_id` champion of `symbol` (it says where its bundle is)."""
    found = [r for r in history if r.get("symbol") == symbol and r.get("model_id") == model_id]
    return dict(found[-1]) if found else None


def _bundle_folder(
    storage: Storage,
    symbol: str,
    model_id: str,
    record: Mapping[str, Any] | None,
    db_row: Mapping[str, Any] | None,
) -> str:
    """Where the target's bundle is: its promotion record says; else its database row, models/, challengers/."""
    if record is not None and record.get("path"):
        return str(record["path"]).rstrip("/")
    candidates = [str(db_row["path"]).rstrip("/")] if db_row and db_row.get("path") else []
    candidates += [paths.model_dir(symbol, model_id), paths.challenger_dir(symbol, model_id)]
    for folder in candidates:
        if storage.exists(f"{folder}/{paths.CHECKSUM_FILE}"):
            return folder
    looked = " nor ".join(storage.url(f) for f in dict.fromkeys(candidates))
    raise RollbackRefused(
        f"{symbol}: model {model_id} not found: no promotion record names it and neither {looked} holds a "
        "bundle; the pointer is unchanged"
    )


def _verified_model_sha(storage: Storage, folder: str, expected: str | None) -> str:
    """sha256 of model.bin after the whole bundle verified, and matched the hash recorded at its promotion."""
    hashes = verify_bundle(storage, folder)
    actual = hashes[MODEL_FILE]
    if expected and actual != expected:
        raise BundleVerificationError(
            f"{storage.url(folder)}/{MODEL_FILE} changed since it was recorded (sha256 {actual}, recorded {expected})"
        )
    return actual


def _target_metrics(bundle_metrics: Mapping[str, Any], record: Mapping[str, Any] | None) -> dict[str, Any]:
    """The restored pointer's metrics: the bundle's own out-of-sample numbers, overlaid by its promotion record.

    The roster judges `trade_ok` by the promotion gates on exactly these keys (trades, net PnL, Sharpe,
    drawdown, deflated Sharpe) and ranks by recent_net_pnl_pct, so all of them are carried when known.
    """
    metrics: dict[str, Any] = {
        key: value
        for key, value in bundle_metrics.items()
        if value is None or (isinstance(value, int | float) and not isinstance(value, bool))
    }
    recorded = (record or {}).get("new_metrics") or (record or {}).get("metrics")
    if isinstance(recorded, Mapping):
        metrics.update({k: v for k, v in recorded.items() if v is None or isinstance(v, int | float | str)})
    metrics.setdefault("recent_net_pnl_pct", None)
    return metrics


def _record_in_database(
    engine: Engine,
    symbol: str,
    current: Mapping[str, Any],
    target_id: str,
    *,
    at: datetime,
    reason: str,
    metrics: Mapping[str, Any],
) -> list[str]:
    """One promotions row and both models' statuses, in one transaction; notes for models it does not know."""
    notes = []
    with transaction(engine) as conn:
        record_promotion(
            conn, symbol=symbol, from_model_id=str(current["model_id"]), to_model_id=target_id,
            promoted_by="rollback", promoted_at=at, reason=reason,
            metrics={"from": dict(current["metrics"]), "to": dict(metrics)},
        )  # fmt: skip
        for model_id, status in ((str(current["model_id"]), "retired"), (target_id, "champion")):
            try:
                set_model_status(conn, symbol=symbol, model_id=model_id, status=status)
            except ValueError:  # a bundle older than this database, or never recorded in it
                notes.append(f"{symbol}/{model_id} is not recorded in the database; its status was not set")
    return notes


# --- automatic rollback --------------------------------------------------------------------------------
@dataclass(frozen=True)
class RollbackVerdict:
    """The automatic rule's reading of one champion's realised record since its promotion."""

    symbol: str
    model_id: str
    promoted_at: str
    previous_model_id: str | None
    trades: int  # closed paper/live trades of this model on this coin since promoted_at
    min_trades: int
    mean_net_pct: float | None  # mean realised net return per trade, percent of equity
    psr: float | None  # P(true per-trade Sharpe > 0)
    max_psr: float
    due: bool
    reason: str
    # UTC days since promotion on which Hamilton's daily loss cap stopped entries and this model's trades
    # that exited that day lost money net of costs (ISO dates), and how many such days trigger a rollback
    loss_cap_days: tuple[str, ...] = ()
    min_loss_cap_days: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rollback_due(
    db: str | Engine, storage: Storage, symbol: str, config: MechanicConfig, *, now: datetime
) -> RollbackVerdict | None:
    """Whether `symbol`'s champion should be rolled back by its realised record; None when it has no champion.

    The record is every closed trade in `live_trades` of this coin and this model, in paper or live mode
    (never replay), whose exit_time is after the pointer's promoted_at and not after `now`. Two triggers:

    - losing with confidence: with at least `rollback_min_trades` such trades, the probabilistic Sharpe
      ratio of the per-trade net returns (net_pnl_pct / 100) against zero is below `rollback_max_psr`.
      Returns that are all equal (no spread) give PSR 0 when negative, 1 when positive, none at zero;
    - repeated loss-cap stops: on at least `rollback_loss_cap_days` UTC days (0: never) since the promotion,
      Hamilton's daily loss cap stopped new entries (`daily_equity.loss_cap_hit_ms`, paper or live runs)
      and this model's trades that exited that day lost money in sum, net of costs: it was among the
      causes of the stop, repeatedly. Days where it made money or did not trade do not count against it.
    """
    pointer = read_pointer(storage, symbol)
    if pointer is None:
        return None
    promoted_at = datetime.fromisoformat(str(pointer["promoted_at"]))
    start_ms, now_ms = _ms(promoted_at), _ms(now)
    trades: list[dict[str, Any]] = []
    cap_days: dict[Any, int] = {}
    if now_ms > start_ms:
        with _database(db) as engine:
            trades = realised_trades(engine, symbol=symbol, model_id=str(pointer["model_id"]),
                                     exit_after_ms=start_ms, exit_until_ms=now_ms, modes=REALISED_MODES)  # fmt: skip
            if config.rollback_loss_cap_days > 0:
                cap_days = loss_cap_days(engine, hit_after_ms=start_ms, hit_until_ms=now_ms, modes=REALISED_MODES)
    net = np.array([float(t["net_pnl_pct"]) / 100.0 for t in trades], dtype=np.float64)
    mean = float(net.mean()) * 100.0 if net.size else None
    psr = _psr(net) if net.size >= config.rollback_min_trades else None
    since = f"since its promotion at {pointer['promoted_at']}"
    if net.size < config.rollback_min_trades:
        psr_due, reason = False, (
            f"{net.size} closed paper/live trades {since} < rollback_min_trades {config.rollback_min_trades}: "
            "no verdict yet"
        )
    elif psr is None:
        psr_due, reason = False, f"{net.size} trades {since}, mean {mean:+.3f}% per trade: PSR undefined, no verdict"
    else:
        psr_due = psr < config.rollback_max_psr
        reason = (
            f"{net.size} trades {since}, mean net {mean:+.3f}% per trade, PSR {psr:.3f} "
            f"{'<' if psr_due else '>='} rollback_max_psr {config.rollback_max_psr:g}"
        )
    losing = _losing_cap_days(trades, cap_days)
    cap_due = config.rollback_loss_cap_days > 0 and len(losing) >= config.rollback_loss_cap_days
    if cap_due:
        listed = ", ".join(f"{day} ({net_pct:+.3f}%)" for day, net_pct in losing.items())
        cap_reason = (
            f"lost money on {len(losing)} days when Hamilton's daily loss cap stopped trading {since}: {listed} "
            f">= rollback_loss_cap_days {config.rollback_loss_cap_days}"
        )
        reason = cap_reason if not psr_due else f"{reason}; and {cap_reason}"
    elif losing:
        reason += (
            f"; lost money on {len(losing)} loss-cap day(s) < rollback_loss_cap_days {config.rollback_loss_cap_days}"
        )
    return RollbackVerdict(
        symbol=symbol, model_id=str(pointer["model_id"]), promoted_at=str(pointer["promoted_at"]),
        previous_model_id=pointer["previous_model_id"], trades=int(net.size),
        min_trades=config.rollback_min_trades, mean_net_pct=mean, psr=psr, max_psr=config.rollback_max_psr,
        due=psr_due or cap_due, reason=reason, loss_cap_days=tuple(losing),
        min_loss_cap_days=config.rollback_loss_cap_days,
    )  # fmt: skip


def _losing_cap_days(trades: list[dict[str, Any]], cap_days: Mapping[Any, int]) -> dict[str, float]:
    """ISO day -> this model's summed net PnL (%) of the trades that exited that day, for loss-cap days it lost on."""
    by_day: dict[str, float] = {}
    for trade in trades:
        day = datetime.fromtimestamp(int(trade["exit_time"]) / 1000, UTC).date().isoformat()
        by_day[day] = by_day.get(day, 0.0) + float(trade["net_pnl_pct"])
    wanted = {day.isoformat() for day in cap_days}
    return {day: net for day, net in sorted(by_day.items()) if day in wanted and net < 0}


def auto_rollback(
    storage: Storage,
    db: str | Engine,
    symbol: str,
    config: MechanicConfig,
    *,
    gates: PromotionGatesConfig,
    now: datetime,
) -> dict[str, Any]:
    """Apply the automatic rule to one coin: roll back when `rollback_due` says so, else say why not.

    Returns {"symbol", "rolled_back", "reason", "verdict", ...rollback result}. The pointer stays when the
    champion has no previous model, when that previous model was itself once rolled back from (no
    ping-pong between two losers: a person decides then), or when the rollback is refused.
    """
    verdict = rollback_due(db, storage, symbol, config, now=now)
    if verdict is None:
        return {"symbol": symbol, "rolled_back": False, "reason": f"{symbol} has no champion", "verdict": None}
    out: dict[str, Any] = {"symbol": symbol, "rolled_back": False, "verdict": verdict.to_dict()}
    if not verdict.due:
        return {**out, "reason": verdict.reason}
    target = verdict.previous_model_id
    refusal = None
    if target is None:
        refusal = "it has no previous champion to roll back to"
    elif _was_rolled_back_from(read_promotions(storage), symbol, target):
        refusal = f"its previous champion {target} was itself rolled back once; choose a model by hand"
    if refusal is None:
        try:
            done = rollback(storage, db, symbol, reason=f"automatic: {verdict.reason}", at=now, gates=gates)
        except RollbackRefused as exc:
            refusal = str(exc)
        else:
            return {**out, **done, "rolled_back": True}
    line = f"⚠️ {symbol}: champion {verdict.model_id} is losing ({verdict.reason}) but stays: {refusal}"
    announce(line, kind="promotions", problem=True)
    return {**out, "reason": f"rollback due ({verdict.reason}) but not done: {refusal}"}


def _was_rolled_back_from(history: list[dict[str, Any]], symbol: str, model_id: str) -> bool:
    return any(
        r.get("symbol") == symbol and r.get("promoted_by") == "rollback" and r.get("previous_model_id") == model_id
        for r in history
    )


def _psr(net: np.ndarray) -> float | None:
    """PSR against zero; equal returns (no spread, PSR undefined) are a certain loss or gain, or nothing."""
    if float(np.std(net)) <= 1e-15:
        mean = float(net.mean())
        return 0.0 if mean < 0 else 1.0 if mean > 0 else None
    value = probabilistic_sharpe(net)
    return None if value is None or not math.isfinite(value) else float(value)


def _ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"{moment.isoformat()} must be timezone-aware (UTC)")
    return int(moment.timestamp() * 1000)
