"""What the Huracan page in the Airflow UI shows, as plain JSON-ready data, read from the archive and the database.

Each view calls the readers the CLI and Hamilton use (pointers, roster, promotions history, daily summary,
hamilton_status.json, the control files, the database readers) and returns dicts of strings, numbers, lists
and None: the plugin serves them as JSON and `huracan_core.ui.page` renders them; neither adds numbers of its
own. `overview` gathers every section and turns a section that cannot be read (a corrupt pointer, a database
that is down) into that section's error message, so one broken file never hides the rest of the page.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from huracan_core.archive import Storage, paths
from huracan_core.archive.pointers import read_pointer, read_promotions
from huracan_core.db.connection import DatabaseAccessError, DatabaseNotMigratedError, mask_url, translate
from huracan_core.db.migrate import current_revision, head_revision
from huracan_core.db.queries import (
    get_run,
    models_of,
    pnl_by_day,
    promotion_history,
    recorded_symbols,
    trial_count,
)
from huracan_core.exceptions import CorruptFileError, DatabaseUnavailableError, HuracanError
from huracan_core.hamilton.control import choose_symbols, read_pause, read_selector
from huracan_core.hamilton.status import check_health, default_max_age_seconds, read_status

log = logging.getLogger(__name__)

_SYMBOL = re.compile(r"[A-Z0-9]{2,20}")  # a coin as the archive's paths write it (BTCUSDT)

NIGHTLY_DAG_ID = "huracan_engine_nightly"
# The columns of the champions table, from the pointer's out-of-sample metrics (after costs).
CHAMPION_METRICS = (
    "net_pnl_pct",
    "sharpe",
    "deflated_sharpe",
    "max_drawdown_pct",
    "trades",
    "recent_net_pnl_pct",
)
HISTORY_MODELS = 12  # models (and pointer moves) per coin on the page; the JSON endpoint takes ?limit=
PROMOTIONS_SHOWN = 50  # the newest pointer moves on the page; the JSON endpoint takes ?limit=
# What reading the database raises when it cannot be read: the readers' named errors, or the driver's own.
DATABASE_ERRORS = (DatabaseUnavailableError, DatabaseAccessError, DatabaseNotMigratedError, SQLAlchemyError)


def plain(value: Any) -> Any:
    """`value` with datetimes and dates as ISO-8601 text, recursively: what json.dumps accepts."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


# --- champions -------------------------------------------------------------------------------------------
def champions(storage: Storage) -> dict[str, Any]:
    """Every current champion in the roster's order (its ranking), with its out-of-sample metrics, buy-and-hold
    over the same bars and `trade_ok`; a pointer the roster does not list yet comes last."""
    roster = _read_optional(storage, paths.champion_roster()) or {}
    entries = [
        e
        for e in roster.get("champions") or []
        if isinstance(e, Mapping) and isinstance(e.get("symbol"), str)
    ]
    listed = {e["symbol"] for e in entries}
    rows = [_champion_row(storage, e["symbol"], e) for e in entries]
    rows += [_champion_row(storage, s, None) for s in _pointer_symbols(storage) if s not in listed]
    return {
        "updated_at": roster.get("updated_at"),
        "champions": rows,
        "trade_ok": [row["symbol"] for row in rows if row["trade_ok"]],
    }


def _pointer_symbols(storage: Storage) -> list[str]:
    """Symbols with a folder under champion/ that holds a pointer (other files and folders are not coins)."""
    names = [key.rsplit("/", 1)[-1] for key in storage.list("champion")]
    return [
        name for name in names if _SYMBOL.fullmatch(name) and storage.exists(paths.champion_pointer(name))
    ]


def _champion_row(storage: Storage, symbol: str, entry: Mapping[str, Any] | None) -> dict[str, Any]:
    row: dict[str, Any] = {"symbol": symbol, "trade_ok": bool(entry and entry.get("trade_ok") is True)}
    row["reason"] = (entry or {}).get("reason") if entry is not None else "not in the roster yet"
    try:
        pointer = read_pointer(storage, symbol)
    except CorruptFileError as exc:
        return {**row, "trade_ok": False, "reason": str(exc)}
    if pointer is None:
        return {
            **row,
            "trade_ok": False,
            "reason": f"no pointer at {storage.url(paths.champion_pointer(symbol))}",
        }
    metrics = pointer["metrics"]
    row.update(
        model_id=pointer["model_id"],
        promoted_at=pointer["promoted_at"],
        promoted_by=pointer["promoted_by"],
        previous_model_id=pointer["previous_model_id"],
        as_of=pointer.get("as_of"),
        path=pointer["path"],
        **{name: metrics.get(name) for name in CHAMPION_METRICS},
        buy_and_hold_net_pnl_pct=_buy_and_hold(storage, pointer["path"]),
    )
    return row


def _buy_and_hold(storage: Storage, folder: str) -> float | None:
    """Holding the coin over the model's own out-of-sample bars, after costs (the bundle's metrics.json)."""
    try:
        metrics = storage.read_json(f"{folder}/metrics.json")
    except (FileNotFoundError, CorruptFileError):
        return None
    held = (
        ((metrics.get("benchmarks") or {}).get("buy_and_hold") or {}) if isinstance(metrics, Mapping) else {}
    )
    return held.get("net_pnl_pct")


# --- last night --------------------------------------------------------------------------------------------
def last_night(
    storage: Storage,
    db: Engine | None,
    *,
    find_dag_run: Callable[[str], Mapping[str, Any] | None] | None = None,
) -> dict[str, Any]:
    """The newest nightly run: models trained, promoted, not promoted and why, skipped and failed with their
    reasons, and how long it took.

    The daily summary (summaries/daily/DATE.json) and the publish step's verdicts come from the archive; the
    duration from the summary, else the database's `runs` row (runs of the CLI), else the Airflow DAG run of
    that night: `find_dag_run(as_of)` returns it as plain data (run_id, state, start_date, end_date, url) or
    None; the plugin looks it up in Airflow's database, which huracan_core never reads.
    """
    days = [key for key in storage.list("summaries/daily") if key.endswith(".json")]
    running = _read_optional(storage, paths.engine_status())
    if not days:
        return {"run": None, "engine_status": running}
    summary = storage.read_json(days[-1])
    run_id = str(summary.get("run_id") or "")
    published = _read_optional(storage, f"{paths.engine_run_dir(run_id)}/published.json") if run_id else None
    verdicts = (published or {}).get("verdicts") or {}
    row = _database_run(db, f"engine-{run_id}") if run_id else None
    as_of = summary.get("as_of")
    dag_run = find_dag_run(str(as_of)) if find_dag_run is not None and as_of else None
    duration = summary.get("wall_time_s")
    started, finished = (row or {}).get("started_at"), (row or {}).get("finished_at")
    if duration is None and started and finished:
        duration = (finished - started).total_seconds()
    if duration is None and dag_run and dag_run.get("start_date") and dag_run.get("end_date"):
        duration = (_moment(dag_run["end_date"]) - _moment(dag_run["start_date"])).total_seconds()
    failed = dict(summary.get("failed") or {})
    run = {
        "date": summary.get("date"),
        "as_of": summary.get("as_of"),
        "run_id": run_id,
        "status": (row or {}).get("status")
        or (dag_run or {}).get("state")
        or ("partial" if failed else "succeeded"),
        "symbols_total": summary.get("symbols_total"),
        "trained": list(summary.get("succeeded") or []),
        "promoted": list(summary.get("promoted") or []),
        "not_promoted": {s: v.get("reason") for s, v in sorted(verdicts.items()) if not v.get("promoted")},
        "skipped": dict(summary.get("skipped") or {}),
        "failed": failed,
        "duration_s": duration,
        "started_at": started or (dag_run or {}).get("start_date"),
        "finished_at": finished or (dag_run or {}).get("end_date"),
        "data_source": summary.get("data_source"),
        "lookback_days": summary.get("lookback_days"),
        "timeframe": summary.get("timeframe"),
        "averages": summary.get("averages"),
        "buy_and_hold_avg_net_pnl_pct": (summary.get("market") or {}).get("buy_and_hold_avg_net_pnl_pct"),
        "dag_id": NIGHTLY_DAG_ID,
        "dag_run": dict(dag_run) if dag_run else None,
    }
    return plain({"run": run, "engine_status": running})


def _database_run(db: Engine | None, run_id: str) -> dict[str, Any] | None:
    """The run's row, or None when there is none (a night run by Airflow records none) or it cannot be read."""
    if db is None:
        return None
    try:
        return get_run(db, run_id)
    except DATABASE_ERRORS:
        log.warning("Huracan page: could not read run %s from the database", run_id, exc_info=True)
        return None


def _moment(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


# --- promotions and model history ---------------------------------------------------------------------------
def promotions(
    storage: Storage, db: Engine | None, *, limit: int | None = 50, symbol: str | None = None
) -> dict[str, Any]:
    """The newest `limit` champion pointer moves (None: all), rollbacks included, each with its reason and the
    new model's out-of-sample numbers. champion/promotions.json is the record; the database's `promotions` rows
    add the reason where the archive's record has none (the Engine's and the Mechanic's); without the database
    the moves are still listed, with a warning."""
    history = [r for r in read_promotions(storage) if isinstance(r, Mapping)]
    if symbol is not None:
        history = [r for r in history if r.get("symbol") == symbol]
    reasons: dict[tuple[str, str, str], str] = {}
    warning = None
    try:
        rows = (
            []
            if db is None
            else promotion_history(db, limit=max((limit or len(history)) * 4, 200), symbol=symbol)
        )
        for row in rows:
            reasons[(row["symbol"], row["to_model_id"], _minute(row["promoted_at"]))] = row["reason"]
    except DATABASE_ERRORS as exc:
        warning = f"reasons from the database are missing: {_database_problem(exc, db)}"
    rows = []
    for record in sorted(history, key=lambda r: str(r.get("promoted_at")), reverse=True)[:limit]:
        new = record.get("new_metrics") or {}
        key = (str(record.get("symbol")), str(record.get("model_id")), _minute(record.get("promoted_at")))
        rows.append(
            {
                "promoted_at": record.get("promoted_at"),
                "symbol": record.get("symbol"),
                "from_model_id": record.get("previous_model_id"),
                "to_model_id": record.get("model_id"),
                "promoted_by": record.get("promoted_by"),
                "rollback": record.get("promoted_by") == "rollback",
                "reason": record.get("reason") or reasons.get(key) or _verdict(record),
                "net_pnl_pct": new.get("net_pnl_pct"),
                "sharpe": new.get("sharpe"),
                "trades": new.get("trades"),
            }
        )
    return {"promotions": rows, "total": len(history), "warning": warning}


def _minute(moment: Any) -> str:
    """A promotion time to the minute: the archive's ISO text and the database's datetime meet there."""
    try:
        return _moment(moment).astimezone(UTC).strftime("%Y-%m-%dT%H:%M")
    except (TypeError, ValueError):
        return str(moment)


def _verdict(record: Mapping[str, Any]) -> str | None:
    comparison = record.get("comparison")
    return comparison.get("verdict") if isinstance(comparison, Mapping) else None


def model_history(
    storage: Storage,
    db: Engine | None,
    symbol: str,
    *,
    limit: int = HISTORY_MODELS,
    moves: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """One coin's models, newest first (status and out-of-sample metrics from the database), its current
    champion, its pointer moves and how many Mechanic challengers were tried for it. `moves` are the rows of
    `promotions` already read for every coin (the page reads promotions.json once, not once per coin)."""
    if moves is None:
        moves = promotions(storage, db, symbol=symbol, limit=limit)["promotions"]
    mine = [dict(m) for m in moves if m.get("symbol") == symbol][:limit]
    pointer = read_pointer(storage, symbol)
    return plain(
        {
            "symbol": symbol,
            "champion_model_id": pointer["model_id"] if pointer else None,
            "models": [
                {
                    "model_id": row["model_id"],
                    "trained_as_of": row["trained_as_of"],
                    "status": row["status"],
                    "net_pnl_pct": row["metrics"].get("net_pnl_pct"),
                    "sharpe": row["metrics"].get("sharpe"),
                    "deflated_sharpe": row["metrics"].get("deflated_sharpe"),
                    "max_drawdown_pct": row["metrics"].get("max_drawdown_pct"),
                    "trades": row["metrics"].get("trades"),
                }
                for row in (models_of(db, symbol, limit=limit) if db is not None else [])
            ],
            "promotions": mine,
            "trials": trial_count(db, symbol) if db is not None else 0,
        }
    )


def coins(storage: Storage, db: Engine | None) -> list[str]:
    """Every coin with a champion pointer or a recorded model, sorted."""
    return sorted(set(_pointer_symbols(storage)) | set(recorded_symbols(db) if db is not None else []))


# --- Hamilton and the selector ------------------------------------------------------------------------------
def hamilton(
    storage: Storage, db: Engine | None, *, now: datetime, timeframe: str, default_run_key: str
) -> dict[str, Any]:
    """hamilton_status.json with the heartbeat's age and health, and the run's equity and drawdown per UTC day
    (`daily_equity`). Without a status file the curve is the `default_run_key` run's (the configured mode)."""
    status = read_status(storage)
    run_key = status.run_key if status is not None else default_run_key
    out: dict[str, Any] = {"status": None, "run_key": run_key, "equity_curve": [], "equity_error": None}
    try:
        out["equity_curve"] = equity_curve(pnl_by_day(db, run_key)) if db is not None else []
    except DATABASE_ERRORS as exc:  # the status file still says what Hamilton holds
        out["equity_error"] = _database_problem(exc, db)
    if status is None:
        return plain(out)
    health = check_health(status, now=now, max_age_seconds=default_max_age_seconds(timeframe))
    out.update(status=status.model_dump(mode="json"), health=health.to_dict())
    return plain(out)


def equity_curve(days: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Daily equity rows (oldest first) with the drawdown from the running peak, in percent (0 or below)."""
    curve, peak = [], None
    for day in days:
        equity = float(day["equity"])
        peak = equity if peak is None else max(peak, equity)
        curve.append(
            {
                "day": day["trade_day"],
                "equity": equity,
                "pnl_pct": day.get("pnl_pct"),
                "trades": day.get("trades"),
                "drawdown_pct": (equity / peak - 1.0) * 100.0 if peak else 0.0,
            }
        )
    return plain(curve)


def selector(storage: Storage, *, configured: Sequence[str] | None) -> dict[str, Any]:
    """The symbols selector and the pause (control/), and what they select from the roster's trade_ok champions
    now, exactly as Hamilton chooses at its next bar."""
    chosen = read_selector(storage)
    roster = _read_optional(storage, paths.champion_roster())
    selection = choose_symbols(chosen, roster, configured=configured)
    return plain(
        {
            "selector": chosen.model_dump(mode="json") if chosen is not None else None,
            "selection": selection.to_dict(),
            "pause": read_pause(storage).model_dump(mode="json"),
        }
    )


# --- everything at once ---------------------------------------------------------------------------------------
def section(name: str, read: Callable[[], Any], *, db: Engine | None = None) -> Any:
    """`read()`'s data, or {"error": message} saying what failed: the page shows it in place of the section.

    Only failures to read are caught (storage, database, a file of the wrong shape); a database error names the
    host or file as `huracan_core.db.connection` words it (the password masked).
    """
    try:
        return read()
    except HuracanError as exc:
        message = str(exc)
    except SQLAlchemyError as exc:
        message = _database_problem(exc, db)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        message = f"{type(exc).__name__}: {_first_line(exc)}"
    log.warning("Huracan page: %s could not be read: %s", name, message)
    return {"error": message}


def database_note(db: Engine) -> str | None:
    """None when the database holds this code's schema; else why its rows are left out of the page.

    A new install has no tables until the first nightly run (or `huracan db upgrade`) creates them: the page
    then shows what the archive holds, with this note, instead of an error in every section. A database that
    cannot be reached gives None here: the sections that read it say so.
    """
    try:
        at = current_revision(db)
        head = head_revision()
    except DATABASE_ERRORS:
        return None
    if at is None:
        return (
            f"The database ({mask_url(db.url)}) has no Huracan tables yet: the first nightly run creates them "
            "(or `huracan db upgrade`). Until then the page shows what the archive holds."
        )
    if at != head:
        return (
            f"The database ({mask_url(db.url)}) is at schema revision {at} and this code reads {head}: its rows are "
            "left out until `huracan db upgrade` (the next nightly run upgrades it)."
        )
    return None


def overview(
    storage: Storage,
    db: Engine,
    *,
    now: datetime,
    timeframe: str,
    default_run_key: str,
    configured: Sequence[str] | None,
    find_dag_run: Callable[[str], Mapping[str, Any] | None] | None = None,
) -> dict[str, Any]:
    """Every section of the page, each its data or {"error": ...}. `timeframe` sets Hamilton's health limit,
    `default_run_key` the equity curve shown before Hamilton wrote a status, `configured` is hamilton.symbols."""
    note = database_note(db)
    rows: Engine | None = db if note is None else None  # the database's rows, when they can be read
    moves = section("promotions", lambda: promotions(storage, rows, limit=None), db=db)
    every_move = moves.get("promotions") if "error" not in moves else None
    if every_move is not None:
        moves = {**moves, "promotions": every_move[:PROMOTIONS_SHOWN]}
    listed = section("coins", lambda: coins(storage, rows), db=db)
    histories: dict[str, Any] = {}
    for symbol in listed if isinstance(listed, list) else []:
        histories[symbol] = section(
            f"the model history of {symbol}",
            lambda s=symbol: model_history(storage, rows, s, moves=every_move),
            db=db,
        )
    return {
        "generated_at": now.isoformat(),
        "archive": storage.url(""),
        "database_note": note,
        "champions": section("champions", lambda: champions(storage)),
        "last_night": section(
            "last night", lambda: last_night(storage, rows, find_dag_run=find_dag_run), db=db
        ),
        "promotions": moves,
        "hamilton": section(
            "Hamilton",
            lambda: hamilton(storage, rows, now=now, timeframe=timeframe, default_run_key=default_run_key),
            db=db,
        ),
        "selector": section("selector", lambda: selector(storage, configured=configured)),
        "models": histories if isinstance(listed, list) else listed,
    }


def _database_problem(exc: Exception, db: Engine | None) -> str:
    """What went wrong with the database, in the words of `huracan_core.db.connection` (password masked)."""
    if isinstance(exc, HuracanError):
        return str(exc)
    known = translate(exc, db.url) if isinstance(exc, DBAPIError) and db is not None else None
    return str(known) if known is not None else _first_line(exc)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _read_optional(storage: Storage, key: str) -> Any | None:
    try:
        return storage.read_json(key)
    except FileNotFoundError:
        return None
