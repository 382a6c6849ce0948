"""The bot's test world: an archive with a champion roster, Hamilton's status and a night's summary, a
database with a paper run's equity, trades, promotions and the night's run; and `RunningBot`, the real
`run_bot` (python-telegram-bot 22.8) polling a `FakeTelegram` in a thread.

    with FakeTelegram() as tg, RunningBot(bot_config(tg, world)) as bot:
        assert "Equity" in bot.ask("/status")
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from huracan_core.archive import Storage
from huracan_core.archive.reports import write_daily_summary
from huracan_core.config import HuracanConfig
from huracan_core.db import connect, record_daily_equity, record_promotion, record_run, record_trade, upgrade
from huracan_core.hamilton.status import write_status
from huracan_telegram.app import run_bot
from huracan_telegram.handlers import BotState
from tests.stubs.fake_telegram import FakeTelegram
from tests.unit.hamilton.status_builders import make_roster, make_status, roster_entry

ALICE = 111_111  # allowed user, whose private chat is telegram.chat_id
BOB = 222_222  # allowed user too
MALLORY = 666_666  # not on the allow-list
GROUP = -100_777  # a group listed in telegram.allowed_chat_ids
OTHER_GROUP = -100_999  # a group nobody listed

# Ranked roster: 12 trade_ok champions and two that are not (XRP 3rd, LTC 9th).
RANKING = (
    "BTCUSDT", "ETHUSDT", "XRPUSDT", "SOLUSDT", "BNBUSDT", "ADAUSDT", "DOGEUSDT", "AVAXUSDT", "LTCUSDT",
    "DOTUSDT", "LINKUSDT", "TRXUSDT", "ATOMUSDT", "NEARUSDT",
)  # fmt: skip
NOT_TRADE_OK = {"XRPUSDT": "Sharpe 0.20 < 0.5", "LTCUSDT": "drawdown 31% > 20%"}
TRADE_OK = tuple(s for s in RANKING if s not in NOT_TRADE_OK)


def roster() -> dict[str, Any]:
    return make_roster(
        *(roster_entry(s, trade_ok=s not in NOT_TRADE_OK, reason=NOT_TRADE_OK.get(s)) for s in RANKING)
    )


@dataclass(frozen=True)
class BotWorld:
    archive: Path
    db: str
    today: date

    @property
    def storage(self) -> Storage:
        return Storage(str(self.archive))


def _trade(trade_id: str, symbol: str, opened: datetime, net: float) -> dict[str, Any]:
    closed = opened + timedelta(hours=2)
    return {
        "trade_id": trade_id, "symbol": symbol, "side": "long", "size": 0.5, "max_size": 0.5, "quantity": 0.01,
        "opened_at": opened, "entry_time": int(opened.timestamp() * 1000), "entry_price": 100.0,
        "entry_fill_price": 100.1, "entry_cost_bps": 13.5, "fee_bps": 10.0, "spread_bps": 1.5, "slippage_bps": 2.0,
        "model_id": "20261205_020000Z", "closed_at": closed, "exit_time": int(closed.timestamp() * 1000),
        "exit_price": 101.0, "exit_fill_price": 100.9, "costs_bps": 27.0, "gross_pnl_pct": net + 0.27,
        "net_pnl_pct": net, "bars_held": 8,
    }  # fmt: skip


def make_world(root: Path, *, db: str | None = None, now: datetime | None = None) -> BotWorld:
    """Everything the commands read, dated relative to `now` (default: the wall clock, as the bot's)."""
    now = now or datetime.now(UTC)
    today = now.date()
    storage = Storage(str(root / "archive"))
    storage.write_json("champion/champion.json", roster())
    write_status(storage, make_status(heartbeat=now - timedelta(seconds=90), run_key="paper"))
    yesterday = today - timedelta(days=1)
    night = datetime(yesterday.year, yesterday.month, yesterday.day, 2, 0, tzinfo=UTC)
    write_daily_summary(storage, yesterday, {
        "as_of": night.isoformat(), "run_id": "night", "symbols_total": 14, "symbols_succeeded": 12,
        "symbols_failed": 1, "symbols_skipped": 1, "promoted": ["ETHUSDT"],
    })  # fmt: skip
    url = db or f"sqlite:///{root / 'huracan.db'}"
    engine = connect(url)
    try:
        upgrade(engine)
        equity = 10_000.0
        for back in range(20, -1, -1):  # 21 days up to today; a dip 5 days ago gives a drawdown
            day = today - timedelta(days=back)
            change = -2.0 if back == 5 else 0.5
            equity *= 1 + change / 100
            record_daily_equity(engine, trade_day=day, mode="paper", equity=equity, pnl_pct=change, trades=2)
        for i, (symbol, net) in enumerate((("BTCUSDT", 1.25), ("ETHUSDT", -0.4), ("SOLUSDT", 0.3))):
            opened = night + timedelta(hours=3 + i)
            record_trade(engine, mode="paper", **_trade(f"t{i}", symbol, opened, net))
        record_promotion(
            engine,
            symbol="ETHUSDT",
            from_model_id="20261101_020000Z",
            to_model_id="20261204_020000Z",
            promoted_by="engine",
            promoted_at=night + timedelta(minutes=30),
            reason="better OOS Sharpe",
        )
        record_promotion(
            engine,
            symbol="SOLUSDT",
            from_model_id="20261120_020000Z",
            to_model_id="20261110_020000Z",
            promoted_by="rollback",
            promoted_at=now - timedelta(days=30),
            reason="drawdown",
        )
        record_run(engine, run_id="engine-night", kind="engine", as_of=night, started_at=night,
                   finished_at=night + timedelta(minutes=40), status="succeeded", symbols_total=14,
                   symbols_succeeded=12, symbols_failed=1, symbols_skipped=1)  # fmt: skip
    finally:
        engine.dispose()
    return BotWorld(archive=root / "archive", db=url, today=today)


def bot_config(tg: FakeTelegram, world: BotWorld, **telegram: Any) -> HuracanConfig:
    """The bot's config: alice's private chat is telegram.chat_id, GROUP is also allowed; alice and bob may command."""
    section = {
        "token": tg.token,
        "chat_id": str(ALICE),
        "allowed_user_ids": [ALICE, BOB],
        "allowed_chat_ids": [GROUP],
        "api_base_url": tg.base_url,
        **telegram,
    }
    return HuracanConfig.model_validate(
        {
            "general": {
                "archive": str(world.archive),
                "database": world.db,
                "log_dir": str(world.archive.parent / "logs"),
            },
            "telegram": section,
        }
    )


class RunningBot:
    """`run_bot` in a thread; `ask` pushes a message and returns the bot's new messages in that chat."""

    def __init__(
        self,
        config: HuracanConfig,
        tg: FakeTelegram,
        *,
        on_started: Callable[[Any], Any] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.config, self.tg = config, tg
        self.state = BotState.from_config(config, **({"clock": clock} if clock else {}))
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.code: int | None = None
        self.error: BaseException | None = None
        self._on_started = on_started
        self._thread = threading.Thread(target=self._run, name="telegram-bot", daemon=True)

    def _run(self) -> None:
        def started(app: Any) -> None:
            if self._on_started is not None:
                self._on_started(app)
            self.ready.set()

        try:
            self.code = run_bot(
                self.config, stop=self.stop, state=self.state, install_signals=False, on_started=started
            )
        except BaseException as exc:  # surfaced by finish()
            self.error = exc
        finally:
            self.ready.set()

    def start(self, *, wait: bool = True) -> RunningBot:
        self._thread.start()
        if wait:
            assert self.ready.wait(15), "the bot did not start polling within 15 s"
            assert self.code is None and self.error is None, (self.code, self.error)
        return self

    def finish(self, timeout: float = 15) -> int:
        """Stop (if still running) and return the exit code."""
        self.stop.set()
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the bot did not stop"
        if self.error is not None:
            raise self.error
        assert self.code is not None
        return self.code

    def __enter__(self) -> RunningBot:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self._thread.is_alive():
            self.finish()

    def ask(self, text: str, *, user_id: int = ALICE, chat_id: int = ALICE, count: int = 1) -> list[str]:
        """Push `text` and wait for `count` new texts in that chat (sent or edited); returns them."""
        before = len(self.tg.texts(chat_id))
        self.tg.push_message(user_id=user_id, chat_id=chat_id, text=text)
        self.tg.wait_for(lambda t: len(t.texts(chat_id)) >= before + count)
        return self.tg.texts(chat_id)[before:]

    def refused(self, text: str, *, user_id: int, chat_id: int) -> None:
        """Push `text` and wait until the access guard has counted it as refused."""
        before = self.state.refusals.total
        self.tg.push_message(user_id=user_id, chat_id=chat_id, text=text)
        self.tg.wait_for(lambda t: self.state.refusals.total > before)
