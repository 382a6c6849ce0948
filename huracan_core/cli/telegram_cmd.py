"""`huracan telegram` (the bot: commands, notifications, the daily summary) and `huracan telegram health`.

The CLI is an outer layer: it imports `huracan_telegram` (and so python-telegram-bot) only inside the
command, so `huracan --help` and every other command stay light.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from huracan_core.cli.common import ArchiveOpt, ConfigOpt, console, err_console, friendly_errors
from huracan_core.config import HuracanConfig, load_config

DbOpt = Annotated[
    str | None, typer.Option("--db", help="Database URL (SQLAlchemy); overrides general.database.")
]

OptionalOpt = Annotated[
    bool,
    typer.Option(
        "--optional",
        help="Exit 0 with a message when telegram.token is not set (Telegram is optional in compose).",
    ),
]

telegram_app = typer.Typer(
    help="The Telegram bot: /trade, /status, /pnl, ... for allowed users, notifications, the daily summary.",
    invoke_without_command=True,
)


def _config(config: ConfigOpt, archive: str | None, db: str | None = None) -> HuracanConfig:
    overrides = {"general.archive": archive, "general.database": db}
    return load_config(config, overrides={k: v for k, v in overrides.items() if v is not None})


@telegram_app.callback()
@friendly_errors
def telegram(
    ctx: typer.Context,
    config: ConfigOpt = None,
    archive: ArchiveOpt = None,
    db: DbOpt = None,
    optional: OptionalOpt = False,
) -> None:
    """Run the bot until SIGINT/SIGTERM: long polling (one poller per token), commands only from
    telegram.allowed_user_ids in telegram.chat_id (or telegram.allowed_chat_ids), and the notifications
    the other services queue."""
    if ctx.invoked_subcommand is not None:
        return
    from huracan_core.logs import setup_logging
    from huracan_telegram.app import check_settings, route_library_logs, run_bot

    cfg = _config(config, archive, db)
    token = cfg.telegram.token.get_secret_value() if cfg.telegram.token is not None else ""
    if optional and not token:
        console.print(
            "Telegram is not configured (telegram.token, from HURACAN_TELEGRAM_TOKEN, is empty): no bot runs; "
            "notifications stay in the logs.",
            highlight=False,
            markup=False,
        )
        return
    check_settings(cfg)  # a missing token, chat id or allow-list is a configuration error (exit 2)
    setup_logging(cfg.general.log_dir, name="telegram")
    route_library_logs()
    code = run_bot(cfg)
    if code:
        raise typer.Exit(code=code)


@telegram_app.command("health")
@friendly_errors
def health(config: ConfigOpt = None, archive: ArchiveOpt = None) -> None:
    """Exit 0 when a bot on this host holds this token's poller lease and renews it (the healthcheck)."""
    from huracan_telegram.app import poller_health

    ok, message = poller_health(_config(config, archive), now=datetime.now(UTC))
    (console if ok else err_console).print(message, highlight=False, markup=False)
    if not ok:
        raise typer.Exit(code=1)
