"""A coin's chosen horizon survives the bundle: engines rebuilt at it, trades held for it by Hamilton and
by the replay, and a bundle whose states carry no horizon keeps each engine's class horizon."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from huracan_core.alphas.registry import RULE_ENGINES, rule_engines
from huracan_core.archive import Storage, paths
from huracan_core.decision import DecisionSettings
from huracan_core.engine.coin_model import (
    bundle_contents,
    engines_from_bundle,
    replay_backtest,
    replay_bundle,
)
from huracan_core.evaluation.research import (
    Evaluation,
    ResearchFrame,
    WalkForwardSettings,
    build_research_frame,
    evaluate_walk_forward,
)
from huracan_core.hamilton.champions import load_champion
from huracan_core.hamilton.trader import SymbolTrader
from huracan_core.meta import GateTable, MetaCombiner
from huracan_core.models.bundle import load_bundle, save_bundle
from tests.stubs.horizon_markets import drift_market

DECISION = DecisionSettings(edge_threshold_bps=0.0)
MODEL_ID = "20240212_020000Z"


@pytest.fixture(scope="module")
def evaluated() -> tuple[ResearchFrame, Evaluation]:
    rf = build_research_frame(drift_market(4000, 0), "SOLUSDT", "15m")
    settings = WalkForwardSettings(n_folds=3, horizons=(4, 16, 48, 96, 288))
    return rf, evaluate_walk_forward(rf, rule_engines(), decision=DECISION, settings=settings)


def _save(
    storage: Storage, rf: ResearchFrame, ev: Evaluation, config_edit: Callable[[dict], dict] | None = None
) -> str:
    contents = bundle_contents(
        ev, rf, ev.engines, decision=DECISION, seed=1, as_of="2024-02-12", config_hash="test",
        data_window={}, columns=None, encoder_key=None,
    )  # fmt: skip
    config = contents.config if config_edit is None else config_edit(contents.config)
    saved = save_bundle(
        storage, paths.model_dir(rf.symbol, MODEL_ID), tensors=contents.tensors, config=config,
        metrics=contents.metrics, costs={},
    )  # fmt: skip
    return str(saved["path"])


def test_the_chosen_horizon_is_every_rebuilt_engines_and_hamiltons_hold(
    tmp_path: Path, evaluated: tuple[ResearchFrame, Evaluation]
) -> None:
    rf, ev = evaluated
    chosen = ev.hold_bars
    assert ev.horizon is not None and chosen == ev.horizon.bars != 8  # the old default hold
    storage = Storage(tmp_path / "archive")
    path = _save(storage, rf, ev)
    bundle = load_bundle(storage, path, expected_recipe_hash=rf.recipe.hash())
    assert bundle.config["horizon_bars"] == chosen and bundle.config["horizon"]["bars"] == chosen
    champion = load_champion(storage, rf.symbol, MODEL_ID, path, recipe_hash=rf.recipe.hash())
    assert champion.hold_bars == chosen
    assert set(champion.horizons.values()) == {chosen}
    trader = SymbolTrader(
        model_id=MODEL_ID, gate=champion.gate, combiner=champion.fresh_combiner(), horizons=champion.horizons,
        hold_bars=champion.hold_bars, decision=DECISION,
    )  # fmt: skip
    assert trader.hold.horizon == chosen
    # The replay holds for the bundle's horizon, not for the fallback hold it is given.
    start = ev.oos_start_ms
    replayed, _ = replay_bundle(bundle, rf, start_ms=start, hold_bars=8, decision=DECISION)
    engines, states = engines_from_bundle(bundle)
    gate, combiner = GateTable.from_dict(bundle.config["gate_table"]), bundle.config["combiner"]
    at_chosen, _ = replay_backtest(
        engines, states, gate, MetaCombiner.from_dict(combiner), rf, start_ms=start, hold_bars=chosen,
        decision=DECISION,
    )  # fmt: skip
    assert replayed.trades.height > 0
    assert replayed.trades.equals(at_chosen.trades)


def test_a_bundle_whose_states_carry_no_horizon_keeps_the_class_horizons(
    tmp_path: Path, evaluated: tuple[ResearchFrame, Evaluation]
) -> None:
    rf, ev = evaluated

    def without_horizons(config: dict) -> dict:
        engines = {
            name: {k: v for k, v in s.items() if k != "horizon_bars"} for name, s in config["engines"].items()
        }
        return {**config, "engines": engines}

    storage = Storage(tmp_path / "archive")
    bundle = load_bundle(storage, _save(storage, rf, ev, without_horizons), expected_recipe_hash=None)
    engines, _ = engines_from_bundle(bundle)
    assert {e.name: e.horizon_bars for e in engines} == {
        name: cls.horizon_bars for name, cls in RULE_ENGINES.items() if name in bundle.config["engines"]
    }
