"""The master script from the seed: `python run_daily.py` runs the whole daily job (same code as `huracan daily`)."""

import typer

from huracan_core.cli.engine import daily

if __name__ == "__main__":
    typer.run(daily)
