"""Human-readable logs in the seed's style (`[02:05] Training BTCUSDT (180 days)...`).

Console lines carry the UTC hour and minute like the seed; `logs/engine.log` carries the full UTC date
and time so a log file can be read a week later.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CONSOLE_FORMAT = "[%(asctime)s] %(message)s"
CONSOLE_DATEFMT = "%H:%M"
FILE_FORMAT = "[%(asctime)s] %(levelname)s %(name)s: %(message)s"
FILE_DATEFMT = "%Y-%m-%d %H:%M:%S"

_HANDLER_TAG = "_huracan_handler"
# Modules log under their own names (huracan_core.market.lake, ...); these are the trees we attach to.
LOGGER_TREES = ("huracan", "huracan_core", "hamilton_service")


class _UTCFormatter(logging.Formatter):
    converter = time.gmtime


def setup_logging(
    log_dir: str | Path | None = None, *, name: str = "engine", level: int = logging.INFO
) -> Path | None:
    """Send Huracan's logs to the console (and to `<log_dir>/<name>.log` when given); safe to call again.

    Returns the log file's path (None when `log_dir` is None). Only handlers added here are replaced,
    so an embedding application (Airflow's task logger) keeps its own.
    """
    handlers: list[logging.Handler] = []
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(_UTCFormatter(CONSOLE_FORMAT, CONSOLE_DATEFMT))
    handlers.append(console)
    path: Path | None = None
    if log_dir is not None:
        path = Path(log_dir) / f"{name}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(path, encoding="utf-8")
        file_handler.setFormatter(_UTCFormatter(FILE_FORMAT, FILE_DATEFMT))
        handlers.append(file_handler)
    for handler in handlers:
        setattr(handler, _HANDLER_TAG, True)

    for tree in LOGGER_TREES:
        logger = logging.getLogger(tree)
        logger.setLevel(level)
        for old in list(logger.handlers):
            if getattr(old, _HANDLER_TAG, False):
                logger.removeHandler(old)
                old.close()
        for handler in handlers:
            logger.addHandler(handler)
        # Our console handler prints the line; the root logger must not print it a second time.
        logger.propagate = False
    return path


@contextmanager
def log_file(log_dir: str | Path, *, name: str = "engine", level: int = logging.INFO) -> Iterator[Path]:
    """Append Huracan's logs to `<log_dir>/<name>.log` while a job runs, whoever called it (CLI, Airflow)."""
    path = Path(log_dir) / f"{name}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    loggers = [logging.getLogger(tree) for tree in LOGGER_TREES]
    target = str(path.resolve())
    if any(getattr(h, "baseFilename", None) == target for lg in loggers for h in lg.handlers):
        yield path  # an outer job already writes this file: nested steps must not write every line twice
        return
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(_UTCFormatter(FILE_FORMAT, FILE_DATEFMT))
    handler.setLevel(level)
    previous = [logger.level for logger in loggers]
    for logger in loggers:
        if logger.level == logging.NOTSET or logger.level > level:
            logger.setLevel(level)
        logger.addHandler(handler)
    try:
        yield path
    finally:
        for logger, old_level in zip(loggers, previous, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(old_level)
        handler.close()


def get_logger(name: str) -> logging.Logger:
    """A logger under the `huracan` tree, so setup_logging's handlers apply to it."""
    return logging.getLogger(name if name.startswith("huracan") else f"huracan.{name}")
