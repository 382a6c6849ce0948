"""The champion comparison is honest: only bars after the champion's own last out-of-sample bar count.

Real models (23 engines, walk-forward, bundles) are trained on a market whose planted edge moves to other
hours at a known midnight: a champion trained before the move loses its edge, and a challenger trained on
the new market must replace it on the bars neither was fitted on.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from huracan_core.archive import Storage, paths
from huracan_core.archive.pointers import read_pointer
from huracan_core.config import HuracanConfig, load_config
from huracan_core.engine import champion as champion_module
from huracan_core.engine.champion import promote
from huracan_core.engine.train import train_coin
from huracan_core.evaluation.research import build_research_frame
from huracan_core.timeframe import timeframe_ms
from tests.stubs.shifting_market import ShiftingEdgeSource

pytestmark = pytest.mark.slow

SWITCH = datetime(2026, 3, 1, tzinfo=UTC)
SYMBOL = "BNBUSDT"
BAR = timeframe_ms("15m")


def make_world(archive: Path) -> dict[str, Any]:
    config = load_config(
        None,
        overrides={"general.archive": str(archive), "general.timeframe": "15m", "engine.lookback_days": 90},
    )
    source = ShiftingEdgeSource(int(SWITCH.timestamp() * 1000))
    return {"config": config, "storage": Storage(config.general.archive), "source": source}


def train_as_of(world: dict[str, Any], moment: datetime) -> dict[str, Any]:
    config: HuracanConfig = world["config"]
    end = int(moment.timestamp() * 1000)
    start = end - config.engine.lookback_days * 86_400_000
    candles = world["source"].fetch(SYMBOL, "15m", start, end)
    rf = build_research_frame(candles, SYMBOL, "15m", cost_config=config.costs)
    return train_coin(
        rf,
        config,
        storage=world["storage"],
        model_id=paths.model_id_for(moment),
        encoder=None,
        columns=None,
        cutoff_ms=None,
        encoder_key=None,
        data_window={"as_of": moment.isoformat(), "start_ms": start, "end_ms": end, "timeframe": "15m"},
    )


@pytest.fixture(scope="module")
def champion_archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """An archive whose champion was trained on the old market, as of the night the edge moved."""
    archive = tmp_path_factory.mktemp("comparison") / "archive"
    world = make_world(archive)
    result = train_as_of(world, SWITCH)
    verdict = promote(world["storage"], result, gates=world["config"].engine.gates, promoted_at=SWITCH)
    assert verdict["promoted"], (verdict, result["metrics"])
    return archive, result


@pytest.fixture
def world(champion_archive: tuple[Path, dict[str, Any]], tmp_path: Path) -> dict[str, Any]:
    shutil.copytree(champion_archive[0], tmp_path / "archive")
    return make_world(tmp_path / "archive")


@pytest.fixture
def old_champion(champion_archive: tuple[Path, dict[str, Any]]) -> dict[str, Any]:
    return champion_archive[1]


def test_a_champion_whose_edge_vanished_is_replaced_by_a_challenger_that_sees_the_new_market(
    world: dict[str, Any], old_champion: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    replay_starts: list[int] = []
    original = champion_module.replay_bundle

    def spy(*args: Any, start_ms: int, **kwargs: Any) -> Any:
        replay_starts.append(start_ms)
        return original(*args, start_ms=start_ms, **kwargs)

    monkeypatch.setattr(champion_module, "replay_bundle", spy)
    later = SWITCH + timedelta(days=90)  # the challenger's whole lookback is the new market
    result = train_as_of(world, later)
    comparison = result["comparison"]
    champion_last = old_champion["oos_window"]["last_bar"]
    # The window starts after the champion's last out-of-sample bar (here: where the challenger's OOS does).
    assert comparison["champion_last_bar_ms"] == champion_last
    assert comparison["window_start_ms"] >= champion_last + BAR
    assert comparison["window_start_ms"] == result["oos_window"]["first_bar"]
    assert replay_starts == [comparison["window_start_ms"]]
    assert comparison["verdict"] == "new model at least as good", comparison
    assert comparison["champion_net_pnl_pct"] < comparison["new_net_pnl_pct"]
    verdict = promote(world["storage"], result, gates=world["config"].engine.gates, promoted_at=later)
    assert verdict["promoted"], verdict
    pointer = read_pointer(world["storage"], SYMBOL)
    assert pointer["model_id"] == result["model_id"]
    assert pointer["previous_model_id"] == old_champion["model_id"]


def test_a_day_later_the_window_is_too_short_and_the_gates_decide(
    world: dict[str, Any], old_champion: dict[str, Any]
) -> None:
    next_day = SWITCH + timedelta(days=1)
    result = train_as_of(world, next_day)
    comparison = result["comparison"]
    assert comparison["verdict"] == "inconclusive", comparison
    assert comparison["window_start_ms"] == old_champion["oos_window"]["last_bar"] + BAR
    assert comparison["bars"] < comparison["bars_needed"] == 7 * 96
    verdict = promote(world["storage"], result, gates=world["config"].engine.gates, promoted_at=next_day)
    # No benefit to the incumbent: the new model is judged by its own gates alone.
    assert verdict["promoted"] == (not verdict["gate_failures"]), verdict


def test_a_backfilled_older_model_never_replaces_a_newer_champion(
    world: dict[str, Any], old_champion: dict[str, Any]
) -> None:
    earlier = SWITCH - timedelta(days=3)
    result = train_as_of(world, earlier)
    assert result["comparison"]["verdict"] == "not newer than the champion"
    verdict = promote(world["storage"], result, gates=world["config"].engine.gates, promoted_at=SWITCH)
    assert not verdict["promoted"]
