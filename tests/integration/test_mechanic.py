"""The Mechanic end to end: real challengers (23 engines, walk-forward OOS after costs, bundles) every hour.

- A champion trained before its market's edge moved is replaced by a challenger that sees the new market,
  on the bars neither was fitted on; the daily cap and the cooldown hold; re-running an hour is the same
  trial, not a new one.
- On a market with no edge, with the fee and slippage left out so that models do trade noise and some look good
  out of sample by luck, 24 hourly runs over 10 coins promote at most one challenger; the trial count
  grows with every run and the deflated Sharpe's bar rises with it.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from huracan_core.archive import Storage, paths
from huracan_core.archive.pointers import read_pointer, read_promotions
from huracan_core.config import load_config
from huracan_core.engine import nightly
from huracan_core.engine.champion import promote
from huracan_core.engine.train import train_coin
from huracan_core.evaluation.research import build_research_frame
from huracan_core.market.lake import LakeSource
from huracan_core.mechanic.hourly import run_mechanic
from huracan_core.models.bundle import verify_bundle
from tests.stubs.fake_telegram import FakeTelegram, deliver_all, telegram_overrides
from tests.stubs.shifting_market import ShiftingEdgeSource
from tests.unit.db.databases import PG_HOST, PG_PORT

pytestmark = pytest.mark.slow

SWITCH = datetime(2026, 3, 1, tzinfo=UTC)
SYMBOL = "BNBUSDT"
LOOKBACK = 60
LATER = SWITCH + timedelta(days=45)  # the Mechanic's hours: three quarters of its lookback is the new market


def _overrides(root: Path) -> dict[str, Any]:
    return {
        "general.archive": str(root / "archive"),
        "general.database": f"sqlite:///{root / 'huracan.db'}",
        "general.log_dir": str(root / "logs"),
        "general.symbols": SYMBOL,
        "general.timeframe": "15m",
        "data.source": "lake",
        "data.lake_dir": str(root / "lake"),
        "engine.lookback_days": LOOKBACK,
    }


@pytest.fixture(scope="module")
def moved_market(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A lake of the market whose edge moved at SWITCH, its champion trained as of SWITCH (the old market)
    and a shared encoder trained as of the Mechanic's first hour (as the nightly Engine leaves it)."""
    root = tmp_path_factory.mktemp("mechanic_world")
    source = ShiftingEdgeSource(int(SWITCH.timestamp() * 1000))
    start = int((SWITCH - timedelta(days=LOOKBACK + 2)).timestamp() * 1000)
    end = int((LATER + timedelta(days=1)).timestamp() * 1000)
    LakeSource(str(root / "lake")).write(SYMBOL, "15m", source.fetch(SYMBOL, "15m", start, end))
    overrides = _overrides(root)
    config = load_config(None, overrides=overrides)
    storage = Storage(config.general.archive)
    champion_end = int(SWITCH.timestamp() * 1000)
    champion_start = champion_end - LOOKBACK * 86_400_000
    rf = build_research_frame(source.fetch(SYMBOL, "15m", champion_start, champion_end), SYMBOL, "15m",
                              cost_config=config.costs)  # fmt: skip
    champion = train_coin(
        rf, config, storage=storage, model_id=paths.model_id_for(SWITCH), encoder=None, columns=None,
        cutoff_ms=None, encoder_key=None,
        data_window={"as_of": SWITCH.isoformat(), "start_ms": champion_start, "end_ms": champion_end, "timeframe": "15m"},
    )  # fmt: skip
    verdict = promote(storage, champion, gates=config.engine.gates, promoted_at=SWITCH, as_of=SWITCH)
    assert verdict["promoted"], verdict
    night = (LATER - timedelta(hours=1)).isoformat()
    plan = nightly.plan_step(None, night, overrides)
    encoder = nightly.encoder_step(None, plan, nightly.candles_step(None, plan, overrides), overrides)
    assert encoder["encoder_key"]
    return root, champion


@pytest.fixture
def world(moved_market: tuple[Path, dict[str, Any]], tmp_path: Path) -> dict[str, Any]:
    root, champion = moved_market
    for name in ("archive", "lake"):
        shutil.copytree(root / name, tmp_path / name)
    if (root / "huracan.db").exists():
        shutil.copy(root / "huracan.db", tmp_path / "huracan.db")
    overrides = _overrides(tmp_path)
    return {"root": tmp_path, "overrides": overrides, "storage": Storage(overrides["general.archive"]),
            "champion": champion}  # fmt: skip


def _trials(root: Path) -> list[tuple[str, str, bool]]:
    engine = create_engine(f"sqlite:///{root / 'huracan.db'}")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT symbol, model_id, promoted FROM trials ORDER BY as_of")).all()
    engine.dispose()
    return [(r[0], r[1], bool(r[2])) for r in rows]


def test_a_challenger_that_sees_the_moved_edge_replaces_the_old_champion_under_the_cap_and_cooldown(
    world: dict[str, Any], caplog: pytest.LogCaptureFixture, fake_telegram: FakeTelegram
) -> None:
    caplog.set_level(logging.INFO, logger="huracan.broadcaster")
    storage, old = world["storage"], world["champion"]
    overrides = {**world["overrides"], **telegram_overrides(fake_telegram)}
    hour = LATER

    # The daily cap at zero: the challenger passes everything else and is still not promoted.
    capped = run_mechanic(None, hour, overrides={**overrides, "mechanic.max_promotions_per_day": 0},
                          in_process=True)  # fmt: skip
    verdict = capped.verdicts[SYMBOL]
    assert not verdict["promoted"]
    assert verdict["refusals"] == ["daily cap: 0 Mechanic promotions today already (max 0)"], verdict
    assert read_pointer(storage, SYMBOL)["model_id"] == old["model_id"]

    # The same hour again with the default cap: the same challenger (the same trial) is promoted.
    again = run_mechanic(None, hour, overrides=overrides, in_process=True)
    verdict = again.verdicts[SYMBOL]
    assert again.promoted == [SYMBOL], verdict
    challenger_id = paths.model_id_for(hour)
    pointer = read_pointer(storage, SYMBOL)
    assert pointer["model_id"] == challenger_id
    assert pointer["promoted_by"] == "mechanic"
    assert pointer["previous_model_id"] == old["model_id"]
    assert pointer["path"] == paths.challenger_dir(SYMBOL, challenger_id)
    verify_bundle(storage, pointer["path"])
    record = read_promotions(storage)[-1]
    paired = record["paired_test"]
    assert record["promoted_by"] == "mechanic" and record["model_id"] == challenger_id
    # Judged only on bars after the old champion's last out-of-sample bar, and better there beyond doubt.
    assert paired["window_start_ms"] > old["oos_window"]["last_bar"]
    assert paired["lower_bound_bps"] > 0 and paired["challenger_net_pnl_pct"] > paired["champion_net_pnl_pct"]
    assert _trials(world["root"]) == [(SYMBOL, challenger_id, True)]

    # An hour later: too soon after the move (cooldown) and too few bars unseen by the new champion.
    next_hour = run_mechanic(None, hour + timedelta(hours=1), overrides=overrides, in_process=True)
    refusals = " | ".join(next_hour.verdicts[SYMBOL]["refusals"])
    assert not next_hour.promoted
    assert "cooldown: the pointer moved 1.0 h ago" in refusals
    assert "bars unseen by both <" in refusals
    assert read_pointer(storage, SYMBOL)["model_id"] == challenger_id
    assert [t[1] for t in _trials(world["root"])] == [challenger_id, paths.model_id_for(hour + timedelta(hours=1))]
    # Each verdict reached the broadcaster (what the Telegram bot sends): the promotion, the refusals.
    said = [r.getMessage() for r in caplog.records if r.name == "huracan.broadcaster"]
    assert any(line.startswith(f"🔧 Mechanic promoted {SYMBOL} {challenger_id} (was {old['model_id']})") for line in said)
    assert any("not promoted: BNBUSDT: daily cap" in line for line in said), said
    assert any("not promoted: BNBUSDT: paired test" in line or "BNBUSDT: cooldown" in line for line in said), said
    # ... and what the bot sends: the promotion with both models' numbers on the paired bars, the refusals.
    assert asyncio.run(deliver_all(load_config(None, overrides=overrides))) == 3
    refused, promoted, later = fake_telegram.texts()
    assert "not promoted: BNBUSDT: daily cap" in refused
    assert "BNBUSDT: paired test" in later or "BNBUSDT: cooldown" in later
    lines = promoted.splitlines()
    assert lines[0] == f"🔧 Mechanic promoted {SYMBOL} {challenger_id} (was {old['model_id']})."
    assert lines[1].startswith(f"On {paired['bars']} bars unseen by both (champion {old['model_id']}):")
    assert lines[2].startswith(f"  new: net {paired['challenger_net_pnl_pct']:+.2f}%, Sharpe ")
    assert lines[3].startswith(f"  old: net {paired['champion_net_pnl_pct']:+.2f}%, Sharpe ")
    assert lines[2].endswith(f"{paired['challenger_trades']} trades")
    assert lines[3].endswith(f"{paired['champion_trades']} trades")
    assert lines[5].startswith("Deflated Sharpe: new 0.") and "n/a" not in promoted, promoted


NO_EDGE_HOURS = 24
NO_EDGE = {
    "general.symbols": "top10",
    "data.source": "synthetic",
    "data.synthetic_variant": "no_edge",
    "data.synthetic_seed": 11,
    "engine.lookback_days": 14,
    "engine.folds": 2,
    # The fee and the slippage left out (the spread is still paid): models trade the noise, and some look good
    # by luck.
    "costs.taker_fee_bps": 0.0,
    "costs.impact_coefficient": 0.0,
}


def test_on_a_market_with_no_edge_24_hourly_runs_over_ten_coins_promote_at_most_one(tmp_path: Path) -> None:
    overrides = {**_overrides(tmp_path), **NO_EDGE}
    start = datetime(2026, 3, 1, 2, tzinfo=UTC)
    plan = nightly.plan_step(None, start.isoformat(), overrides)
    nightly.encoder_step(None, plan, nightly.candles_step(None, plan, overrides), overrides)
    storage = Storage(overrides["general.archive"])
    promoted: list[str] = []
    lucky: set[tuple[str, str]] = set()  # challengers whose OOS net PnL and Sharpe passed the Engine's gates
    only_counted: list[str] = []  # refused by the deflated Sharpe over every challenger tried, and nothing else
    bars: dict[str, list[tuple[int, float]]] = {}  # symbol -> (trials, deflated Sharpe's per-bar bar) per run
    for hour in range(1, NO_EDGE_HOURS + 1):
        result = run_mechanic(None, start + timedelta(hours=hour), overrides=overrides, in_process=True)
        assert len(result.challengers) == 10, result.failed
        promoted += result.promoted
        assert storage.exists(f"{paths.mechanic_run_dir(result.run_id)}/published.json")
        assert set(_trial_counts(tmp_path).values()) == {hour}  # every run adds one trial per coin
        for symbol, verdict in result.verdicts.items():
            metrics = verdict["metrics"]
            if metrics["net_pnl_pct"] > 0 and metrics["sharpe"] >= 0.5 and metrics["trades"] >= 10:
                lucky.add((symbol, verdict["model_id"]))
            if len(verdict["refusals"]) == 1 and verdict["refusals"][0].startswith("deflated Sharpe"):
                only_counted.append(f"{symbol} {verdict['model_id']}: {verdict['refusals'][0]}")
            deflated = verdict["deflated"]
            assert deflated["challengers"] == hour
            bars.setdefault(symbol, []).append((deflated["trials"], deflated["deflated_sharpe_threshold_per_bar"]))
    assert len(promoted) <= 1, promoted
    # Not vacuous: luck did show up (OOS net PnL, Sharpe and trades passing the Engine's gates) and was refused.
    assert len(lucky) >= 3, lucky
    # Some even passed the Engine's gates and the paired test against flat: only the trial count refused them.
    assert only_counted, "no challenger was refused by the trial count alone"
    # The bar the deflated Sharpe sets rises with the trials: N = challengers so far x the model's own choices.
    for symbol, seen in bars.items():
        trials = [t for t, _ in seen]
        assert trials == sorted(trials) and trials[-1] >= NO_EDGE_HOURS * trials[0] // 2, (symbol, trials)
        assert seen[-1][1] > seen[0][1], (symbol, seen[0], seen[-1])


def _trial_counts(root: Path) -> dict[str, int]:
    engine = create_engine(f"sqlite:///{root / 'huracan.db'}")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT symbol, count(*) FROM trials GROUP BY symbol")).all()
    engine.dispose()
    return {r[0]: int(r[1]) for r in rows}


@pytest.mark.postgres
def test_huracan_mechanic_runs_on_postgresql_with_an_s3_archive(
    tmp_path: Path, s3_bucket: Any, postgres_server: Any
) -> None:
    """The command a user runs, with its worker processes, against PostgreSQL and an S3 archive."""
    from typer.testing import CliRunner

    from huracan_core.cli import app

    user, name = postgres_server
    db = f"postgresql+psycopg2://{user}@{PG_HOST}:{PG_PORT}/{name}"
    archive = s3_bucket.url("prod")
    flags = ["--archive", archive, "--db", db, "--source", "synthetic", "--symbols", "BTCUSDT,ETHUSDT,SOLUSDT",
             "--lookback-days", "14", "--as-of", "2026-03-01T05:20"]  # fmt: skip
    env = {"HURACAN__GENERAL__LOG_DIR": str(tmp_path / "logs"), "HURACAN__ENGINE__FOLDS": "2"}
    result = CliRunner().invoke(app, ["mechanic", *flags], env=env)
    assert result.exit_code == 0, result.output
    assert "Mechanic done as of 2026-03-01T05:00:00+00:00: 3 challengers" in " ".join(result.output.split())
    storage = Storage(archive)
    for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
        verify_bundle(storage, paths.challenger_dir(symbol, "20260301_050000Z"))
    assert storage.read_json("leases/publish.json") == {"holders": {}}
    engine = create_engine(db)
    with engine.connect() as conn:
        trials = conn.execute(text("SELECT symbol, model_id FROM trials ORDER BY symbol")).all()
        run = conn.execute(text("SELECT kind, status FROM runs WHERE run_id = 'mechanic-20260301_050000Z'")).one()
    engine.dispose()
    assert [tuple(t) for t in trials] == [(s, "20260301_050000Z") for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")]
    assert tuple(run) == ("mechanic", "succeeded")
