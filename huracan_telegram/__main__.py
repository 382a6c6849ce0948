"""`python -m huracan_telegram [options]`: the same as `huracan telegram [options]` (the container's command)."""

from __future__ import annotations

import sys

from huracan_core.cli import app


def main() -> None:
    app(["telegram", *sys.argv[1:]], prog_name="python -m huracan_telegram")


if __name__ == "__main__":
    main()
