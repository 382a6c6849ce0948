"""One hourly Mechanic pass at the issue's size: 20 coins x the default lookback (180 days of 15m) on this CPU.

The nightly Engine runs first on the same synthetic market (it leaves the shared encoder and any champions the
Mechanic stands on) and is the baseline: the pass's wall time is reported beside the night's and against the
hour it must fit in (aim: under 5 minutes). Prints the wall time, seconds per coin (each coin's challenger:
walk-forward evaluation, paired test, bundle), and the peak memory of the Mechanic and its workers together.
Size: BENCH_MECHANIC_COINS, BENCH_MECHANIC_DAYS (defaults 20 and 180).

Run: PYTHONPATH=. .venv/bin/python benchmarks/bench_mechanic.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import _TreeMemory

from huracan_core.engine.run import run_engine
from huracan_core.mechanic.hourly import run_mechanic

NIGHT = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)


def run() -> dict[str, Any]:
    coins = int(os.environ.get("BENCH_MECHANIC_COINS", "20"))
    days = int(os.environ.get("BENCH_MECHANIC_DAYS", "180"))
    print(f"cores: {os.cpu_count()}, load {os.getloadavg()[0]:.1f}; {coins} coins x {days} days x 15m (synthetic)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        overrides = {
            "general.archive": str(root / "archive"),
            "general.database": f"sqlite:///{root / 'huracan.db'}",
            "general.log_dir": str(root / "logs"),
            "general.symbols": f"top{coins}",
            "general.timeframe": "15m",
            "data.source": "synthetic",
            "engine.lookback_days": days,
            "engine.max_concurrent": os.cpu_count() or 1,
        }
        started = time.perf_counter()
        night = run_engine(None, NIGHT, overrides=overrides)
        night_s = time.perf_counter() - started
        print(f"nightly Engine (baseline): {night_s:.1f} s, {len(night.trained)} models, {len(night.promoted)} promoted")
        memory = _TreeMemory()
        started = time.perf_counter()
        with memory:
            hour = run_mechanic(None, NIGHT + timedelta(hours=1), overrides=overrides)
        hour_s = time.perf_counter() - started
    per_coin = list(hour.seconds_per_coin.values())
    out = {
        "coins": coins,
        "days": days,
        "night_s": round(night_s, 1),
        "hour_s": round(hour_s, 1),
        "hour_vs_night": round(hour_s / night_s, 3),
        "share_of_the_hour": round(hour_s / 3600, 4),
        "challengers": len(hour.challengers),
        "failed": hour.failed,
        "promoted": hour.promoted,
        "seconds_per_coin_median": round(statistics.median(per_coin), 2) if per_coin else None,
        "seconds_per_coin_max": round(max(per_coin), 2) if per_coin else None,
        "peak_total_mib": round(memory.peak / 2**20),
    }
    print(f"hourly Mechanic pass: {hour_s:.1f} s ({out['hour_vs_night']:.2f}x the night, "
          f"{100 * out['share_of_the_hour']:.1f}% of the hour), {out['challengers']} challengers, "
          f"{len(hour.promoted)} promoted; per coin median {out['seconds_per_coin_median']} s, "
          f"max {out['seconds_per_coin_max']} s (in its worker); peak memory of all processes together "
          f"{out['peak_total_mib']} MiB")  # fmt: skip
    return out


if __name__ == "__main__":
    run()
