"""What a notification costs its writer: one outbox insert (SQLite file, PostgreSQL) against a log line only,
and Hamilton paper bars with Telegram configured but its Bot API server down against no Telegram at all.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_notifications.py [--inserts 300] [--no-hamilton]

The Hamilton part trains the small test world's champions first (about 30 s on 2 cores), then runs the
same paper morning twice on the simulated live clock. PostgreSQL is used when one answers at
127.0.0.1:5432 (as in the tests); otherwise that row is skipped.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TOKEN = "123456:BENCH-TOKEN-abcdefghijklmnop"


def _config(database: str, *, telegram: bool, api: str = "http://127.0.0.1:9") -> Any:
    from huracan_core.config import HuracanConfig

    section = {"token": TOKEN, "chat_id": "-100123", "api_base_url": api} if telegram else {}
    return HuracanConfig.model_validate({"general": {"database": database}, "telegram": section})


def _latencies(config: Any, n: int) -> dict[str, float]:
    from huracan_core.broadcaster import announce

    times = []
    for i in range(n):
        started = time.perf_counter()
        announce(f"[PAPER] BTCUSDT long opened at 97000.{i}", kind="trades", config=config)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"median_ms": round(statistics.median(times), 3), "p99_ms": round(times[int(0.99 * (n - 1))], 3)}


def _postgres_url() -> str | None:
    try:
        import psycopg2
    except ImportError:
        return None
    for user in ("postgres", "root"):
        try:
            conn = psycopg2.connect(
                host="127.0.0.1", port=5432, user=user, dbname="postgres", connect_timeout=2
            )
        except psycopg2.OperationalError:
            continue
        conn.autocommit = True
        name = f"huracan_bench_{uuid.uuid4().hex[:8]}"
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        return f"postgresql+psycopg2://{user}@127.0.0.1:5432/{name}"
    return None


def _drop(url: str) -> None:
    import psycopg2
    from sqlalchemy import make_url

    from huracan_core.broadcaster.outbox import outbox_engine

    outbox_engine(url).dispose()
    parsed = make_url(url)
    conn = psycopg2.connect(host="127.0.0.1", port=5432, user=parsed.username, dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
    conn.close()


def _hamilton(root: Path, bars: int) -> dict[str, Any]:
    """The same paper morning twice: Telegram configured with its server down, and no Telegram."""
    import os

    from huracan_core.config import load_config
    from huracan_core.hamilton.run import HamiltonRequest, run_hamilton
    from huracan_core.market.planted import PlantedEdgeSource
    from tests.stubs.fake_telegram import FakeTelegram, telegram_overrides
    from tests.stubs.hamilton_world import (
        LIVE_START_MS,
        PARITY_ENV,
        SimulatedClock,
        copy_archive,
        train_champions,
    )

    archive = train_champions(root / "world")
    os.environ.update(PARITY_ENV)
    out: dict[str, Any] = {"bars": bars}
    with FakeTelegram() as tg:
        tg.go_down()
        for name, extra in (("no_telegram", {}), ("telegram_down", telegram_overrides(tg))) * 2:
            run_root = root / f"{name}-{uuid.uuid4().hex[:6]}"
            copy_archive(archive, run_root / "archive")
            config = load_config(None, overrides={
                "general.archive": str(run_root / "archive"),
                "general.database": f"sqlite:///{run_root / 'h.db'}",
                "general.log_dir": str(run_root / "logs"), **extra,
            })  # fmt: skip
            started = time.perf_counter()
            summary = run_hamilton(
                config, HamiltonRequest(mode="paper", clock="live", max_bars=bars),
                source=PlantedEdgeSource(7), clock=SimulatedClock(LIVE_START_MS),
            )  # fmt: skip
            seconds = time.perf_counter() - started
            assert summary.bars == bars
            out[name] = round(min(out.get(name, seconds), seconds), 3)  # best of two, noise aside
    out["ratio_telegram_down_to_none"] = round(out["telegram_down"] / out["no_telegram"], 3)
    return out


def run(inserts: int = 300, hamilton: bool = True, bars: int = 40) -> dict[str, Any]:
    from huracan_core.db import upgrade

    logging.getLogger("huracan").setLevel(logging.WARNING)  # timing the insert, not a console handler
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(sqlite)
        result["log_only"] = _latencies(_config(sqlite, telegram=False), inserts)
        result["sqlite_insert"] = _latencies(_config(sqlite, telegram=True), inserts)
        pg = _postgres_url()
        if pg is not None:
            try:
                upgrade(pg)
                result["postgres_insert"] = _latencies(_config(pg, telegram=True), inserts)
            finally:
                _drop(pg)
        if hamilton:
            result["hamilton_paper"] = _hamilton(Path(tmp), bars)
    for key, value in result.items():
        print(f"{key}: {value}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inserts", type=int, default=300)
    parser.add_argument("--bars", type=int, default=40)
    parser.add_argument("--no-hamilton", action="store_true")
    args = parser.parse_args()
    run(args.inserts, hamilton=not args.no_hamilton, bars=args.bars)


if __name__ == "__main__":
    main()
