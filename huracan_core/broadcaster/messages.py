"""The texts users get: plain data in, one plain-text message out (no Markdown: nothing to escape or break).

Each function formats; none sends. The callers log and queue the text through `announce(kind=...)`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def _pct(value: Any) -> str:
    return "n/a" if not isinstance(value, int | float) else f"{value:+.2f}%"


def _num(value: Any, digits: int = 2) -> str:
    return "n/a" if not isinstance(value, int | float) else f"{value:.{digits}f}"


def _signed(value: Any, digits: int = 3) -> str:
    return "n/a" if not isinstance(value, int | float) else f"{value:+.{digits}f}"


def _coins(symbols: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(symbols[:limit])
    return shown + (f" and {len(symbols) - limit} more" if len(symbols) > limit else "")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


# --- the Engine ------------------------------------------------------------------------------------------
def engine_started(plan: Mapping[str, Any]) -> str:
    symbols = list(plan.get("symbols") or [])
    as_of = str(plan.get("as_of", "?"))[:16].replace("T", " ")
    return (
        f"🚀 Engine started, as of {as_of} UTC: {len(symbols)} coins in {len(plan.get('batches') or [])} "
        f"batches ({plan.get('timeframe')}, {plan.get('lookback_days')} days, {plan.get('data_source')})."
    )


def engine_progress(run_id: str, done: int, total: int, batch: Mapping[str, Mapping[str, Any]]) -> str:
    saved = sorted(s for s, r in batch.items() if "error" not in r)
    failed = sorted(s for s, r in batch.items() if "error" in r)
    share = f" ({100 * done // total}%)" if total else ""
    line = f"⏳ Engine {run_id}: {done} of {total} coins done{share}."
    if saved:
        line += f" Saved: {_coins(saved)}."
    if failed:
        line += f" Failed: {_coins(failed)}."
    return line


def engine_finished(
    run_id: str,
    *,
    saved: int,
    promoted: Sequence[str],
    skipped: int,
    failed: Mapping[str, str],
    seconds: float | None,
) -> str:
    line = (
        f"🏁 Engine {run_id} finished in {_duration(seconds)}: {saved} model{'' if saved == 1 else 's'} saved, "
        f"{len(promoted)} promoted{f' ({_coins(list(promoted))})' if promoted else ''}, {skipped} skipped, "
        f"{len(failed)} failed."
    )
    for symbol, reason in list(sorted(failed.items()))[:5]:
        line += f"\n❌ {symbol}: {reason}"
    return line


def engine_failed(run_id: str, error: str) -> str:
    return f"❌ Engine {run_id} failed: {error}"


# --- the Mechanic ----------------------------------------------------------------------------------------
def mechanic_promotion(symbol: str, verdict: Mapping[str, Any]) -> str:
    """A Mechanic promotion with both models' numbers on the bars the paired test compared them on."""
    paired = verdict.get("paired_test") or {}
    deflated = verdict.get("deflated") or {}
    champion = verdict.get("champion_metrics") or {}
    was = verdict.get("previous_model_id") or "no champion"
    lines = [
        f"🔧 Mechanic promoted {symbol} {verdict.get('model_id')} (was {was}).",
        f"On {paired.get('bars', 'n/a')} bars unseen by both ({paired.get('against', 'the champion')}):",
        f"  new: net {_pct(paired.get('challenger_net_pnl_pct'))}, Sharpe {_num(paired.get('challenger_sharpe'))}, "
        f"{paired.get('challenger_trades', 'n/a')} trades",
        f"  old: net {_pct(paired.get('champion_net_pnl_pct'))}, Sharpe {_num(paired.get('champion_sharpe'))}, "
        f"{paired.get('champion_trades', 'n/a')} trades",
        f"  new minus old: {_signed(paired.get('mean_diff_bps'))} bps/bar, bootstrap lower bound "
        f"{_signed(paired.get('lower_bound_bps'))} bps/bar",
        f"Deflated Sharpe: new {_num(deflated.get('deflated_sharpe'))} (over {deflated.get('challengers', '?')} "
        f"challenger(s) x {deflated.get('model_trials', '?')} trials), old {_num(champion.get('deflated_sharpe'))} "
        "(at its own evaluation).",
    ]
    return "\n".join(lines)


def mechanic_refusals(run_id: str, refused: Mapping[str, str]) -> str:
    """One line for the hour: which challengers were not promoted and the first reason of each."""
    shown = sorted(refused.items())
    text = f"🔧 Mechanic {run_id}: {len(shown)} challenger(s) not promoted: " + "; ".join(
        f"{symbol}: {reason}" for symbol, reason in shown
    )
    return text


# --- Hamilton --------------------------------------------------------------------------------------------
def guardrail_stops(mode: str, blocks: Mapping[str, str]) -> str:
    """The entries a guardrail refused at one bar, one coin a line."""
    lines = [f"⛔ [{mode.upper()}] guardrail stopped new entries:"]
    lines += [f"{symbol}: {reason}" for symbol, reason in sorted(blocks.items())]
    return "\n".join(lines)
