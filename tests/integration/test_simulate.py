"""`huracan simulate` on the synthetic market with a planted edge: 2 coins, 30 days of 15m, retrained daily
over two days. One simulation is interrupted after its first retrain date and resumed; another runs without
interruption; their outputs must be equal, and the resumed one must not retrain the finished date."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from huracan_core.cli import app
from huracan_core.simulate import loop

pytestmark = pytest.mark.slow  # four nightly Engine runs: 27 s on two idle cores

SYMBOLS = "BTCUSDT,ETHUSDT"
COINS = len(SYMBOLS.split(","))
ARGS = ["simulate", "--from", "2026-03-01", "--to", "2026-03-03", "--retrain-every", "1d", "--symbols", SYMBOLS,
        "--source", "synthetic", "--timeframe", "15m", "--lookback-days", "30"]  # fmt: skip
# Gates opened (so that a 30-day Engine leaves champions to trade) and guardrails out of the way, as in the
# replay-parity tests: the vectorised backtest has no guardrails, so parity is checked where none binds.
ENV = {
    "HURACAN__DATA__SYNTHETIC_VARIANT": "planted_edge",
    "HURACAN__DATA__SYNTHETIC_SEED": "7",
    "HURACAN__ENGINE__FOLDS": "3",
    "HURACAN__ENGINE__MIN_SIGNALS": "5",
    "HURACAN__ENGINE__MAX_CONCURRENT": "2",
    "HURACAN__ENGINE__GATES__MIN_OOS_TRADES": "1",
    "HURACAN__ENGINE__GATES__MIN_NET_PNL_PCT": "-100",
    "HURACAN__ENGINE__GATES__MIN_SHARPE": "-100",
    "HURACAN__ENGINE__GATES__MAX_DRAWDOWN_PCT": "100",
    "HURACAN__ENGINE__GATES__MIN_DEFLATED_SHARPE": "0",
    "HURACAN__HAMILTON__EDGE_THRESHOLD_BPS": "0",
    "HURACAN__HAMILTON__DAILY_LOSS_CAP_PCT": "100",
    "HURACAN__HAMILTON__MAX_NOTIONAL_PER_COIN": "1000000000",
}
RETRAINS = [datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)]
OUTPUTS = ("trades.parquet", "daily_equity.parquet", "per_coin.csv", "per_month.csv")


def _simulate(out: Path, *extra: str) -> Any:
    result = CliRunner().invoke(app, [*ARGS, "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An interrupted-then-resumed simulation and an uninterrupted one; Engine calls counted per as-of."""
    root = tmp_path_factory.mktemp("simulate")
    calls: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        for key, value in ENV.items():
            mp.setenv(key, value)
        from huracan_core.engine import run as engine_run

        real = engine_run.run_engine

        def counted(config_path: Any, as_of: datetime, **kwargs: Any) -> Any:
            calls.append(as_of.isoformat())
            return real(config_path, as_of, **kwargs)

        mp.setattr(engine_run, "run_engine", counted)
        resumed = root / "resumed"
        first = _simulate(resumed, "--stop-after", "1")
        after_first = list(calls)
        models = {p: p.stat().st_mtime_ns for p in (resumed / "archive/models").rglob("*") if p.is_file()}
        second = _simulate(resumed)
        after_second = list(calls)
        straight = root / "straight"
        _simulate(straight)
    return {"resumed": resumed, "straight": straight, "first": first, "second": second,
            "after_first": after_first, "after_second": after_second, "models": models}  # fmt: skip


def test_interrupted_after_the_first_date_it_resumes_without_retraining_it(runs: dict[str, Any]) -> None:
    assert "Stopped after 1 of 2 retrain dates" in runs["first"].output
    assert "Report so far (up to 2026-03-02)" in runs["first"].output  # the finished period's report
    assert runs["after_first"] == [RETRAINS[0].isoformat()]
    assert runs["after_second"] == [RETRAINS[0].isoformat(), RETRAINS[1].isoformat()]  # date 1 not redone
    assert "Resumed: 1 retrain date(s)" in runs["second"].output
    for path, mtime in runs["models"].items():  # the first date's models were not rewritten
        assert path.stat().st_mtime_ns == mtime, path
    resumed, straight = runs["resumed"], runs["straight"]
    for name in OUTPUTS:
        a = pl.read_parquet(resumed / name) if name.endswith(".parquet") else pl.read_csv(resumed / name)
        b = pl.read_parquet(straight / name) if name.endswith(".parquet") else pl.read_csv(straight / name)
        assert a.drop("trade_id", strict=False).equals(b.drop("trade_id", strict=False)), name
    one, two = (json.loads((d / "summary.json").read_text()) for d in (resumed, straight))
    for curve in ("strategy", "buy_and_hold", "flat"):
        assert one[curve] == two[curve]


def test_the_outputs_exist_and_agree(runs: dict[str, Any]) -> None:
    out = runs["resumed"]
    for name in (*OUTPUTS, "daily_equity.csv", "equity.png", "summary.json", "progress.json"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "equity.png").read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((out / "summary.json").read_text())
    assert [d["date"] for d in summary["retrain_dates"]] == [d.isoformat() for d in RETRAINS]
    assert all(d["trained"] == COINS for d in summary["retrain_dates"])
    assert summary["max_model_age_days"] == 2  # the retrain interval + 1 day
    trades = pl.read_parquet(out / "trades.parquet")
    assert trades.height == summary["strategy"]["trades"] > 0
    assert (trades["mode"] == "replay").all()
    daily = pl.read_parquet(out / "daily_equity.parquet")
    assert daily["day"].to_list() == [datetime(2026, 3, 1).date(), datetime(2026, 3, 2).date()]
    assert (daily["flat"] == 10_000.0).all() and summary["flat"]["total_return_pct"] == 0.0
    assert summary["buy_and_hold"]["total_return_pct"] != 0.0
    # Each period starts from the equity the last one ended with; within a period the equity changes by
    # what its closed trades made (net of costs), each on its coin's allocation (an equal share of equity).
    start = 10_000.0
    for period in range(2):
        made = trades.filter(pl.col("period") == period)["net_pnl_pct"].sum() / 100 * start / COINS
        end = float(daily.filter(pl.col("period") == period)["strategy"][-1])
        assert abs((end - start) - made) <= 0.002 * start, (period, end - start, made)
        start = end
    assert summary["strategy"]["final_equity"] == pytest.approx(start, abs=0.01)


def test_the_engine_at_each_retrain_date_saw_no_later_bar(runs: dict[str, Any]) -> None:
    configs = list((runs["resumed"] / "archive/models").rglob("config.json"))
    assert len(configs) == 2 * COINS  # each coin at each of the 2 dates
    for path in configs:
        bundle = json.loads(path.read_text())
        as_of = datetime.fromisoformat(bundle["as_of"])
        assert as_of in RETRAINS
        assert bundle["data_window"]["end_ms"] <= loop.to_ms(as_of)
        assert bundle["last_train_end_ms"] <= loop.to_ms(as_of)


def test_the_replay_of_a_period_trades_what_the_vectorised_champion_backtest_trades(
    runs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from huracan_core.archive import Storage
    from huracan_core.config import load_config
    from huracan_core.hamilton.champion_backtest import backtest_champions
    from tests.integration.hamilton.test_replay_parity import assert_same_trades

    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    out = runs["resumed"]
    config = load_config(None, overrides=loop.overrides_for(loop.SimulateRequest(
        start=RETRAINS[0], end=RETRAINS[1], out=out, retrain_every_days=1, source="synthetic", timeframe="15m",
        lookback_days=30)))  # fmt: skip
    start, end = loop.to_ms(RETRAINS[1]), loop.to_ms(datetime(2026, 3, 3, tzinfo=UTC))
    vectorised = backtest_champions(
        config, Storage(config.general.archive), start, end, symbols=SYMBOLS.split(",")
    )
    expected = pl.concat(list(vectorised.trades.values()), how="diagonal").sort("entry_time", "symbol")
    got = pl.read_parquet(out / "trades.parquet").filter(pl.col("period") == 1).sort("entry_time", "symbol")
    assert expected.height > 0
    assert_same_trades(expected, got)
    assert np.isfinite(got["net_pnl_pct"].to_numpy()).all()


def test_a_resume_with_other_settings_is_refused_naming_them(
    runs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A HURACAN__* variable changed between two runs would splice two different systems into one curve."""
    out = runs["resumed"]
    before = (out / "progress.json").read_bytes()
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("HURACAN__ENGINE__FOLDS", "4")
    result = CliRunner().invoke(app, [*ARGS, "--out", str(out)])
    assert result.exit_code != 0
    assert "engine.folds 3 -> 4" in " ".join(result.output.split())
    assert (out / "progress.json").read_bytes() == before  # nothing already stored is touched


def test_with_the_mechanic_each_pass_runs_as_of_its_hour(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--mechanic: after the Engine at the retrain date, the Mechanic's passes run every --mechanic-every hours,
    each building its challengers from bars closed by its hour only, and recording its trials."""
    from sqlalchemy import select

    from huracan_core.db.connection import connect
    from huracan_core.db.tables import trials

    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "mechanic"
    args = [*ARGS[:4], "2026-03-02", *ARGS[5:]]  # one retrain date: 2026-03-01 -> 03-02
    result = CliRunner().invoke(app, [*args, "--out", str(out), "--mechanic", "--mechanic-every", "8h"])
    assert result.exit_code == 0, result.output
    entry = json.loads((out / "progress.json").read_text())["dates"][RETRAINS[0].isoformat()]
    hours = [datetime(2026, 3, 1, h, tzinfo=UTC) for h in (8, 16)]
    assert entry["mechanic"]["passes"] == [h.isoformat() for h in hours]
    db = connect(f"sqlite:///{out / 'huracan.db'}")
    try:
        with db.connect() as conn:
            rows = conn.execute(select(trials.c.symbol, trials.c.as_of)).all()
    finally:
        db.dispose()
    assert sorted((s, a.replace(tzinfo=UTC)) for s, a in rows) == sorted(
        (s, h) for s in SYMBOLS.split(",") for h in hours
    )
    configs = list((out / "archive/challengers").rglob("config.json"))
    assert configs
    for path in configs:
        bundle = json.loads(path.read_text())
        assert datetime.fromisoformat(bundle["as_of"]) in hours
        assert bundle["data_window"]["end_ms"] <= loop.to_ms(datetime.fromisoformat(bundle["as_of"]))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["strategy"]["final_equity"] > 0
