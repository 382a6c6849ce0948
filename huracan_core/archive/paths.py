"""The archive layout, in one place: every key Huracan reads or writes is built here.

Layout (root is a local folder or s3://bucket/prefix):
    models/SYMBOL/YYYYMMDD_HHMMSSZ/{model.bin,config.json,metrics.json,costs.json,sha256.txt}
    challengers/SYMBOL/YYYYMMDD_HHMMSSZ/...
    champion/SYMBOL/latest.json   champion/champion.json   champion/promotions.json
    summaries/daily/YYYY-MM-DD.json   reports/YYYY-MM-DD/daily_report.json
    live_logs/trades/YYYYMMDD.parquet   control/symbols_selector.json   engine_status.json   logs/
    encoders/YYYYMMDD_HHMMSSZ/ (shared encoder of a nightly run)   engine_runs/YYYYMMDD_HHMMSSZ/ (resume ledger)
The candle lake has its own root: candles/<timeframe>/<SYMBOL>.parquet, funding/<SYMBOL>.parquet.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

_SYMBOL = re.compile(r"^[A-Z0-9]{2,20}$")
_MODEL_ID = re.compile(r"^\d{8}_\d{6}Z$")

BUNDLE_FILES = ("model.bin", "config.json", "metrics.json", "costs.json")
CHECKSUM_FILE = "sha256.txt"


def _symbol(symbol: str) -> str:
    if not _SYMBOL.match(symbol):
        raise ValueError(f"symbol {symbol!r} is not like BTCUSDT")
    return symbol


def model_id_for(moment: datetime) -> str:
    """Folder name of a model trained as of `moment` (UTC): YYYYMMDD_HHMMSSZ."""
    if moment.tzinfo is None:
        raise ValueError("model ids are built from timezone-aware UTC datetimes")
    return moment.astimezone(UTC).strftime("%Y%m%d_%H%M%SZ")


def _model_id(model_id: str) -> str:
    if not _MODEL_ID.match(model_id):
        raise ValueError(f"model id {model_id!r} is not like 20250101_020000Z")
    return model_id


def models_dir(symbol: str) -> str:
    return f"models/{_symbol(symbol)}"


def model_dir(symbol: str, model_id: str) -> str:
    return f"models/{_symbol(symbol)}/{_model_id(model_id)}"


def challenger_dir(symbol: str, model_id: str) -> str:
    return f"challengers/{_symbol(symbol)}/{_model_id(model_id)}"


def champion_pointer(symbol: str) -> str:
    return f"champion/{_symbol(symbol)}/latest.json"


def champion_roster() -> str:
    return "champion/champion.json"


def promotions_log() -> str:
    return "champion/promotions.json"


def _iso_day(day: date) -> str:
    return day.isoformat()


def daily_summary(day: date) -> str:
    return f"summaries/daily/{_iso_day(day)}.json"


def daily_report(day: date) -> str:
    return f"reports/{_iso_day(day)}/daily_report.json"


def trades_log(day: date) -> str:
    return f"live_logs/trades/{day.strftime('%Y%m%d')}.parquet"


def symbols_selector() -> str:
    return "control/symbols_selector.json"


def engine_status() -> str:
    return "engine_status.json"


def hamilton_status() -> str:
    return "hamilton_status.json"


def pause_file() -> str:
    return "control/pause.json"


def publish_lease() -> str:
    return "leases/publish.json"


_LEASE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


def service_lease(name: str) -> str:
    """The lease of one long-lived service instance (e.g. `telegram-<sha256 of the token, 16 hex>`)."""
    if not _LEASE_NAME.match(name):
        raise ValueError(f"lease name {name!r} must be lower-case letters, digits and dashes")
    return f"leases/{name}.json"


def mechanic_run_dir(as_of_id: str) -> str:
    return f"mechanic/runs/{_model_id(as_of_id)}"


def archive_log(name: str) -> str:
    return f"logs/{name}"


def encoder_dir(model_id: str) -> str:
    """The shared encoder trained by one nightly run (all coins), which that run's bundles embed."""
    return f"encoders/{_model_id(model_id)}"


def encoders_root() -> str:
    return "encoders"


def engine_ledger(as_of_id: str) -> str:
    """Resume ledger of one nightly run: which coins are done for that as-of."""
    return f"engine_runs/{_model_id(as_of_id)}/ledger.json"


def engine_run_dir(as_of_id: str) -> str:
    """Small JSON hand-offs between the nightly steps of one as-of (plan, candle verdicts, results)."""
    return f"engine_runs/{_model_id(as_of_id)}"


def lake_candles(timeframe: str, symbol: str) -> str:
    """Key of a symbol's candles inside a lake root."""
    return f"candles/{timeframe}/{_symbol(symbol)}.parquet"


def lake_funding(symbol: str) -> str:
    """Key of a symbol's funding-rate history (its linear perpetual's) inside a lake root."""
    return f"funding/{_symbol(symbol)}.parquet"


def lake_timeframe_dir(timeframe: str) -> str:
    return f"candles/{timeframe}"
