"""Honesty: the Engine must not find an edge that is not there, and must find one that is.

Both run the real nightly Engine (shared encoder, 23 engines, walk-forward OOS after costs, gates) on ten
coins of a synthetic market: a driftless random walk with realistic volatility and volume, and the same
walk with a planted, persistent time-of-day structure.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from huracan_core.engine.run import run_engine

pytestmark = pytest.mark.slow

AS_OF = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


def honesty_run(root: Path, variant: str) -> tuple[Any, dict[str, Any]]:
    result = run_engine(
        None,
        AS_OF,
        overrides={
            "general.archive": str(root / "archive"),
            "general.database": f"sqlite:///{root / 'huracan.db'}",
            "general.log_dir": str(root / "logs"),
            "general.symbols": "top10",
            "data.source": "synthetic",
            "data.synthetic_variant": variant,
            "data.synthetic_seed": 11,
            "engine.lookback_days": 60,
            "engine.max_concurrent": 2,
        },
    )
    roster = json.loads((root / "archive/champion/champion.json").read_text())
    return result, roster


def test_no_edge_market_gets_at_most_one_champion_in_ten(tmp_path: Path) -> None:
    result, roster = honesty_run(tmp_path, "no_edge")
    assert len(result.trained) == 10, result.failed
    assert len(result.promoted) <= 1, result.promoted
    assert sum(1 for e in roster["champions"] if e["trade_ok"]) <= 1


def test_planted_edge_is_found_out_of_sample_after_costs_on_eight_of_ten(tmp_path: Path) -> None:
    result, roster = honesty_run(tmp_path, "planted_edge")
    assert len(result.trained) == 10, result.failed
    winners = [e for e in roster["champions"] if e["trade_ok"] and (e["net_pnl_pct"] or 0) > 0]
    assert len(winners) >= 8, roster
