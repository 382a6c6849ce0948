"""Fixtures for the feature-builder tests: seeded random-walk candles and the real candles when present."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tests.stubs.random_candles import random_candles

REAL_CANDLES = Path(__file__).resolve().parents[4] / "shared" / "data" / "candles" / "5m"


@pytest.fixture(scope="session")
def walk() -> pl.DataFrame:
    """1,500 bars of a seeded random walk."""
    return random_candles(1_500, seed=7)


@pytest.fixture(scope="session")
def walk_refs() -> dict[str, pl.DataFrame]:
    """BTC and ETH random walks on the same timestamps as `walk` (ETH misses a few bars)."""
    btc = random_candles(1_500, seed=11, start_price=40_000.0)
    eth = random_candles(1_500, seed=12, start_price=2_000.0)
    eth = eth.filter(~pl.int_range(pl.len()).is_in([700, 701, 1_200]))
    return {"BTCUSDT": btc, "ETHUSDT": eth}


def real_candle_paths() -> list[Path]:
    return sorted(REAL_CANDLES.glob("*.parquet")) if REAL_CANDLES.is_dir() else []


@pytest.fixture(scope="session")
def real_candles() -> dict[str, pl.DataFrame]:
    """{symbol: candles} from /work/shared/data (skips when absent)."""
    paths = real_candle_paths()
    if not paths:
        pytest.skip(f"real candles not found under {REAL_CANDLES}")
    return {p.stem: pl.read_parquet(p) for p in paths}
