"""Fixtures for the whole suite: every test starts without a process-wide notification target, and with
Huracan's loggers as it found them.

The Engine's and Mechanic's steps, Hamilton and the CLI set where this process's notifications go
(huracan_core.broadcaster.use_config); a test that ran them must not leave the next test sending
into its database. The CLI's `setup_logging` puts console handlers on Huracan's loggers; under CliRunner
their stream is closed once the command returns, and a later test's log lines would fail on it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from huracan_core.broadcaster import notifications_to
from huracan_core.logs import LOGGER_TREES


@pytest.fixture(autouse=True)
def _no_notification_target() -> Iterator[None]:
    with notifications_to(None):
        yield


@pytest.fixture(autouse=True)
def _huracan_loggers_restored() -> Iterator[None]:
    loggers = [logging.getLogger(tree) for tree in LOGGER_TREES]
    saved = [(list(lg.handlers), lg.level, lg.propagate) for lg in loggers]
    yield
    for logger, (handlers, level, propagate) in zip(loggers, saved, strict=True):
        for handler in [h for h in logger.handlers if h not in handlers]:
            logger.removeHandler(handler)
            handler.close()
        logger.setLevel(level)
        logger.propagate = propagate
