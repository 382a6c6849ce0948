"""Fixtures for model tests: a planted multi-coin data set, split chronologically."""

from __future__ import annotations

import pytest

from tests.stubs.model_data import planted_frame, split_sets

WINDOW = 8


@pytest.fixture(scope="module")
def planted_sets():
    """(train, valid, test) windows of 2 coins whose f0 predicts the next move."""
    coins = {s: planted_frame(1500, seed=i) for i, s in enumerate(("AAAUSDT", "BBBUSDT"))}
    return split_sets(coins, WINDOW)


@pytest.fixture(scope="module")
def noise_sets():
    """(train, valid, test) windows of 2 coins with nothing to predict."""
    coins = {s: planted_frame(1500, seed=10 + i, strength=0.0) for i, s in enumerate(("AAAUSDT", "BBBUSDT"))}
    return split_sets(coins, WINDOW)
