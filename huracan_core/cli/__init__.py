"""The `huracan` command: a thin shell over huracan_core; every sub-command formats plain data."""

from __future__ import annotations

import typer

from huracan_core.cli import config_cmd, data, engine
from huracan_core.cli import db as db_cmd
from huracan_core.cli.archive_cmd import archive_app
from huracan_core.cli.champion_cmd import champion_app
from huracan_core.cli.hamilton import hamilton_app
from huracan_core.cli.mechanic import mechanic
from huracan_core.cli.regimes import regimes_command
from huracan_core.cli.research import backtest_command, lookahead_command
from huracan_core.cli.simulate_cmd import simulate_command
from huracan_core.cli.telegram_cmd import telegram_app

app = typer.Typer(
    name="huracan",
    help="Huracan: nightly per-coin models, hourly improvement, paper/live trading for crypto.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(config_cmd.app, name="config")
app.add_typer(db_cmd.app, name="db")
app.add_typer(data.app, name="data")
app.add_typer(hamilton_app, name="hamilton")
app.add_typer(champion_app, name="champion")
app.add_typer(archive_app, name="archive")
app.add_typer(telegram_app, name="telegram")
app.command("daily")(engine.daily)
app.command("engine")(engine.engine)
app.command("mechanic")(mechanic)
app.command("regimes")(regimes_command)
app.command("backtest")(backtest_command)
app.command("lookahead")(lookahead_command)
app.command("simulate")(simulate_command)


def main() -> None:
    app()


__all__ = ["app", "main"]
