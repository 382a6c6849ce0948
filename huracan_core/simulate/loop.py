"""`huracan simulate`: the whole system over a past period, retrain date by retrain date.

At each retrain date d_i the nightly Engine runs as of d_i (only bars before it) on the universe chosen as of
d_i and publishes its champions into the simulation's own archive exactly as the nightly job does; then
(optionally) the Mechanic's hourly passes run over [d_i, d_{i+1}); then Hamilton replays [d_i, d_{i+1}) on its
replay clock (paper broker, guardrails, costs), trading each coin's champion as it was at each bar. Each
period is its own replay run (journal key `replay:<d_i>:<d_{i+1}>`), starting from the paper wallet and
closing its positions at the period's end; the periods' returns are chained into one equity curve.

Everything lives under --out: `archive/` (models, champions, promotions, trade logs), `huracan.db` (journal,
daily equity), `periods/<i>/` (each finished period's trades, daily equity and buy-and-hold curve) and
`progress.json`, written atomically after each step: a rerun skips the retrain dates already done.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from huracan_core.archive import Storage
from huracan_core.config import HuracanConfig, load_config
from huracan_core.exceptions import ConfigError

log = logging.getLogger("huracan.simulate")

PROGRESS = "progress.json"


@dataclass
class SimulateRequest:
    """What `huracan simulate` was asked (plain data: it is also the fingerprint a resume must match)."""

    start: datetime
    end: datetime
    out: Path
    retrain_every_days: int = 7
    symbols: str = "top20"
    source: str = "lake"
    lake: str | None = None
    timeframe: str | None = None
    lookback_days: int | None = None
    mechanic: bool = False
    mechanic_every_hours: int = 1  # hours between the Mechanic's passes (Airflow runs it every hour)
    config_path: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # more dotted config overrides (tests, gates)
    stop_after: int | None = None  # stop after this many retrain dates (a deliberate interruption)

    def fingerprint(self, config: HuracanConfig | None = None) -> dict[str, Any]:
        """The request, and the effective settings it ran with (`settings_fingerprint`): a config file edited
        or a HURACAN__* variable set between two runs changes what the finished dates would have been."""
        out = asdict(self)
        for key in ("out", "stop_after", "config_path"):
            out.pop(key)
        out["start"], out["end"] = self.start.isoformat(), self.end.isoformat()
        if config is not None:
            out["settings"] = settings_fingerprint(config)
        return json.loads(json.dumps(out, default=str))


# Settings that say where the simulation writes (under --out, which may move) or how it reports, not what it
# computes: left out of the resume fingerprint.
_UNFINGERPRINTED = ("general.archive", "general.database", "general.log_dir", "telegram")


def settings_fingerprint(config: HuracanConfig) -> dict[str, Any]:
    """The effective config (secrets masked) as flat dotted keys, without `_UNFINGERPRINTED`."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif not any(prefix == k or prefix.startswith(f"{k}.") for k in _UNFINGERPRINTED):
            flat[prefix] = value

    walk("", config.masked())
    return flat


@dataclass
class SimulateResult:
    out: Path
    retrain_dates: list[str]
    done: list[str]
    resumed: list[str]
    wall_time_s: float
    summary: dict[str, Any] | None = None
    finished: bool = False


def retrain_dates(start: datetime, end: datetime, every_days: int) -> list[datetime]:
    """start, start + every, ... strictly before end (UTC midnights as given)."""
    if end <= start:
        raise ConfigError(f"--to ({end:%Y-%m-%d}) must be after --from ({start:%Y-%m-%d})")
    if every_days < 1:
        raise ConfigError("--retrain-every must be at least 1d")
    out, moment = [], start
    while moment < end:
        out.append(moment)
        moment += timedelta(days=every_days)
    return out


def mechanic_hours(start: datetime, end: datetime, every_hours: int) -> list[datetime]:
    """The Mechanic's passes in [start, end): start + every, start + 2 * every, ... (the Engine ran at start)."""
    if every_hours < 1:
        raise ConfigError("--mechanic-every must be at least 1h")
    step = timedelta(hours=every_hours)
    out, hour = [], start + step
    while hour < end:
        out.append(hour)
        hour += step
    return out


def parse_hours(text: str) -> int:
    """'1h' | '6h' | '6' -> hours."""
    match = re.fullmatch(r"\s*([1-9][0-9]*)\s*h?\s*", text)
    if not match:
        raise ConfigError(f"--mechanic-every must be like 1h or 6h (got {text!r})")
    return int(match.group(1))


def parse_every(text: str) -> int:
    """'1d' | '7d' | '7' -> days."""
    match = re.fullmatch(r"\s*([1-9][0-9]*)\s*d?\s*", text)
    if not match:
        raise ConfigError(f"--retrain-every must be like 1d or 7d (got {text!r})")
    return int(match.group(1))


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def overrides_for(request: SimulateRequest) -> dict[str, Any]:
    """The config the Engine, the Mechanic and Hamilton share: the simulation's own archive and database."""
    out = request.out.resolve()
    overrides: dict[str, Any] = {
        "general.archive": str(out / "archive"),
        "general.database": f"sqlite:///{out / 'huracan.db'}",
        "general.log_dir": str(out / "logs"),
        "data.source": request.source,
        # A champion is at most one retrain interval old when the next retrain replaces it; the live
        # guardrail (7 days) would refuse it on day 8 of a weekly interval.
        "hamilton.max_model_age_days": request.retrain_every_days + 1,
    }
    if request.lake:
        overrides["data.lake_dir"] = request.lake
    if request.timeframe:
        overrides["general.timeframe"] = request.timeframe
    if request.lookback_days:
        overrides["engine.lookback_days"] = request.lookback_days
    overrides.update(request.extra)
    return overrides


# --- universe as of a date ---------------------------------------------------------------------
def universe_as_of(spec: str, config: HuracanConfig, as_of: datetime) -> list[str]:
    """The coins the universe held at `as_of`: a list as given (checked against the source); `topN` ranked as
    the nightly Engine ranks it as of that moment (`resolve_universe`: the seven days of bars closed by then;
    a coin listed later is not there, one gone since still is)."""
    from huracan_core.market import open_source, resolve_universe

    return resolve_universe(spec, open_source(config), config.general.timeframe, quote=config.general.quote,
                            as_of_ms=to_ms(as_of))  # fmt: skip


# --- progress ----------------------------------------------------------------------------------
def write_json_atomic(path: Path, obj: Any) -> None:
    """The archive's own atomic JSON write (a reader sees the old file or the new one, never a part)."""
    Storage(str(path.parent)).write_json(path.name, obj)


def load_progress(request: SimulateRequest, config: HuracanConfig) -> dict[str, Any]:
    """progress.json of an earlier run of the same simulation, or a fresh one; a run with other settings is
    refused, naming what differs (resuming it would splice two different systems into one equity curve)."""
    path = request.out / PROGRESS
    fingerprint = request.fingerprint(config)
    if not path.exists():
        return {"request": fingerprint, "dates": {}}
    progress = json.loads(path.read_text(encoding="utf-8"))
    stored = progress.get("request") or {}
    if stored != fingerprint:
        raise ConfigError(
            f"{request.out} holds a simulation with other settings ({path}: {_differences(stored, fingerprint)}); "
            "use another --out or delete it"
        )
    return progress


def _differences(stored: Mapping[str, Any], now: Mapping[str, Any], limit: int = 5) -> str:
    """'engine.folds 4 -> 3, ...': the keys whose values differ (settings flattened beside the request's)."""
    def flat(fp: Mapping[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in fp.items() if k != "settings"}
        out.update(fp.get("settings") or {})
        return out

    old, new = flat(stored), flat(now)
    keys = sorted(k for k in old.keys() | new.keys() if old.get(k, "<unset>") != new.get(k, "<unset>"))
    shown = [f"{k} {old.get(k, '<unset>')!r} -> {new.get(k, '<unset>')!r}" for k in keys[:limit]]
    more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(shown) + more if shown else "written by another version"


# --- one retrain date --------------------------------------------------------------------------
def run_period(
    request: SimulateRequest,
    config: HuracanConfig,
    overrides: Mapping[str, Any],
    index: int,
    start: datetime,
    end: datetime,
    progress: dict[str, Any],
    *,
    engine_progress: Any | None = None,
) -> None:
    """Engine as of `start`, optional Mechanic passes, then Hamilton's replay of [start, end); each step is
    recorded in progress.json once done and skipped when already recorded."""
    from huracan_core.engine.run import run_engine

    key = start.isoformat()
    entry = progress["dates"].setdefault(key, {"index": index, "end": end.isoformat()})
    save = lambda: write_json_atomic(request.out / PROGRESS, progress)  # noqa: E731
    if "universe" not in entry:
        entry["universe"] = universe_as_of(request.symbols, config, start)
        save()
    universe: list[str] = entry["universe"]
    if "engine" not in entry:
        if universe:
            started = time.monotonic()
            result = run_engine(
                request.config_path, start,
                overrides={**overrides, "general.symbols": ",".join(universe)}, progress=engine_progress,
            )  # fmt: skip
            entry["engine"] = {
                "trained": result.trained, "promoted": result.promoted, "skipped": result.skipped,
                "failed": result.failed, "wall_time_s": round(time.monotonic() - started, 2),
            }  # fmt: skip
        else:
            entry["engine"] = {"trained": [], "promoted": [], "skipped": {}, "failed": {}, "wall_time_s": 0.0}
        save()
    if request.mechanic and "mechanic" not in entry:
        from huracan_core.mechanic.hourly import run_mechanic

        started = time.monotonic()
        promoted: list[str] = []
        passes: list[str] = []
        for hour in mechanic_hours(start, end, request.mechanic_every_hours):
            done = run_mechanic(
                request.config_path, hour, overrides={**overrides, "general.symbols": ",".join(universe)}
            )
            passes.append(hour.isoformat())
            promoted += [f"{hour:%Y-%m-%dT%H}:{s}" for s in done.promoted]
        entry["mechanic"] = {"passes": passes, "promoted": promoted,
                             "wall_time_s": round(time.monotonic() - started, 2)}  # fmt: skip
        save()
    if "traded" not in entry:
        started = time.monotonic()
        folder = request.out / "periods" / f"{index:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        traded = trade_period(config, universe, to_ms(start), to_ms(end))
        traded["trades"].write_parquet(folder / "trades.parquet")
        traded["equity"].write_parquet(folder / "equity.parquet")
        entry["traded"] = {
            "run_key": traded["run_key"], "symbols": traded["symbols"], "trades": traded["trades"].height,
            "note": traded["note"], "wall_time_s": round(time.monotonic() - started, 2),
        }  # fmt: skip
        save()


def trade_period(config: HuracanConfig, universe: list[str], start_ms: int, end_ms: int) -> dict[str, Any]:
    """Hamilton's replay of [start_ms, end_ms) over the universe's champions, and buy-and-hold of the
    universe (equal weight, after costs). Returns the period's closed trades and per-day equity factors
    (`strategy`: the replay's end-of-day equity / the paper wallet; `buy_and_hold`; 1.0 at the start)."""
    from huracan_core.db import pnl_by_day
    from huracan_core.db.connection import connect
    from huracan_core.hamilton.journal import Journal
    from huracan_core.hamilton.run import HamiltonRequest, run_hamilton, run_key_for
    from huracan_core.hamilton.trade_log import from_journal, trades_frame

    request = HamiltonRequest(
        mode="paper", clock="replay", start_ms=start_ms, end_ms=end_ms, symbols=universe
    )
    run_key = run_key_for(request)
    note = ""
    symbols: list[str] = []
    if universe:
        try:
            summary = run_hamilton(config, request)
            symbols = sorted({*universe} - {r.get("symbol") for r in summary.refused_champions})
        except ConfigError as exc:  # no coin of the universe has a champion: Hamilton stays flat
            note = str(exc)
    wallet = float(config.hamilton.paper_wallet)
    db = connect(config.general.database)
    try:
        rows = Journal(db, run_key, "replay").trades(closed_only=True) if not note else []
        trades = trades_frame(from_journal(r) for r in rows).sort("exit_time", "symbol", "entry_time")
        days = pnl_by_day(db, run_key) if not note else []
    finally:
        db.dispose()
    day_index = _days(start_ms, end_ms)
    strategy = pl.DataFrame(
        {"day": [d["trade_day"] for d in days], "strategy": [float(d["equity"]) / wallet for d in days]},
        schema={"day": pl.Date, "strategy": pl.Float64},
    )
    equity = day_index.join(strategy, on="day", how="left").with_columns(
        pl.col("strategy").forward_fill().fill_null(1.0)
    )
    held = buy_and_hold(config, universe, start_ms, end_ms)
    equity = equity.join(held, on="day", how="left").with_columns(
        pl.col("buy_and_hold").forward_fill().fill_null(1.0)
    )
    return {"run_key": run_key, "symbols": symbols, "trades": trades, "equity": equity, "note": note}


def _days(start_ms: int, end_ms: int) -> pl.DataFrame:
    first = datetime.fromtimestamp(start_ms / 1000, UTC).date()
    last = datetime.fromtimestamp((end_ms - 1) / 1000, UTC).date()
    return pl.DataFrame({"day": pl.date_range(first, last, "1d", eager=True)})


def buy_and_hold(config: HuracanConfig, universe: list[str], start_ms: int, end_ms: int) -> pl.DataFrame:
    """Equal weight in each coin of the universe from the period's first bar to its last, after costs:
    each coin is the backtest of a constant full position over exactly the replay's bars (the benchmark of
    `evaluation.benchmarks`: one round trip, the same cost estimates), the portfolio the mean of the coins'
    equity (no rebalancing inside the period). Per UTC day: the last bar's value."""
    from huracan_core.evaluation.backtest import backtest
    from huracan_core.hamilton.frames import replay_frames

    empty = pl.DataFrame(schema={"day": pl.Date, "buy_and_hold": pl.Float64})
    if not universe:
        return empty
    frames = replay_frames(config, universe, start_ms, end_ms)
    curves = []
    for symbol, rf in frames.frames.items():
        start = int(np.searchsorted(rf.frame["timestamp"].to_numpy(), frames.start_ms))
        frame = rf.frame.slice(start)
        if frame.height < 2:
            continue
        held = backtest(frame, np.ones(frame.height), rf.costs["cost_bps"].to_numpy()[start:])
        curves.append(
            pl.DataFrame(
                {"timestamp": held.bars["timestamp"], symbol: np.cumprod(1.0 + held.bars["net"].to_numpy())}
            )
        )
    if not curves:
        return empty
    joined = curves[0]
    for curve in curves[1:]:
        joined = joined.join(curve, on="timestamp", how="full", coalesce=True)
    joined = joined.sort("timestamp").fill_null(strategy="forward").fill_null(1.0)
    coins = [c for c in joined.columns if c != "timestamp"]
    return (
        joined.select(
            pl.from_epoch("timestamp", time_unit="ms").dt.date().alias("day"),
            pl.mean_horizontal(coins).alias("buy_and_hold"),
        )
        .group_by("day")
        .agg(pl.col("buy_and_hold").last())
        .sort("day")
    )


# --- the whole simulation ----------------------------------------------------------------------
def simulate(
    request: SimulateRequest,
    *,
    on_date: Callable[[int, int, str], None] | None = None,
    engine_progress: Any | None = None,
) -> SimulateResult:
    """Run (or resume) the simulation; write the report when every retrain date is done."""
    from huracan_core.simulate.report import write_report

    started = time.monotonic()
    request.out.mkdir(parents=True, exist_ok=True)
    dates = retrain_dates(request.start, request.end, request.retrain_every_days)
    overrides = overrides_for(request)
    config = load_config(request.config_path, overrides=overrides)
    progress = load_progress(request, config)
    progress.setdefault("wall_time_s", 0.0)
    resumed = [d.isoformat() for d in dates if "traded" in progress["dates"].get(d.isoformat(), {})]
    ran = 0
    for i, moment in enumerate(dates):
        key = moment.isoformat()
        if "traded" in progress["dates"].get(key, {}):
            continue
        if request.stop_after is not None and ran >= request.stop_after:
            break
        if on_date is not None:
            on_date(i, len(dates), key)
        end = dates[i + 1] if i + 1 < len(dates) else request.end
        before = time.monotonic()
        run_period(request, config, overrides, i, moment, end, progress, engine_progress=engine_progress)
        progress["wall_time_s"] = round(progress["wall_time_s"] + time.monotonic() - before, 2)
        write_json_atomic(request.out / PROGRESS, progress)
        ran += 1
    done = [d.isoformat() for d in dates if "traded" in progress["dates"].get(d.isoformat(), {})]
    result = SimulateResult(
        out=request.out, retrain_dates=[d.isoformat() for d in dates], done=done, resumed=resumed,
        wall_time_s=round(time.monotonic() - started, 2),
    )  # fmt: skip
    prefix = 0
    while prefix < len(dates) and dates[prefix].isoformat() in done:
        prefix += 1
    if prefix:  # the report covers the finished periods (all of them once the simulation is complete)
        covered_to = dates[prefix] if prefix < len(dates) else request.end
        result.summary = write_report(request, config, progress, dates[:prefix], covered_to=covered_to)
        result.finished = prefix == len(dates)
    return result
