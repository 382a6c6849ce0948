"""One coin's challenger: the Engine's model, refit on the window ending at the hour, judged against its champion.

The challenger starts from what the coin's champion stands on (the newest shared encoder, the same recipe,
engines and settings) and refits every per-coin part (neural heads on that encoder, XGBoost, rule
calibrations, gate table, combiner) walk-forward, exactly as the Engine does, so every metric is
out-of-sample and after costs. The per-coin weights are not copied from the champion bundle: they were
fitted on bars the challenger's early folds test, and starting from them would let those bars in.

Everything a promotion needs that can be computed apart from other coins is computed here (in the mapped
task): the paired test against the champion replayed unchanged on the bars neither saw, and the deflated
Sharpe ratio with N = every challenger ever evaluated for the coin. `promotion.decide` then only applies
the rule, under the publish lease.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl

from huracan_core.archive import Storage, paths
from huracan_core.config import HuracanConfig
from huracan_core.decision import DecisionSettings
from huracan_core.engine.champion import comparison_start_ms, current_champion
from huracan_core.engine.coin_model import replay_bundle
from huracan_core.engine.train import evaluate_coin, save_coin
from huracan_core.evaluation.metrics import metrics_from_returns, sharpe_significance
from huracan_core.evaluation.research import Evaluation, ResearchFrame
from huracan_core.mechanic.paired import PairedSettings, paired_test
from huracan_core.timeframe import bars_per_day

log = logging.getLogger("huracan.mechanic")


def paired_settings(config: HuracanConfig) -> PairedSettings:
    m = config.mechanic
    return PairedSettings(
        min_bars=round(m.min_paired_days * bars_per_day(config.general.timeframe)),
        min_trades=m.min_paired_trades,
        block_bars=m.bootstrap_block_bars,
        resamples=m.bootstrap_resamples,
        confidence=m.bootstrap_confidence,
    )


def champion_side(
    storage: Storage, rf: ResearchFrame, ev: Evaluation, config: HuracanConfig
) -> dict[str, Any]:
    """The champion's per-bar net returns on the bars after its last out-of-sample bar (inside the
    challenger's OOS range), replayed unchanged; or flat on the challenger's whole OOS range when the
    coin has no champion. Plain data plus the aligned arrays."""
    current = current_champion(storage, rf)
    if current is None:
        n = ev.bars.height
        return {"champion_model_id": None, "window_start_ms": ev.oos_start_ms, "against": "flat (no champion)",
                "net": np.zeros(n), "trades": 0, "timestamps": ev.bars["timestamp"].to_numpy()}  # fmt: skip
    if current.bundle is None:
        return {"champion_model_id": current.model_id, "unusable": current.unusable}
    start = comparison_start_ms(current.bundle, rf, ev)
    base = {"champion_model_id": current.model_id, "window_start_ms": start, "against": f"champion {current.model_id}"}
    ours = ev.bars.filter(pl.col("timestamp") >= start)
    if ours.height < 2:
        return {**base, "net": np.zeros(0), "trades": 0, "timestamps": np.zeros(0, dtype=np.int64)}
    theirs, _ = replay_bundle(current.bundle, rf, start_ms=start, hold_bars=config.engine.hold_bars,
                              decision=DecisionSettings.from_config(config))  # fmt: skip
    joined = ours.select("timestamp", "net").join(
        theirs.bars.select("timestamp", pl.col("net").alias("champion_net")), on="timestamp", how="inner"
    )
    return {
        **base,
        "net": joined["champion_net"].to_numpy(),
        "challenger_net": joined["net"].to_numpy(),
        "trades": theirs.trades.height,
        "timestamps": joined["timestamp"].to_numpy(),
    }


def _paired_sharpe(net: Any, timeframe: str) -> float | None:
    values = np.asarray(net, dtype=np.float64)
    if values.size < 2:
        return None
    sharpe = metrics_from_returns(values, timeframe).get("sharpe")
    return float(sharpe) if isinstance(sharpe, int | float) and np.isfinite(sharpe) else None


def evaluate_challenger(
    rf: ResearchFrame,
    config: HuracanConfig,
    *,
    storage: Storage,
    db: Any,
    challenger_id: str,
    as_of: datetime,
    encoder: Any,
    columns: list[str] | None,
    cutoff_ms: int | None,
    encoder_key: str | None,
    data_window: Mapping[str, Any],
    pretrained_heads: Any = None,
) -> dict[str, Any]:
    """Fit, evaluate, test against the champion, count the trial, save the bundle under challengers/."""
    from huracan_core.db.queries import record_trial, trials_of

    started = time.monotonic()
    ev, engines = evaluate_coin(
        rf, config, encoder=encoder, columns=columns, cutoff_ms=cutoff_ms, pretrained_heads=pretrained_heads
    )
    side = champion_side(storage, rf, ev, config)
    if "unusable" in side:
        paired: dict[str, Any] = {"passed": False, "reason": f"champion unusable: {side['unusable']}"}
    else:
        if "challenger_net" in side:
            ours_net = side["challenger_net"]
            window = ev.bars.filter(pl.col("timestamp") >= side["window_start_ms"])
        else:
            ours_net, window = ev.bars["net"].to_numpy(), ev.bars
        our_trades = ev.trades.filter(pl.col("entry_time") >= side["window_start_ms"]).height
        result = paired_test(
            ours_net, side["net"], challenger_trades=our_trades, champion_trades=int(side["trades"]),
            settings=paired_settings(config), seed_text=f"{rf.symbol}/{challenger_id}",
        )  # fmt: skip
        paired = {**result.to_dict(), "window_start_ms": side["window_start_ms"], "against": side["against"],
                  "window_end_ms": int(window["timestamp"][-1]) if window.height else None,
                  # Both sides' annualised Sharpe on the same paired bars (what the promotion message shows).
                  "challenger_sharpe": _paired_sharpe(ours_net, rf.timeframe),
                  "champion_sharpe": _paired_sharpe(side["net"], rf.timeframe)}  # fmt: skip
    paired["champion_model_id"] = side["champion_model_id"]

    # Every challenger ever evaluated for the coin is a trial; a re-run of this hour is the same trial.
    earlier = [t for t in trials_of(db, rf.symbol) if t["model_id"] != challenger_id]
    model_trials = int(ev.metrics.get("trials") or 1)
    challengers = len(earlier) + 1
    deflated = sharpe_significance(ev.bars["net"].to_numpy(), challengers * model_trials)
    deflated.update(challengers=challengers, model_trials=model_trials)

    summary = save_coin(
        rf, ev, engines, config, storage=storage, folder=paths.challenger_dir(rf.symbol, challenger_id),
        model_id=challenger_id, columns=columns, encoder_key=encoder_key, data_window=data_window,
    )  # fmt: skip
    record_trial(
        db, symbol=rf.symbol, model_id=challenger_id, as_of=as_of, evaluated_at=datetime.now(UTC),
        oos_bars=ev.bars.height, oos_trades=int(ev.metrics.get("trades") or 0),
        oos_sharpe=ev.metrics.get("sharpe"), net_pnl_pct=ev.metrics.get("net_pnl_pct"),
        model_trials=model_trials, promoted=False, reason="evaluated; not published yet",
    )  # fmt: skip
    return {
        **summary,
        "paired": paired,
        "deflated": deflated,
        "oos_bars": ev.bars.height,
        "seconds": round(time.monotonic() - started, 2),
    }
