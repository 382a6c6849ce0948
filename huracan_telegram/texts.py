"""What the bot says: the commands' plain data formatted as short Telegram HTML (every value escaped).

Numbers carry their units (USDT, %, bps, days); times are UTC. Nothing here reads files or the clock.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from html import escape, unescape

from huracan_core.broadcaster.commands import (
    TRADE_USAGE,
    ChampionsView,
    NightRun,
    PauseChange,
    PnlView,
    PromotionsView,
    StatusView,
    TradePlan,
)
from huracan_core.broadcaster.daily_summary import DailySummary
from huracan_core.hamilton.control import PauseState, SymbolsSelector
from huracan_core.market.candles import format_ms

# (command, what it does, an example) in the order /help and the client's menu show them.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    (
        "trade",
        "choose what Hamilton trades (asks to confirm)",
        "/trade 10, /trade BTCUSDT,ETHUSDT, /trade off",
    ),
    ("status", "Hamilton's heartbeat, positions, guardrails; last night's run", "/status"),
    ("champions", "the champion roster, ranked, and what is traded", "/champions"),
    ("pnl", "equity and trades over the last N days (default 7)", "/pnl 30"),
    ("daily", "the daily summary with the equity chart", "/daily, /daily today, /daily 2026-12-04"),
    ("promotions", "champion changes of the last N days (default 7)", "/promotions 3"),
    ("pause", "stop opening trades (exits still happen)", "/pause exchange maintenance"),
    ("resume", "lift the pause", "/resume"),
    ("help", "this list", "/help"),
)
MAX_LINES = 40  # rows of a list shown in one message; Telegram caps a message at 4,096 characters


def e(value: object) -> str:
    return escape(str(value), quote=False)


def fit(text: str, limit: int = 4096) -> str:
    """`text` within Telegram's limit, cut at a line (each line closes its own tags) with a marker."""
    if len(text) <= limit:
        return text
    lines, kept = text.split("\n"), []
    size = len("\n... (cut)")
    for line in lines:
        if size + len(line) + 1 > limit:
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept) + "\n... (cut)"


def plain(text: str) -> str:
    """An HTML text of this module as plain text (the outbox sends without parse mode)."""
    return unescape(re.sub(r"</?(b|code)>", "", text))


def when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(seconds, 0.0)
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 2 * 86400:
        return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"
    return f"{seconds / 86400:.1f} days"


def money(value: float | None, quote: str) -> str:
    return "-" if value is None else f"{value:,.2f} {quote}"


def signed_money(value: float | None, quote: str) -> str:
    return "-" if value is None else f"{value:+,.2f} {quote}"


def pct(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:+.{digits}f}%"


def _symbols(symbols: Sequence[str]) -> str:
    return ", ".join(symbols) if symbols else "none"


def help_text() -> str:
    lines = ["<b>Huracan bot</b>: commands (only allowed users, in allowed chats)"]
    for name, what, example in COMMANDS:
        lines.append(f"/{name}: {e(what)}. e.g. <code>{e(example)}</code>")
    return "\n".join(lines)


def error_text(message: str) -> str:
    return f"⚠️ {e(message)}"


# --- /trade ---------------------------------------------------------------------------------------
def _trade_effect(plan: TradePlan) -> list[str]:
    selection = plan.selection
    lines = []
    if plan.choice.mode == "off":
        lines.append("Hamilton would open no new trade; open positions close at the next open.")
        return lines
    if not plan.roster_found:
        lines.append(
            "There is no champion roster yet (the nightly Engine has not published): nothing is traded now."
        )
    traded = selection.symbols
    lines.append(
        f"Traded now: <b>{e(_symbols(traded))}</b> ({len(traded)} coin{'s' if len(traded) != 1 else ''})"
    )
    if (
        plan.roster_found
        and plan.choice.mode == "top"
        and plan.choice.n is not None
        and len(traded) < plan.choice.n
    ):
        lines.append(f"Only {len(traded)} champion(s) are trade_ok today; more join when they qualify.")
    for symbol, why in list(selection.dropped.items())[:MAX_LINES]:
        lines.append(f"Not traded: {e(symbol)}: {e(why)}")
    if plan.choice.mode in ("top", "all"):
        lines.append("The list follows the roster from night to night.")
    return lines


def trade_question(plan: TradePlan, *, expires_min: int) -> str:
    lines = [f"Trade <b>{e(plan.choice.describe())}</b> from Hamilton's next bar?", *_trade_effect(plan)]
    lines.append(f"Confirm or Cancel (expires in {expires_min} min).")
    return "\n".join(lines)


def trade_done(plan: TradePlan) -> str:
    lines = [
        f"✅ Done: Hamilton trades {e(plan.choice.describe())} from its next bar.",
        *_trade_effect(plan),
        f"Written to {e(plan.selector_key)} by {e(plan.selector.updated_by)} at {when(plan.selector.updated_at)}.",
    ]
    return "\n".join(lines)


def trade_cancelled() -> str:
    return "Cancelled: nothing changed."


def trade_expired() -> str:
    return "This question expired or was replaced by a newer /trade: nothing changed. Send /trade again."


def trade_usage_error(message: str) -> str:
    return error_text(message) + f"\nUsage: {e(TRADE_USAGE)}"


# --- /pause and /resume ---------------------------------------------------------------------------
def _pause_state(state: PauseState | None) -> str:
    if state is None:
        return "unreadable (Hamilton treats it as paused)"
    if not state.paused:
        return "not paused"
    reason = f" ({e(state.reason)})" if state.reason else ""
    return f"paused{reason} by {e(state.updated_by or '?')} at {when(state.updated_at)}"


def pause_text(change: PauseChange) -> str:
    if change.after.paused:
        head = "⏸ Paused: from its next bar Hamilton opens and increases nothing; exits still happen."
        tail = "/resume lifts it. The pause survives restarts."
    else:
        head = "▶️ Resumed: Hamilton may open trades again from its next bar (guardrails still apply)."
        tail = "/pause stops new trades again."
    return "\n".join([head, f"Before: {_pause_state(change.before)}.", tail])


# --- /status --------------------------------------------------------------------------------------
def _selector_text(selector: SymbolsSelector | None) -> str:
    if selector is None:
        return "no selector file (hamilton.symbols, or every trade_ok champion)"
    what = {
        "top": f"top {selector.n}",
        "list": "list " + ", ".join(selector.symbols),
        "off": "off",
        "all": "all",
    }
    return f"{e(what[selector.mode])}, set by {e(selector.updated_by)} at {when(selector.updated_at)}"


def night_text(night: NightRun | None) -> str:
    if night is None:
        return "no nightly run recorded yet"
    mark = {"succeeded": "✅", "finished": "✅", "failed": "❌", "running": "⏳"}.get(night.status, "")
    counts = f"{night.succeeded} trained, {night.failed} failed, {night.skipped} skipped of {night.total}"
    promoted = f"; promoted {e(', '.join(night.promoted))}" if night.promoted else "; no promotion"
    return f"{mark} as of {when(night.as_of)}: {e(night.status)}, {counts}{promoted}".strip()


def status_text(view: StatusView, *, quote: str, refusals: int | None = None) -> str:
    lines: list[str] = []
    h = view.hamilton
    if h is None:
        lines.append("<b>Hamilton</b>: no status file yet (it has not run against this archive).")
    else:
        stale = " <b>STALE: is Hamilton running?</b>" if view.stale else ""
        run = "" if h.run_key == h.mode else f" (run {e(h.run_key)})"
        lines.append(f"<b>Hamilton</b> {e(h.mode)}{run}: heartbeat {age(view.heartbeat_age_s)} ago{stale}")
        lines.append(f"Last bar {e(format_ms(h.bar_ms))}")
        lines.append(f"Equity {money(h.equity, quote)}, cash {money(h.cash, quote)}")
        if h.positions:
            lines.append(f"Positions ({len(h.positions)}):")
            for symbol, p in sorted(h.positions.items())[:MAX_LINES]:
                lines.append(
                    f"  {e(symbol)} {e(p.side)} {p.size:.0%} of its allocation, {p.quantity:g} @ "
                    f"{p.entry_price:,.6g} {quote}, model {e(p.model_id)}"
                )
        else:
            lines.append("Positions: none")
        g = h.guardrails
        cap = "<b>HIT</b>: no new entries until 00:00 UTC" if g.loss_cap_hit else "not hit"
        lines.append(
            f"Daily loss cap: {cap} (day {e(g.day or '-')}, started at {money(g.day_start_equity, quote)})"
        )
        for symbol, reason in sorted(g.blocked.items())[:MAX_LINES]:
            lines.append(f"  ⛔ {e(symbol)}: {e(reason)}")
        traded = h.selection.symbols
        lines.append(f"Trading {len(traded)}: {e(_symbols(traded))}")
        if h.pending_db_commits:
            lines.append(f"{h.pending_db_commits} trade(s) waiting for the database")
        if h.errors:
            last = h.errors[-1]
            lines.append(f"Last problem {when(last.at)}: {e(last.message[:300])}")
    lines.append(f"Pause file: {_pause_state(view.pause)}")
    lines.append(f"Selector: {_selector_text(view.selector)}")
    lines.append(f"<b>Last night</b>: {night_text(view.night)}")
    for problem in view.problems:
        lines.append(f"⚠️ {e(problem[:300])}")
    if refusals:
        lines.append(f"Refused commands since the bot started: {refusals}")
    return "\n".join(lines)


# --- /champions -----------------------------------------------------------------------------------
def _roster_time(text: str | None) -> str:
    try:
        return when(datetime.fromisoformat(text)) if text else "-"
    except ValueError:
        return e(text)


def champions_text(view: ChampionsView) -> str:
    if not view.roster_found:
        return "No champion roster yet: the nightly Engine has not published champions."
    if not view.rows:
        return "The roster is empty: no coin has a champion."
    ok = sum(1 for row in view.rows if row.trade_ok)
    lines = [
        f"<b>Champions</b> ({ok} trade_ok of {len(view.rows)}), ranked; roster of {_roster_time(view.updated_at)}"
    ]
    for rank, row in enumerate(view.rows[:MAX_LINES], start=1):
        mark = "▶️" if row.traded else ("✔️" if row.trade_ok else "✖️")
        numbers = f"recent net {pct(row.recent_net_pnl_pct)}, Sharpe {'-' if row.sharpe is None else f'{row.sharpe:.2f}'}"
        note = "" if row.trade_ok else f" ({e((row.reason or 'not trade_ok')[:120])})"
        lines.append(f"{rank}. {mark} {e(row.symbol)} {e(row.model_id or '-')}: {numbers}{note}")
    if len(view.rows) > MAX_LINES:
        lines.append(f"... and {len(view.rows) - MAX_LINES} more")
    lines.append(f"▶️ traded now ({e(view.selection.how)}), ✔️ trade_ok, ✖️ not trade_ok")
    return "\n".join(lines)


# --- /pnl -----------------------------------------------------------------------------------------
def pnl_text(view: PnlView, *, quote: str) -> str:
    window = f"{view.start.isoformat()} .. {view.end.isoformat()} UTC"
    if view.run_key is None:
        return f"No paper or live trading recorded yet ({window}): Hamilton has not closed a day."
    lines = [f"<b>PnL</b>, run {e(view.run_key)}, last {view.days} day(s): {window}"]
    if not view.rows:
        lines.append("No equity recorded in these days.")
    else:
        lines.append(
            f"Equity {money(view.rows[-1].equity, quote)}: {signed_money(view.change, quote)} ({pct(view.change_pct)})"
        )
        for row in view.rows[-MAX_LINES:]:
            lines.append(
                f"  {row.day.isoformat()}  {money(row.equity, quote)}  {pct(row.pnl_pct)}  {row.trades} trade(s)"
            )
    if view.trades_closed:
        rate = 100.0 * view.wins / view.trades_closed
        lines.append(f"Trades closed: {view.trades_closed}, {view.wins} won ({rate:.0f}%)")
        if view.best is not None and view.worst is not None:
            lines.append(
                f"Best {e(view.best[0])} {pct(view.best[1])}, worst {e(view.worst[0])} {pct(view.worst[1])} "
                "(net, % of the coin's allocation)"
            )
    else:
        lines.append("Trades closed: none")
    return "\n".join(lines)


# --- /promotions ----------------------------------------------------------------------------------
def promotions_text(view: PromotionsView) -> str:
    if not view.rows:
        return f"No champion changed in the last {view.days} day(s)."
    lines = [f"<b>Promotions</b>, last {view.days} day(s), newest first:"]
    for row in view.rows:
        frm = row.from_model_id or "no champion"
        lines.append(
            f"{when(row.promoted_at)} {e(row.symbol)}: {e(frm)} → {e(row.to_model_id)} by {e(row.promoted_by)}"
            f" ({e(row.reason[:160])})"
        )
    if view.more:
        lines.append(f"(only the newest {view.limit} shown)")
    return "\n".join(lines)


# --- /daily ---------------------------------------------------------------------------------------
def daily_caption(summary: DailySummary, *, quote: str) -> str:
    """The daily summary's text; short enough for a photo caption (1,024 characters)."""
    lines = [f"<b>Daily summary {summary.day.isoformat()}</b> (UTC)"]
    pnl, row = summary.pnl, summary.day_row
    if pnl.run_key is None:
        lines.append("No paper or live trading recorded yet.")
    elif row is None:
        lines.append(f"Run {e(pnl.run_key)}: no equity recorded that day.")
    else:
        lines.append(f"Run {e(pnl.run_key)}: equity {money(row.equity, quote)}, day {pct(row.pnl_pct)}")
    if pnl.trades_closed:
        lines.append(f"Trades closed {pnl.trades_closed}, {pnl.wins} won")
        if pnl.best is not None and pnl.worst is not None:
            lines.append(
                f"Best {e(pnl.best[0])} {pct(pnl.best[1])}, worst {e(pnl.worst[0])} {pct(pnl.worst[1])}"
            )
    elif pnl.run_key is not None:
        lines.append("Trades closed: none")
    if summary.max_drawdown_pct is not None and len(summary.curve) > 1:
        lines.append(f"Max drawdown over {len(summary.curve)} days: {summary.max_drawdown_pct:.2f}%")
    if summary.promotions:
        moved = ", ".join(f"{p.symbol} ({p.promoted_by})" for p in summary.promotions[:8])
        more = f" and {len(summary.promotions) - 8} more" if len(summary.promotions) > 8 else ""
        lines.append(f"Promotions: {e(moved)}{more}")
    lines.append(f"Night: {night_text(summary.night) if summary.night else 'no nightly run that day'}")
    while len("\n".join(lines)) > 1000 and len(lines) > 1:  # whole lines only: never cut an HTML tag
        lines.pop(-2 if len(lines) > 2 else -1)
    return "\n".join(lines)
