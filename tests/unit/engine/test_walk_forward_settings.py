"""The Engine and `huracan backtest` take their walk-forward settings from one place: the engine config."""

from __future__ import annotations

from huracan_core.config import load_config
from huracan_core.engine.train import walk_forward_settings


def test_settings_follow_the_engine_section_and_a_folds_flag_replaces_only_the_folds() -> None:
    config = load_config(
        overrides={"engine.folds": 5, "engine.hold_bars": 4, "engine.min_signals": 12}, env={}
    )
    settings = walk_forward_settings(config)
    assert (settings.n_folds, settings.hold_bars, settings.min_signals) == (5, 4, 12)
    flagged = walk_forward_settings(config, folds=2)
    assert (flagged.n_folds, flagged.hold_bars, flagged.min_signals) == (2, 4, 12)
