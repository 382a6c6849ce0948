"""Comparison helper for feature rows: same nulls, values equal within a tolerance."""

from __future__ import annotations


def assert_rows_equal(expected: dict, got: dict, columns: list[str], tolerance: float = 1e-9) -> None:
    """Same null pattern and values within `tolerance` (relative above 1, absolute below)."""
    for name in columns:
        a, b = expected[name], got[name]
        assert (a is None) == (b is None), f"{name}: {a!r} vs {b!r}"
        if a is not None:
            assert abs(a - b) <= tolerance * max(1.0, abs(a)), f"{name}: {a!r} vs {b!r}"
