"""Gate table and meta combiner: losers get no vote, winners can sell, and outcomes arrive only when known."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from huracan_core.exceptions import DataIntegrityError  # noqa: E402
from huracan_core.meta import (  # noqa: E402
    CombinerSettings,
    GateTable,
    MetaCombiner,
    Outcome,
    SignalRow,
    combine_matrix,
    fit_gate_table,
    forward_moves_bps,
    raw_weights,
    run_combiner,
)
from tests.stubs.signals import oracle_directions, random_directions, random_walk_opens, signal_frame  # noqa: E402

H = 3


def _market(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    opens = random_walk_opens(n, seed=seed, vol=0.004)
    return opens, forward_moves_bps(opens, H)


def test_forward_moves_run_from_the_next_open_to_horizon_bars_later() -> None:
    moves = forward_moves_bps(np.array([100.0, 100.0, 110.0, 121.0, 50.0]), 2)
    assert moves[0] == pytest.approx(2100.0)  # open[1] = 100 -> open[3] = 121
    assert moves[1] == pytest.approx((50 / 110 - 1) * 1e4)
    assert np.isnan(moves[2:]).all()  # exit not in the data yet


def test_gate_allows_a_winning_engine_and_disallows_a_losing_one_per_regime() -> None:
    n = 3000
    _, moves = _market(n)
    regimes = np.where(np.arange(n) % 2 == 0, "TREND", "RANGE")
    oracle = oracle_directions(moves)
    split = np.where(regimes == "TREND", oracle, -oracle)  # right in TREND, wrong in RANGE
    rare = np.zeros(n, dtype=np.int8)
    rare[:10] = oracle[:10]  # right, but too few signals to trust
    gate = fit_gate_table(
        {"winner": signal_frame(oracle, 5.0), "loser": -oracle, "split": split, "rare": rare},
        regimes,
        moves,
        cost_bps=2.0,
        min_signals=30,
    )
    assert gate.allowed["winner"] == {"RANGE": True, "TREND": True}
    assert gate.allowed["loser"] == {"RANGE": False, "TREND": False}
    assert gate.allowed["split"] == {"RANGE": False, "TREND": True}
    assert gate.allowed["rare"] == {"RANGE": False, "TREND": False}
    assert gate.stats["loser"]["TREND"]["mean_net_edge_bps"] < 0
    assert gate.stats["rare"]["TREND"]["n"] == 5
    assert not gate.is_allowed("never_seen", "TREND") and not gate.is_allowed("winner", None)
    assert GateTable.from_dict(json.loads(json.dumps(gate.to_dict()))) == gate


def test_round_trip_costs_can_close_the_gate_on_a_thin_edge() -> None:
    n = 2000
    moves = np.full(n, 3.0)  # every long makes 3 bps before costs
    longs = np.ones(n, dtype=np.int8)
    regimes = ["RANGE"] * n
    assert fit_gate_table({"thin": longs}, regimes, moves, cost_bps=1.0).allowed["thin"]["RANGE"]
    assert not fit_gate_table({"thin": longs}, regimes, moves, cost_bps=1.5).allowed["thin"]["RANGE"]


def _trained(outcomes: dict[str, tuple[int, float]], count: int = 50) -> MetaCombiner:
    c = MetaCombiner(list(outcomes))
    for _ in range(count):
        c.update(Outcome(e, d, m, 1.0) for e, (d, m) in outcomes.items())
    return c


def test_combiner_goes_short_when_engines_with_a_good_record_say_short() -> None:
    c = _trained({"trend": (1, 30.0), "sweep": (-1, -25.0)})  # both have been right
    out = c.combine(
        {
            "trend": {"direction": -1, "edge_bps": -20.0, "confidence": 0.8},
            "sweep": {"direction": -1, "edge_bps": -12.0, "confidence": 0.6},
        }
    )
    assert out.edge_bps < 0
    assert -20.0 <= out.edge_bps <= -12.0
    assert 0 < out.confidence <= 1
    assert sum(out.weights.values()) == pytest.approx(1.0)


def test_a_losing_engine_never_gets_a_vote() -> None:
    c = _trained({"good": (1, 30.0), "bad": (1, -30.0)})
    assert c.raw_weights()["bad"] == 0.0
    out = c.combine(
        {
            "good": {"direction": -1, "edge_bps": -10.0, "confidence": 1.0},
            "bad": {"direction": 1, "edge_bps": 500.0, "confidence": 1.0},
        }
    )
    assert out.edge_bps == pytest.approx(-10.0)
    alone = c.combine({"bad": {"direction": 1, "edge_bps": 500.0, "confidence": 1.0}})
    assert alone.edge_bps == 0.0 and alone.confidence == 0.0


def test_a_vote_whose_edge_says_the_price_falls_never_supports_a_long() -> None:
    c = _trained({"rule": (1, 30.0)})  # a good record: its vote carries weight
    assert c.combine({"rule": {"direction": 1, "edge_bps": -40.0, "confidence": 1.0}}).edge_bps <= 0.0
    both = c.combine(
        {
            "rule": {"direction": 1, "edge_bps": -40.0, "confidence": 1.0},
            "other": {"direction": 1, "edge_bps": 15.0, "confidence": 1.0},
        }
    )
    assert both.edge_bps <= 15.0


def test_the_combined_edge_keeps_each_votes_signed_edge() -> None:
    c = _trained({"up": (1, 30.0), "down": (-1, -30.0)})
    out = c.combine(
        {
            "up": {"direction": 1, "edge_bps": 20.0, "confidence": 1.0},
            "down": {"direction": -1, "edge_bps": -50.0, "confidence": 1.0},
        }
    )
    w = out.weights
    assert out.edge_bps == pytest.approx(20.0 * w["up"] - 50.0 * w["down"])


def test_with_a_positive_minimum_weight_a_loser_keeps_only_that_minimum() -> None:
    settings = CombinerSettings(w_min=0.05, w_max=1.0)
    c = MetaCombiner(["good", "bad"], settings, edge_bps=[20.0, -20.0], accuracy=[0.6, 0.4])
    assert c.raw_weights() == {"good": 1.0, "bad": 0.05}


def test_the_gate_removes_disallowed_engines_from_the_vote() -> None:
    c = _trained({"a": (1, 30.0), "b": (1, 30.0)})
    gate = GateTable(allowed={"a": {"TREND": True}, "b": {"TREND": False}}, stats={}, min_signals=1)
    row = {
        "a": {"direction": 1, "edge_bps": 10.0, "confidence": 1.0},
        "b": {"direction": -1, "edge_bps": -40.0, "confidence": 1.0},
    }
    assert c.combine(row, "TREND", gate).edge_bps == pytest.approx(10.0)


def test_state_survives_a_json_round_trip() -> None:
    c = _trained({"a": (1, 30.0), "b": (-1, 5.0)}, count=7)
    again = MetaCombiner.from_dict(json.loads(json.dumps(c.to_dict())))
    assert again.to_dict() == c.to_dict()


def _engines(n: int, moves: np.ndarray) -> dict:
    return {
        "oracle": signal_frame(oracle_directions(moves), 15.0, 0.9),
        "anti": signal_frame(-oracle_directions(moves), 15.0, 0.9),
        **{f"noise{i}": signal_frame(random_directions(n, seed=i), 8.0, 0.5) for i in range(3)},
    }


def test_walk_forward_combiner_learns_to_follow_the_good_engine_both_ways() -> None:
    n = 2000
    _, moves = _market(n)
    run = run_combiner(_engines(n, moves), moves, H, cost_bps=2.0)
    edge = run.frame["combined_edge_bps"].to_numpy()[500:]
    oracle = oracle_directions(moves)[500:]
    agree = np.sign(edge) == oracle
    assert agree[oracle != 0].mean() > 0.95
    assert (edge < 0).sum() > 100  # it sells, not only buys
    assert run.final.raw_weights()["anti"] == 0.0


def test_combined_edge_at_a_bar_ignores_outcomes_not_yet_known() -> None:
    n = 600
    _, moves = _market(n, seed=5)
    # Every engine votes on every bar, so any outcome that arrives moves the combined edge.
    engines = {
        f"e{i}": signal_frame(np.where(random_directions(n, seed=i) > 0, 1, -1), 6.0, 0.7) for i in range(4)
    }
    base = run_combiner(engines, moves, H, cost_bps=1.0).frame["combined_edge_bps"].to_numpy()
    t = 300
    changed = moves.copy()
    changed[t - H :] = -changed[t - H :] * 3  # outcomes that arrive after bar t
    after = run_combiner(engines, changed, H, cost_bps=1.0).frame["combined_edge_bps"].to_numpy()
    np.testing.assert_array_equal(after[: t + 1], base[: t + 1])
    known = moves.copy()
    known[t - H - 1] = -known[t - H - 1] * 50  # this outcome arrives exactly at bar t
    moved = run_combiner(engines, known, H, cost_bps=1.0).frame["combined_edge_bps"].to_numpy()
    np.testing.assert_array_equal(moved[:t], base[:t])
    assert moved[t] != base[t]


def test_walk_forward_helper_matches_the_live_update_loop() -> None:
    n = 300
    _, moves = _market(n, seed=9)
    engines = _engines(n, moves)
    regimes = np.where((np.arange(n) // 50) % 2 == 0, "TREND", "RANGE")
    gate = GateTable(
        allowed={e: {"TREND": True, "RANGE": e != "noise0"} for e in engines}, stats={}, min_signals=1
    )
    cost = np.linspace(1.0, 3.0, n)
    run = run_combiner(engines, moves, H, cost_bps=cost, regimes=regimes, gate=gate)
    live = MetaCombiner(list(engines))
    frames = {e: f.to_dicts() for e, f in engines.items()}
    for s in range(n):
        t = s - 1 - H
        if t >= 0:
            live.update(Outcome(e, frames[e][t]["direction"], moves[t], cost[t]) for e in engines)
        out = live.combine({e: frames[e][s] for e in engines}, regimes[s], gate)
        assert out.edge_bps == pytest.approx(run.frame["combined_edge_bps"][s], abs=1e-9)
        assert out.confidence == pytest.approx(run.frame["confidence"][s], abs=1e-9)
    live_state, run_state = live.to_dict()["engines"], run.final.to_dict()["engines"]
    for e in engines:
        assert live_state[e]["outcomes"] == run_state[e]["outcomes"]
        assert live_state[e]["edge_ema_bps"] == pytest.approx(run_state[e]["edge_ema_bps"], abs=1e-9)
        assert live_state[e]["accuracy_ema"] == pytest.approx(run_state[e]["accuracy_ema"], abs=1e-12)


def test_combiner_walks_fifty_thousand_bars_of_twenty_one_engines_quickly() -> None:
    n = 50_000
    _, moves = _market(n)
    engines = {f"e{i}": signal_frame(random_directions(n, seed=i), 5.0, 0.5) for i in range(21)}
    start = time.perf_counter()
    run_combiner(engines, moves, H, cost_bps=2.0)
    assert time.perf_counter() - start < 2.0  # ~0.5 s on one core; slack for a busy CI runner


# --- one bar: SignalRow, cached gate rows, and the combination's cheaper helpers ---------------------------
_ODD = [float("nan"), float("inf"), -float("inf"), 0.0, -0.0, 1e308, -1e-300, 1.0, -1.0, 2.0, -2.0, 0.5]


def _reference_combine_matrix(
    direction: np.ndarray,
    edge_bps: np.ndarray,
    confidence: np.ndarray,
    raw: np.ndarray,
    allowed: np.ndarray,
    w_max: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`combine_matrix` as it was written before its helpers were made cheaper (np.nan_to_num, np.clip)."""
    dirs = np.sign(np.nan_to_num(direction))
    edges = np.nan_to_num(edge_bps)
    active = allowed & (dirs != 0) & (np.sign(edges) == dirs)
    r = np.where(active, raw, 0.0)
    total = r.sum(axis=1)
    safe = np.where(total > 0, total, 1.0)
    w = r / safe[:, None]
    combined = (w * edges).sum(axis=1)
    agreement = np.abs((w * dirs).sum(axis=1))
    conf = (w * np.clip(np.nan_to_num(confidence), 0.0, 1.0)).sum(axis=1)
    trust = np.minimum(1.0, total / w_max)
    return combined, np.clip(agreement * conf * trust, 0.0, 1.0), w


def _random_row(rng: np.random.Generator, names: list[str]) -> dict[str, dict[str, float | None]]:
    """One bar's signals with abstentions (direction 0 or missing), NaN, infinities, signed zeros and ties."""
    row: dict[str, dict[str, float | None]] = {}
    for name in names:
        if rng.random() < 0.15:
            direction: float | None = None if rng.random() < 0.5 else 0.0
        elif rng.random() < 0.1:
            direction = float(rng.choice(_ODD))
        else:
            direction = float(rng.choice([-1.0, 1.0]))
        edge = float(rng.choice(_ODD)) if rng.random() < 0.15 else float(rng.integers(-3, 4) * 5.0)
        conf = (
            float(rng.choice(_ODD)) if rng.random() < 0.15 else float(rng.choice([0.0, 0.25, 0.5, 1.0, 1.5]))
        )
        row[name] = {
            "direction": direction,
            "edge_bps": edge,
            "confidence": None if rng.random() < 0.05 else conf,
        }
    return row


def test_one_bar_combine_is_exactly_the_matrix_combination_whatever_the_row_type() -> None:
    rng = np.random.default_rng(21)
    names = [f"e{i}" for i in range(23)]
    gate = GateTable(
        allowed={e: {"TREND": i % 3 != 0, "RANGE": i % 2 == 0} for i, e in enumerate(names)},
        stats={},
        min_signals=1,
    )
    combiner = MetaCombiner(
        names,
        CombinerSettings(w_min=0.0, w_max=0.8),
        accuracy=rng.uniform(0.3, 0.8, len(names)),
        edge_bps=rng.choice([-5.0, 0.0, 4.0, 8.0, 25.0], len(names)),
    )
    for _ in range(3_000):
        row = _random_row(rng, names)
        regime = [None, "TREND", "RANGE", "PANIC"][int(rng.integers(4))]
        picked = [n for n in names if rng.random() < 0.9]  # rows may name fewer engines, in another order
        row = {n: row[n] for n in (picked if rng.random() < 0.5 else reversed(picked))}
        use_gate = gate if rng.random() < 0.8 else None
        with np.errstate(over="ignore", invalid="ignore"):
            got = combiner.combine(row, regime, use_gate)
            signal_row = SignalRow.from_mapping(row)
            again = combiner.combine(signal_row, regime, use_gate)
            cols = [
                [float(row[e].get(c) or 0.0) for e in row] for c in ("direction", "edge_bps", "confidence")
            ]
            allowed = np.array([[use_gate is None or use_gate.is_allowed(e, regime) for e in row]])
            raw = raw_weights(
                combiner.accuracy[[combiner._index[e] for e in row]],
                combiner.edge[[combiner._index[e] for e in row]],
                combiner.settings,
            )[None, :]
            want = _reference_combine_matrix(*(np.array([c]) for c in cols), raw, allowed, 0.8)
        assert (
            np.array([got.edge_bps, got.confidence]).tobytes() == np.array([want[0][0], want[1][0]]).tobytes()
        )
        assert got.weights == dict(zip(row, want[2][0].tolist(), strict=True))
        assert np.array(list(got.weights.values())).tobytes() == want[2][0].tobytes()
        assert (again.edge_bps, again.confidence, again.weights) == (
            got.edge_bps,
            got.confidence,
            got.weights,
        )
        assert list(signal_row) == list(row) and len(signal_row) == len(row)
        for e in row:
            read = signal_row[e]
            for c in ("direction", "edge_bps", "confidence"):
                stored = float(row[e].get(c) or 0.0)
                assert read[c] == stored or (np.isnan(read[c]) and np.isnan(stored))


def test_combine_matrix_over_many_bars_equals_its_reference_bit_for_bit() -> None:
    rng = np.random.default_rng(5)
    for order in ("C", "F"):
        n, k = 4_000, 23
        direction = np.asarray(rng.choice([-1.0, 0.0, 1.0, np.nan, -0.0], (n, k)), order=order)
        edge = np.asarray(rng.choice([*_ODD, 3.0, -7.5, 12.0], (n, k)), order=order)
        conf = np.asarray(rng.choice([*_ODD, 0.3, 0.9], (n, k)), order=order)
        raw = np.asarray(rng.choice([0.0, 0.2, 0.5, 1.0], (n, k)), order=order)
        allowed = np.asarray(rng.random((n, k)) < 0.8, order=order)
        with np.errstate(over="ignore", invalid="ignore"):
            got = combine_matrix(direction, edge, conf, raw, allowed, 1.0)
            want = _reference_combine_matrix(direction, edge, conf, raw, allowed, 1.0)
        for g, w in zip(got, want, strict=True):
            assert g.tobytes() == w.tobytes()
        finite = [np.nan_to_num(a) for a in (direction, edge, conf)]  # finite inputs: the helpers' fast path
        got = combine_matrix(*finite, raw, allowed, 1.0)
        want = _reference_combine_matrix(*finite, raw, allowed, 1.0)
        for g, w in zip(got, want, strict=True):
            assert g.tobytes() == w.tobytes()


def test_raw_weights_clip_as_np_clip_does() -> None:
    rng = np.random.default_rng(8)
    settings = CombinerSettings(w_min=0.05, w_max=0.7)
    acc = rng.choice([0.0, 0.5, 1.0, np.nan, -0.0, 0.73], 5_000)
    edge = rng.choice([*_ODD, 3.5, 70.0, -12.0], 5_000)
    with np.errstate(over="ignore", invalid="ignore"):
        f = np.where(edge > 0, (edge / settings.edge_scale_bps) * (acc / 0.5), 0.0)
        assert raw_weights(acc, edge, settings).tobytes() == np.clip(f, 0.05, 0.7).tobytes()


def test_gate_rows_are_cached_read_only_and_equal_to_is_allowed() -> None:
    gate = GateTable(
        allowed={"a": {"TREND": True}, "b": {"TREND": False, "RANGE": True}}, stats={}, min_signals=1
    )
    for names in (("a", "b"), ("b", "a", "zzz"), ()):
        for regime in ("TREND", "RANGE", None, "PANIC"):
            row = gate.allowed_row(names, regime)
            assert row.tolist() == [gate.is_allowed(e, regime) for e in names]
            assert gate.allowed_row(names, regime) is row and not row.flags.writeable
    regimes = np.array(["TREND", "RANGE", None, "TREND"], dtype=object)
    assert gate.allowed_matrix(["a", "b"], regimes).tolist() == [
        [gate.is_allowed(e, r) for e in ("a", "b")] for r in regimes
    ]
    assert gate == GateTable.from_dict(gate.to_dict())  # the cache is no part of the table


def test_a_signal_row_refuses_what_a_mapping_could_not_hold() -> None:
    with pytest.raises(DataIntegrityError, match="more than once"):
        SignalRow(["a", "a"], [1.0, 1.0], [1.0, 1.0], [1.0, 1.0])
    with pytest.raises(DataIntegrityError, match="shape"):
        SignalRow(["a", "b"], [1.0], [1.0, 1.0], [1.0, 1.0])
    row = SignalRow(["a"], [-0.0], [-0.0], [np.nan])
    assert np.signbit(row.direction).tolist() == [False] and np.isnan(row.confidence[0])
    assert "a" in row and "b" not in row
    assert dict(SignalRow(["a"], [1.0], [5.0], [0.5])) == {
        "a": {"direction": 1.0, "edge_bps": 5.0, "confidence": 0.5}
    }
