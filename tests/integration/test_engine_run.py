"""The nightly Engine end to end, as `make run`, `huracan engine` and Airflow run it."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from huracan_core.config import load_config
from huracan_core.engine.run import EngineRunResult, run_engine
from huracan_core.exceptions import ExchangeUnavailableError, UnknownSymbolError
from tests.stubs.fake_telegram import FakeTelegram, deliver_all, telegram_overrides

AS_OF = datetime(2026, 1, 15, 2, 0, tzinfo=UTC)
MODEL_ID = "20260115_020000Z"


def overrides(root: Path, **more: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "general.archive": str(root / "archive"),
        "general.database": f"sqlite:///{root / 'huracan.db'}",
        "general.log_dir": str(root / "logs"),
        "general.symbols": ["BTCUSDT", "ETHUSDT", "SOLUSDT"],
        "data.source": "synthetic",
        "data.lake_dir": str(root / "lake"),
        "engine.lookback_days": 30,
        "engine.max_concurrent": 2,
        "engine.retry_backoff_seconds": 0,
    }
    base.update(more)
    return base


def read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def telegram() -> Iterator[FakeTelegram]:
    """A Bot API server that is down during the first run: the run must not need it."""
    with FakeTelegram() as tg:
        tg.go_down()
        yield tg


@pytest.fixture(scope="module")
def first_run(
    tmp_path_factory: pytest.TempPathFactory, telegram: FakeTelegram
) -> tuple[Path, EngineRunResult]:
    root = tmp_path_factory.mktemp("engine")
    return root, run_engine(None, AS_OF, overrides=overrides(root, **telegram_overrides(telegram)))


def test_engine_saves_one_verified_bundle_per_coin(first_run: tuple[Path, EngineRunResult]) -> None:
    root, result = first_run
    assert result.trained == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    for symbol in result.trained:
        folder = root / "archive/models" / symbol / MODEL_ID
        assert sorted(p.name for p in folder.iterdir()) == [
            "config.json",
            "costs.json",
            "metrics.json",
            "model.bin",
            "sha256.txt",
        ]
        check = subprocess.run(["sha256sum", "-c", "sha256.txt"], cwd=folder, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        config = read(folder / "config.json")
        assert len(config["engines"]) == 23
        assert config["engines"]["xgboost"]["trained"] is True
        assert config["engines"]["neural"]["trained"] is True
        metrics = read(folder / "metrics.json")
        assert metrics["scope"].startswith("out-of-sample")
        # The OOS range starts after everything the shared encoder learned from.
        encoder = read(root / f"archive/encoders/{MODEL_ID}/encoder.json")
        assert metrics["oos"]["first_bar"] >= encoder["cutoff_ms"]
        assert b"pickle" not in (folder / "model.bin").read_bytes()[:4096]


def test_the_engine_tells_telegram_its_start_progress_and_finish_once_the_server_is_back(
    first_run: tuple[Path, EngineRunResult], telegram: FakeTelegram
) -> None:
    root, result = first_run
    assert telegram.calls == []  # down during the run, which succeeded all the same
    telegram.come_back()
    config = load_config(None, overrides=overrides(root, **telegram_overrides(telegram)))
    assert asyncio.run(deliver_all(config)) >= 3
    texts = telegram.texts()
    assert texts[0] == (
        "🚀 Engine started, as of 2026-01-15 02:00 UTC: 3 coins in 2 batches (15m, 30 days, synthetic market "
        "(seed 7))."
    ), texts[0]
    assert any(t.startswith(f"⏳ Engine {MODEL_ID}: 3 of 3 coins done (100%).") for t in texts[1:-1]), texts
    assert texts[-1].startswith(f"🏁 Engine {MODEL_ID} finished in ")
    assert f"3 models saved, {len(result.promoted)} promoted" in texts[-1], texts[-1]


def test_neural_heads_of_one_batch_are_trained_together(first_run: tuple[Path, EngineRunResult]) -> None:
    root, result = first_run
    states = {
        s: read(root / "archive/models" / s / MODEL_ID / "config.json")["engines"]["neural"]
        for s in result.trained
    }
    # max_concurrent 2 on 3 coins: batches [BTCUSDT, ETHUSDT] and [SOLUSDT], one task each
    assert [states[s]["heads_batch_coins"] for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")] == [2, 2, 1]
    assert all(state["device"] == "cpu" and state["shared_encoder"] for state in states.values())


def test_engine_writes_report_summary_status_roster_and_database_rows(
    first_run: tuple[Path, EngineRunResult],
) -> None:
    root, result = first_run
    report = read(root / "archive/reports/2026-01-15/daily_report.json")
    for key in ("date", "models_trained", "promotions", "total_trades", "avg_pnl_pct", "hit_rate_pct"):
        assert key in report
    assert report["models_trained"] == 3
    assert report["promotions"] == len(result.promoted)
    summary = read(root / "archive/summaries/daily/2026-01-15.json")
    assert summary["symbols_total"] == 3 and summary["symbols_succeeded"] == 3
    assert summary["metrics_scope"] == "out-of-sample, after fees, spread and slippage"
    status = read(root / "archive/engine_status.json")
    assert status["finished"] is True and status["phase"] == "finished"
    roster = read(root / "archive/champion/champion.json")
    assert [e["symbol"] for e in roster["champions"]] == sorted(result.promoted) or len(
        roster["champions"]
    ) == len(result.promoted)
    log_text = (root / "logs/engine.log").read_text(encoding="utf-8")
    assert "Engine starting" in log_text and "Training BTCUSDT (30 days)..." in log_text
    assert "✅ Model saved. Net PnL" in log_text and "Engine finished. 3 models saved" in log_text
    with sa.create_engine(f"sqlite:///{root / 'huracan.db'}").connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM models")).scalar() == 3
        assert conn.execute(sa.text("SELECT count(*) FROM model_metrics WHERE scope = 'oos'")).scalar() > 0
        runs = conn.execute(sa.text("SELECT run_id, status, symbols_total, symbols_succeeded FROM runs")).all()
    assert [tuple(r) for r in runs] == [(f"engine-{MODEL_ID}", "succeeded", 3, 3)]


def test_same_as_of_again_resumes_then_force_replaces_without_duplicates(
    first_run: tuple[Path, EngineRunResult],
) -> None:
    root, first = first_run
    before = {s: (root / "archive/models" / s / MODEL_ID / "model.bin").read_bytes() for s in first.trained}
    again = run_engine(None, AS_OF, overrides=overrides(root))
    assert again.resumed == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]  # done for this as-of: skipped, not retrained
    forced = run_engine(None, AS_OF, overrides=overrides(root), force=True)
    assert forced.resumed == [] and forced.trained == first.trained
    assert sorted(p.name for p in (root / "archive/models/BTCUSDT").iterdir()) == [MODEL_ID]
    assert sorted(p.name for p in (root / "archive/reports").iterdir()) == ["2026-01-15"]
    with sa.create_engine(f"sqlite:///{root / 'huracan.db'}").connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM models")).scalar() == 3
        assert conn.execute(sa.text("SELECT count(*) FROM runs")).scalar() == 1
    # Training is seeded: the forced re-run rebuilt byte-identical models on this CPU.
    for symbol in first.trained:
        assert (root / "archive/models" / symbol / MODEL_ID / "model.bin").read_bytes() == before[symbol], (
            symbol
        )


def test_low_volume_coin_is_skipped_with_the_seeds_words(tmp_path: Path) -> None:
    result = run_engine(
        None, AS_OF, overrides=overrides(tmp_path, **{"general.symbols": ["SOLUSDT", "RAREUSDT"]})
    )
    assert result.trained == ["SOLUSDT"]
    assert result.skipped == {"RAREUSDT": "Low volume. Skipped."}
    assert "⚠️ RAREUSDT: Low volume. Skipped." in (tmp_path / "logs/engine.log").read_text(encoding="utf-8")


def test_unknown_symbol_is_a_clear_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(UnknownSymbolError, match="NOPECOINUSDT"):
        run_engine(
            None, AS_OF, overrides=overrides(tmp_path, **{"general.symbols": ["BTCUSDT", "NOPECOINUSDT"]})
        )
    assert read(tmp_path / "archive/engine_status.json")["phase"] == "failed"


def test_unreachable_exchange_fails_clearly_and_never_switches_to_synthetic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huracan_core.market import ccxt_source
    from tests.stubs.exchange_replay import binance_at, closed_port_url

    dead = binance_at(closed_port_url())
    monkeypatch.setattr(ccxt_source, "build_exchange", lambda *_a, **_k: dead)
    earlier = tmp_path / "archive/reports/2026-01-14/daily_report.json"
    earlier.parent.mkdir(parents=True)
    earlier.write_text('{"date": "2026-01-14"}\n', encoding="utf-8")
    with pytest.raises(ExchangeUnavailableError, match="binance"):
        run_engine(None, AS_OF, overrides=overrides(tmp_path, **{"data.source": "ccxt"}))
    assert earlier.read_text(encoding="utf-8") == '{"date": "2026-01-14"}\n'
    assert not (tmp_path / "archive/models").exists()
    assert not (tmp_path / "archive/summaries/daily/2026-01-15.json").exists()
    status = read(tmp_path / "archive/engine_status.json")
    assert status["phase"] == "failed" and "binance" in status["last_error"]


def test_each_coin_is_ranked_within_the_runs_universe_not_its_batch(tmp_path: Path) -> None:
    from huracan_core.config import load_config
    from huracan_core.engine.nightly import research_frames

    universe = ["ADAUSDT", "BNBUSDT", "BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"]
    config = load_config(None, overrides=overrides(tmp_path, **{"general.symbols": universe}))
    ranked = research_frames(config, ["SOLUSDT"], AS_OF, universe=universe)["SOLUSDT"].frame["xs_rank_ret_16"]
    assert ranked.drop_nulls().len() > 0.9 * ranked.len()
    assert -1.0 <= ranked.min() < 0.0 < ranked.max() <= 1.0  # type: ignore[operator]
    alone = research_frames(config, ["SOLUSDT"], AS_OF)["SOLUSDT"].frame["xs_rank_ret_16"]
    assert alone.is_null().all()  # one coin has no rank: the cross_sectional engine abstains
