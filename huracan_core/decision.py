"""The one decision rule shared by the backtest and live trading (Hamilton): trade only a net edge.

`decide` is vectorised; live calls it with length-1 inputs and gets exactly what the backtest would (four
plain numbers take a scalar fast path inside `decide`: numpy's per-call overhead on length-1 arrays was a
quarter of Hamilton's replay loop; a unit test holds the two paths equal, NaN, infinities and ties included).
- expected_net_edge_bps = |combined_edge_bps| - 2 * cost_bps (a round trip pays two per-side fills);
- trade only when expected_net_edge_bps > edge_threshold_bps AND the full spread 2 * spread_bps
  (spread_bps is the half spread paid per fill) <= spread_threshold_bps;
- side = sign(combined_edge_bps); size = max_position * (min_size + (1 - min_size) * confidence),
  so size grows linearly with confidence from min_size (confidence 0) to max_position (confidence 1);
- with `target_volatility_pct` set (volatility targeting), size = min(that size,
  max_position * target_volatility_pct / volatility_pct), volatility_pct being the bar's annualised
  realised volatility (`huracan_core.sizing`); a bar whose volatility is missing, not finite or <= 0 is
  INVALID_INPUT (never size on unknown risk). Unset, volatility is not read and nothing changes.
`hold_until_horizon` turns decisions into target positions; `HoldState` is its bar-by-bar twin for live.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from huracan_core.exceptions import ConfigError, DataIntegrityError

# Reason codes, one per bar; only TRADE means side != 0.
TRADE = "TRADE"
NO_SIGNAL = "NO_SIGNAL"  # combined edge is zero or missing
INVALID_INPUT = "INVALID_INPUT"  # cost, spread, confidence (or volatility when targeted) missing / not finite
SPREAD_TOO_WIDE = "SPREAD_TOO_WIDE"
BELOW_EDGE_THRESHOLD = "BELOW_EDGE_THRESHOLD"
REASONS = (TRADE, NO_SIGNAL, INVALID_INPUT, SPREAD_TOO_WIDE, BELOW_EDGE_THRESHOLD)


class DecisionSettings(BaseModel):
    """Thresholds of the decision rule (from the `hamilton` config section)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Net-edge floor after round-trip costs (bps).
    edge_threshold_bps: float = Field(default=10.0, ge=0)
    # Largest full spread (bps) at which we still trade.
    spread_threshold_bps: float = Field(default=20.0, gt=0)
    # Largest position, as a fraction of equity.
    max_position: float = Field(default=1.0, gt=0, le=1)
    # Size at confidence 0, as a fraction of max_position.
    min_size: float = Field(default=0.25, gt=0, le=1)
    # Volatility targeting: annualised percent a full position may carry (size is capped at
    # max_position * target / realised vol); None sizes on confidence alone.
    target_volatility_pct: float | None = Field(default=None, gt=0)

    @classmethod
    def from_config(cls, hamilton_config: Any, **overrides: float | None) -> DecisionSettings:
        """From `HamiltonConfig` (or the whole `HuracanConfig`); keys it lacks keep their defaults."""
        section = getattr(hamilton_config, "hamilton", hamilton_config)
        values: dict[str, float | None] = {}
        for key in cls.model_fields:
            if hasattr(section, key):
                values[key] = getattr(section, key)
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Decision:
    """Per-bar decisions: side (-1/0/+1), size (0 when not trading, else in (0, max_position])."""

    side: np.ndarray  # int8
    size: np.ndarray  # float64
    expected_net_edge_bps: np.ndarray  # float64 (NaN when inputs are invalid)
    reason: np.ndarray  # str (object)

    def __len__(self) -> int:
        return int(self.side.size)

    def row(self, i: int) -> dict[str, Any]:
        """One decision as plain data (what Hamilton logs)."""
        net = float(self.expected_net_edge_bps[i])
        return {
            "side": int(self.side[i]),
            "size": float(self.size[i]),
            "expected_net_edge_bps": net if np.isfinite(net) else None,
            "reason": str(self.reason[i]),
        }

    def to_frame(self) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "side": self.side,
                "size": self.size,
                "expected_net_edge_bps": self.expected_net_edge_bps,
                "reason": pl.Series(self.reason.tolist(), dtype=pl.String),
            }
        )


def _arr(values: Any) -> np.ndarray:
    if isinstance(values, pl.Series):
        return values.cast(pl.Float64).fill_null(np.nan).to_numpy()
    return np.atleast_1d(np.asarray(values, dtype=np.float64))


def nan_to_num(values: np.ndarray, nan: float = 0.0) -> np.ndarray:
    """`np.nan_to_num(values, nan=nan)` without its cost when every value is already finite.

    nan_to_num copies and builds three masks on every call, whatever the input; most inputs here are finite,
    so one `isfinite` pass usually answers. Callers only read the result: it may be `values` itself.
    (Shared with the meta combiner, whose one-bar `combine` called nan_to_num three times a bar.)
    """
    values = np.asarray(values)
    if values.dtype.kind == "f" and np.isfinite(values).all():
        return values
    return np.nan_to_num(values, nan=nan)


# Inputs `decide` takes its one-row fast path for: plain numbers (bool is left to the general path).
_SCALARS = (float, int, np.floating, np.integer)
_FLOAT_MAX = float(np.finfo(np.float64).max)


def _scalar(value: Any) -> bool:
    return isinstance(value, _SCALARS) and not isinstance(value, bool | np.bool_)


def _nan_to_num_one(x: float, nan: float = 0.0) -> float:
    """`np.nan_to_num` of one float: NaN -> `nan`, +-inf -> +-the largest float64."""
    if x != x:
        return nan
    if x == math.inf:
        return _FLOAT_MAX
    if x == -math.inf:
        return -_FLOAT_MAX
    return x


def _decide_one(
    edge: float, conf: float, cost: float, spread: float, vol: float, settings: DecisionSettings
) -> Decision:
    """`decide` for one row of plain floats: the vectorised expressions below, term by term, in float64.

    Python floats are IEEE doubles with numpy's rounding, so every value is bit for bit what the array path
    gives (`test_decision` checks it over random and edge-case rows); only numpy's per-call overhead goes.
    """
    finite = math.isfinite
    target = settings.target_volatility_pct
    invalid = not (finite(cost) and finite(spread) and finite(conf)) or cost < 0 or spread < 0
    if target is not None and not (finite(vol) and vol > 0):
        invalid = True
    no_signal = not finite(edge) or edge == 0
    if invalid or not finite(edge):
        net = math.nan
    else:
        net = abs(_nan_to_num_one(edge)) - 2.0 * _nan_to_num_one(cost)
    wide = 2.0 * _nan_to_num_one(spread) > settings.spread_threshold_bps
    below = not (_nan_to_num_one(net, nan=-math.inf) > settings.edge_threshold_bps)
    # The same precedence as the array path: the most basic reason is reported.
    if invalid:
        reason = INVALID_INPUT
    elif no_signal:
        reason = NO_SIGNAL
    elif wide:
        reason = SPREAD_TOO_WIDE
    elif below:
        reason = BELOW_EDGE_THRESHOLD
    else:
        reason = TRADE
    if reason == TRADE:
        e = _nan_to_num_one(edge)
        side = 1 if e > 0 else (-1 if e < 0 else 0)
        c = min(max(_nan_to_num_one(conf), 0.0), 1.0)
        size = settings.max_position * (settings.min_size + (1.0 - settings.min_size) * c)
        if target is not None:
            size = min(size, settings.max_position * target / vol)
    else:
        side, size = 0, 0.0
    reasons = np.empty(1, dtype=object)
    reasons[0] = reason
    return Decision(
        side=np.array([side], dtype=np.int8),
        size=np.array([size], dtype=np.float64),
        expected_net_edge_bps=np.array([net], dtype=np.float64),
        reason=reasons,
    )


def decide(
    combined_edge_bps: Any,
    confidence: Any,
    cost_bps: Any,
    spread_bps: Any,
    settings: DecisionSettings,
    volatility_pct: Any = None,
) -> Decision:
    """Side, size, expected net edge and reason per row (numbers broadcast against arrays).

    `volatility_pct` (annualised realised volatility known at the bar, `huracan_core.sizing`) is read only
    when `settings.target_volatility_pct` is set, and must then be given. Plain numbers (Hamilton's one bar)
    take `_decide_one`, the same expressions without arrays.
    """
    target = settings.target_volatility_pct
    if target is not None and volatility_pct is None:
        raise ConfigError(
            f"decision.target_volatility_pct={target} sizes by realised volatility, "
            "but decide was given no volatility_pct"
        )
    vol_in = np.nan if target is None else volatility_pct
    if (
        _scalar(combined_edge_bps)
        and _scalar(confidence)
        and _scalar(cost_bps)
        and _scalar(spread_bps)
        and _scalar(vol_in)
    ):
        return _decide_one(
            float(combined_edge_bps), float(confidence), float(cost_bps), float(spread_bps), float(vol_in),
            settings,
        )  # fmt: skip
    try:
        edge, conf, cost, spread, vol = np.broadcast_arrays(
            _arr(combined_edge_bps), _arr(confidence), _arr(cost_bps), _arr(spread_bps), _arr(vol_in)
        )
    except ValueError:
        given = (combined_edge_bps, confidence, cost_bps, spread_bps, vol_in)
        shapes = [np.shape(_arr(v)) for v in given]
        raise DataIntegrityError(
            f"decide inputs (edge, confidence, cost, spread, volatility) have mismatched shapes {shapes}"
        ) from None
    n = edge.size
    invalid = ~(np.isfinite(cost) & np.isfinite(spread) & np.isfinite(conf)) | (cost < 0) | (spread < 0)
    if target is not None:
        with np.errstate(invalid="ignore"):
            invalid |= ~(np.isfinite(vol) & (vol > 0))
    no_signal = ~np.isfinite(edge) | (edge == 0)
    net = np.where(invalid | ~np.isfinite(edge), np.nan, np.abs(nan_to_num(edge)) - 2.0 * nan_to_num(cost))
    wide = 2.0 * nan_to_num(spread) > settings.spread_threshold_bps
    below = ~(nan_to_num(net, nan=-np.inf) > settings.edge_threshold_bps)

    reason = np.full(n, TRADE, dtype=object)
    # Later assignments win: the most basic reason is reported.
    reason[below] = BELOW_EDGE_THRESHOLD
    reason[wide] = SPREAD_TOO_WIDE
    reason[no_signal] = NO_SIGNAL
    reason[invalid] = INVALID_INPUT
    trade = reason == TRADE

    side = np.where(trade, np.sign(nan_to_num(edge)), 0).astype(np.int8)
    c = np.clip(nan_to_num(conf), 0.0, 1.0)
    size = np.where(trade, settings.max_position * (settings.min_size + (1.0 - settings.min_size) * c), 0.0)
    if target is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            size = np.where(trade, np.minimum(size, settings.max_position * target / vol), 0.0)
    return Decision(side=side, size=size, expected_net_edge_bps=net, reason=reason)


def _check_horizon(horizon: Any) -> int:
    """The hold horizon as an int, or `ConfigError` (a bad horizon is a setting to fix, not data)."""
    try:
        whole = int(horizon)
    except (TypeError, ValueError):
        whole = None
    if whole is None or isinstance(horizon, bool) or whole != horizon or whole < 1:
        raise ConfigError(f"horizon={horizon!r} must be an integer >= 1 bar")
    return whole


def _held(bars_since_trade: Any, horizon: int) -> Any:
    """Whether a TRADE decision `bars_since_trade` bars ago (0: this bar) still sets the target."""
    return bars_since_trade < horizon


def hold_until_horizon(decisions: Decision, horizon: int) -> np.ndarray:
    """Target position per bar from decisions: each TRADE decision is held for `horizon` bars.

    The hold rule (the one definition; `HoldState` applies it bar by bar for live trading):
    a decision at bar t (close) sets the target side * size for bars t .. t+horizon-1, so the backtest
    holds it from t+1's open to t+1+horizon's open (the label's exit). A later TRADE decision replaces
    it at once: same side extends the hold (and resizes), the other side reverses. No-trade bars do not
    close a position early; it runs until its horizon ends. Before the first TRADE decision the target is 0.
    """
    horizon = _check_horizon(horizon)
    n = len(decisions)
    idx = np.arange(n)
    traded = decisions.side != 0
    last = np.maximum.accumulate(np.where(traded, idx, -1))
    live = (last >= 0) & _held(idx - last, horizon)
    src = np.maximum(last, 0)
    return np.where(live, decisions.side[src] * decisions.size[src], 0.0)


@dataclass
class HoldState:
    """`hold_until_horizon` one bar at a time, for Hamilton: same rule, same targets, restartable.

    Feed each bar's decision to `step` in bar order; it returns exactly what `hold_until_horizon` gives at
    that bar. `to_dict` / `from_dict` carry the state as plain JSON-able data so a restarted service goes
    on where it stopped (it must then step the bars it missed, in order, before trading again).
    """

    horizon: int
    # side * size of the latest TRADE decision (0.0 before any).
    last_trade_target: float = 0.0
    # Bars since that decision (0: the last stepped bar); None before any; capped at `horizon` (expired).
    bars_since_trade: int | None = None

    def __post_init__(self) -> None:
        self.horizon = _check_horizon(self.horizon)

    @property
    def target(self) -> float:
        """The target position of the last stepped bar (0.0 when nothing is held)."""
        if self.bars_since_trade is None or not _held(self.bars_since_trade, self.horizon):
            return 0.0
        return self.last_trade_target

    def step(self, side: int, size: float) -> float:
        """Apply one bar's decision (side -1/0/+1, size) and return that bar's target position."""
        if side != 0:
            self.last_trade_target = float(side * size)
            self.bars_since_trade = 0
        elif self.bars_since_trade is not None:
            self.bars_since_trade = min(self.bars_since_trade + 1, self.horizon)
        return self.target

    def to_dict(self) -> dict[str, Any]:
        return {
            "horizon": self.horizon,
            "last_trade_target": self.last_trade_target,
            "bars_since_trade": self.bars_since_trade,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HoldState:
        """The state `to_dict` wrote; a malformed one is `DataIntegrityError` (do not trade on a guess)."""
        try:
            horizon = _check_horizon(data["horizon"])
            target = float(data["last_trade_target"])
            since = data["bars_since_trade"]
        except (KeyError, TypeError, ValueError, ConfigError) as exc:
            raise DataIntegrityError(f"hold state {dict(data)!r} is malformed: {exc}") from None
        valid_since = since is None or (
            isinstance(since, int) and not isinstance(since, bool) and 0 <= since <= horizon
        )
        if not (np.isfinite(target) and valid_since):
            raise DataIntegrityError(
                f"hold state {dict(data)!r} is malformed: last_trade_target must be finite and "
                f"bars_since_trade null or an integer in 0..{horizon}"
            )
        return cls(horizon=horizon, last_trade_target=target, bars_since_trade=since)
