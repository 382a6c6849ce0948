"""The journal through a real database outage, on SQLite and PostgreSQL: bar commits wait in memory, in
order, and flush on the next call; intents are never assumed written."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, make_url
from sqlalchemy.exc import OperationalError

from huracan_core.db import connect, trading, upgrade
from huracan_core.exceptions import DatabaseUnavailableError
from huracan_core.hamilton.journal import Journal
from huracan_core.hamilton.orders import Fill, OrderIntent
from tests.unit.db.databases import PG_PORT, db_url, postgres_server

__all__ = ["db_url", "postgres_server"]  # the database fixtures, shared with tests/unit/db

BAR0 = int(datetime(2026, 11, 24, tzinfo=UTC).timestamp() * 1000)
HOUR_MS = 3_600_000
DAY = date(2026, 11, 24)


def bar(n: int) -> int:
    return BAR0 + n * HOUR_MS


def open_trade(trade_id: str, entry: int) -> dict[str, Any]:
    opened = datetime.fromtimestamp(bar(entry) / 1000, tz=UTC)
    return {
        "trade_id": trade_id, "symbol": "BTCUSDT", "side": "long", "size": 0.25, "max_size": 0.25,
        "quantity": 0.03, "opened_at": opened, "entry_time": bar(entry), "entry_price": 90_000.0,
        "entry_fill_price": 90_012.0, "entry_cost_bps": 13.5, "fee_bps": 10.0, "spread_bps": 1.5,
        "slippage_bps": 2.0,
    }  # fmt: skip


def closed_trade(trade_id: str, entry: int, exit_: int) -> dict[str, Any]:
    closed = datetime.fromtimestamp(bar(exit_) / 1000, tz=UTC)
    return {
        **open_trade(trade_id, entry), "closed_at": closed, "exit_time": bar(exit_), "exit_price": 91_000.0,
        "exit_fill_price": 90_988.0, "costs_bps": 6.75, "gross_pnl_pct": 0.28, "net_pnl_pct": 0.2125,
        "bars_held": exit_ - entry,
    }  # fmt: skip


ORDER = OrderIntent("hm-test-1", "BTCUSDT", "buy", 0.03, bar(1), "m1", "open", 90_000.0, 0.25)


class TcpProxy:
    """127.0.0.1:<port> forwarded to the PostgreSQL server: `cut` closes the port and every connection
    through it (the server is gone), `restore` listens on the same port again (it is back)."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        if self._listener is not None:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() below
            self._listener.close()
            self._listener = None
        with self._lock:
            sockets, self._open = self._open, []
        for sock in sockets:
            _hang_up(sock)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target, timeout=5)
            upstream.settimeout(None)
            with self._lock:
                self._open += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(src, dst), daemon=True).start()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        _hang_up(src)
        _hang_up(dst)


def _hang_up(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


class FolderSwitch:
    """The SQLite file's folder moved away (the disk is gone) and back."""

    def __init__(self, engine: Engine, folder: Path) -> None:
        self.engine, self.folder, self.away = engine, folder, folder.with_name(folder.name + "_away")

    def cut(self) -> None:
        self.engine.dispose()  # open file handles would survive the move
        self.folder.rename(self.away)

    def restore(self) -> None:
        self.away.rename(self.folder)


@pytest.fixture
def outage(db_url: str) -> Iterator[tuple[Engine, Any]]:
    """(engine, switch): an engine on a migrated database whose switch cuts and restores the database."""
    upgrade(db_url)
    if db_url.startswith("sqlite"):
        engine = connect(db_url)
        switch: Any = FolderSwitch(engine, Path(make_url(db_url).database or "").parent)
        try:
            yield engine, switch
        finally:
            engine.dispose()
        return
    proxy = TcpProxy(PG_PORT)
    proxy.restore()
    engine = connect(db_url.replace(f":{PG_PORT}/", f":{proxy.port}/"), connect_timeout_s=2)
    try:
        yield engine, proxy
    finally:
        engine.dispose()
        proxy.cut()


def test_commits_made_during_an_outage_wait_in_order_and_flush_on_the_next_call(
    outage: tuple[Engine, Any],
) -> None:
    engine, switch = outage
    journal = Journal(engine, "paper", "paper")
    journal.record_intent(ORDER)
    journal.commit_bar(bar(1), {"bar": 1}, trades=[open_trade("t1", 1)])
    switch.cut()
    # Bar 2 closes t1 and fills the order; then the order's status; then bar 3 reopens and notes the day.
    journal.commit_bar(
        bar(2),
        {"bar": 2},
        trades=[closed_trade("t1", 1, 2)],
        fills=[Fill(ORDER.client_order_id, "BTCUSDT", "buy", 0.03, 90_012.0, 2.7, bar(2))],
        orders=[{"client_order_id": ORDER.client_order_id, "status": "placed"}],
    )
    journal.update_order(ORDER.client_order_id, "filled", exchange_order_id="e-77")
    journal.commit_bar(
        bar(3),
        {"bar": 3},
        trades=[open_trade("t2", 3)],
        equity={"trade_day": DAY, "equity": 10_021.0, "pnl_pct": 0.21, "trades": 1},
    )
    assert journal.pending_commits == 3
    assert journal.last_error is not None and "unreachable" in journal.last_error
    assert journal.load() == {"bar_ms": bar(3), "state": {"bar": 3}}  # this process's newest bar
    with pytest.raises(ValueError, match="never rewinds"):  # refused even with the database away
        journal.commit_bar(bar(2), {"bar": 2})
    with pytest.raises(DatabaseUnavailableError, match="must not be sent"):
        journal.record_intent(
            OrderIntent("hm-test-2", "BTCUSDT", "sell", 0.03, bar(3), "m1", "close", 1.0, 0.0)
        )
    with pytest.raises(DatabaseUnavailableError, match="cannot read run 'paper'"):
        journal.trades()
    assert journal.pending_commits == 3

    switch.restore()
    journal.commit_bar(bar(4), {"bar": 4})
    assert (journal.pending_commits, journal.last_error) == (0, None)
    fresh = Journal(engine, "paper", "paper")
    assert fresh.load() == {"bar_ms": bar(4), "state": {"bar": 4}}
    trades = {t["trade_id"]: t for t in fresh.trades()}
    assert trades["t1"]["exit_time"] == bar(2) and trades["t2"]["closed_at"] is None
    [order] = fresh.orders()
    assert (order["status"], order["exchange_order_id"]) == ("filled", "e-77")  # bar 2's 'placed' came first
    assert [e["equity"] for e in fresh.equity_curve()] == [10_021.0]


def test_record_intent_raises_when_the_database_is_unreachable_and_works_once_it_is_back(
    outage: tuple[Engine, Any],
) -> None:
    engine, switch = outage
    journal = Journal(engine, "live", "live")
    switch.cut()
    with pytest.raises(DatabaseUnavailableError, match="order must not be sent"):
        journal.record_intent(ORDER)
    with pytest.raises(DatabaseUnavailableError, match="cannot load run 'live'"):
        journal.load()  # nothing queued to answer from
    switch.restore()
    journal.record_intent(ORDER)
    assert [o["status"] for o in journal.orders()] == ["intent"]


def test_a_connection_lost_in_the_middle_of_a_commit_leaves_nothing_and_the_whole_bar_is_retried(
    outage: tuple[Engine, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, _ = outage
    journal = Journal(engine, "paper", "paper")
    journal.commit_bar(bar(1), {"bar": 1})
    real_save_fills = trading.save_fills
    lost = {"once": True}

    def fills_then_connection_lost(*args: Any, **kwargs: Any) -> None:
        real_save_fills(*args, **kwargs)
        if lost.pop("once", False):
            raise OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(trading, "save_fills", fills_then_connection_lost)
    fills = [Fill(ORDER.client_order_id, "BTCUSDT", "buy", 0.03, 90_012.0, 2.7, bar(2))]
    journal.commit_bar(bar(2), {"bar": 2}, trades=[open_trade("t1", 2)], fills=fills)
    assert journal.pending_commits == 1 and "server closed the connection" in (journal.last_error or "")
    assert Journal(engine, "paper", "paper").load() == {"bar_ms": bar(1), "state": {"bar": 1}}
    assert Journal(engine, "paper", "paper").trades() == []
    journal.commit_bar(bar(3), {"bar": 3})
    assert journal.pending_commits == 0
    assert [t["trade_id"] for t in journal.trades()] == ["t1"]
    assert Journal(engine, "paper", "paper").load() == {"bar_ms": bar(3), "state": {"bar": 3}}
