"""Lookahead checks that prove something: every rule engine fires while checked, and walk-forward fitting
is checked too (a fold fitted, gated or combined with the future changes decisions before a cut)."""

from __future__ import annotations

import copy
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

import huracan_core.alphas.registry as registry
import huracan_core.evaluation.research as research
from huracan_core.alphas import RuleEngine
from huracan_core.alphas.registry import all_engines, rule_engines
from huracan_core.alphas.statistical import AnomalyEngine, SeasonalityEngine
from huracan_core.cli import app
from huracan_core.decision import DecisionSettings
from huracan_core.evaluation.firing_states import firing_states
from huracan_core.evaluation.lookahead import analyse_symbol, early_states, per_bar_path
from huracan_core.evaluation.research import WalkForwardSettings
from huracan_core.evaluation.walk_forward_lookahead import analyse_walk_forward
from tests.stubs.leaky_engines import PeeksAhead, PeeksAtReference
from tests.stubs.lookahead_market import extra_inputs, funding_inputs, references, synthetic_universe

SYMBOL = "SOLUSDT"
# More bars trade, so more decisions are compared; volatility-targeted, so the sizes read the realised vol.
DECISION = DecisionSettings(edge_threshold_bps=0.0, target_volatility_pct=40.0)
FOLDS = WalkForwardSettings(n_folds=3)


@pytest.fixture(scope="module")
def universe() -> dict[str, pl.DataFrame]:
    return synthetic_universe(days=20)


@pytest.fixture(scope="module")
def extra(universe: dict[str, pl.DataFrame]) -> pl.DataFrame:
    return extra_inputs(universe, SYMBOL)


@pytest.fixture(scope="module")
def fitted(universe: dict[str, pl.DataFrame], extra: pl.DataFrame) -> dict[str, dict[str, Any]]:
    states, errors = early_states(
        universe[SYMBOL], SYMBOL, "15m", engines=rule_engines(), refs=references(universe), extra_columns=extra,
        funding=funding_inputs(universe, SYMBOL),
    )  # fmt: skip
    assert errors == {}
    return states


def _per_bar(universe: dict, extra: pl.DataFrame, engines: list, states: dict, **kw: Any) -> Any:
    return analyse_symbol(
        universe[SYMBOL], SYMBOL, "15m", refs=references(universe), engines=engines, decision=DECISION,
        states=states, extra_columns=extra, funding=funding_inputs(universe, SYMBOL), **kw,
    )  # fmt: skip


def _walk_forward(universe: dict, extra: pl.DataFrame, engines: list, **kw: Any) -> Any:
    return analyse_walk_forward(
        universe[SYMBOL], SYMBOL, "15m", refs=references(universe), engines=engines, decision=DECISION,
        **{"settings": FOLDS, **kw}, extra_columns=extra, funding=funding_inputs(universe, SYMBOL),
    )  # fmt: skip


# --- every rule engine fires under the per-bar check ---------------------------------------------------
def test_firing_states_activate_both_sides_with_an_edge_of_the_sides_sign_and_keep_other_keys(
    fitted: dict[str, dict[str, Any]],
) -> None:
    engines = rule_engines()
    before_call = copy.deepcopy(fitted)
    firing = firing_states(engines, fitted)
    assert fitted == before_call  # the fitted states are copied, never changed
    for engine in engines:
        state, before = firing[engine.name], fitted[engine.name]
        if isinstance(engine, RuleEngine):
            assert state["long_active"] and state["short_active"], engine.name
            assert state["edge_long_bps"] > 0 > state["edge_short_bps"], engine.name
            assert state["n_long"] == before["n_long"] and state["params"] == before["params"], engine.name
        if isinstance(engine, AnomalyEngine):  # follows both shocks: the direction has the edge's sign
            assert (state["mode_up"], state["mode_down"]) == (1, 1)
        if isinstance(engine, SeasonalityEngine):
            for key in ("hour", "weekday"):
                table = state[key]
                assert all(table["active"]) and {m > 0 for m in table["mean_bps"]} == {True, False}
                assert all((m > 0) == (t > 0) for m, t in zip(table["mean_bps"], table["t_stat"], strict=True))


def test_every_rule_engine_fires_before_the_cuts_and_the_per_bar_path_stays_causal(
    universe: dict, extra: pl.DataFrame, fitted: dict
) -> None:
    engines = rule_engines()
    states = firing_states(engines, fitted)
    report = _per_bar(universe, extra, engines, states)
    assert report.engine_errors == {}
    assert len(report.fired) == 21
    assert report.silent_engines() == [], f"never fired at or before the last cut: {report.silent_engines()}"
    assert report.clean, report.leaking_columns()
    path = per_bar_path(
        universe[SYMBOL].head(max(report.cuts) + 1), SYMBOL, "15m", refs=references(universe), engines=engines,
        states=states, decision=DECISION, extra_columns=extra, funding=funding_inputs(universe, SYMBOL),
    )  # fmt: skip
    assert (path["decision:side"] != 0).sum() > 100  # the decision path is exercised on trades too


def test_the_per_bar_check_names_an_engine_that_reads_the_next_bar_among_firing_engines(
    universe: dict, extra: pl.DataFrame, fitted: dict
) -> None:
    leaky = PeeksAhead()  # bars=1: the next bar's open
    engines = [*rule_engines(), leaky]
    leaky_fit, _ = early_states(
        universe[SYMBOL], SYMBOL, "15m", engines=[leaky], extra_columns=extra, funding=funding_inputs(universe, SYMBOL)
    )
    states = firing_states(engines, {**fitted, **leaky_fit})
    report = _per_bar(universe, extra, engines, states, n_cuts=3)
    engines_leaking = {name.split(":")[1] for name in report.leaking_columns() if name.startswith("engine:")}
    assert engines_leaking == {"leaky_future_open"}
    leak = next(x for x in report.leaks if x.name == "engine:leaky_future_open:direction")
    assert leak.first_diff == leak.cut  # the last bar before the cut is the one that peeked


# --- walk-forward fitting ------------------------------------------------------------------------------
def test_walk_forward_decisions_and_gates_before_each_cut_ignore_noise_after_it_for_all_engines(
    universe: dict, extra: pl.DataFrame
) -> None:
    report = _walk_forward(universe, extra, all_engines(), n_cuts=3)
    assert report.engine_errors == {}
    timestamps = universe[SYMBOL]["timestamp"]
    assert [report.fold_of(int(timestamps[cut])) for cut in report.cuts] == [0, 1, 2]
    assert report.fired["xgboost"] > 0 and report.fired["neural"] > 0  # learned engines trained and voted
    assert report.columns_checked == 7 + 3  # decision columns, and each fold's gate
    assert report.clean, [(x.name, report.fold_of(x.first_diff), x.first_diff) for x in report.leaks]


def test_a_horizon_chosen_per_coin_and_every_engine_at_it_ignore_noise_after_each_cut(
    universe: dict, extra: pl.DataFrame, fitted: dict
) -> None:
    # Walk-forward: the choice (first fold's training rows), fits, gates and decisions at the chosen horizon.
    settings = WalkForwardSettings(n_folds=3, horizons=(4, 16, 48))
    report = _walk_forward(universe, extra, rule_engines(), settings=settings, n_cuts=3)
    assert report.engine_errors == {}
    assert report.clean, [(x.name, report.fold_of(x.first_diff), x.first_diff) for x in report.leaks]
    # Per bar: every rule firing at a one-day horizon, the combiner learning one-day outcomes, one-day holds.
    engines = [e.with_horizon(96) for e in rule_engines()]
    at_day, _ = early_states(
        universe[SYMBOL], SYMBOL, "15m", engines=engines, refs=references(universe), extra_columns=extra
    )
    assert {s["horizon_bars"] for s in at_day.values()} == {96} and at_day != fitted
    per_bar = _per_bar(universe, extra, engines, firing_states(engines, at_day), hold_bars=96, n_cuts=3)
    assert per_bar.engine_errors == {} and per_bar.silent_engines() == []
    assert per_bar.clean, per_bar.leaking_columns()


def test_walk_forward_check_catches_an_engine_reading_the_bars_of_its_own_label(
    universe: dict, extra: pl.DataFrame
) -> None:
    honest = _walk_forward(universe, extra, rule_engines()[:3])
    report = _walk_forward(universe, extra, [*rule_engines()[:3], PeeksAhead(bars=5)])
    assert honest.clean
    assert "decision:combined_edge_bps" in report.leaking_columns()
    bar_ms = 900_000
    assert all(0 <= leak.cut - leak.first_diff <= 4 * bar_ms for leak in report.leaks)  # the bars it reads


def test_walk_forward_check_catches_an_engine_reading_a_references_future(
    universe: dict, extra: pl.DataFrame
) -> None:
    report = _walk_forward(universe, extra, [*rule_engines()[:3], PeeksAtReference()])
    assert "decision:combined_edge_bps" in report.leaking_columns()


def test_walk_forward_check_sees_folds_fitted_on_the_whole_frame_which_the_per_bar_check_cannot(
    universe: dict, extra: pl.DataFrame, fitted: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    fit, plan = research.fit_states, research.walk_forward_plan
    whole: dict[str, pl.DataFrame] = {}

    def remember_frame(rf: research.ResearchFrame, *args: Any, **kwargs: Any) -> Any:
        whole["frame"] = rf.frame.slice(rf.first_valid)
        return plan(rf, *args, **kwargs)

    def fit_on_whole_frame(engines: Any, train: pl.DataFrame) -> Any:
        return fit(engines, whole["frame"])  # every fold's states see the test rows and beyond

    monkeypatch.setattr(research, "walk_forward_plan", remember_frame)
    monkeypatch.setattr(research, "fit_states", fit_on_whole_frame)
    engines = rule_engines()
    per_bar = _per_bar(universe, extra, engines, firing_states(engines, fitted), n_cuts=3)
    report = _walk_forward(universe, extra, engines, n_cuts=3)
    assert per_bar.clean
    assert "decision:combined_edge_bps" in report.leaking_columns()
    assert any(name.startswith("gate:fold") for name in report.leaking_columns())


def test_walk_forward_check_refuses_a_cut_before_the_out_of_sample_range(
    universe: dict, extra: pl.DataFrame
) -> None:
    with pytest.raises(ValueError, match="outside the out-of-sample rows"):
        _walk_forward(universe, extra, rule_engines()[:2], cuts=[300])


# --- the command ---------------------------------------------------------------------------------------
def _lookahead(*symbols: str) -> Any:
    return CliRunner().invoke(
        app, ["lookahead", "--source", "synthetic", "--symbols", ",".join(symbols), "--days", "15",
              "--end", "2026-01-01", "--cuts", "2"],
    )  # fmt: skip


def test_lookahead_command_checks_every_rule_engine_firing_on_a_universe_of_six_coins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(registry, "all_engines", rule_engines)  # the learned engines: test_research's run
    result = _lookahead(*synthetic_universe(1))
    assert result.exit_code == 0, result.output
    sol = next(line for line in result.output.splitlines() if "SOLUSDT" in line)
    # funding fires on the probe rate, cross_sectional on the six coins' rank
    assert "no lookahead" in sol and sol.endswith("21 of 21 engines fired"), sol


def test_lookahead_command_exits_one_and_names_a_leaky_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "all_engines", lambda: [*rule_engines()[:2], PeeksAhead()])
    result = _lookahead("SOLUSDT")
    assert result.exit_code == 1, result.output
    assert "engine:leaky_future_open:direction" in result.output
