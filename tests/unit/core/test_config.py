"""The configuration a user writes: defaults, overrides, secrets and the errors that name the problem."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from huracan_core.cli import app
from huracan_core.config import load_config
from huracan_core.exceptions import ConfigError

REPO = Path(__file__).resolve().parents[3]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_yaml_is_valid_and_has_the_seed_keys() -> None:
    cfg = load_config(REPO / "config.yaml", env={})
    assert cfg.general.symbols == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert cfg.engine.lookback_days == 180
    assert cfg.engine.parallel_tasks == 8
    assert cfg.hamilton.edge_threshold_bps == 10
    assert cfg.hamilton.daily_loss_cap_pct == 1.0
    assert cfg.general.archive == "archive"
    assert cfg.general.database.startswith("sqlite:///")


def test_embedded_defaults_apply_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = load_config(None, env={})
    assert cfg.data.source == "ccxt"
    assert cfg.general.timeframe == "15m"


def test_topn_and_file_symbol_specs_are_accepted(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "general: {symbols: top20}"), env={}).general.symbols == "top20"
    assert load_config(write(tmp_path, "general: {symbols: TOP5}"), env={}).general.symbols == "top5"
    spec = load_config(write(tmp_path, "general: {symbols: 'file:coins.txt'}"), env={}).general.symbols
    assert spec == "file:coins.txt"
    lowered = load_config(write(tmp_path, "general: {symbols: [btcusdt, ETH/USDT]}"), env={})
    assert lowered.general.symbols == ["BTCUSDT", "ETHUSDT"]


def test_env_substitution_and_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "general: {archive: '${ARCH}', database: '${DB:-sqlite:///x.db}'}")
    cfg = load_config(path, env={"ARCH": "s3://bucket/prefix"})
    assert cfg.general.archive == "s3://bucket/prefix"
    assert cfg.general.database == "sqlite:///x.db"


def test_unset_env_variable_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "general: {archive: '${NOT_SET_ANYWHERE}'}")
    with pytest.raises(
        ConfigError, match=r"general\.archive: environment variable NOT_SET_ANYWHERE is not set"
    ):
        load_config(path, env={})


def test_huracan_env_overrides_beat_the_file_and_flags_beat_both(tmp_path: Path) -> None:
    path = write(tmp_path, "engine: {lookback_days: 90}\ndata: {source: lake}")
    env = {"HURACAN__ENGINE__LOOKBACK_DAYS": "30", "HURACAN__DATA__GATES__MAX_GAP_PCT": "1.5"}
    cfg = load_config(path, env=env)
    assert cfg.engine.lookback_days == 30
    assert cfg.data.gates.max_gap_pct == 1.5
    cfg = load_config(path, env=env, overrides={"engine.lookback_days": 7, "data.source": None})
    assert cfg.engine.lookback_days == 7
    assert cfg.data.source == "lake"


def test_a_flag_left_unset_does_not_hide_the_environment_variable_for_its_key(tmp_path: Path) -> None:
    path = write(tmp_path, "general: {timeframe: 15m}")
    cfg = load_config(path, env={"HURACAN__GENERAL__TIMEFRAME": "1m"}, overrides={"general.timeframe": None})
    assert cfg.general.timeframe == "1m"


@pytest.mark.parametrize(
    ("text", "key", "value_fragment", "allowed_fragment"),
    [
        ("data: {source: binance}", "data.source", "'binance'", "'ccxt', 'lake' or 'synthetic'"),
        ("general: {timeframe: 7m}", "general.timeframe", "'7m'", "allowed: 1m"),
        ("engine: {lookback_days: -3}", "engine.lookback_days", "-3", "greater than or equal to 1"),
        ("engine: {mode: turbo}", "engine.mode", "'turbo'", "'sequential', 'parallel' or 'hybrid'"),
        ("general: {symbols: ['BTC-USDT!']}", "general.symbols", "BTC-USDT!", "like BTCUSDT"),
        ("general: {database: 'mysql://x'}", "general.database", "'mysql://x'", "sqlite:///"),
        ("engin: {lookback_days: 3}", "engin", "", "unknown key"),
    ],
)
def test_invalid_values_name_key_value_and_what_is_allowed(
    tmp_path: Path, text: str, key: str, value_fragment: str, allowed_fragment: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env={})
    message = str(info.value)
    assert key in message
    assert value_fragment in message
    assert allowed_fragment in message


def test_malformed_yaml_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "general: [unclosed"), env={})
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(write(tmp_path, "- just\n- a list\n"), env={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml", env={})


def test_literal_secrets_in_the_file_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "telegram: {token: '123456:ABCDEF'}")
    with pytest.raises(ConfigError, match="secrets must come from the environment") as info:
        load_config(path, env={})
    assert "ABCDEF" not in str(info.value)


def test_config_show_masks_secrets_and_hash_ignores_them(tmp_path: Path) -> None:
    path = write(tmp_path, "telegram: {token: '${TG}'}\nexchange_credentials: {api_secret: '${SEC}'}")
    a = load_config(path, env={"TG": "123:SECRETTOKEN", "SEC": "s3cr3t"})
    b = load_config(path, env={"TG": "999:OTHER", "SEC": "other"})
    assert a.telegram.token is not None and a.telegram.token.get_secret_value() == "123:SECRETTOKEN"
    assert "SECRETTOKEN" not in str(a.masked()) and "s3cr3t" not in str(a.masked())
    assert a.masked()["telegram"]["token"] == "***"
    assert a.config_hash() == b.config_hash()
    assert "SECRETTOKEN" not in repr(a)


def test_cli_config_show_prints_effective_config_with_secrets_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "telegram: {token: '${TG}'}\nengine: {lookback_days: 44}")
    monkeypatch.setenv("TG", "123:SECRETTOKEN")
    monkeypatch.setenv("HURACAN__ENGINE__PARALLEL_TASKS", "3")
    result = CliRunner().invoke(app, ["config", "show", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert "lookback_days: 44" in result.output
    assert "parallel_tasks: 3" in result.output
    assert "SECRETTOKEN" not in result.output
    assert "'***'" in result.output


def test_cli_reports_a_bad_config_with_exit_code_2_and_no_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, "engine: {mode: turbo}")
    result = CliRunner().invoke(app, ["config", "show", "--config", str(path)])
    assert result.exit_code == 2
    assert "engine.mode" in result.output
    assert "Traceback" not in result.output


def test_telegram_defaults_send_every_kind_to_the_public_bot_api() -> None:
    cfg = load_config(REPO / "config.yaml", env={})
    assert cfg.telegram.api_base_url == "https://api.telegram.org"
    assert cfg.telegram.allowed_chat_ids == []
    assert set(cfg.telegram.notify.model_dump().values()) == {"on"}
    assert not cfg.telegram.enabled  # no token, no chat: log only
    assert cfg.telegram.outbox_max_rows == 10_000


def test_telegram_is_enabled_with_a_token_and_a_chat_and_the_chat_stays_a_string(tmp_path: Path) -> None:
    path = write(tmp_path, "telegram: {token: '${TG}', chat_id: -1001234567890, notify: {trades: silent}}")
    cfg = load_config(path, env={"TG": "123:SECRET"})
    assert cfg.telegram.enabled and cfg.telegram.chat_id == "-1001234567890"
    assert cfg.telegram.notify.trades == "silent"
    channel = load_config(
        write(tmp_path, "telegram: {token: '${TG}', chat_id: '@huracan'}"), env={"TG": "1:X"}
    )
    assert channel.telegram.chat_id == "@huracan"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("telegram: {notify: {trades: loud}}", "telegram.notify.trades: allowed: 'on', 'silent' or 'off'"),
        ("telegram: {notify: {trade: on}}", "telegram.notify.trade: unknown key"),
        (
            "telegram: {api_base_url: 'ftp://example.org'}",
            "telegram.api_base_url: must be an http:// or https://",
        ),
        ("telegram: {api_base_url: 'https://api.telegram.org/bot123:X'}", "without /bot<token>"),
    ],
)
def test_telegram_errors_name_the_key_and_the_fix(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env={})
    assert message in str(info.value)


def test_telegram_api_base_url_loses_its_trailing_slash(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "telegram: {api_base_url: 'http://127.0.0.1:8081/'}"), env={})
    assert cfg.telegram.api_base_url == "http://127.0.0.1:8081"


def test_unquoted_on_and_off_in_yaml_are_the_switches_not_booleans(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "telegram:\n  notify:\n    trades: off\n    engine: on\n"), env={})
    assert (cfg.telegram.notify.trades, cfg.telegram.notify.engine) == ("off", "on")
    env = {"HURACAN__TELEGRAM__NOTIFY__ERRORS": "off"}
    assert load_config(write(tmp_path, ""), env=env).telegram.notify.errors == "off"
