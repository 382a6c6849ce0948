"""The daily job end to end as `make run` and Airflow run it: outputs, idempotence, skips and failures."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from huracan_core.config import HuracanConfig, load_config
from huracan_core.daily import run_daily
from huracan_core.exceptions import ExchangeUnavailableError, UnknownSymbolError
from huracan_core.market.ccxt_source import CcxtSource
from tests.stubs.exchange_replay import binance_at, closed_port_url

AS_OF = datetime(2026, 1, 15, 2, 0, tzinfo=UTC)


def make_config(tmp_path: Path, **overrides: object) -> HuracanConfig:
    base = {
        "general.archive": str(tmp_path / "archive"),
        "general.database": f"sqlite:///{tmp_path / 'huracan.db'}",
        "general.log_dir": str(tmp_path / "logs"),
        "data.source": "synthetic",
        "data.lake_dir": str(tmp_path / "lake"),
        "engine.lookback_days": 10,
    }
    base.update(overrides)
    return load_config(None, env={}, overrides=base)


def read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_daily_job_writes_summary_report_status_log_and_run_row(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    result = run_daily(cfg, AS_OF)
    archive = tmp_path / "archive"
    assert result.succeeded == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]

    report = read(archive / "reports/2026-01-15/daily_report.json")
    assert {k: report[k] for k in ("date", "models_trained", "promotions", "total_trades")} == {
        "date": "2026-01-15",
        "models_trained": 0,
        "promotions": 0,
        "total_trades": 0,
    }
    # Nothing was traded, so there is no PnL or hit rate to report: null, not an invented number.
    assert report["avg_pnl_pct"] is None and report["hit_rate_pct"] is None

    summary = read(archive / "summaries/daily/2026-01-15.json")
    assert summary["symbols_total"] == 3 and summary["symbols_succeeded"] == 3
    assert summary["candles"]["BTCUSDT"]["rows"] == 10 * 96
    assert "model training" in summary["not_built_yet"]

    status = read(archive / "engine_status.json")
    assert status["finished"] is True and status["phase"] == "finished"
    assert sorted(status["symbols_done"]) == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]

    log_text = (tmp_path / "logs/engine.log").read_text(encoding="utf-8")
    assert "Engine starting" in log_text and "Engine finished" in log_text
    assert "synthetic market" in log_text

    with sa.create_engine(cfg.general.database).connect() as conn:
        rows = conn.execute(sa.text("SELECT run_id, status, symbols_succeeded FROM runs")).all()
    assert [tuple(r) for r in rows] == [("daily-20260115T020000Z", "succeeded", 3)]


def test_same_as_of_twice_replaces_that_days_outputs_and_never_duplicates(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    run_daily(cfg, AS_OF)
    first = read(tmp_path / "archive/summaries/daily/2026-01-15.json")
    run_daily(cfg, AS_OF)
    second = read(tmp_path / "archive/summaries/daily/2026-01-15.json")
    assert sorted(p.name for p in (tmp_path / "archive/summaries/daily").iterdir()) == ["2026-01-15.json"]
    assert first["candles"] == second["candles"]
    with sa.create_engine(cfg.general.database).connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM runs")).scalar() == 1


def test_low_volume_symbol_is_skipped_with_the_seeds_words(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, **{"general.symbols": ["BTCUSDT", "RAREUSDT"]})
    result = run_daily(cfg, AS_OF)
    assert result.succeeded == ["BTCUSDT"]
    assert result.skipped == {"RAREUSDT": "Low volume. Skipped."}
    assert "⚠️ RAREUSDT: Low volume. Skipped." in (tmp_path / "logs/engine.log").read_text(encoding="utf-8")
    summary = read(tmp_path / "archive/summaries/daily/2026-01-15.json")
    assert summary["skipped"] == {"RAREUSDT": "Low volume. Skipped."}


def test_unknown_symbol_is_a_clear_error_naming_it(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, **{"general.symbols": ["BTCUSDT", "NOPECOINUSDT"]})
    with pytest.raises(UnknownSymbolError, match="NOPECOINUSDT"):
        run_daily(cfg, AS_OF)


def test_unreachable_exchange_fails_clearly_and_never_switches_to_synthetic(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, **{"data.source": "ccxt"})
    # An earlier day's report must survive the failed run untouched.
    earlier = tmp_path / "archive/reports/2026-01-14/daily_report.json"
    earlier.parent.mkdir(parents=True)
    earlier.write_text('{"date": "2026-01-14"}\n', encoding="utf-8")
    dead = CcxtSource(binance_at(closed_port_url()), attempts=2, sleep=lambda _s: None)
    with pytest.raises(ExchangeUnavailableError, match="binance"):
        run_daily(cfg, AS_OF, source=dead)
    assert earlier.read_text(encoding="utf-8") == '{"date": "2026-01-14"}\n'
    assert not (tmp_path / "archive/summaries/daily/2026-01-15.json").exists()
    assert not (tmp_path / "lake").exists() or not any((tmp_path / "lake").rglob("*.parquet"))
    status = read(tmp_path / "archive/engine_status.json")
    assert status["phase"] == "failed" and status["last_error"]
