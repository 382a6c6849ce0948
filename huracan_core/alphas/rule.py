"""`RuleEngine`: a fixed, documented rule plus a calibrated edge per side.

A concrete rule engine only writes `rule()` (numpy arrays in, raw direction and strength out). Fitting
measures what those raw signals were worth on the training window; signalling applies that calibration.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import polars as pl

from huracan_core.alphas.arrays import unit
from huracan_core.alphas.base import AlphaEngine, LatestInputs, signal_row
from huracan_core.alphas.calibration import (
    CALIBRATION_KEYS,
    DEFAULT_MIN_COUNT,
    apply_calibration,
    calibrate_sides,
    calibrated_arrays,
    forward_move_bps,
    round_trip_bps,
)
from huracan_core.segments import split_segments


class RuleEngine(AlphaEngine):
    """Rule engine: raw signal from `rule()`, edge from calibration on the training window."""

    defaults: ClassVar[Mapping[str, float]] = {
        "min_count": DEFAULT_MIN_COUNT,  # training signals per side needed before that side may trade
        "min_net_edge_bps": 0.0,  # calibrated net edge (bps, after its round trip) a side must exceed to trade
    }

    @abstractmethod
    def rule(self, x: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(raw direction, strength) arrays: direction Int8 in {-1, 0, 1}, strength in [0, 1]; causal.

        `x` maps each input (and each optional input that holds data) to a float64 array with NaN for
        missing values; row t of the result may use rows <= t only (see `arrays` helpers).
        """

    def input_arrays(self, frame: pl.DataFrame) -> dict[str, np.ndarray]:
        """Inputs (and optional inputs holding data) as float64 arrays, nulls and +-inf as NaN."""
        arrays: dict[str, np.ndarray] = {}
        columns = set(frame.columns)
        for name in (*self.inputs, *self.optional_inputs):
            if name not in columns:
                continue
            series = frame[name]
            if name in self.optional_inputs and series.null_count() == frame.height:
                continue
            values = series.cast(pl.Float64).to_numpy()
            finite = np.isfinite(values)
            arrays[name] = values if finite.all() else np.where(finite, values, np.nan)
        return arrays

    def raw_signals(self, frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The rule's raw (direction, strength) per row, strength 0 where direction is 0.

        Rows with missing inputs (warm-up) give no signal; a missing or all-null input column gives none
        at all (the engine abstains).
        """
        if self.missing_inputs(frame):
            return np.zeros(frame.height, dtype=np.int8), np.zeros(frame.height, dtype=np.float64)
        return self._applied(self.input_arrays(frame))

    def latest_raw(self, inputs: LatestInputs) -> tuple[np.ndarray, np.ndarray]:
        """`raw_signals(frame.tail(lookback_bars))` from the shared numpy columns of the live path."""
        rows = self.lookback_bars
        if inputs.missing(self.inputs, rows):
            size = min(rows, inputs.height)
            return np.zeros(size, dtype=np.int8), np.zeros(size, dtype=np.float64)
        arrays = {
            name: inputs.values(name, rows)
            for name in (*self.inputs, *self.optional_inputs)
            if name in inputs and not (name in self.optional_inputs and inputs.all_null(name, rows))
        }
        return self._applied(arrays)

    def _applied(self, arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The rule on its input arrays; strength clipped to [0, 1], and 0 wherever there is no direction."""
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            direction, strength = self.rule(arrays)
        direction = np.asarray(direction, dtype=np.int8)
        strength = np.asarray(strength, dtype=np.float64)
        usable = (direction != 0) & np.isfinite(strength)
        return direction, np.where(usable, unit(strength), 0.0)

    def rule_frame(self, frame: pl.DataFrame) -> pl.DataFrame:
        """`raw_signals` as a frame with columns `raw_direction` (Int8) and `strength` (Float64)."""
        direction, strength = self.raw_signals(frame)
        return pl.DataFrame(
            {"raw_direction": direction, "strength": strength},
            schema={"raw_direction": pl.Int8(), "strength": pl.Float64()},
        )

    def fit(self, frame: pl.DataFrame) -> dict[str, Any]:
        """Calibrate each side on `frame` (the training window): mean forward move after raw signals, and
        whether it beat the round trip it would have paid (the side abstains otherwise)."""
        state = self.base_state(frame)
        min_count = int(self.params["min_count"])
        if state["missing_inputs"]:  # nothing to calibrate: both sides inactive, the engine abstains
            state.update(calibrate_sides(np.zeros(0, dtype=np.int8), np.zeros(0), min_count))
            return state
        # A rule's rolling windows must not join the bars on both sides of a hole in the training frame.
        raw = np.concatenate([self.raw_signals(part)[0] for part in split_segments(frame)])
        forward = forward_move_bps(frame, self.horizon_bars)
        round_trip = round_trip_bps(frame, self.horizon_bars)
        floor = float(self.params["min_net_edge_bps"])
        state.update(calibrate_sides(raw, forward, min_count, round_trip, min_net_edge_bps=floor))
        return state

    def signal(self, frame: pl.DataFrame, state: Mapping[str, Any]) -> pl.DataFrame:
        """Raw rule signals weighted by the calibrated edge of their side; abstains on missing inputs."""
        self.check_state(state, required=CALIBRATION_KEYS)
        direction, strength = self.raw_signals(frame)  # all zero when an input is missing: abstain
        return apply_calibration(direction, strength, state, self.horizon_bars)

    def latest_row(self, inputs: LatestInputs, state: Mapping[str, Any]) -> dict[str, Any]:
        """`signal`'s last row from the newest `lookback_bars` rows, without building a frame."""
        self.check_state(state, required=CALIBRATION_KEYS)
        direction, strength = self.latest_raw(inputs)
        return signal_row(*calibrated_arrays(direction[-1:], strength[-1:], state), self.horizon_bars)
