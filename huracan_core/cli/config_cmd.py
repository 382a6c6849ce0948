"""`huracan config show`: the effective configuration after file, environment and flags, secrets masked."""

from __future__ import annotations

import typer
import yaml

from huracan_core.cli.common import ConfigOpt, config_from, console, friendly_errors

app = typer.Typer(help="Configuration: show the effective settings.", no_args_is_help=True)


@app.command("show")
@friendly_errors
def show(config: ConfigOpt = None) -> None:
    """Print the effective config (file + HURACAN__* variables + defaults) as YAML, secrets masked."""
    cfg = config_from(config)
    console.print(yaml.safe_dump(cfg.masked(), sort_keys=False).rstrip(), highlight=False, markup=False)
    console.print(f"# config hash: {cfg.config_hash()}", highlight=False, markup=False)
