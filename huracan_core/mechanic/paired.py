"""The paired test: did the challenger beat the champion on bars neither of them was fitted on?

Both sides are per-bar net returns (after fees, spread and slippage) on the same bars: the challenger's
walk-forward out-of-sample decisions and the champion replayed unchanged, on the bars after the champion's
last out-of-sample bar. Their difference is resampled with a circular block bootstrap (blocks keep the
autocorrelation that overlapping holds and regimes put into per-bar returns); resampling the difference
resamples the same blocks of both series, so the pairing is kept. The challenger wins only if the
one-sided lower confidence bound of the mean difference is above zero.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from huracan_core.evaluation.metrics import metrics_from_returns


@dataclass(frozen=True)
class PairedSettings:
    min_bars: int
    min_trades: int
    block_bars: int = 32
    resamples: int = 2_000
    confidence: float = 0.95


@dataclass(frozen=True)
class PairedResult:
    bars: int
    challenger_trades: int
    champion_trades: int
    mean_diff_bps: float | None  # mean per-bar net difference (challenger - champion), bps
    lower_bound_bps: float | None  # one-sided lower confidence bound of that mean, bps
    challenger_net_pnl_pct: float | None
    champion_net_pnl_pct: float | None
    passed: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def block_bootstrap_means(diff: np.ndarray, *, block: int, resamples: int, seed: int) -> np.ndarray:
    """Means of `resamples` circular block bootstrap resamples of `diff`.

    Each resample is ceil(n / block) blocks of `block` consecutive bars (wrapping at the end), so every
    bar is equally likely to be drawn; a block's sum comes from a cumulative sum of the doubled series.
    """
    diff = np.asarray(diff, dtype=np.float64)
    n = diff.size
    block = max(1, min(block, n))
    k = math.ceil(n / block)
    doubled = np.concatenate([diff, diff[:block]])
    cumulative = np.concatenate([[0.0], np.cumsum(doubled)])
    block_sums = cumulative[np.arange(n) + block] - cumulative[np.arange(n)]
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n, size=(resamples, k))
    return block_sums[starts].sum(axis=1) / (k * block)


def paired_test(
    challenger_net: np.ndarray,
    champion_net: np.ndarray,
    *,
    challenger_trades: int,
    champion_trades: int,
    settings: PairedSettings,
    seed_text: str,
) -> PairedResult:
    """The paired test on aligned per-bar net returns (see the module doc); `seed_text` makes it
    reproducible (the same challenger re-run gets the same resamples)."""
    a = np.asarray(challenger_net, dtype=np.float64)
    b = np.asarray(champion_net, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(
            f"paired series differ in length: {a.size} challenger bars vs {b.size} champion bars"
        )
    bars, trades = a.size, challenger_trades + champion_trades
    base = {
        "bars": bars,
        "challenger_trades": challenger_trades,
        "champion_trades": champion_trades,
        "challenger_net_pnl_pct": _compounded_pct(a),
        "champion_net_pnl_pct": _compounded_pct(b),
    }
    if bars < settings.min_bars:
        return PairedResult(**base, mean_diff_bps=None, lower_bound_bps=None, passed=False,
                            reason=f"{bars} bars unseen by both < {settings.min_bars}: too few to judge")  # fmt: skip
    if trades < settings.min_trades:
        return PairedResult(**base, mean_diff_bps=None, lower_bound_bps=None, passed=False,
                            reason=f"{trades} trades by the two sides < {settings.min_trades}: too few to judge")  # fmt: skip
    diff = a - b
    seed = int.from_bytes(hashlib.sha256(seed_text.encode()).digest()[:8], "little")
    means = block_bootstrap_means(diff, block=settings.block_bars, resamples=settings.resamples, seed=seed)
    lower = float(np.quantile(means, 1.0 - settings.confidence))
    mean = float(diff.mean())
    passed = lower > 0.0
    level = f"{settings.confidence:.0%}"
    reason = (
        f"challenger beats the champion on {bars} unseen bars: mean {mean * 1e4:+.3f} bps/bar, "
        f"{level} lower bound {lower * 1e4:+.3f} bps/bar > 0"
        if passed
        else f"not shown better on {bars} unseen bars: mean {mean * 1e4:+.3f} bps/bar, "
        f"{level} lower bound {lower * 1e4:+.3f} bps/bar <= 0"
    )
    return PairedResult(
        **base, mean_diff_bps=mean * 1e4, lower_bound_bps=lower * 1e4, passed=passed, reason=reason
    )


def _compounded_pct(net: np.ndarray) -> float | None:
    if net.size == 0:
        return None
    return metrics_from_returns(net, "1m")["net_pnl_pct"]  # the timeframe does not enter the net PnL
