"""Hamilton's messages: paper trades tagged [PAPER] and guardrail stops reach Telegram through the outbox,
a Bot API server that is down changes nothing in the loop, and a replay sends nothing at all.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from huracan_core.config import HuracanConfig, load_config
from huracan_core.db.tables import notifications
from huracan_core.hamilton.run import HamiltonRequest, run_hamilton
from huracan_core.market.planted import PlantedEdgeSource
from tests.stubs.fake_telegram import FakeTelegram, deliver_all, telegram_overrides
from tests.stubs.hamilton_world import LIVE_START_MS, PARITY_ENV, SimulatedClock, copy_archive

pytestmark = pytest.mark.slow

BARS = 20  # 07:45 to 12:45 of the live-clock morning: BTC and ETH are decided, entered and held


def _config(root: Path, monkeypatch: pytest.MonkeyPatch, tg: FakeTelegram, **settings: str) -> HuracanConfig:
    for key, value in {**PARITY_ENV, **settings}.items():
        monkeypatch.setenv(key, value)
    overrides = {
        "general.archive": str(root / "archive"),
        "general.database": f"sqlite:///{root / 'h.db'}",
        "general.log_dir": str(root / "logs"),
        **telegram_overrides(tg),
    }
    return load_config(None, overrides=overrides)


def _queued(config: HuracanConfig) -> list[tuple[str, str]]:
    engine = create_engine(config.general.database)
    with engine.connect() as conn:
        rows = conn.execute(select(notifications.c.kind, notifications.c.text).order_by(notifications.c.id))
        out = [(r.kind, r.text) for r in rows]
    engine.dispose()
    return out


def test_paper_trades_and_guardrail_stops_wait_out_a_telegram_outage_and_then_arrive(
    champion_archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_telegram: FakeTelegram
) -> None:
    copy_archive(champion_archive, tmp_path / "archive")
    # One open position at most: ETH's entry, decided a bar after BTC's, is refused by a guardrail.
    config = _config(tmp_path, monkeypatch, fake_telegram, HURACAN__HAMILTON__MAX_OPEN_POSITIONS="1")
    fake_telegram.go_down()
    summary = run_hamilton(
        config,
        HamiltonRequest(mode="paper", clock="live", max_bars=BARS),
        source=PlantedEdgeSource(7),
        clock=SimulatedClock(LIVE_START_MS),
    )
    assert summary.bars == BARS  # every bar ran, none waited for Telegram
    queued = _queued(config)
    kinds = {kind for kind, _ in queued}
    assert kinds == {"trades", "guardrails"}, queued
    opened = [text for kind, text in queued if kind == "trades"]
    assert opened[0].startswith("[PAPER] BTCUSDT long opened at "), opened
    stop = next(text for kind, text in queued if kind == "guardrails")
    assert stop.startswith("⛔ [PAPER] guardrail stopped new entries:\nETHUSDT: MAX_POSITIONS: "), stop
    assert fake_telegram.calls == []

    fake_telegram.come_back()
    assert asyncio.run(deliver_all(config)) == len(queued)
    assert fake_telegram.texts() == [text for _kind, text in queued]


def test_a_replay_sends_nothing_even_with_telegram_configured(
    champion_archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_telegram: FakeTelegram
) -> None:
    copy_archive(champion_archive, tmp_path / "archive")
    config = _config(tmp_path, monkeypatch, fake_telegram, HURACAN__HAMILTON__MAX_OPEN_POSITIONS="1")
    start = LIVE_START_MS - 15 * 60_000
    summary = run_hamilton(
        config,
        HamiltonRequest(
            mode="paper", clock="replay", start_ms=start, end_ms=start + (BARS + 1) * 15 * 60_000
        ),
        source=PlantedEdgeSource(7),
    )
    assert summary.trades_closed >= 1  # it traded, and was refused, exactly as the paper run ...
    assert _queued(config) == []  # ... but told no one
    assert fake_telegram.calls == []
