"""Candle-shape engines (tape, pattern, sweep) on hand-built bars."""

from __future__ import annotations

import numpy as np
import polars as pl

from huracan_core.alphas import RULE_ENGINES
from tests.stubs.alpha_frames import BAR_MS, START_MS, add_features, mean_reverting_path, rule_signal


def _bars(rows: list[tuple[float, float, float, float]], volume: float = 100.0) -> pl.DataFrame:
    o, h, lo, c = (np.array(col, dtype=np.float64) for col in zip(*rows, strict=True))
    n = len(rows)
    return pl.DataFrame(
        {
            "timestamp": np.arange(n, dtype=np.int64) * BAR_MS + START_MS,
            "open": o,
            "high": h,
            "low": lo,
            "close": c,
            "volume": np.full(n, volume),
        }
    )


def _range_bars(n: int, seed: int = 0) -> list[tuple[float, float, float, float]]:
    closes = mean_reverting_path(n, vol=0.002, seed=seed)
    opens = np.concatenate([[closes[0]], closes[:-1]])
    return [(o, max(o, c) * 1.001, min(o, c) * 0.999, c) for o, c in zip(opens, closes, strict=True)]


def test_tape_follows_bars_that_keep_closing_near_their_highs() -> None:
    rows = _range_bars(60) + [(100.0, 101.0, 99.0, 100.9)] * 10
    out = rule_signal(RULE_ENGINES["tape"](), add_features(_bars(rows)))
    assert out["direction"][-1] == 1 and out["confidence"][-1] > 0.5
    rows = _range_bars(60) + [(100.0, 101.0, 99.0, 99.1)] * 10
    assert rule_signal(RULE_ENGINES["tape"](), add_features(_bars(rows)))["direction"][-1] == -1


def test_tape_has_no_view_on_bars_closing_mid_range() -> None:
    rows = _range_bars(60) + [(100.0, 101.0, 99.0, 100.0)] * 10
    assert rule_signal(RULE_ENGINES["tape"](), add_features(_bars(rows)))["direction"][-1] == 0


def _falling(n: int = 5) -> list[tuple[float, float, float, float]]:
    closes = 100.0 * np.exp(-0.004 * np.arange(1, n + 1))
    opens = np.concatenate([[100.0], closes[:-1]])
    return [(o, o * 1.0005, c * 0.9995, c) for o, c in zip(opens, closes, strict=True)]


def test_pattern_buys_a_bullish_engulfing_bar_after_a_decline() -> None:
    rows = _range_bars(40) + _falling()
    prev_o, _, _, prev_c = rows[-1]
    rows.append((prev_c * 0.999, prev_o * 1.003, prev_c * 0.998, prev_o * 1.002))  # engulfs the red bar
    out = rule_signal(RULE_ENGINES["pattern"](), add_features(_bars(rows)))
    assert out["direction"][-1] == 1 and out["confidence"][-1] == 0.6


def test_pattern_buys_a_hammer_after_a_decline_and_sells_a_shooting_star_after_a_rise() -> None:
    rows = _range_bars(40) + _falling()
    c = rows[-1][3]
    rows.append((c, c * 1.0005, c * 0.99, c * 1.001))  # long lower wick, small body
    out = rule_signal(RULE_ENGINES["pattern"](), add_features(_bars(rows)))
    assert out["direction"][-1] == 1 and out["confidence"][-1] == 0.4
    rising = [(2 * 100 - o, 2 * 100 - lo, 2 * 100 - h, 2 * 100 - c) for o, h, lo, c in _falling()]
    rows = _range_bars(40) + rising
    c = rows[-1][3]
    rows.append((c, c * 1.01, c * 0.9995, c * 0.999))  # long upper wick
    assert rule_signal(RULE_ENGINES["pattern"](), add_features(_bars(rows)))["direction"][-1] == -1


def test_pattern_ignores_a_hammer_at_the_top_of_a_rise() -> None:
    rising = [(2 * 100 - o, 2 * 100 - lo, 2 * 100 - h, 2 * 100 - c) for o, h, lo, c in _falling()]
    rows = _range_bars(40) + rising
    c = rows[-1][3]
    rows.append((c, c * 1.0005, c * 0.99, c * 1.001))
    assert rule_signal(RULE_ENGINES["pattern"](), add_features(_bars(rows)))["direction"][-1] == 0


def test_sweep_buys_a_wick_below_support_that_closes_back_above_it() -> None:
    rows = _range_bars(100, seed=2)
    support = min(r[2] for r in rows[-48:])
    rows.append((support * 1.003, support * 1.004, support * 0.99, support * 1.0035))  # stop hunt down
    out = rule_signal(RULE_ENGINES["sweep"](), add_features(_bars(rows)))
    assert out["direction"][-1] == 1 and out["edge_bps"][-1] == 12.0


def test_sweep_sells_a_wick_above_resistance_that_closes_back_below_it() -> None:
    rows = _range_bars(100, seed=2)
    resistance = max(r[1] for r in rows[-48:])
    rows.append((resistance * 0.997, resistance * 1.01, resistance * 0.996, resistance * 0.9965))
    assert rule_signal(RULE_ENGINES["sweep"](), add_features(_bars(rows)))["direction"][-1] == -1


def test_sweep_does_not_fade_a_real_breakdown_that_closes_below_support() -> None:
    rows = _range_bars(100, seed=2)
    support = min(r[2] for r in rows[-48:])
    rows.append((support * 1.003, support * 1.004, support * 0.98, support * 0.985))
    assert rule_signal(RULE_ENGINES["sweep"](), add_features(_bars(rows)))["direction"][-1] == 0
