"""The nightly Engine as steps: universe -> candles -> shared encoder -> train_batch (per coin batch) -> publish
-> report. `huracan engine`, `run_daily.py` and the Airflow DAG call exactly these functions.

Every step takes the config path (so a worker on another machine loads the same config, plus the same
`overrides` as dotted keys) and returns small JSON (symbols, ids, archive keys) — never frames or models.
Each step is idempotent per as-of: running it again replaces that as-of's outputs, never duplicates them.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from huracan_core import __version__
from huracan_core.archive import Storage, paths
from huracan_core.archive.reports import write_daily_report, write_daily_summary
from huracan_core.config import HuracanConfig, load_config
from huracan_core.exceptions import ConfigError, DataIntegrityError

log = logging.getLogger("huracan.engine")

REFERENCE_SYMBOLS = ("BTCUSDT", "ETHUSDT")


# --- shared plumbing --------------------------------------------------------------------------
def load_step_config(config_path: str | None, overrides: Mapping[str, Any] | None) -> HuracanConfig:
    """The step's config; this process's notifications follow it from here on (telegram.*)."""
    from huracan_core.broadcaster.outbox import use_config

    config = load_config(config_path, overrides=dict(overrides or {}))
    use_config(config)
    return config


def parse_as_of(as_of: str | datetime) -> datetime:
    """An aware UTC datetime from ISO text (a bare date is that day's 00:00 UTC)."""
    if isinstance(as_of, datetime):
        value = as_of
    else:
        try:
            value = datetime.fromisoformat(as_of)
        except ValueError:
            raise ConfigError(f"as-of {as_of!r} is not a date like 2025-01-31 or 2025-01-31T02:00") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def run_id_for(as_of: datetime) -> str:
    """The run's id and every model folder's name: YYYYMMDD_HHMMSSZ of the as-of (same as-of, same names)."""
    return paths.model_id_for(as_of)


def _window(config: HuracanConfig, as_of: datetime) -> Any:
    from huracan_core.engine.candles_step import TrainingWindow

    return TrainingWindow.ending_at(as_of, config.engine.lookback_days, config.general.timeframe)


def batch_size(config: HuracanConfig, n_symbols: int) -> int:
    """Coins per batch: engine.coins_per_batch (8-16 per GPU). On a CPU, batches are at most that big and
    their number a multiple of the worker processes, all of about the same size, so no core idles while the
    last batch runs (20 coins on 2 cores with 8 per batch: 4 batches of 5, not 8 + 8 + 4)."""

    k = config.engine.coins_per_batch
    if config.engine.device == "cuda" or n_symbols == 0:
        return k
    workers = _workers(config)
    batches = -(-n_symbols // k)  # fewest batches the cap allows
    batches = -(-batches // workers) * workers
    return max(1, -(-n_symbols // batches))


def _worker_logging(config: HuracanConfig) -> None:
    """A bare worker process (spawned by the scheduler) logs like its parent: console + engine.log.

    Inside Airflow (or any host with root handlers) nothing is changed: the host's task log gets the lines.
    """
    if logging.getLogger().handlers or logging.getLogger("huracan_core").handlers:
        return
    from huracan_core.logs import setup_logging

    setup_logging(config.general.log_dir, name="engine")


def _share_of_cores(config: HuracanConfig) -> None:
    """Torch threads for one batch task: its share of the cores when several tasks run at once.

    Our scheduler starts workers with OMP_NUM_THREADS already set (`worker_threads`); a host that does not
    (an Airflow worker running mapped tasks side by side) would otherwise give every task all the cores,
    and OpenMP's spinning threads made two such tasks 2-3x slower each.
    """
    import os

    if "OMP_NUM_THREADS" in os.environ:
        return
    import torch

    from huracan_core.engine.worker_process import share_of_cores

    torch.set_num_threads(share_of_cores(_workers(config)))


def _workers(config: HuracanConfig) -> int:
    """Batch tasks that run at once on this machine: engine.max_concurrent, capped at the core count."""
    import os

    return max(1, min(config.engine.max_concurrent, os.cpu_count() or 1))


def _run_key(run_id: str, name: str) -> str:
    return f"{paths.engine_run_dir(run_id)}/{name}.json"


def _progress_dir(run_id: str) -> str:
    """One empty marker per finished batch, named <first coin>-<coins>.json: done = the sum of the counts."""
    return f"{paths.engine_run_dir(run_id)}/progress"


def _tell_progress(
    config: HuracanConfig, storage: Storage, run_id: str, batch: Sequence[str], results: Mapping[str, Any]
) -> None:
    """Mark this batch done and tell the user the coins done of the total, about every 10% (never raises).

    Works the same whether the batches run as Airflow mapped tasks or as the scheduler's workers: the
    markers are in the archive. Two batches finishing together may both report the same step.
    """
    from huracan_core.broadcaster import announce, messages
    from huracan_core.broadcaster.outbox import Target

    target = Target.from_config(config)
    if not batch or target is None or target.notify.engine == "off":
        return  # nobody to tell: no markers either

    try:
        storage.write_json(f"{_progress_dir(run_id)}/{batch[0]}-{len(batch)}.json", {})
        done = sum(
            int(key.rsplit("-", 1)[-1].removesuffix(".json")) for key in storage.list(_progress_dir(run_id))
        )
        try:
            total = len(storage.read_json(_run_key(run_id, "candles"))["ok"])
        except (FileNotFoundError, KeyError, TypeError):
            total = done
        total = max(total, done)
        before = done - len(batch)
        if done >= total or (10 * done) // total > (10 * before) // total:
            announce(messages.engine_progress(run_id, done, total, results), kind="engine", config=config)
    except Exception as exc:  # progress is a courtesy: it never fails a training batch
        log.warning("Engine progress not reported (%s)", exc)


# --- steps ------------------------------------------------------------------------------------
def plan_step(config_path: str | None, as_of: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Universe: the run's symbols and their batches of `engine.coins_per_batch`."""
    from huracan_core.market import open_source, resolve_universe

    config = load_step_config(config_path, overrides)
    moment = parse_as_of(as_of)
    source = open_source(config)
    symbols = resolve_universe(config.general.symbols, source, config.general.timeframe,
                               as_of_ms=int(moment.timestamp() * 1000))  # fmt: skip
    k = batch_size(config, len(symbols))
    window = _window(config, moment)
    plan = {
        "run_id": run_id_for(moment),
        "as_of": moment.isoformat(),
        "symbols": symbols,
        "batches": [symbols[i : i + k] for i in range(0, len(symbols), k)],
        "timeframe": config.general.timeframe,
        "lookback_days": config.engine.lookback_days,
        "window": {"start_ms": window.start_ms, "end_ms": window.end_ms},
        "data_source": source.describe(),
        # Wall-clock start of this run (for the finish message's duration; not an input of any result).
        "started_at": datetime.now(UTC).isoformat(),
    }
    storage = Storage(config.general.archive)
    storage.write_json(_run_key(plan["run_id"], "plan"), plan)
    storage.delete(_progress_dir(plan["run_id"]), recursive=True)  # a re-run counts its own batches
    log.info(
        "Universe: %s (%d symbols in %d batches)", ", ".join(symbols), len(symbols), len(plan["batches"])
    )
    from huracan_core.broadcaster import announce, messages

    announce(messages.engine_started(plan), kind="engine", config=config)
    return plan


def candles_step(
    config_path: str | None, plan: dict[str, Any], overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Fill the lake (ccxt) and gate every symbol: which are usable, which were skipped and why."""
    from huracan_core.engine.candles_step import prepare_candles
    from huracan_core.market import open_source

    config = load_step_config(config_path, overrides)
    moment = parse_as_of(plan["as_of"])
    source = open_source(config)
    symbols = list(plan["symbols"])
    available = set(source.list_symbols(config.general.timeframe))
    refs = [r for r in REFERENCE_SYMBOLS if r not in symbols and r in available]

    def on_symbol(symbol: str, verdict: str, reason: str | None) -> None:
        if symbol not in symbols:
            return
        if verdict == "skipped":
            log.warning("⚠️ %s: %s", symbol, reason)
        elif verdict == "failed":
            log.error("❌ %s: %s", symbol, reason)

    outcome = prepare_candles(
        config, [*symbols, *refs], _window(config, moment), source=source, on_symbol=on_symbol
    )
    verdicts = {
        "ok": [s for s in symbols if s in outcome.candles],
        "refs": [r for r in REFERENCE_SYMBOLS if r in outcome.candles],
        "skipped": {s: r for s, r in outcome.skipped.items() if s in symbols},
        "failed": {s: r for s, r in outcome.failed.items() if s in symbols},
        "rows": {s: f.height for s, f in outcome.candles.items()},
    }
    Storage(config.general.archive).write_json(_run_key(plan["run_id"], "candles"), verdicts)
    return verdicts


def research_frames(
    config: HuracanConfig, symbols: Sequence[str], as_of: datetime, universe: Sequence[str] = ()
) -> dict[str, Any]:
    """Research frames of `symbols` (with BTC/ETH as references) from what the candle step stored.

    `universe` (the run's usable coins) adds each coin's cross-sectional rank among them; a batch
    alone would rank its few coins only. A coin with funding rates in the lake gets `funding_rate`.
    """
    from huracan_core.costs import fees_from_config
    from huracan_core.engine.candles_step import prepare_candles
    from huracan_core.evaluation.research import build_research_frame
    from huracan_core.features.cross_section import cross_sectional_ranks
    from huracan_core.market import open_source
    from huracan_core.market.funding import lake_funding

    source = None if config.data.source == "ccxt" else open_source(config)
    wanted = list(dict.fromkeys([*symbols, *universe, *REFERENCE_SYMBOLS]))
    if source is not None:
        available = set(source.list_symbols(config.general.timeframe))
        wanted = [s for s in wanted if s in symbols or s in available]
    outcome = prepare_candles(config, wanted, _window(config, as_of), source=source, fill=False)
    refs = {r: outcome.candles[r] for r in REFERENCE_SYMBOLS if r in outcome.candles}
    ranked = [s for s in dict.fromkeys([*symbols, *universe]) if s in outcome.candles]
    ranks = cross_sectional_ranks({s: outcome.candles[s] for s in ranked})
    fees = fees_from_config(config.costs)
    funding = lake_funding(config, [s for s in symbols if s in outcome.candles])
    frames = {}
    for symbol in symbols:
        if symbol in outcome.candles:
            frames[symbol] = build_research_frame(
                outcome.candles[symbol],
                symbol,
                config.general.timeframe,
                refs=refs,
                cost_config=config.costs,
                fees=fees,
                extra_columns=ranks[symbol],
                funding=funding.get(symbol),
            )
    return frames


def run_universe(storage: Storage, run_id: str, fallback: Sequence[str]) -> list[str]:
    """The run's usable coins as the candle step recorded them (`fallback` when it has not run).

    References (BTC, ETH) that the universe did not select are context, not members: they are not ranked.
    """
    key = _run_key(run_id, "candles")
    if not storage.exists(key):
        return list(fallback)
    verdicts = storage.read_json(key)
    return list(verdicts.get("ok", []))


def encoder_step(
    config_path: str | None,
    plan: dict[str, Any],
    candles: dict[str, Any],
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train the shared encoder on every usable coin and save it.

    It is warm-started from the last encoder unless that one learned from bars after today's cutoff (it
    would have seen today's out-of-sample bars); the refusal is logged and recorded in the encoder's meta.
    """
    from huracan_core.engine.train import (
        NoEncoderDataError,
        encoder_cutoff_ms,
        pick_warm_start,
        save_encoder,
        train_shared_encoder,
    )
    from huracan_core.models.device import pick_device

    config = load_step_config(config_path, overrides)
    moment = parse_as_of(plan["as_of"])
    storage = Storage(config.general.archive)
    symbols = list(candles["ok"])
    if not symbols:
        return {"encoder_key": None, "reason": "no usable coin"}
    frames = research_frames(config, symbols, moment, universe=symbols)
    cutoff = encoder_cutoff_ms(plan["window"]["start_ms"], plan["window"]["end_ms"])
    warm = pick_warm_start(storage, plan["run_id"], cutoff)
    if warm.refused is not None:
        log.warning(
            "Not warm-starting from %s: %s; training the encoder from scratch",
            warm.refused["from"],
            warm.refused["reason"],
        )
    device = str(pick_device(config.engine.device))
    log.info("Training the shared encoder on %d coins (%s)...", len(frames), device)
    try:
        result = train_shared_encoder(
            frames, cutoff_ms=cutoff, seed=config.engine.seed, device=device, init=warm.init
        )
    except NoEncoderDataError as exc:
        # Every usable coin was listed too late to have bars before the cutoff: no encoder may learn
        # without seeing out-of-sample bars, so tonight's coins are trained without one.
        log.warning("No shared encoder tonight: %s; the coins are trained without it", exc)
        return {"encoder_key": None, "reason": str(exc)}
    key = save_encoder(
        storage,
        plan["run_id"],
        result,
        {
            "as_of": plan["as_of"],
            "symbols": sorted(frames),
            "warm_start_from": warm.source,
            "warm_start_refused": warm.refused,
            "device": device,
        },
        inherited_reach_ms=warm.reach_ms if warm.source is not None else None,
    )
    log.info(
        "Shared encoder trained: %.0f windows/s, %d epochs%s.",
        result.windows_per_second,
        result.epochs,
        ", warm-started" if result.warm_started else "",
    )
    return {
        "encoder_key": key,
        "windows_per_second": result.windows_per_second,
        "columns": len(result.columns),
        "warm_start_from": warm.source,
        "warm_start_refused": warm.refused,
    }


def train_batch(
    batch: list[str],
    as_of: str,
    *,
    config_path: str | None,
    encoder_key: str | None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """Train, evaluate (out-of-sample, after costs) and save one bundle per coin of the batch.

    Returns {symbol: summary} or {symbol: {"error": reason}}; one coin failing never stops the others.
    """
    from huracan_core.engine.train import encoder_reach_ms, load_encoder, train_batch_heads, train_coin
    from huracan_core.models.device import pick_device

    config = load_step_config(config_path, overrides)
    _worker_logging(config)
    _share_of_cores(config)
    moment = parse_as_of(as_of)
    storage = Storage(config.general.archive)
    model_id = run_id_for(moment)
    encoder, meta = (None, {})
    if encoder_key:
        encoder, meta = load_encoder(storage, encoder_key)
    # Out-of-sample tests start after everything the encoder knows (its cutoff, or what it inherited).
    seen_until = encoder_reach_ms(meta)
    window = _window(config, moment)
    data_window = {
        "as_of": moment.isoformat(),
        "start_ms": window.start_ms,
        "end_ms": window.end_ms,
        "timeframe": window.timeframe,
        "source": config.data.source,
    }
    frames = research_frames(config, batch, moment, universe=run_universe(storage, model_id, batch))
    heads: dict[str, Any] = {}
    if encoder is not None and frames:
        device = str(pick_device(config.engine.device))
        log.info("Training the neural heads of %d coin(s) together (%s)...", len(frames), device)
        try:
            heads = train_batch_heads(
                frames,
                config,
                encoder=encoder,
                columns=meta["columns"],
                cutoff_ms=seen_until,
                device=device,
            )
        except (DataIntegrityError, ValueError, RuntimeError) as exc:  # each coin then fits its own head
            log.warning("⚠️ Batched neural heads failed (%s); each coin trains its head alone.", exc)
    results: dict[str, dict[str, Any]] = {}
    for symbol in batch:
        log.info("Training %s (%d days)...", symbol, config.engine.lookback_days)
        if symbol not in frames:
            results[symbol] = {"error": "no usable candles (see the candle step's verdict)"}
            continue
        try:
            summary = train_coin(
                frames[symbol],
                config,
                storage=storage,
                model_id=model_id,
                encoder=encoder,
                columns=meta.get("columns"),
                cutoff_ms=seen_until,
                encoder_key=encoder_key,
                data_window=data_window,
                pretrained_heads=heads.get(symbol),
            )
        except (DataIntegrityError, ValueError) as exc:
            log.warning("⚠️ %s: %s", symbol, exc)
            results[symbol] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        net = summary["metrics"].get("net_pnl_pct")
        log.info(
            "✅ Model saved. Net PnL %s after fees (out-of-sample, %s trades).",
            "n/a" if net is None else f"{net:+.1f}%",
            summary["metrics"].get("trades"),
        )
        results[symbol] = summary
    _tell_progress(config, storage, model_id, batch, results)
    return results


def publish_step(
    config_path: str | None,
    plan: dict[str, Any],
    results: Sequence[Mapping[str, Mapping[str, Any]]],
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Gates and the paired comparison, pointers, roster, promotions history and database rows."""
    from huracan_core.archive.lease import publish_lease
    from huracan_core.db import (
        record_metrics,
        record_model,
        record_promotion,
        set_model_status,
        upgrade,
    )
    from huracan_core.db.connection import connect
    from huracan_core.engine.champion import promote, write_roster

    config = load_step_config(config_path, overrides)
    storage = Storage(config.general.archive)
    moment = parse_as_of(plan["as_of"])
    merged: dict[str, Mapping[str, Any]] = {}
    for batch in results:
        merged.update(batch)
    upgrade(config.general.database)
    db = connect(config.general.database)
    now = datetime.now(UTC)
    verdicts: dict[str, Any] = {}
    failed: dict[str, str] = {}
    # The Mechanic never publishes these coins meanwhile (huracan_core/archive/lease.py).
    with publish_lease(storage, f"engine:{plan['run_id']}", list(plan["symbols"]), wait_s=1800.0):
        try:
            for symbol in plan["symbols"]:
                result = merged.get(symbol)
                if result is None:
                    continue
                if "error" in result:
                    failed[symbol] = str(result["error"])
                    continue
                record_model(
                    db,
                    symbol=symbol,
                    model_id=result["model_id"],
                    path=result["path"],
                    sha256=result["model_sha256"],
                    feature_recipe_hash=result["feature_recipe_hash"],
                    config_hash=config.config_hash(),
                    trained_as_of=moment,
                    created_at=now,
                )
                record_metrics(
                    db,
                    symbol=symbol,
                    model_id=result["model_id"],
                    metrics={k: v for k, v in result["metrics"].items() if isinstance(v, int | float)},
                )
                _record_breakdowns(db, storage, result, record_metrics)
                verdict = promote(storage, result, gates=config.engine.gates, promoted_at=now, as_of=moment)
                verdicts[symbol] = verdict
                if verdict["promoted"]:
                    if verdict.get("previous_model_id") != result["model_id"]:
                        record_promotion(
                            db,
                            symbol=symbol,
                            from_model_id=verdict.get("previous_model_id"),
                            to_model_id=result["model_id"],
                            promoted_by="engine",
                            promoted_at=now,
                            reason=str(verdict.get("reason")),
                            metrics=result["metrics"],
                        )
                        if verdict.get("previous_model_id"):
                            _status(db, set_model_status, symbol, verdict["previous_model_id"], "retired")
                    set_model_status(db, symbol=symbol, model_id=result["model_id"], status="champion")
                    log.info("🏆 %s: %s is champion (%s).", symbol, result["model_id"], verdict.get("reason"))
                else:
                    status = "rejected" if verdict["gate_failures"] else "trained"
                    set_model_status(db, symbol=symbol, model_id=result["model_id"], status=status)
                    log.info("%s: not promoted (%s).", symbol, verdict.get("reason"))
        finally:
            db.dispose()
        roster = write_roster(storage, config.engine.gates, updated_at=now)
    published = {
        "models": sorted(s for s in merged if "error" not in merged[s]),
        "promoted": sorted(s for s, v in verdicts.items() if v["promoted"]),
        "verdicts": verdicts,
        "failed": failed,
        "roster": [e["symbol"] for e in roster["champions"] if e.get("trade_ok")],
        "results": {s: dict(r) for s, r in merged.items()},
    }
    storage.write_json(_run_key(plan["run_id"], "published"), published)
    return published


def _record_breakdowns(db: Any, storage: Storage, result: Mapping[str, Any], record_metrics: Any) -> None:
    """Per-regime and per-engine OOS metrics from the bundle's metrics.json into model_metrics."""
    metrics = storage.read_json(f"{result['path']}/metrics.json")
    for group, prefix in (("per_regime", "regime"), ("per_engine", "engine")):
        for name, values in (metrics.get(group) or {}).items():
            numbers = {
                k: v for k, v in values.items() if isinstance(v, int | float) and not isinstance(v, bool)
            }
            if numbers:
                record_metrics(
                    db,
                    symbol=result["symbol"],
                    model_id=result["model_id"],
                    metrics=numbers,
                    scope=f"{prefix}:{name}",
                )


def _status(db: Any, set_model_status: Any, symbol: str, model_id: str, status: str) -> None:
    try:
        set_model_status(db, symbol=symbol, model_id=model_id, status=status)
    except ValueError:  # the previous champion may predate this database
        log.info("%s: previous champion %s is not in the database; status not changed", symbol, model_id)


def report_step(
    config_path: str | None,
    plan: dict[str, Any],
    candles: dict[str, Any],
    published: dict[str, Any],
    overrides: dict[str, Any] | None = None,
    *,
    wall_time_s: float | None = None,
) -> dict[str, Any]:
    """Daily summary and the seed's daily report for the as-of date; returns their locations."""
    config = load_step_config(config_path, overrides)
    storage = Storage(config.general.archive)
    moment = parse_as_of(plan["as_of"])
    results = {s: r for s, r in published.get("results", {}).items() if "error" not in r}
    nets = [
        r["metrics"]["net_pnl_pct"] for r in results.values() if r["metrics"].get("net_pnl_pct") is not None
    ]
    trades = sum(int(r["metrics"].get("trades") or 0) for r in results.values())
    wins = sum(
        (r["metrics"].get("hit_rate") or 0.0) * int(r["metrics"].get("trades") or 0) for r in results.values()
    )
    failed = {**candles.get("failed", {}), **published.get("failed", {})}
    top = sorted(results.values(), key=lambda r: -(r["metrics"].get("net_pnl_pct") or -1e9))[:3]
    held = [_buy_and_hold(r).get("net_pnl_pct") for r in results.values()]
    held = [h for h in held if h is not None]
    summary = {
        "as_of": plan["as_of"],
        "run_id": plan["run_id"],
        "timeframe": plan["timeframe"],
        "lookback_days": plan["lookback_days"],
        "data_source": plan["data_source"],
        "symbols_total": len(plan["symbols"]),
        "symbols_succeeded": len(results),
        "symbols_failed": len(failed),
        "symbols_skipped": len(candles.get("skipped", {})),
        "succeeded": sorted(results),
        "failed": failed,
        "skipped": candles.get("skipped", {}),
        "promoted": published.get("promoted", []),
        "top_contributors": [
            {
                "symbol": r["symbol"],
                "model_id": r["model_id"],
                "net_pnl_pct": r["metrics"].get("net_pnl_pct"),
                "sharpe": r["metrics"].get("sharpe"),
                "deflated_sharpe": r["metrics"].get("deflated_sharpe"),
                "trades": r["metrics"].get("trades"),
                "buy_and_hold_net_pnl_pct": _buy_and_hold(r).get("net_pnl_pct"),
            }
            for r in top
        ],
        "averages": {
            "net_pnl_pct": statistics.fmean(nets) if nets else None,
            "sharpe": _mean([r["metrics"].get("sharpe") for r in results.values()]),
            "deflated_sharpe": _mean([r["metrics"].get("deflated_sharpe") for r in results.values()]),
            "trades": trades / len(results) if results else None,
        },
        # The market over the same out-of-sample bars, after costs: what holding each coin, or nothing, made.
        "market": {
            "buy_and_hold_avg_net_pnl_pct": statistics.fmean(held) if held else None,
            "flat_net_pnl_pct": 0.0,
            "per_symbol": {s: _buy_and_hold(r) for s, r in sorted(results.items())},
        },
        "metrics_scope": "out-of-sample, after fees, spread and slippage",
        "wall_time_s": wall_time_s,
        "huracan_version": __version__,
        "config_hash": config.config_hash(),
    }
    day = moment.date()
    summary_url = write_daily_summary(storage, day, summary)
    report_url = write_daily_report(
        storage,
        day,
        models_trained=len(results),
        promotions=len(published.get("promoted", [])),
        total_trades=trades,
        avg_pnl_pct=round(statistics.fmean(nets), 4) if nets else None,
        hit_rate_pct=round(100.0 * wins / trades, 2) if trades else None,
        extra={
            "as_of": plan["as_of"],
            "scope": "out-of-sample, after costs",
            "champions": published.get("roster", []),
            "avg_buy_and_hold_pnl_pct": round(statistics.fmean(held), 4) if held else None,
            "flat_pnl_pct": 0.0,
        },
    )
    from huracan_core.broadcaster import announce, messages

    seconds = wall_time_s
    if seconds is None and plan.get("started_at"):
        seconds = (datetime.now(UTC) - datetime.fromisoformat(plan["started_at"])).total_seconds()
    finished = messages.engine_finished(
        plan["run_id"],
        saved=len(results),
        promoted=published.get("promoted", []),
        skipped=len(candles.get("skipped", {})),
        failed=failed,
        seconds=seconds,
    )
    announce(finished, kind="engine", config=config)
    return {"summary": summary_url, "report": report_url}


def _buy_and_hold(result: Mapping[str, Any]) -> dict[str, Any]:
    """The coin's buy-and-hold over the model's OOS bars, as train_coin reported it (empty if absent)."""
    return dict((result.get("benchmarks") or {}).get("buy_and_hold") or {})


def _mean(values: Sequence[Any]) -> float | None:
    numbers = [v for v in values if isinstance(v, int | float)]
    return statistics.fmean(numbers) if numbers else None
