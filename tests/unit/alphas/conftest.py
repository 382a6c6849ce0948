"""Fixtures for alpha engine tests: one synthetic market frame shared by the generic contract tests."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest

_ROOT = str(Path(__file__).resolve().parents[3])
if _ROOT not in sys.path:  # so `tests.stubs` imports without a top-level conftest
    sys.path.insert(0, _ROOT)

from tests.stubs.alpha_frames import market_frame  # noqa: E402


@pytest.fixture(scope="session")
def market() -> pl.DataFrame:
    """3000 hourly bars of a coin tied to BTC, with ETH, funding, universe rank and regime columns."""
    return market_frame(3000, seed=7)
