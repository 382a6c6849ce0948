"""Who trades: promotion gates, the paired comparison with the current champion, pointers and the roster.

A new model becomes champion only if its out-of-sample, after-cost metrics pass every gate (trades, net
PnL, Sharpe, drawdown, deflated Sharpe) and the comparison with the current champion does not keep it:

- the comparison window is the bars AFTER the champion's last out-of-sample bar (and inside the new
  model's out-of-sample range), up to the new model's as-of: the only bars where both sides are honest (the new model's walk-forward OOS decisions; the
  champion replayed unchanged, its gate table and combiner having been fitted on its OOS range up to its
  last bar). The incumbent never gets credit for bars it was fitted on;
- with at least `engine.comparison_min_days` of such bars, the new model must have done at least as well
  as the champion there (net PnL after costs), else the champion stays;
- with fewer (inconclusive: on a nightly cadence the window is a day or two), the decision rests on the
  new model's own gates, deflated Sharpe included: it replaces the champion when it passes them;
- a new model whose OOS range ends no later than the champion's (a backfill of an older date) never
  replaces it.

The pointer then moves by compare-and-swap after its bundle verifies; every move is appended to
promotions.json and to the database. A coin with no passing model has no pointer and is not traded.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from huracan_core.archive import Storage, paths
from huracan_core.archive.pointers import append_promotion, read_pointer, write_pointer
from huracan_core.config import PromotionGatesConfig
from huracan_core.decision import DecisionSettings
from huracan_core.engine.coin_model import replay_bundle
from huracan_core.evaluation.metrics import compute_metrics, metrics_from_returns
from huracan_core.evaluation.research import Evaluation, ResearchFrame
from huracan_core.exceptions import BundleVerificationError, ConcurrentWriteError, CorruptFileError
from huracan_core.models.bundle import Bundle, load_bundle, verify_bundle
from huracan_core.timeframe import bars_per_day, timeframe_ms

log = logging.getLogger(__name__)

INCONCLUSIVE = "inconclusive"  # too few bars after the champion's last bar: the gates decide
KEEP_VERDICTS = ("champion better", "not newer than the champion")


def gate_failures(metrics: Mapping[str, Any], gates: PromotionGatesConfig) -> list[str]:
    """Every promotion gate the OOS metrics fail, in words (empty: all pass)."""
    failures = []
    trades = int(metrics.get("trades") or 0)
    if trades < gates.min_oos_trades:
        failures.append(f"{trades} OOS trades < {gates.min_oos_trades}")
    net = metrics.get("net_pnl_pct")
    if net is None or net <= gates.min_net_pnl_pct:
        failures.append(f"net PnL after costs {_pct(net)} not above {gates.min_net_pnl_pct:g}%")
    sharpe = metrics.get("sharpe")
    if sharpe is None or sharpe < gates.min_sharpe:
        failures.append(f"Sharpe {_num(sharpe)} < {gates.min_sharpe:g}")
    dd = metrics.get("max_drawdown_pct")
    if dd is None or dd > gates.max_drawdown_pct:
        failures.append(f"max drawdown {_pct(dd)} > {gates.max_drawdown_pct:g}%")
    dsr = metrics.get("deflated_sharpe")
    if dsr is None or dsr < gates.min_deflated_sharpe:
        trials = metrics.get("trials")
        failures.append(
            f"deflated Sharpe {_num(dsr)} < {gates.min_deflated_sharpe:g}"
            + (f" ({trials} trials)" if trials is not None else "")
        )
    return failures


def compare_with_champion(
    storage: Storage,
    ev: Evaluation,
    rf: ResearchFrame,
    *,
    model_id: str,
    hold_bars: int,
    decision: DecisionSettings,
    min_days: float = 7.0,
) -> dict[str, Any]:
    """Paired comparison on the bars after the champion's last out-of-sample bar (see the module doc).

    The new model's side is its walk-forward OOS result on those bars; the champion's side is its stored
    model replayed unchanged on them. Both are after costs. Returns plain data for `promote`.
    """
    current = current_champion(storage, rf)
    if current is None:
        return {"champion_model_id": None, "verdict": "no champion"}
    champ_id = current.model_id
    if champ_id == model_id:
        return {"champion_model_id": champ_id, "verdict": "same model (a re-run of this date)"}
    out: dict[str, Any] = {"champion_model_id": champ_id}
    if current.bundle is None:
        return {**out, "verdict": "champion unusable", "reason": current.unusable}
    champion_last = champion_last_bar(current.bundle.config)
    start = comparison_start_ms(current.bundle, rf, ev)
    out.update(champion_last_bar_ms=champion_last, window_start_ms=start, window_end_ms=ev.oos_end_ms)
    if ev.oos_end_ms <= champion_last:
        return {**out, "bars": 0, "verdict": "not newer than the champion",
                "reason": "the new model's out-of-sample range ends where the champion's does, or before"}
    ours = ev.bars.filter(pl.col("timestamp") >= start)
    needed = round(min_days * bars_per_day(rf.timeframe))
    if ours.height < needed:
        return {**out, "bars": ours.height, "bars_needed": needed, "verdict": INCONCLUSIVE,
                "reason": f"{ours.height} bars after the champion's last bar < {needed}: the gates decide"}
    replayed, _ = replay_bundle(current.bundle, rf, start_ms=start, hold_bars=hold_bars, decision=decision)
    theirs = compute_metrics(replayed.bars, replayed.trades, rf.timeframe)
    new = metrics_from_returns(ours["net"].to_numpy(), rf.timeframe)
    new_net, champ_net = new.get("net_pnl_pct"), theirs.get("net_pnl_pct")
    better = new_net is not None and (champ_net is None or new_net >= champ_net)
    return {
        **out,
        "bars": ours.height,
        "bars_needed": needed,
        "new_net_pnl_pct": new_net,
        "champion_net_pnl_pct": champ_net,
        "champion_trades": theirs.get("trades"),
        "verdict": "new model at least as good" if better else "champion better",
    }


@dataclass(frozen=True)
class CurrentChampion:
    """The coin's champion as its pointer names it; `bundle` is None when it does not load (`unusable` says why)."""

    model_id: str
    bundle: Bundle | None
    unusable: str | None = None


def current_champion(storage: Storage, rf: ResearchFrame) -> CurrentChampion | None:
    """The champion a new model (the Engine's or a Mechanic challenger) is compared with; None: no pointer."""
    pointer = read_pointer(storage, rf.symbol)
    if pointer is None:
        return None
    try:
        bundle = load_bundle(storage, pointer["path"], expected_recipe_hash=rf.recipe.hash())
    except (BundleVerificationError, CorruptFileError, FileNotFoundError) as exc:
        return CurrentChampion(pointer["model_id"], None, str(exc))
    return CurrentChampion(pointer["model_id"], bundle)


def comparison_start_ms(bundle: Bundle, rf: ResearchFrame, ev: Evaluation) -> int:
    """The first bar where both sides are honest: after the champion's last OOS bar (its gate table and
    combiner were fitted up to it), inside the new model's OOS range."""
    return max(champion_last_bar(bundle.config) + timeframe_ms(rf.timeframe), ev.oos_start_ms)


def champion_last_bar(config: Mapping[str, Any]) -> int:
    """The champion's last out-of-sample bar: its gate table and combiner state were fitted up to here."""
    window = config.get("oos_window") or {}
    last = window.get("last_bar")
    if last is None:  # a bundle that does not say: everything up to its as-of is treated as seen
        return int(config.get("data_window", {}).get("end_ms", 0))
    return int(last)


def recent_net_pnl(ev: Evaluation, timeframe: str, days: float = 14.0) -> float | None:
    """Net PnL (%) of the last `days` of the OOS range: the roster's 'recent net edge'."""
    if ev.bars.height < 2:
        return None
    end = int(ev.bars["timestamp"][-1])
    recent = ev.bars.filter(pl.col("timestamp") > end - int(days * 86_400_000))
    return metrics_from_returns(recent["net"].to_numpy(), timeframe).get("net_pnl_pct")


def promote(
    storage: Storage,
    result: Mapping[str, Any],
    *,
    gates: PromotionGatesConfig,
    promoted_at: datetime,
    as_of: datetime | None = None,
) -> dict[str, Any]:
    """Decide and, when earned, move the pointer for one coin's new model. Returns the verdict.

    `as_of` is the moment the model's data ends (the run's as-of): the pointer and the promotion record
    carry it, and a replay treats the model as champion from then on (it saw nothing after it).
    """
    symbol, model_id = result["symbol"], result["model_id"]
    failures = gate_failures(result["metrics"], gates)
    comparison = result.get("comparison", {})
    verdict: dict[str, Any] = {"symbol": symbol, "model_id": model_id, "gate_failures": failures,
                               "comparison": comparison, "promoted": False}
    if failures:
        verdict["reason"] = "gates failed: " + "; ".join(failures)
        return verdict
    if comparison.get("verdict") in KEEP_VERDICTS:
        verdict["reason"] = f"kept champion {comparison.get('champion_model_id')}: {comparison.get('verdict')}"
        return verdict
    expected = comparison.get("champion_model_id")
    problem = move_champion(storage, result, promoted_by="engine", expected=expected, promoted_at=promoted_at,
                            as_of=as_of or promoted_at, evidence={"comparison": comparison})  # fmt: skip
    if problem is not None:
        verdict["reason"] = problem
        return verdict
    reason = comparison.get("verdict", "no champion")
    if reason == INCONCLUSIVE:
        reason = f"{INCONCLUSIVE} comparison ({comparison.get('reason')}); passed every gate"
    verdict.update(promoted=True, previous_model_id=expected, reason=reason)
    return verdict


def move_champion(
    storage: Storage,
    result: Mapping[str, Any],
    *,
    promoted_by: str,
    expected: str | None,
    promoted_at: datetime,
    as_of: datetime,
    evidence: Mapping[str, Any],
) -> str | None:
    """Point `result`'s coin at its model (verified, compare-and-swap on `expected`) and append the move to
    promotions.json with `evidence`; the one way the Engine and the Mechanic promote. Returns why the
    pointer did not move, or None when it did."""
    symbol, model_id = result["symbol"], result["model_id"]
    current = read_pointer(storage, symbol)
    previous = current["previous_model_id"] if current and current["model_id"] == model_id else expected
    pointer = {
        "symbol": symbol,
        "model_id": model_id,
        "path": result["path"],
        "model_sha256": result["model_sha256"],
        "feature_recipe_hash": result["feature_recipe_hash"],
        "promoted_at": promoted_at.isoformat(),
        "promoted_by": promoted_by,
        "as_of": as_of.isoformat(),
        "previous_model_id": previous,
        "metrics": {**result["metrics"], "recent_net_pnl_pct": result.get("recent_net_pnl_pct")},
    }
    try:
        write_pointer(storage, symbol, pointer, expected_model_id=expected,
                      verify=lambda path: _verify(storage, path, result["model_sha256"]))  # fmt: skip
    except (ConcurrentWriteError, BundleVerificationError) as exc:
        return f"pointer not moved: {exc}"
    if expected != model_id:
        append_promotion(storage, {
            "symbol": symbol, "model_id": model_id, "previous_model_id": expected,
            "promoted_at": promoted_at.isoformat(), "promoted_by": promoted_by,
            "as_of": as_of.isoformat(), "path": result["path"],
            "new_metrics": result["metrics"], **evidence,
        })  # fmt: skip
    return None


def _verify(storage: Storage, folder: str, model_sha256: str) -> None:
    hashes = verify_bundle(storage, folder)
    if hashes.get("model.bin") != model_sha256:
        raise BundleVerificationError(f"{folder}/model.bin changed since training (sha256 differs)")


def write_roster(storage: Storage, gates: PromotionGatesConfig, *, updated_at: datetime) -> dict[str, Any]:
    """champion/champion.json: every current champion ranked by recent net edge, with `trade_ok`.

    `trade_ok` is true only when the pointer is valid, its bundle verifies, and its metrics still pass
    the gates; `/trade N` takes the first N of the list.
    """
    entries = []
    for folder in storage.list("champion"):
        symbol = folder.rsplit("/", 1)[-1]
        if symbol.endswith(".json"):  # champion.json, promotions.json
            continue
        try:
            pointer = read_pointer(storage, symbol)
        except CorruptFileError as exc:
            entries.append({"symbol": symbol, "trade_ok": False, "reason": str(exc)})
            continue
        if pointer is None:
            continue
        reason = None
        try:
            _verify(storage, pointer["path"], pointer["model_sha256"])
        except (BundleVerificationError, FileNotFoundError) as exc:
            reason = str(exc)
        failures = gate_failures(pointer["metrics"], gates)
        entries.append({
            "symbol": symbol,
            "model_id": pointer["model_id"],
            "promoted_at": pointer["promoted_at"],
            "promoted_by": pointer["promoted_by"],
            "recent_net_pnl_pct": pointer["metrics"].get("recent_net_pnl_pct"),
            "net_pnl_pct": pointer["metrics"].get("net_pnl_pct"),
            "sharpe": pointer["metrics"].get("sharpe"),
            "trade_ok": reason is None and not failures,
            "reason": reason or ("; ".join(failures) if failures else None),
        })
    entries.sort(key=lambda e: (not e.get("trade_ok"), -(e.get("recent_net_pnl_pct") or -1e9)))
    roster = {"updated_at": updated_at.isoformat(), "champions": entries}
    storage.write_json(paths.champion_roster(), roster)
    return roster


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{value:+.2f}%"


def _num(value: Any) -> str:
    return "n/a" if value is None else f"{value:.2f}"
