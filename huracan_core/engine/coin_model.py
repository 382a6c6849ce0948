"""One coin's model: the 23 engines with their fitted states, the gate table and the combiner state.

`bundle_contents` turns an evaluation into what `save_bundle` writes; `engines_from_bundle` rebuilds the
engines from a verified bundle (weights from model.bin, never code); `replay` runs a model unchanged on
bars it has not seen, through the same combiner, decision and backtest as the evaluation. The paired
champion comparison and Hamilton both use `replay`'s path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import torch

from huracan_core import __version__
from huracan_core.alphas.base import AlphaEngine, LearnedEngine
from huracan_core.alphas.learned import NeuralEngine, PretrainedHead, XGBoostEngine
from huracan_core.alphas.registry import ENGINES, rule_engines, run_engines
from huracan_core.decision import DecisionSettings, decide, hold_until_horizon
from huracan_core.evaluation.backtest import BacktestResult, backtest
from huracan_core.evaluation.metrics import compute_metrics
from huracan_core.evaluation.research import Evaluation, ResearchFrame
from huracan_core.exceptions import BundleVerificationError
from huracan_core.meta import GateTable, MetaCombiner, forward_moves_bps, run_combiner
from huracan_core.models.bundle import Bundle, library_versions
from huracan_core.models.encoder import SharedEncoder
from huracan_core.sizing import VOL_COLUMN

BUNDLE_REF = "bundle://"


class BundleWeightStore:
    """A WeightStore over a loaded bundle's tensors: `bundle://<engine>` -> that engine's tensors."""

    def __init__(self, tensors: Mapping[str, torch.Tensor]) -> None:
        self._tensors = tensors

    def put(self, key: str, tensors: Mapping[str, np.ndarray]) -> str:
        raise BundleVerificationError("a loaded bundle is read-only; weights cannot be added to it")

    def get(self, ref: str) -> Mapping[str, np.ndarray]:
        engine = ref.removeprefix(BUNDLE_REF)
        prefix = f"{engine}."
        out = {k[len(prefix) :]: v.numpy() for k, v in self._tensors.items() if k.startswith(prefix)}
        if not out:
            raise BundleVerificationError(f"model.bin holds no tensors for engine {engine!r} ({ref})")
        return out


def coin_engines(
    encoder: SharedEncoder | None,
    columns: Sequence[str] | None,
    seed: int,
    pretrained_heads: Mapping[tuple[int, int, int], PretrainedHead] | None = None,
) -> list[AlphaEngine]:
    """The 23 engines for one coin: 21 rules, XGBoost on features + shared embeddings, neural head
    (taking the heads trained with its batch, `pretrained_heads`, where their training window matches)."""
    learned: list[AlphaEngine] = [
        XGBoostEngine(encoder=encoder, columns=columns, seed=float(seed)),
        NeuralEngine(encoder=encoder, columns=columns, seed=float(seed), pretrained_heads=pretrained_heads),
    ]
    return [*rule_engines(), *learned]


@dataclass(frozen=True)
class BundleContents:
    tensors: dict[str, torch.Tensor]
    config: dict[str, Any]
    metrics: dict[str, Any]


def bundle_contents(
    ev: Evaluation,
    rf: ResearchFrame,
    engines: Sequence[AlphaEngine],
    *,
    decision: DecisionSettings,
    seed: int,
    as_of: str,
    config_hash: str,
    data_window: Mapping[str, Any],
    columns: Sequence[str] | None,
    encoder_key: str | None,
) -> BundleContents:
    """Tensors, config.json and metrics.json of the model `ev` evaluated (its last fold's fitted states).

    `horizon_bars` is the hold its trades were evaluated with (the coin's chosen horizon, when chosen):
    Hamilton and `replay_bundle` hold every trade that long; `horizon` says why it was chosen.
    """
    tensors: dict[str, torch.Tensor] = {}
    states: dict[str, dict[str, Any]] = {}
    for engine in engines:
        state = ev.states.get(engine.name)
        if state is None:
            continue
        state = dict(state)
        if isinstance(engine, LearnedEngine) and state.get("trained"):
            tensors.update(engine.bundle_tensors(state))  # type: ignore[attr-defined]
            state["weights_ref"] = f"{BUNDLE_REF}{engine.name}"
        states[engine.name] = state
    if not tensors:  # safetensors needs at least one tensor; an all-rule model still gets a real file
        tensors["meta.engines"] = torch.tensor([len(states)], dtype=torch.int64)
    config = {
        "symbol": rf.symbol,
        "timeframe": rf.timeframe,
        "as_of": as_of,
        "feature_recipe": rf.recipe.model_dump(mode="json"),
        "feature_recipe_hash": rf.recipe.hash(),
        "engines": states,
        "engine_errors": ev.engine_errors,
        "gate_table": ev.gate.to_dict(),
        "combiner": ev.combiner.to_dict(),
        "horizon_bars": ev.hold_bars,
        "horizon": ev.metrics.get("horizon"),
        "decision": decision.model_dump(),
        "feature_columns": list(columns) if columns is not None else None,
        "shared_encoder": encoder_key,
        "versions": library_versions(),
        "seed": seed,
        "data_window": dict(data_window),
        "oos_window": {"first_bar": ev.oos_start_ms, "last_bar": ev.oos_end_ms},
        "last_train_end_ms": _last_train_end(ev, rf),
        "config_hash": config_hash,
        "code_version": __version__,
    }
    metrics = {"scope": "out-of-sample, after fees, spread and slippage", **ev.metrics}
    return BundleContents(tensors, config, metrics)


def _last_train_end(ev: Evaluation, rf: ResearchFrame) -> int:
    """Open time of the bar after the shipped states' last training row (they saw nothing from here on)."""
    last = ev.splits[-1].train_index().max()
    timestamps = rf.frame["timestamp"]
    return int(timestamps[min(rf.first_valid + int(last) + 1, timestamps.len() - 1)])


def engines_from_bundle(bundle: Bundle) -> tuple[list[AlphaEngine], dict[str, dict[str, Any]]]:
    """Engines and states of a verified bundle; learned engines read their weights from model.bin."""
    store = BundleWeightStore(bundle.tensors)
    engines: list[AlphaEngine] = []
    states: dict[str, dict[str, Any]] = {}
    columns = bundle.config.get("feature_columns")
    for name, state in bundle.config["engines"].items():
        cls = ENGINES.get(name)
        if cls is None:
            raise BundleVerificationError(f"bundle {bundle.folder_key} uses unknown engine {name!r}")
        params = state.get("params", {})
        # The horizon it was fitted at (a coin's chosen one); a state without it keeps the class horizon.
        horizon = state.get("horizon_bars")
        if issubclass(cls, LearnedEngine):
            engine: AlphaEngine = cls(  # type: ignore[call-arg]
                weight_store=store, columns=columns, horizon_bars=horizon, **params
            )
        else:
            engine = cls(horizon_bars=horizon, **params)
        engines.append(engine)
        states[name] = state
    return engines, states


def replay(
    engines: Sequence[AlphaEngine],
    states: Mapping[str, Mapping[str, Any]],
    gate: GateTable,
    combiner: MetaCombiner,
    rf: ResearchFrame,
    *,
    start_ms: int,
    hold_bars: int,
    decision: DecisionSettings,
) -> dict[str, Any]:
    """Trade a fixed model over the bars from `start_ms` on (states untouched), after costs: its metrics.

    The combiner starts from its stored state and keeps learning from outcomes as they become known,
    exactly as Hamilton does live.
    """
    frame = rf.frame
    start = int(np.searchsorted(frame["timestamp"].to_numpy(), start_ms))
    if start >= frame.height - 2:
        return {"bars": 0, "net_pnl_pct": None, "reason": "no bars to replay after the start"}
    result, errors = replay_backtest(
        engines, states, gate, combiner, rf, start_ms=start_ms, hold_bars=hold_bars, decision=decision
    )
    metrics = compute_metrics(result.bars, result.trades, rf.timeframe)
    metrics["bars"] = int(frame.height - start)
    metrics["engine_errors"] = errors
    return metrics


def replay_bundle(
    bundle: Bundle, rf: ResearchFrame, *, start_ms: int, hold_bars: int, decision: DecisionSettings
) -> tuple[BacktestResult, dict[str, str]]:
    """A stored model replayed unchanged from `start_ms`: its engines and states, gate table and shipped
    combiner state, and its own horizon (`hold_bars` only for a bundle that does not record one). The
    Engine's and the Mechanic's comparisons with a champion both call this, so they judge it the same way."""
    engines, states = engines_from_bundle(bundle)
    return replay_backtest(
        engines, states, GateTable.from_dict(bundle.config["gate_table"]),
        MetaCombiner.from_dict(bundle.config["combiner"]), rf, start_ms=start_ms,
        hold_bars=int(bundle.config.get("horizon_bars", hold_bars)), decision=decision,
    )  # fmt: skip


def replay_backtest(
    engines: Sequence[AlphaEngine],
    states: Mapping[str, Mapping[str, Any]],
    gate: GateTable,
    combiner: MetaCombiner,
    rf: ResearchFrame,
    *,
    start_ms: int,
    hold_bars: int,
    decision: DecisionSettings,
) -> tuple[BacktestResult, dict[str, str]]:
    """The vectorised replay itself: per-bar backtest and trades (with each trade's engine mix) from
    `start_ms` to the frame's end, and the engines that failed. Hamilton's bar-by-bar loop reproduces
    these trades exactly (`huracan backtest --champions` writes them)."""
    frame = rf.frame
    ts = frame["timestamp"].to_numpy()
    start = int(np.searchsorted(ts, start_ms))
    run = run_engines(engines, frame, states)
    active = list(run.signals)
    opens = frame["open"].to_numpy()
    rows = np.arange(start, frame.height)
    horizons = {e.name: e.horizon_bars for e in engines if e.name in run.signals}
    combined = run_combiner(
        {name: run.signals[name][rows] for name in active},
        {name: forward_moves_bps(opens, horizons[name])[rows] for name in active},
        horizons,
        cost_bps=rf.costs["cost_bps"].to_numpy()[rows],
        regimes=frame["regime"].cast(pl.Utf8).to_numpy()[rows],
        gate=gate,
        initial=combiner,
    )
    made = decide(
        combined.frame["combined_edge_bps"].to_numpy(),
        combined.frame["confidence"].to_numpy(),
        rf.costs["cost_bps"].to_numpy()[rows],
        rf.costs["spread_bps"].to_numpy()[rows],
        decision,
        volatility_pct=rf.costs[VOL_COLUMN].to_numpy()[rows],
    )
    result = backtest(
        frame.slice(start),
        hold_until_horizon(made, hold_bars),
        rf.costs["cost_bps"].to_numpy()[rows],
        regime=frame["regime"].slice(start).cast(pl.Utf8),
        engine_weights=combined.weights,
    )
    return result, {k: str(v) for k, v in run.errors.items()}
