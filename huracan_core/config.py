"""Typed, frozen configuration: config.yaml + ${VAR} substitution + HURACAN__SECTION__KEY overrides.

Validated once at start. Every error names the key, the bad value and what is allowed, so a user can
fix the file without reading code. Secrets are only ever taken from the environment.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from huracan_core.exceptions import ConfigError
from huracan_core.timeframe import TIMEFRAME_MS, duration_ms, horizon_candidates

ENV_PREFIX = "HURACAN__"
CONFIG_ENV = "HURACAN_CONFIG"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SYMBOL = re.compile(r"^[A-Z0-9]{2,20}$")
_TOPN = re.compile(r"^top([1-9][0-9]{0,3})$")

# Dotted keys whose values are secrets: they must come from the environment (${VAR}) and are masked.
SECRET_KEYS = frozenset({"exchange_credentials.api_key", "exchange_credentials.api_secret", "telegram.token"})


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GeneralConfig(_Section):
    # A list of symbols (BTCUSDT), "topN" (N most traded USDT pairs), or "file:PATH" (one symbol a line).
    symbols: list[str] | str = Field(default_factory=lambda: ["BTCUSDT", "ETHUSDT", "SOLUSDT"])
    timeframe: str = "15m"
    # A local folder or s3://bucket/prefix; everything Huracan writes lands under it.
    archive: str = "archive"
    # A SQLAlchemy URL: sqlite:///file.db by default, postgresql+psycopg2://... in production.
    database: str = "sqlite:///huracan.db"
    # Local folder for human-readable logs (engine.log); kept local even when the archive is on S3.
    log_dir: str = "logs"
    quote: str = "USDT"

    @field_validator("symbols", mode="before")
    @classmethod
    def _symbols(cls, value: Any) -> list[str] | str:
        if isinstance(value, str):
            text = value.strip()
            if _TOPN.match(text.lower()):
                return text.lower()
            if text.startswith("file:") and len(text) > 5:
                return text
            value = [part for part in text.split(",") if part.strip()] if "," in text else [text]
        if not isinstance(value, list) or not value:
            raise ValueError("must be a non-empty list of symbols, 'topN' (e.g. top20) or 'file:PATH'")
        out: list[str] = []
        for item in value:
            sym = str(item).strip().upper().replace("/", "")
            if not _SYMBOL.match(sym):
                raise ValueError(f"symbol {item!r} is not like BTCUSDT (2-20 letters or digits)")
            if sym not in out:
                out.append(sym)
        return out

    @field_validator("timeframe")
    @classmethod
    def _timeframe(cls, value: str) -> str:
        if value not in TIMEFRAME_MS:
            raise ValueError(f"allowed: {', '.join(TIMEFRAME_MS)}")
        return value

    @field_validator("database")
    @classmethod
    def _database(cls, value: str) -> str:
        if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", value):
            raise ValueError("must be a SQLAlchemy URL starting sqlite:/// or postgresql+psycopg2://")
        return value


class DataGatesConfig(_Section):
    # Share of missing bars above which a symbol is skipped (percent of the expected bar count).
    max_gap_pct: float = Field(default=5.0, ge=0, le=100)
    # Share of zero-volume bars above which a symbol is skipped (percent).
    max_zero_volume_pct: float = Field(default=20.0, ge=0, le=100)
    # Median quote volume per bar (USD) under which a symbol is "Low volume. Skipped."
    min_median_quote_volume: float = Field(default=10_000.0, ge=0)
    # Days (calendar, from the coin's first candle to the as-of) a coin listed inside the lookback needs
    # to be trained; fewer and it is skipped. 30 days of 15m bars are ~2,900 bars: enough for the
    # walk-forward folds to each test on a few hundred out-of-sample bars; fewer and the metrics are
    # noise. A coin with the whole lookback always passes, even when engine.lookback_days is shorter.
    min_history_days: float = Field(default=30.0, ge=0)


class DataConfig(_Section):
    source: Literal["ccxt", "lake", "synthetic"] = "ccxt"
    exchange: str = "binance"
    # Local folder or s3://bucket/prefix holding candles/<timeframe>/<SYMBOL>.parquet.
    lake_dir: str = "lake"
    # Seed of the synthetic market; same seed, same candles.
    synthetic_seed: int = 7
    # Which synthetic market: the regime-switching demo market, a driftless random walk (no edge at all),
    # or a random walk with a planted time-of-day edge. The last two exist for the honesty tests.
    synthetic_variant: Literal["regimes", "no_edge", "planted_edge"] = "regimes"
    # planted_edge only: the drift (bps per bar) of the planted hours; near the round trip it is a
    # near-threshold market that must not be promoted.
    synthetic_drift_bps: float = Field(default=15.0, ge=0)
    gates: DataGatesConfig = Field(default_factory=DataGatesConfig)

    @field_validator("exchange")
    @classmethod
    def _exchange(cls, value: str) -> str:
        if not re.match(r"^[a-z0-9_]+$", value):
            raise ValueError("must be a ccxt exchange id such as binance, kraken, okx")
        return value


class PromotionGatesConfig(_Section):
    """What an out-of-sample, after-cost result must show before a model may become champion."""

    min_oos_trades: int = Field(default=10, ge=1)
    # Net PnL after costs must be strictly above this (percent over the OOS window).
    min_net_pnl_pct: float = 0.0
    min_sharpe: float = 0.5
    max_drawdown_pct: float = Field(default=20.0, gt=0, le=100)
    # Deflated Sharpe ratio (0-1): the probability that the OOS per-bar Sharpe beats the Sharpe the best of
    # the model's trials (gate cells and calibrated choices made on the data) would show with no edge. 0.5:
    # it beats that lucky best in expectation. 0.95, the textbook level, refused most real planted edges
    # over 2-4 months of OOS bars; the no-edge and near-threshold markets stay below 0.2 (README).
    min_deflated_sharpe: float = Field(default=0.5, ge=0, le=1)


class EngineConfig(_Section):
    lookback_days: int = Field(default=180, ge=1, le=3650)
    # Seed's knob: how many training tasks may run at once in parallel mode.
    parallel_tasks: int = Field(default=8, ge=1, le=256)
    mode: Literal["sequential", "parallel", "hybrid"] = "hybrid"
    # Upper bound on concurrent worker processes in hybrid mode (capped by the machine's cores).
    max_concurrent: int = Field(default=12, ge=1, le=256)
    # Coins trained together in one batch (one Airflow mapped task; 8-16 per GPU).
    coins_per_batch: int = Field(default=8, ge=1, le=64)
    # Per-coin timeout in minutes: a worker over it is killed, not left running beside its retry.
    timeout_minutes: float = Field(default=30.0, gt=0)
    retries: int = Field(default=2, ge=0, le=10)
    # Seconds before the first retry of a failed coin (doubled for each later retry).
    retry_backoff_seconds: float = Field(default=10.0, ge=0)
    # Walk-forward folds of the out-of-sample evaluation.
    folds: int = Field(default=4, ge=1, le=20)
    # Bars a traded decision is held (the trade's horizon) when `horizons` is empty.
    hold_bars: int = Field(default=8, ge=1, le=1000)
    # Holding horizons (durations, scaled to bars of general.timeframe) each coin's model may use, e.g.
    # ["1h", "4h", "12h", "1d", "3d"]: the one whose calibrated rules score best after costs on the first fold's
    # training rows is every engine's label horizon and the trade's hold; each candidate counts in the
    # deflated Sharpe's trials. [] (the default: see the README) keeps each engine's own horizon and hold_bars.
    horizons: list[str] = Field(default_factory=list)
    # OOS signals an engine needs in a regime before the regime gate may allow it there.
    min_signals: int = Field(default=30, ge=1)
    # Seed of every random choice in training; the same seed on CPU gives the same model.
    seed: int = 42
    # auto: CUDA when present, else CPU.
    device: Literal["auto", "cpu", "cuda"] = "auto"
    gates: PromotionGatesConfig = Field(default_factory=PromotionGatesConfig)
    # Days of bars after the champion's last out-of-sample bar that make a paired comparison conclusive;
    # with fewer, a new model that passes every gate replaces the champion (see the README's rule).
    comparison_min_days: float = Field(default=7.0, gt=0)

    @field_validator("horizons")
    @classmethod
    def _horizons(cls, value: list[str]) -> list[str]:
        bad = []
        for text in value:
            try:
                duration_ms(text)
            except ConfigError:
                bad.append(text)
        if bad:
            raise ValueError(f"durations {bad} are not like 30m, 4h, 1d or 2w")
        return value


class CostsConfig(_Section):
    # Used when the exchange's market info is not available (offline, lake, synthetic).
    taker_fee_bps: float = Field(default=10.0, ge=0, le=500)
    maker_fee_bps: float = Field(default=2.0, ge=-50, le=500)
    # Order notional (quote currency) that slippage is estimated for.
    order_notional: float = Field(default=1_000.0, gt=0)
    # Square-root impact coefficient: slippage_bps = k * vol_bps * sqrt(notional / bar_quote_volume).
    impact_coefficient: float = Field(default=1.0, ge=0)


def _empty_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and value.strip() == "" else value


class HamiltonConfig(_Section):
    # Net-edge floor: trade only when expected edge after costs exceeds this (bps).
    edge_threshold_bps: float = Field(default=10.0, ge=0)
    # Stop opening positions for the day after losing this share of equity (percent).
    daily_loss_cap_pct: float = Field(default=1.0, gt=0, le=100)
    # Skip a trade when the estimated spread is wider than this (bps).
    spread_threshold_bps: float = Field(default=20.0, gt=0)
    # Volatility targeting (annualised %): a position's size is capped at target / the coin's realised
    # volatility known at the decision bar (`huracan_core.sizing`); unset sizes on confidence alone.
    target_volatility_pct: float | None = Field(default=None, gt=0)
    # paper by default; live only when asked for explicitly.
    mode: Literal["paper", "live"] = "paper"
    # What to trade without a symbols selector file: a list, or None for every trade_ok champion.
    symbols: list[str] | None = None
    # Paper wallet: starting quote balance (USDT for USDT pairs).
    paper_wallet: float = Field(default=10_000.0, gt=0)
    # Guardrails on new entries (exits are never blocked).
    max_open_positions: int = Field(default=10, ge=0)
    # Largest position in one coin, in the quote currency.
    max_notional_per_coin: float = Field(default=2_000.0, gt=0)
    # A champion trained longer ago than this opens no new positions (and raises an alert).
    max_model_age_days: float = Field(default=7.0, gt=0)
    # No entries when the newest closed bar is older than this many bars.
    stale_data_bars: int = Field(default=2, ge=1)
    # Live clock: seconds between checks for a newly closed bar.
    poll_seconds: float = Field(default=5.0, gt=0)
    # Replay clock: bars between journal commits (a killed replay redoes at most these on resume).
    replay_commit_bars: int = Field(default=96, ge=1)

    _blank = field_validator("target_volatility_pct", mode="before")(_empty_to_none)


class MechanicConfig(_Section):
    """The hourly Mechanic: challengers, the promotion rule it adds to the Engine's gates, rollback."""

    # No promotion for a coin within this many hours of its last pointer move (any promoter).
    cooldown_hours: float = Field(default=24.0, ge=0)
    # At most this many Mechanic promotions in one UTC day, all coins together.
    max_promotions_per_day: int = Field(default=3, ge=0)
    # The paired test against the champion needs at least this many bars after the champion's last
    # out-of-sample bar (unseen by both), and at least this many trades by the two sides together there.
    min_paired_days: float = Field(default=3.0, gt=0)
    min_paired_trades: int = Field(default=10, ge=1)
    # Block bootstrap of the per-bar net-return difference: block length (bars), resamples, confidence.
    bootstrap_block_bars: int = Field(default=32, ge=1)
    bootstrap_resamples: int = Field(default=2_000, ge=100)
    bootstrap_confidence: float = Field(default=0.95, gt=0.5, lt=1)
    # Deflated Sharpe ratio over every challenger ever evaluated for the coin (see the README's rule).
    min_deflated_sharpe: float = Field(default=0.5, ge=0, le=1)
    # Challengers that were not promoted are kept for this many runs per coin, then deleted.
    keep_challengers: int = Field(default=24, ge=1)
    # Automatic rollback: with at least this many realised trades since the champion's promotion, roll
    # back when the probabilistic Sharpe ratio of its realised per-trade net returns against zero is below
    # rollback_max_psr (it is losing money with that confidence).
    rollback_min_trades: int = Field(default=20, ge=2)
    rollback_max_psr: float = Field(default=0.05, gt=0, lt=0.5)
    # ... or when, since its promotion, it lost money (its trades that exited that UTC day, net of costs) on
    # this many days on which Hamilton's daily loss cap stopped new entries; 0 turns this trigger off.
    rollback_loss_cap_days: int = Field(default=3, ge=0)
    # Seconds the publish step waits for the publish lease while the nightly Engine is publishing the same
    # coins; then it fails with LeaseBusyError (and Airflow retries the task).
    lease_wait_seconds: float = Field(default=900.0, ge=0)


class ExchangeCredentials(_Section):
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None

    _blank = field_validator("api_key", "api_secret", mode="before")(_empty_to_none)


# How one kind of notification reaches the chat: on (with sound), silent (no sound), off (not sent; still logged).
NotifyMode = Literal["on", "silent", "off"]


class NotifyConfig(_Section):
    """One switch per kind of notification; every kind is logged whatever its switch says."""

    # The Engine's start, progress (coins done of total) and finish (models saved, promoted, failed).
    engine: NotifyMode = "on"
    # A failed Airflow task or run, with the task and the error.
    failures: NotifyMode = "on"
    # Promotions (both models' numbers), rollbacks and the Mechanic's refusals.
    promotions: NotifyMode = "on"
    # Hamilton's entries and exits, tagged PAPER or LIVE (never sent for replays).
    trades: NotifyMode = "on"
    # Hamilton's guardrail stops (daily loss cap, pause, stale data, old model, ...).
    guardrails: NotifyMode = "on"
    # The daily summary (text and chart).
    daily_summary: NotifyMode = "on"
    # Errors and warnings of the services.
    errors: NotifyMode = "on"

    @field_validator("*", mode="before")
    @classmethod
    def _yaml_booleans(cls, value: Any) -> Any:
        # YAML 1.1 reads an unquoted on/off as true/false; take them as the switch the user wrote.
        if isinstance(value, bool):
            return "on" if value else "off"
        return value


class TelegramConfig(_Section):
    token: SecretStr | None = None
    # Where notifications go: a user id, a group id (negative, e.g. -1001234567890) or @channelname.
    chat_id: str | None = None
    # Only these Telegram user ids may send commands (empty: nobody may).
    allowed_user_ids: list[int] = Field(default_factory=list)
    # Commands are answered only in chat_id and in these chats (empty: chat_id alone), and only from
    # allowed_user_ids: a listed user in another chat is refused.
    allowed_chat_ids: list[int] = Field(default_factory=list)
    # Root URL of the Bot API server; Huracan appends /bot<token>/<method>. Change it only for a
    # self-hosted Bot API server (or a test server).
    api_base_url: str = "https://api.telegram.org"
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    # Unsent notifications kept in the database outbox at most; beyond it the oldest unsent are dropped
    # (with a logged count), so a long outage cannot grow the table without end.
    outbox_max_rows: int = Field(default=10_000, ge=10, le=10_000_000)
    # Sent notifications are deleted from the outbox after this many days.
    outbox_keep_days: float = Field(default=7.0, gt=0)
    # When the bot sends the daily summary (text and equity chart of the UTC day that just ended), "HH:MM" UTC.
    daily_summary_utc: str = "00:05"

    _blank = field_validator("token", "chat_id", mode="before")(_empty_to_none)

    @field_validator("chat_id", mode="before")
    @classmethod
    def _chat_id(cls, value: Any) -> Any:
        # YAML reads -1001234 as an int; the key is a string so that @channelname fits too.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("allowed_user_ids", "allowed_chat_ids", mode="before")
    @classmethod
    def _id_list(cls, value: Any) -> Any:
        # From the environment an id list arrives as one id (123) or a comma-separated string ("123,456").
        if isinstance(value, int) and not isinstance(value, bool):
            return [value]
        if isinstance(value, str):
            return [part.strip() for part in value.strip().strip("[]").split(",") if part.strip()]
        return value

    @field_validator("daily_summary_utc", mode="before")
    @classmethod
    def _daily_summary_utc(cls, value: Any) -> Any:
        # YAML 1.1 reads an unquoted 00:05 as the sexagesimal number 5 (minutes); take it as the time written.
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
            return f"{value // 60:02d}:{value % 60:02d}"
        text = str(value).strip()
        match = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
        if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
            raise ValueError('must be a UTC time "HH:MM", e.g. "00:05"')
        return f"{int(match.group(1)):02d}:{match.group(2)}"

    @field_validator("api_base_url")
    @classmethod
    def _api_base_url(cls, value: str) -> str:
        text = value.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s?#]+(/[^\s?#]*)?$", text):
            raise ValueError("must be an http:// or https:// URL such as https://api.telegram.org")
        if re.search(r"/bot\d+:", text):
            raise ValueError("give the server's root URL without /bot<token>; Huracan appends it")
        return text

    @property
    def enabled(self) -> bool:
        """True when notifications can be sent: both the token and the chat id are set."""
        return self.token is not None and bool(self.token.get_secret_value()) and bool(self.chat_id)


class HuracanConfig(_Section):
    general: GeneralConfig = Field(default_factory=GeneralConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    costs: CostsConfig = Field(default_factory=CostsConfig)
    hamilton: HamiltonConfig = Field(default_factory=HamiltonConfig)
    mechanic: MechanicConfig = Field(default_factory=MechanicConfig)
    exchange_credentials: ExchangeCredentials = Field(default_factory=ExchangeCredentials)
    telegram: TelegramConfig = Field(default_factory=TelegramConfig)

    @model_validator(mode="after")
    def _horizons_fit_the_timeframe(self) -> HuracanConfig:
        horizon_candidates(self.general.timeframe, self.engine.horizons)  # ConfigError naming the key
        return self

    def masked(self) -> dict[str, Any]:
        """The effective config as plain data with every secret replaced by '***' (or null)."""
        data = self.model_dump(mode="json")
        for dotted in SECRET_KEYS:
            section, key = dotted.split(".")
            value = getattr(getattr(self, section), key)
            data[section][key] = "***" if value is not None and value.get_secret_value() else None
        data["general"]["database"] = mask_url_password(self.general.database)
        return data

    def config_hash(self) -> str:
        """sha256 of the effective config without secrets; stored with every model and backtest."""
        payload = json.dumps(self.masked(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()


def mask_url_password(url: str) -> str:
    """A URL with its password replaced by ***, for anything printed or hashed."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def describe_database(url: str) -> str:
    """Where the database is, for people: an absolute file path for SQLite, a masked URL otherwise."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        return f"sqlite:///{Path(url.removeprefix('sqlite:///')).resolve()}"
    return mask_url_password(url)


def _substitute(value: Any, key: str, env: Mapping[str, str]) -> Any:
    """Replace ${VAR} and ${VAR:-default} in every string, recursively; unset VAR is an error."""
    if isinstance(value, dict):
        return {k: _substitute(v, f"{key}.{k}" if key else str(k), env) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, f"{key}[{i}]", env) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def repl(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ConfigError(
            f"{key}: environment variable {name} is not set (set it, or write ${{{name}:-default}})"
        )

    return _VAR.sub(repl, value)


def _check_secrets_from_env(raw: Mapping[str, Any]) -> None:
    """Refuse literal secrets in the file: a committed config.yaml must never hold a token."""
    for dotted in SECRET_KEYS:
        section, key = dotted.split(".")
        sect = raw.get(section)
        if not isinstance(sect, Mapping) or key not in sect:
            continue
        value = sect[key]
        if value in (None, "") or (isinstance(value, str) and _VAR.fullmatch(value.strip())):
            continue
        raise ConfigError(
            f"{dotted}: secrets must come from the environment; write ${{ENV_VAR}} instead of the value"
        )


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    node = tree
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def _env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    """HURACAN__ENGINE__LOOKBACK_DAYS=30 -> {"engine.lookback_days": 30} (value parsed as YAML)."""
    out: dict[str, Any] = {}
    for name, text in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        dotted = ".".join(part.lower() for part in name[len(ENV_PREFIX) :].split("__") if part)
        try:
            out[dotted] = yaml.safe_load(text) if text != "" else ""
        except yaml.YAMLError:
            out[dotted] = text
    return out


def _format_validation(err: ValidationError) -> str:
    lines = []
    for item in err.errors():
        loc = ".".join(str(p) for p in item["loc"] if not str(p).startswith("function-"))
        # Pydantic adds the union branch to the location (e.g. symbols.list[str]); the user wants the key.
        loc = re.sub(r"\.(list\[str\]|str|int|float)(\.|$)", r"\2", loc)
        value = item.get("input")
        msg = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            msg = "unknown key (check its spelling against config.yaml)"
        elif item["type"] == "literal_error":
            expected = item.get("ctx", {}).get("expected", "")
            msg = f"allowed: {expected}"
        shown = "***" if loc in SECRET_KEYS else repr(value)
        if isinstance(value, str) and "://" in value:
            shown = repr(mask_url_password(value))
        lines.append(f"  {loc}: {msg} (got {shown})")
    return "invalid configuration:\n" + "\n".join(lines)


def resolve_config_path(
    path: str | os.PathLike[str] | None, env: Mapping[str, str] | None = None
) -> Path | None:
    """--config PATH, else $HURACAN_CONFIG, else ./config.yaml when present, else embedded defaults."""
    env = os.environ if env is None else env
    if path is not None:
        return Path(path)
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV])
    default = Path("config.yaml")
    return default if default.exists() else None


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> HuracanConfig:
    """Load, substitute, override and validate the configuration; raise ConfigError naming the problem.

    Precedence, lowest first: embedded defaults, the file, HURACAN__SECTION__KEY variables, `overrides`
    (command-line flags as dotted keys, None values ignored).
    """
    env = os.environ if env is None else env
    resolved = resolve_config_path(path, env)
    raw: dict[str, Any] = {}
    if resolved is not None:
        if not resolved.exists():
            raise ConfigError(f"config file {resolved} does not exist")
        try:
            loaded = yaml.safe_load(resolved.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {resolved} is not valid YAML: {exc}") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(
                f"config file {resolved} must hold a mapping of sections, got {type(loaded).__name__}"
            )
        raw = loaded
    _check_secrets_from_env(raw)
    tree = _substitute(raw, "", env)
    # A flag left unset (None) must not hide the environment variable for the same key.
    given = {dotted: value for dotted, value in (overrides or {}).items() if value is not None}
    for dotted, value in {**_env_overrides(env), **given}.items():
        _set_dotted(tree, dotted, value)
    try:
        return HuracanConfig.model_validate(tree)
    except ValidationError as exc:
        where = f" ({resolved})" if resolved else ""
        raise ConfigError(
            _format_validation(exc).replace("invalid configuration", f"invalid configuration{where}", 1)
        ) from None
