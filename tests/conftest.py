"""Fixtures for the whole suite: every test starts without a process-wide notification target.

The Engine's and Mechanic's steps, Hamilton and the CLI set where this process's notifications go
(huracan_core.broadcaster.use_config); a test that ran them must not leave the next test sending
into its database.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from huracan_core.broadcaster import notifications_to


@pytest.fixture(autouse=True)
def _no_notification_target() -> Iterator[None]:
    with notifications_to(None):
        yield
