"""Training for the nightly Engine: the shared encoder over all coins, then each coin's model.

The encoder learns only from bars before `encoder_cutoff_ms`, and every coin's out-of-sample test range
starts after that moment, so no OOS bar was seen by any part of the model (nor is it warm-started from an
encoder whose knowledge reaches past that cutoff: `pick_warm_start`). Each coin's 23 engines are then
evaluated walk-forward (fees, spread and slippage in the loop) and saved as a verified bundle.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch

from huracan_core.alphas.base import AlphaEngine
from huracan_core.alphas.calibration import net_edge_bps
from huracan_core.alphas.learned import CORE_INPUTS, EXTRA_INPUTS, NeuralEngine, PretrainedHead, window_key
from huracan_core.archive import Storage, paths
from huracan_core.config import HuracanConfig
from huracan_core.costs import CostParams, costs_summary, fees_from_config
from huracan_core.decision import DecisionSettings
from huracan_core.engine.champion import compare_with_champion, recent_net_pnl
from huracan_core.engine.coin_model import bundle_contents, coin_engines
from huracan_core.evaluation.research import (
    Evaluation,
    ResearchFrame,
    WalkForwardSettings,
    at_coin_horizon,
    evaluate_walk_forward,
    training_frame,
    walk_forward_plan,
)
from huracan_core.exceptions import DataIntegrityError
from huracan_core.models.bundle import save_bundle
from huracan_core.models.embedding_cache import frame_embeddings
from huracan_core.models.encoder import EncoderConfig, SharedEncoder
from huracan_core.models.train import TrainConfig, fit_heads, torch_threads, train_encoder
from huracan_core.models.windows import Normaliser, make_windows
from huracan_core.timeframe import horizon_candidates

log = logging.getLogger(__name__)

ENCODER_FILE = "encoder.safetensors"
ENCODER_META = "encoder.json"
TRAIN_FRACTION = 0.4  # share of the lookback the encoder may learn from (the first fold's training share)


def encoder_columns(frames: Mapping[str, ResearchFrame]) -> list[str]:
    """Feature columns every coin of the run has (non-null): the shared encoder's inputs, in a fixed order."""
    columns = []
    for column in (*CORE_INPUTS, *EXTRA_INPUTS):
        if all(
            column in rf.frame.columns and rf.frame[column].null_count() < rf.frame.height
            for rf in frames.values()
        ):
            columns.append(column)
    return columns


def encoder_cutoff_ms(window_start_ms: int, window_end_ms: int) -> int:
    """Bars from here on are never in the encoder's training labels (its labels end before the cutoff)."""
    return window_start_ms + int((window_end_ms - window_start_ms) * TRAIN_FRACTION)


class NoEncoderDataError(ValueError):
    """No coin has 200 labelled bars before the encoder's cutoff (say, all were listed after it)."""


@dataclass(frozen=True)
class SharedEncoderResult:
    encoder: SharedEncoder
    columns: list[str]
    cutoff_ms: int
    windows_per_second: float
    epochs: int
    warm_started: bool


def train_shared_encoder(
    frames: Mapping[str, ResearchFrame],
    *,
    cutoff_ms: int,
    seed: int,
    device: str,
    init: tuple[dict[str, torch.Tensor], list[str]] | None = None,
) -> SharedEncoderResult:
    """Train the encoder (with per-coin heads) on every coin's bars before `cutoff_ms`."""
    columns = encoder_columns(frames)
    horizon = NeuralEngine.horizon_bars
    enc_cfg = EncoderConfig(n_features=len(columns))
    train_sets: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    valid_sets: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for symbol, rf in frames.items():
        frame = rf.frame
        y = net_edge_bps(frame, horizon).cast(float).fill_null(np.nan).to_numpy()  # the engines' label
        ts = frame["timestamp"].to_numpy()
        index = np.arange(frame.height)
        # A label at row t reads opens up to t + 1 + horizon: keep those ending before the cutoff.
        last_label_ok = index + 1 + horizon < np.searchsorted(ts, cutoff_ms)
        allowed = last_label_ok & np.isfinite(y)
        rows = np.flatnonzero(allowed)
        if rows.size < 200:
            log.info(
                "%s: %d rows before the encoder cutoff; left out of the shared encoder", symbol, rows.size
            )
            continue
        cut = rows[int(rows.size * 0.8)]
        fit_rows = allowed & (index <= cut)
        valid_rows = allowed & (index > cut + 1 + horizon)
        normaliser = Normaliser.fit(frame, columns, fit_rows)
        fit = make_windows(frame, normaliser, enc_cfg.window, rows=fit_rows, targets=y)
        valid = make_windows(frame, normaliser, enc_cfg.window, rows=valid_rows, targets=y)
        train_sets[symbol] = (fit.X, fit.y)  # type: ignore[assignment]
        valid_sets[symbol] = (valid.X, valid.y)  # type: ignore[assignment]
    if not train_sets:
        raise NoEncoderDataError(
            "no coin has enough bars before the encoder cutoff to train the shared encoder"
        )
    init_state, init_symbols = init if init is not None else (None, None)
    trained = train_encoder(
        train_sets,
        valid_sets,
        TrainConfig(encoder=enc_cfg),
        device,
        seed,
        init_state=init_state,
        init_symbols=init_symbols,
    )
    return SharedEncoderResult(
        encoder=trained.encoder.cpu().eval(),
        columns=columns,
        cutoff_ms=cutoff_ms,
        windows_per_second=float(trained.windows_per_second),
        epochs=len(trained.history),
        warm_started=bool(trained.warm_started),
    )


def save_encoder(
    storage: Storage,
    model_id: str,
    result: SharedEncoderResult,
    meta: Mapping[str, Any],
    *,
    inherited_reach_ms: int | None = None,
) -> str:
    """Write the encoder (safetensors + JSON, no pickle) under encoders/<model_id>/; returns its folder key.

    `data_seen_until_ms` records how far its knowledge reaches: its own cutoff, or later when it was
    warm-started from an encoder that reached further (`inherited_reach_ms`, the warm start's reach).
    """
    from safetensors.torch import save

    reach = result.cutoff_ms
    if result.warm_started and inherited_reach_ms is not None:
        reach = max(reach, int(inherited_reach_ms))
    folder = paths.encoder_dir(model_id)
    state = {k: v.detach().cpu().contiguous() for k, v in result.encoder.state_dict().items()}
    storage.write_bytes(f"{folder}/{ENCODER_FILE}", save(state))
    storage.write_json(
        f"{folder}/{ENCODER_META}",
        {
            "encoder_config": result.encoder.config.to_dict(),
            "columns": result.columns,
            "cutoff_ms": result.cutoff_ms,
            "data_seen_until_ms": reach,
            "windows_per_second": result.windows_per_second,
            "epochs": result.epochs,
            "warm_started": result.warm_started,
            **meta,
        },
    )
    return folder


def load_encoder(storage: Storage, folder: str) -> tuple[SharedEncoder, dict[str, Any]]:
    """The encoder saved by `save_encoder` (weights through safetensors: loading runs no code)."""
    from safetensors.torch import load

    meta = storage.read_json(f"{folder}/{ENCODER_META}")
    encoder = SharedEncoder(EncoderConfig.from_dict(dict(meta["encoder_config"])))
    encoder.load_state_dict(load(storage.read_bytes(f"{folder}/{ENCODER_FILE}")))
    return encoder.eval(), meta


def latest_encoder_before(storage: Storage, model_id: str) -> str | None:
    """The newest encoder folder of an earlier run (the warm start), or None."""
    earlier = [key for key in storage.list(paths.encoders_root()) if key.rsplit("/", 1)[-1] < model_id]
    return earlier[-1] if earlier else None


def encoder_reach_ms(meta: Mapping[str, Any]) -> int | None:
    """The latest moment an encoder's weights know of (its labels end before it), inherited reach included.

    Encoders saved before `data_seen_until_ms` was recorded only know their own `cutoff_ms` as far as
    their meta tells; None when the meta says neither.
    """
    value = meta.get("data_seen_until_ms", meta.get("cutoff_ms"))
    return None if value is None else int(value)


@dataclass(frozen=True)
class WarmStart:
    """The earlier encoder a run starts from, or which one it did not use and why."""

    init: tuple[dict[str, torch.Tensor], list[str]] | None  # (encoder state, its coins) for train_encoder
    source: str | None  # the encoder folder the weights come from
    reach_ms: int | None  # how far that encoder's knowledge reaches (`encoder_reach_ms`)
    refused: dict[str, str] | None  # {"from": folder, "reason": ...} when an earlier encoder was not used


def pick_warm_start(storage: Storage, model_id: str, cutoff_ms: int) -> WarmStart:
    """The newest earlier encoder, unless it cannot be loaded or learned from bars at or after `cutoff_ms`.

    Every coin's out-of-sample test range starts after today's cutoff; an encoder whose knowledge reaches
    past it (a longer `engine.lookback_days` than the night before, an as-of jump) has seen those bars, and
    its weights would carry them into today's model. Such a run trains the encoder from scratch.
    """
    from huracan_core.market.candles import format_ms

    previous = latest_encoder_before(storage, model_id)
    if previous is None:
        return WarmStart(init=None, source=None, reach_ms=None, refused=None)

    def refuse(reason: str, reach: int | None = None) -> WarmStart:
        return WarmStart(init=None, source=None, reach_ms=reach, refused={"from": previous, "reason": reason})

    try:
        encoder, meta = load_encoder(storage, previous)
    except Exception as exc:  # a broken old encoder means a cold start, never a failed night
        return refuse(f"it could not be loaded ({exc})")
    reach = encoder_reach_ms(meta)
    if reach is None:
        return refuse("its meta does not say which bars it learned from")
    if reach > cutoff_ms:
        return refuse(
            f"it learned from bars up to {format_ms(reach)}, after today's cutoff {format_ms(cutoff_ms)}",
            reach,
        )
    init = ({f"encoder.{k}": v for k, v in encoder.state_dict().items()}, list(meta.get("symbols", [])))
    return WarmStart(init=init, source=previous, reach_ms=reach, refused=None)


def walk_forward_settings(config: HuracanConfig, *, folds: int | None = None) -> WalkForwardSettings:
    """The walk-forward split, hold, horizon candidates and gate settings from the `engine` config section.

    The nightly Engine and `huracan backtest` both call this, so a backtest evaluates a coin the way the
    Engine does; `folds` (the backtest's --folds flag) replaces engine.folds when given.
    """
    return WalkForwardSettings(
        n_folds=config.engine.folds if folds is None else folds,
        hold_bars=config.engine.hold_bars,
        min_signals=config.engine.min_signals,
        horizons=horizon_candidates(config.general.timeframe, config.engine.horizons),
    )


class _FoldSet(NamedTuple):
    """One coin's embedded training and validation set of one fold."""

    key: tuple[int, int, int]  # window_key of the fold's training frame
    normaliser_mean: np.ndarray
    fit: tuple[np.ndarray, np.ndarray]  # (embeddings [n, D], net-edge labels [n])
    valid: tuple[np.ndarray, np.ndarray]
    horizon_bars: int  # the coin's chosen horizon: its labels' and its head's


def train_batch_heads(
    frames: Mapping[str, ResearchFrame],
    config: HuracanConfig,
    *,
    encoder: SharedEncoder,
    columns: Sequence[str],
    cutoff_ms: int | None,
    device: str,
) -> dict[str, dict[tuple[int, int, int], PretrainedHead]]:
    """Every coin's neural head for every walk-forward fold, the batch's heads of a fold trained together.

    For each fold, each coin's training window is prepared exactly as that coin's `NeuralEngine.fit` will
    prepare it (same rows, same train-only normaliser, same net-edge labels); the windows are embedded by
    the frozen shared encoder coin by coin (only embeddings are kept, not the windows), and the heads of
    all coins are fitted in one `fit_heads` loop on `device` — one task trains a batch of 8-16 coins' heads
    at once on a GPU. Each coin's heads learn at the coin's chosen horizon (`at_coin_horizon`, the choice
    its evaluation makes), so heads of one batch may label different holding periods: each head has its
    own coin's labels. Coins whose folds cannot be planned are left out: their evaluation reports why.
    """
    seed = config.engine.seed
    settings = walk_forward_settings(config)
    engines = coin_engines(encoder, columns, seed)
    neural = next(e for e in engines if isinstance(e, NeuralEngine))
    window = encoder.config.window
    enc = (encoder if str(device) == "cpu" else copy.deepcopy(encoder).to(device)).eval()
    cfg = TrainConfig(encoder=encoder.config, threads=int(neural.params["nthread"]))
    folds: dict[int, dict[str, _FoldSet]] = {}
    for symbol, rf in frames.items():
        try:
            chosen, coin_settings, _ = at_coin_horizon(rf, engines, settings, cutoff_ms)
            splits = walk_forward_plan(rf, chosen, coin_settings, cutoff_ms)
        except DataIntegrityError:
            continue
        coin_neural = next(e for e in chosen if isinstance(e, NeuralEngine))
        frame = rf.frame.slice(rf.first_valid)
        for k, split in enumerate(splits):
            train = training_frame(frame, split)
            prepared = coin_neural.fit_inputs(train)
            if isinstance(prepared, str):
                continue
            # Every window of the training frame, embedded once: the coin's XGBoost and its neural `fit`
            # embed this same frame later and find it in the cache.
            with torch_threads(cfg):
                ends, emb = frame_embeddings(enc, train, prepared.normaliser, window, device)
            labelled = np.isfinite(prepared.y[ends])
            fit, valid = (
                (emb[pick], prepared.y[ends[pick]].astype(np.float32))
                for pick in (labelled & rows[ends] for rows in (prepared.fit_rows, prepared.valid_rows))
            )
            folds.setdefault(k, {})[symbol] = _FoldSet(
                window_key(train), prepared.normaliser.mean, fit, valid, coin_neural.horizon_bars
            )
    out: dict[str, dict[tuple[int, int, int], PretrainedHead]] = {s: {} for s in frames}
    for k, coins in sorted(folds.items()):
        ready = {s: c for s, c in coins.items() if len(c.fit[1])}
        if not ready:
            continue
        trained = fit_heads(
            {s: c.fit for s, c in ready.items()},
            {s: c.valid for s, c in ready.items()},
            encoder.config.embed_dim,
            encoder.config.head_hidden,
            cfg,
            device,
            seed,
        )
        for i, symbol in enumerate(trained.symbols):
            head = trained.heads.subset([i])
            out[symbol][ready[symbol].key] = PretrainedHead(
                tensors={f"heads.{n}": v.detach().cpu().numpy() for n, v in head.state_dict().items()},
                normaliser_mean=ready[symbol].normaliser_mean,
                best_epoch=trained.best_epoch,
                epochs_run=len(trained.history),
                batch_coins=len(trained.symbols),
                device=str(device),
                horizon_bars=ready[symbol].horizon_bars,
            )
        log.info("Fold %d: neural heads of %d coin(s) trained together (%s).", k + 1, len(ready), device)
    return out


SUMMARY_METRICS = (
    "net_pnl_pct",
    "gross_pnl_pct",
    "sharpe",
    "sortino",
    "max_drawdown_pct",
    "hit_rate",
    "trades",
    "avg_trade_bps",
    "fees_bps",
    "turnover",
    "probabilistic_sharpe",
    "deflated_sharpe",
    "trials",
)


def evaluate_coin(
    rf: ResearchFrame,
    config: HuracanConfig,
    *,
    encoder: SharedEncoder | None,
    columns: Sequence[str] | None,
    cutoff_ms: int | None,
    pretrained_heads: Mapping[tuple[int, int, int], PretrainedHead] | None = None,
) -> tuple[Evaluation, list[AlphaEngine]]:
    """One coin's 23 engines evaluated walk-forward (OOS after costs): the Engine's and the Mechanic's
    model, fitted and judged the same way; the engines are returned as evaluated (at the coin's horizon)."""
    engines = coin_engines(encoder, columns, config.engine.seed, pretrained_heads)
    ev = evaluate_walk_forward(
        rf,
        engines,
        decision=DecisionSettings.from_config(config),
        settings=walk_forward_settings(config),
        first_test_not_before_ms=cutoff_ms,
    )
    return ev, list(ev.engines)


def save_coin(
    rf: ResearchFrame,
    ev: Evaluation,
    engines: Sequence[AlphaEngine],
    config: HuracanConfig,
    *,
    storage: Storage,
    folder: str,
    model_id: str,
    columns: Sequence[str] | None,
    encoder_key: str | None,
    data_window: Mapping[str, Any],
) -> dict[str, Any]:
    """Save the evaluated model as a verified bundle in `folder`; returns the small JSON summary."""
    contents = bundle_contents(
        ev,
        rf,
        engines,
        decision=DecisionSettings.from_config(config),
        seed=config.engine.seed,
        as_of=data_window["as_of"],
        config_hash=config.config_hash(),
        data_window=data_window,
        columns=columns,
        encoder_key=encoder_key,
    )
    fees = fees_from_config(config.costs)
    params = CostParams.for_timeframe(rf.timeframe)  # what build_research_frame estimated rf.costs with
    costs = costs_summary(rf.costs, fees, symbol=rf.symbol, cost_config=config.costs, params=params)
    saved = save_bundle(
        storage,
        folder,
        tensors=contents.tensors,
        config=contents.config,
        metrics=contents.metrics,
        costs=costs,
    )
    m = ev.metrics
    return {
        "symbol": rf.symbol,
        "model_id": model_id,
        "path": folder,
        "model_sha256": saved["model_sha256"],
        "feature_recipe_hash": rf.recipe.hash(),
        "metrics": {k: m.get(k) for k in SUMMARY_METRICS},
        "benchmarks": m.get("benchmarks"),
        "oos_window": {"first_bar": ev.oos_start_ms, "last_bar": ev.oos_end_ms},
        "last_train_end_ms": contents.config["last_train_end_ms"],
        "engine_errors": ev.engine_errors,
        "recent_net_pnl_pct": recent_net_pnl(ev, rf.timeframe),
    }


def train_coin(
    rf: ResearchFrame,
    config: HuracanConfig,
    *,
    storage: Storage,
    model_id: str,
    encoder: SharedEncoder | None,
    columns: Sequence[str] | None,
    cutoff_ms: int | None,
    encoder_key: str | None,
    data_window: Mapping[str, Any],
    pretrained_heads: Mapping[tuple[int, int, int], PretrainedHead] | None = None,
) -> dict[str, Any]:
    """Evaluate one coin's 23 engines walk-forward and save the bundle; returns a small JSON summary."""
    started = time.monotonic()
    ev, engines = evaluate_coin(
        rf, config, encoder=encoder, columns=columns, cutoff_ms=cutoff_ms, pretrained_heads=pretrained_heads
    )
    # Compare before writing: a re-run of this date may be rewriting the champion's own folder.
    comparison = compare_with_champion(
        storage,
        ev,
        rf,
        model_id=model_id,
        hold_bars=config.engine.hold_bars,
        decision=DecisionSettings.from_config(config),
        min_days=config.engine.comparison_min_days,
    )
    summary = save_coin(
        rf,
        ev,
        engines,
        config,
        storage=storage,
        folder=paths.model_dir(rf.symbol, model_id),
        model_id=model_id,
        columns=columns,
        encoder_key=encoder_key,
        data_window=data_window,
    )
    return {**summary, "comparison": comparison, "seconds": round(time.monotonic() - started, 2)}
