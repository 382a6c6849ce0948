"""The Mechanic's promotion rule: every condition must hold, and each failure is given with its numbers.

1. the Engine's gates on the challenger's out-of-sample, after-cost metrics (trades, net PnL, Sharpe,
   drawdown, deflated Sharpe over the model's own trials);
2. the paired test against the champion on bars unseen by both (`paired.py`): the one-sided lower bound of
   the mean per-bar difference above zero, with enough bars and trades (no champion: against staying flat);
3. the deflated Sharpe ratio with N = challengers ever evaluated for the coin x the model's own trials at
   least `mechanic.min_deflated_sharpe`;
4. cooldown: the coin's pointer last moved (any promoter; its `as_of`) at least `mechanic.cooldown_hours`
   before this hour;
5. at most `mechanic.max_promotions_per_day` Mechanic promotions in this UTC day, all coins together (the
   coins that pass are taken best lower bound first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from huracan_core.config import HuracanConfig
from huracan_core.engine.champion import gate_failures


def last_move(pointer: Mapping[str, Any] | None) -> datetime | None:
    """When the coin's champion became champion (the pointer's as-of; older pointers: promoted_at)."""
    if pointer is None:
        return None
    return datetime.fromisoformat(str(pointer.get("as_of") or pointer["promoted_at"]))


def mechanic_promotions_on(history: Sequence[Mapping[str, Any]], moment: datetime) -> int:
    """Mechanic promotions recorded (by their as-of) in the UTC day of `moment`."""
    day = moment.date()
    count = 0
    for record in history:
        if record.get("promoted_by") != "mechanic":
            continue
        when = datetime.fromisoformat(str(record.get("as_of") or record["promoted_at"]))
        count += when.date() == day
    return count


def refusals(
    summary: Mapping[str, Any], config: HuracanConfig, *, moment: datetime, champion_since: datetime | None
) -> list[str]:
    """Every rule (1-4 of the module doc) the challenger fails, in words; empty: it may be promoted."""
    out = [f"gate: {f}" for f in gate_failures(summary["metrics"], config.engine.gates)]
    paired = summary.get("paired", {})
    if not paired.get("passed"):
        out.append(f"paired test: {paired.get('reason', 'not run')}")
    deflated = summary.get("deflated", {})
    dsr = deflated.get("deflated_sharpe")
    floor = config.mechanic.min_deflated_sharpe
    if dsr is None or dsr < floor:
        shown = "n/a" if dsr is None else f"{dsr:.2f}"
        out.append(
            f"deflated Sharpe {shown} < {floor:g} over {deflated.get('trials')} trials "
            f"({deflated.get('challengers')} challengers x {deflated.get('model_trials')} choices in the model)"
        )
    if champion_since is not None:
        cooldown = timedelta(hours=config.mechanic.cooldown_hours)
        if moment - champion_since < cooldown:
            hours = (moment - champion_since).total_seconds() / 3600
            out.append(
                f"cooldown: the pointer moved {hours:.1f} h ago (as of {champion_since.isoformat()}), "
                f"< {config.mechanic.cooldown_hours:g} h"
            )
    return out


def ranking_key(summary: Mapping[str, Any]) -> tuple[float, str]:
    """Best evidence first when the daily cap leaves room for only some: the paired lower bound."""
    lower = summary.get("paired", {}).get("lower_bound_bps")
    return (-(lower if lower is not None else float("-inf")), str(summary["symbol"]))
