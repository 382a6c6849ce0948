"""`python -m hamilton_service [options]`: the same as `huracan hamilton run [options]` (the container's command)."""

from __future__ import annotations

import sys

from huracan_core.cli import app


def main() -> None:
    app(["hamilton", "run", *sys.argv[1:]], prog_name="python -m hamilton_service")


if __name__ == "__main__":
    main()
