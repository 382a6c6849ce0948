"""The seed's quick-start line, as written:

    python -m cloud.training.pipelines.daily_retrain_scheduler --mode hybrid --max_concurrent 12 --symbols top20

A thin alias of `huracan engine` (the seed spells the flag --max_concurrent; both spellings work).
"""

from __future__ import annotations

import sys

import typer

from huracan_core.cli.engine import engine


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    args = ["--max-concurrent" if a == "--max_concurrent" else a.replace("--max_concurrent=", "--max-concurrent=")
            for a in args]
    app = typer.Typer(add_completion=False)
    app.command()(engine)
    typer.main.get_command(app)(args, prog_name="daily_retrain_scheduler")


if __name__ == "__main__":
    main()
