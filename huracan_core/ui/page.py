"""The Huracan page as one HTML document, rendered from `huracan_core.ui.views.overview`'s plain data.

Formatting only: every number on the page is a value of the overview. Self-contained (inline CSS and SVG, no
font, script or style sheet from anywhere), so it works offline and inside the Airflow UI's frame. Links are
relative to the page (`<base_url>/huracan/`), so they hold behind a proxy that serves Airflow under a prefix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from huracan_core.ui import formatting as fmt
from huracan_core.ui.chart import equity_svg

API_ENDPOINTS = (
    ("api/overview", "everything on this page"),
    ("api/champions", "the champions table"),
    ("api/last-night", "last night's Engine run"),
    ("api/promotions", "the promotions history, rollbacks included"),
    ("api/models/BTCUSDT", "one coin's model history"),
    ("api/hamilton", "Hamilton's status, positions and equity curve"),
    ("api/selector", "the symbols selector, the pause and what they select now"),
)

STYLE = """
:root { color-scheme: light; --line: #e3e6ea; --muted: #5f6b76; --good: #1e7d3a; --bad: #b42318; }
* { box-sizing: border-box; }
body { margin: 0; padding: 20px 28px 40px; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto,
       sans-serif; color: #1f2933; background: #fff; }
h1 { font-size: 22px; margin: 0 0 2px; } h2 { font-size: 17px; margin: 28px 0 8px; }
h3 { font-size: 14px; margin: 14px 0 6px; }
.meta, .muted { color: var(--muted); } .meta { font-size: 12px; margin-bottom: 8px; }
nav a { margin-right: 14px; font-size: 13px; }
a { color: #0f6fb8; text-decoration: none; } a:hover { text-decoration: underline; }
table { border-collapse: collapse; width: 100%; margin: 4px 0 8px; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
th { font-size: 12px; font-weight: 600; color: var(--muted); background: #f6f8fa; white-space: nowrap; }
td.n, th.n { text-align: right; white-space: nowrap; }
.pos { color: var(--good); } .neg { color: var(--bad); }
.badge { display: inline-block; padding: 0 7px; border-radius: 9px; font-size: 12px; font-weight: 600; }
.ok { background: #e3f4e8; color: var(--good); } .no { background: #fde8e7; color: var(--bad); }
.warn { background: #fff4d6; color: #8a5a00; } .info { background: #e8f1fb; color: #0f5a94; }
.empty { padding: 10px 12px; background: #f6f8fa; border-radius: 6px; color: var(--muted); }
.error { padding: 10px 12px; background: #fde8e7; border: 1px solid #f5c2bf; border-radius: 6px; color: #7a1a12; }
.grid { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 4px 0 10px; }
.grid dt { color: var(--muted); } .grid dd { margin: 0; }
.reason { color: var(--muted); font-size: 12px; }
details { margin: 4px 0; } summary { cursor: pointer; padding: 3px 0; }
code { font-size: 12px; background: #f6f8fa; padding: 1px 4px; border-radius: 4px; white-space: nowrap; }
td.t { white-space: nowrap; }
"""

# Inside the Airflow UI this page is a frame that may not navigate the window it sits in; a link to an
# Airflow page is followed by an anchor in that window instead, so Airflow opens in place, not in the frame.
SCRIPT = """
document.addEventListener("click", function (event) {
  var link = event.target.closest("a.airflow");
  if (!link || window.top === window) return;
  try {
    var anchor = window.top.document.createElement("a");
    anchor.href = link.href;
    window.top.document.body.appendChild(anchor);
    anchor.click();
    event.preventDefault();
  } catch (error) { /* another origin: the link opens in this frame */ }
});
"""


def render_page(data: Mapping[str, Any], *, quote_currency: str = "USDT") -> str:
    """The whole page for `data`, the overview (`huracan_core.ui.views.overview`)."""
    body = [
        "<h1>Huracan</h1>",
        f'<div class="meta">Generated {fmt.when(data.get("generated_at"))} &middot; archive <code>'
        f"{fmt.text(data.get('archive'))}</code> &middot; refresh the page for newer data</div>",
        f'<div class="empty">{fmt.text(data["database_note"])}</div>' if data.get("database_note") else "",
        '<nav><a href="#champions">Champions</a><a href="#last-night">Last night</a><a href="#hamilton">Hamilton</a>'
        '<a href="#selector">Symbols selector</a><a href="#promotions">Promotions</a>'
        '<a href="#models">Model history</a><a href="#api">JSON</a></nav>',
        _section("champions", "Champions", data.get("champions"), _champions),
        _section("last-night", "Last night", data.get("last_night"), _last_night),
        _section("hamilton", "Hamilton", data.get("hamilton"), lambda d: _hamilton(d, quote_currency)),
        _section("selector", "Symbols selector", data.get("selector"), _selector),
        _section("promotions", "Promotions", data.get("promotions"), _promotions),
        _section("models", "Model history per coin", data.get("models"), _models),
        _api(),
    ]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><title>Huracan</title>'
        f"<style>{STYLE}</style></head><body>{''.join(body)}<script>{SCRIPT}</script></body></html>"
    )


def render_error(message: str) -> str:
    """A page with only `message` in an error block: what the page says when it cannot start reading."""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Huracan</title>'
        f'<style>{STYLE}</style></head><body><h1>Huracan</h1><div class="error">{fmt.text(message)}</div></body></html>'
    )


# --- sections -------------------------------------------------------------------------------------------------
def _section(anchor: str, title: str, data: Any, render: Any) -> str:
    if isinstance(data, Mapping) and set(data) == {"error"}:
        inner = f'<div class="error"><strong>Could not read this section:</strong> {fmt.text(data["error"])}</div>'
    elif data is None:
        inner = '<div class="empty">Nothing to show.</div>'
    else:
        inner = render(data)
    return f'<section id="{anchor}"><h2>{fmt.text(title)}</h2>{inner}</section>'


def _champions(data: Mapping[str, Any]) -> str:
    rows = data.get("champions") or []
    if not rows:
        return (
            '<div class="empty">No champions yet. The nightly Engine (DAG <code>huracan_engine_nightly</code>, '
            "02:00 UTC) publishes a coin's model as champion only when its out-of-sample metrics after costs pass "
            "the gates; trigger the DAG to train now.</div>"
        )
    head = fmt.head(
        "symbol", "model", "promoted", ("OOS net PnL", "n"), ("buy &amp; hold, same bars", "n"), ("Sharpe", "n"),
        ("deflated Sharpe", "n"), ("max drawdown", "n"), ("trades", "n"), ("recent net PnL", "n"), "trade_ok",
    )  # fmt: skip
    body = []
    for row in rows:
        ok = row.get("trade_ok")
        verdict = fmt.badge("yes", "ok") if ok else fmt.badge("no", "no")
        if row.get("reason"):
            verdict += f'<div class="reason">{fmt.text(row["reason"])}</div>'
        body.append(
            f'<tr data-symbol="{fmt.text(row.get("symbol"))}"><td><strong>{fmt.text(row.get("symbol"))}</strong></td>'
            f"<td><code>{fmt.text(row.get('model_id') or '-')}</code></td>"
            f'<td class="t">{fmt.when(row.get("promoted_at"))}<div class="reason">by {fmt.text(row.get("promoted_by") or "-")}</div></td>'
            f"{fmt.pct_cell(row.get('net_pnl_pct'))}{fmt.pct_cell(row.get('buy_and_hold_net_pnl_pct'))}"
            f"{fmt.num_cell(row.get('sharpe'))}{fmt.num_cell(row.get('deflated_sharpe'))}"
            f"{fmt.pct_cell(row.get('max_drawdown_pct'), sign=False)}{fmt.num_cell(row.get('trades'), 0)}"
            f"{fmt.pct_cell(row.get('recent_net_pnl_pct'))}<td>{verdict}</td></tr>"
        )
    note = (
        '<div class="meta">Out of sample, after fees, spread and slippage; buy &amp; hold over the same bars, after '
        "costs; recent net PnL: the last 14 days of the out-of-sample range. Ranked as in "
        f"<code>champion/champion.json</code> (updated {fmt.when(data.get('updated_at'))}).</div>"
    )
    return f'<table id="champions-table">{head}<tbody>{"".join(body)}</tbody></table>{note}'


def _last_night(data: Mapping[str, Any]) -> str:
    out = []
    running = data.get("engine_status")
    if isinstance(running, Mapping) and running.get("job") == "engine" and not running.get("finished"):
        done = len(running.get("symbols_done") or [])
        problem = f" Last error: {fmt.text(running['last_error'])}." if running.get("last_error") else ""
        out.append(
            f"<p>{fmt.badge('running', 'info')} <code>huracan engine</code> is working: "
            f"{fmt.text(running.get('phase'))}, {done} of {fmt.text(running.get('symbols_total'))} coins done, "
            f"ETA {fmt.when(running.get('eta'))} (<code>engine_status.json</code> updated "
            f"{fmt.when(running.get('updated_at'))}).{problem}</p>"
        )
    run = data.get("run")
    if not run:
        out.append(
            '<div class="empty">No nightly run has finished yet: <code>summaries/daily/</code> is empty. The DAG '
            "<code>huracan_engine_nightly</code> writes a summary at the end of every night.</div>"
        )
        return "".join(out)
    dag = str(run.get("dag_id"))
    dag_run = run.get("dag_run") or {}
    if dag_run.get("run_id"):
        link = fmt.airflow_link(
            f"../dags/{quote(dag)}/runs/{quote(str(dag_run['run_id']), safe='')}", dag_run["run_id"]
        )
    else:
        link = fmt.airflow_link(f"../dags/{quote(dag)}/runs", f"runs of {dag}") + (
            ' <span class="muted">(no Airflow run found for this night: it ran with <code>huracan engine</code>, '
            "or Airflow's run history was cleared)</span>"
        )
    status = str(run.get("status") or "-")
    kind = (
        "ok" if status in ("succeeded", "success") else "warn" if status in ("partial", "running") else "no"
    )
    items = [
        ("Night", f"{fmt.text(run.get('date'))} (as of {fmt.when(run.get('as_of'))})"),
        ("Status", fmt.badge(status, kind)),
        ("Duration", fmt.duration(run.get("duration_s"))),
        ("Models trained", fmt.symbols(run.get("trained"))),
        ("Promoted", fmt.symbols(run.get("promoted"))),
        (
            "Data",
            f"{fmt.text(run.get('data_source'))}, {fmt.text(run.get('lookback_days'))} days of {fmt.text(run.get('timeframe'))}",
        ),
        ("DAG run", link),
    ]
    out.append(fmt.grid(items))
    for title, reasons in (
        ("Not promoted", run.get("not_promoted")),
        ("Skipped by the data gates", run.get("skipped")),
        ("Failed", run.get("failed")),
    ):
        if reasons:
            rows = "".join(
                f"<tr><td><strong>{fmt.text(s)}</strong></td><td>{fmt.text(r)}</td></tr>"
                for s, r in reasons.items()
            )
            out.append(
                f"<h3>{fmt.text(title)} ({len(reasons)})</h3><table>{fmt.head('symbol', 'reason')}<tbody>{rows}</tbody></table>"
            )
    return "".join(out)


def _hamilton(data: Mapping[str, Any], quote_currency: str) -> str:
    chart = f"<h3>Equity and drawdown (run {fmt.text(data.get('run_key'))})</h3>"
    if data.get("equity_error"):
        chart += f'<div class="error"><strong>Could not read the equity:</strong> {fmt.text(data["equity_error"])}</div>'
    else:
        chart += equity_svg(data.get("equity_curve") or [], quote=quote_currency)
    status = data.get("status")
    if not status:
        return (
            '<div class="empty">Hamilton has not written a status to this archive yet. Start it: the '
            "<code>hamilton</code> service with docker compose, or <code>huracan hamilton run</code>.</div>"
            + chart
        )
    health = data.get("health") or {}
    guard = status.get("guardrails") or {}
    selection = status.get("selection") or {}
    items = [
        ("Run", f"{fmt.text(status.get('mode'))} on the {fmt.text(status.get('clock'))} clock, run <code>{fmt.text(status.get('run_key'))}</code>, started {fmt.when(status.get('started_at'))}"),
        ("Heartbeat", f"{fmt.when(status.get('heartbeat'))} {fmt.badge('healthy', 'ok') if health.get('ok') else fmt.badge('STALE', 'no')}"
                      f' <span class="reason">{fmt.text(health.get("message"))}</span>'),
        ("Last bar", fmt.when_ms(status.get("bar_ms"))),
        ("Equity", f"{fmt.money(status.get('equity'))} {fmt.text(quote_currency)} (cash {fmt.money(status.get('cash'))})"),
        ("Paused", fmt.badge("yes", "warn") + f" {fmt.text(status.get('pause_reason') or '')}" if status.get("paused") else "no"),
        ("Loss cap", (fmt.badge("HIT: no new entries until 00:00 UTC", "no") if guard.get("loss_cap_hit") else "not hit")
                     + f' <span class="reason">day {fmt.text(guard.get("day") or "-")}, started at {fmt.money(guard.get("day_start_equity"))}</span>'),
        ("Trading", f"{fmt.symbols(selection.get('symbols'))} <span class=\"reason\">{fmt.text(selection.get('how') or '')}</span>"),
    ]  # fmt: skip
    if status.get("pending_db_commits"):
        items.append(
            ("Waiting", f"{fmt.text(status['pending_db_commits'])} commit(s) not yet in the database")
        )
    out = [fmt.grid(items)]
    positions = status.get("positions") or {}
    if positions:
        rows = "".join(
            f"<tr><td><strong>{fmt.text(s)}</strong></td><td>{fmt.text(p.get('side'))}</td>{fmt.pct_cell(100 * float(p.get('size') or 0), sign=False)}"
            f"{fmt.num_cell(p.get('quantity'), 6)}{fmt.num_cell(p.get('entry_price'), 2)}<td>{fmt.when_ms(p.get('entry_time'))}</td>"
            f"<td><code>{fmt.text(p.get('model_id'))}</code></td></tr>"
            for s, p in sorted(positions.items())
        )
        head = fmt.head(
            "symbol", "side", ("size", "n"), ("quantity", "n"), ("entry price", "n"), "entry", "model"
        )
        out.append(
            f'<h3>Positions ({len(positions)})</h3><table id="positions-table">{head}<tbody>{rows}</tbody></table>'
        )
    else:
        out.append('<h3>Positions</h3><div class="empty">No open position.</div>')
    symbols = sorted(
        set(status.get("champions") or {})
        | set(status.get("last_bar") or {})
        | set(guard.get("blocked") or {})
    )
    if symbols:
        rows = "".join(
            f"<tr><td><strong>{fmt.text(s)}</strong></td><td><code>{fmt.text((status.get('champions') or {}).get(s, '-'))}</code></td>"
            f"<td>{'yes' if s in (selection.get('symbols') or []) else 'no'}</td><td>{fmt.when_ms((status.get('last_bar') or {}).get(s))}</td>"
            f'<td class="reason">{fmt.text((guard.get("blocked") or {}).get(s) or (selection.get("dropped") or {}).get(s) or "")}</td></tr>'
            for s in symbols
        )
        out.append(
            f"<h3>Symbols</h3><table>{fmt.head('symbol', 'champion', 'traded', 'last bar', 'note')}<tbody>{rows}</tbody></table>"
        )
    if status.get("errors"):
        rows = "".join(
            f"<tr><td>{fmt.when(e.get('at'))}</td><td>{fmt.text(e.get('message'))}</td></tr>"
            for e in status["errors"]
        )
        out.append(f"<h3>Recent problems</h3><table>{fmt.head('at', 'message')}<tbody>{rows}</tbody></table>")
    out.append(chart)
    return "".join(out)


def _selector(data: Mapping[str, Any]) -> str:
    chosen = data.get("selector")
    selection = data.get("selection") or {}
    pause = data.get("pause") or {}
    if chosen:
        what = {
            "top": f"top {chosen.get('n')}",
            "list": ", ".join(chosen.get("symbols") or []),
            "off": "off",
            "all": "all",
        }
        file_line = (
            f"<code>/trade {fmt.text(what.get(chosen.get('mode'), chosen.get('mode')))}</code>, set by {fmt.text(chosen.get('updated_by'))} "
            f"at {fmt.when(chosen.get('updated_at'))}"
        )
    else:
        file_line = '<span class="muted">no selector file (<code>control/symbols_selector.json</code>): Hamilton trades <code>hamilton.symbols</code>, or every trade_ok champion when it is unset</span>'
    paused = (
        f"{fmt.badge('paused', 'warn')} {fmt.text(pause.get('reason') or '')} (by {fmt.text(pause.get('updated_by'))} at {fmt.when(pause.get('updated_at'))})"
        if pause.get("paused")
        else "no"
    )
    items = [
        ("Selector", file_line),
        (
            "Selects now",
            f'{fmt.symbols(selection.get("symbols"))} <span class="reason">{fmt.text(selection.get("how") or "")}</span>',
        ),
        ("Paused", paused),
    ]
    out = [fmt.grid(items)]
    if selection.get("dropped"):
        rows = "".join(
            f"<tr><td><strong>{fmt.text(s)}</strong></td><td>{fmt.text(r)}</td></tr>"
            for s, r in selection["dropped"].items()
        )
        out.append(
            f"<h3>Asked for, not traded</h3><table>{fmt.head('symbol', 'why')}<tbody>{rows}</tbody></table>"
        )
    return "".join(out)


def _promotions(data: Mapping[str, Any]) -> str:
    rows = data.get("promotions") or []
    out = []
    if data.get("warning"):
        out.append(f'<div class="reason">{fmt.text(data["warning"])}</div>')
    if not rows:
        return "".join(out) + '<div class="empty">No champion pointer has moved yet.</div>'
    body = "".join(
        f'<tr><td class="t">{fmt.when(r.get("promoted_at"))}</td><td><strong>{fmt.text(r.get("symbol"))}</strong></td>'
        f"<td><code>{fmt.text(r.get('from_model_id') or '-')}</code> &rarr; <code>{fmt.text(r.get('to_model_id'))}</code></td>"
        f"<td>{fmt.badge('rollback', 'warn') if r.get('rollback') else fmt.text(r.get('promoted_by'))}</td>"
        f'<td class="reason">{fmt.text(r.get("reason") or "")}</td>{fmt.pct_cell(r.get("net_pnl_pct"))}'
        f"{fmt.num_cell(r.get('sharpe'))}{fmt.num_cell(r.get('trades'), 0)}</tr>"
        for r in rows
    )
    head = fmt.head(
        "when",
        "symbol",
        "from &rarr; to",
        "by",
        "reason",
        ("new OOS net PnL", "n"),
        ("Sharpe", "n"),
        ("trades", "n"),
    )
    shown = f'<div class="meta">The newest {len(rows)} of {fmt.text(data.get("total"))} moves; rollbacks included.</div>'
    out.append(f'<table id="promotions-table">{head}<tbody>{body}</tbody></table>{shown}')
    return "".join(out)


def _models(data: Any) -> str:
    if not data:
        return '<div class="empty">No model recorded in the database yet.</div>'
    out = []
    for symbol, history in data.items():
        if isinstance(history, Mapping) and set(history) == {"error"}:
            out.append(
                f'<details><summary><strong>{fmt.text(symbol)}</strong></summary><div class="error">{fmt.text(history["error"])}</div></details>'
            )
            continue
        models = history.get("models") or []
        champion = history.get("champion_model_id")
        rows = "".join(
            f"<tr><td><code>{fmt.text(m.get('model_id'))}</code>{' ' + fmt.badge('champion', 'ok') if m.get('model_id') == champion else ''}</td>"
            f"<td>{fmt.when(m.get('trained_as_of'))}</td><td>{fmt.text(m.get('status'))}</td>{fmt.pct_cell(m.get('net_pnl_pct'))}"
            f"{fmt.num_cell(m.get('sharpe'))}{fmt.num_cell(m.get('deflated_sharpe'))}{fmt.pct_cell(m.get('max_drawdown_pct'), sign=False)}"
            f"{fmt.num_cell(m.get('trades'), 0)}</tr>"
            for m in models
        )
        head = fmt.head(
            "model",
            "trained as of",
            "status",
            ("OOS net PnL", "n"),
            ("Sharpe", "n"),
            ("deflated Sharpe", "n"),
            ("max drawdown", "n"),
            ("trades", "n"),
        )
        moves = len(history.get("promotions") or [])
        summary = (
            f'<strong>{fmt.text(symbol)}</strong> <span class="muted">champion {fmt.text(champion or "none")}, '
            f"{len(models)} model(s) shown, {moves} pointer move(s), {fmt.text(history.get('trials'))} Mechanic trial(s)</span>"
        )
        table = (
            f"<table>{head}<tbody>{rows}</tbody></table>"
            if models
            else '<div class="empty">No model recorded.</div>'
        )
        out.append(f'<details data-symbol="{fmt.text(symbol)}"><summary>{summary}</summary>{table}'
                   f'<a href="api/models/{quote(str(symbol))}">JSON</a></details>')  # fmt: skip
    return "".join(out)


def _api() -> str:
    items = "".join(
        f'<li><a href="{path}"><code>{path}</code></a> {fmt.text(what)}</li>' for path, what in API_ENDPOINTS
    )
    return (
        '<section id="api"><h2>JSON for scripts</h2><p class="muted">The same data, under this page '
        "(<code>/huracan/</code>), with the same login: send <code>Authorization: Bearer TOKEN</code> (a token "
        "from <code>POST /auth/token</code>).</p>"
        f"<ul>{items}</ul></section>"
    )
