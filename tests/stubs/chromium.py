"""Headless Chromium driven through the DevTools protocol, for tests that look at a page in a real browser.

Debian's `chromium` package (which `.ci/run` installs) is started with its own throwaway profile and a DevTools
port of its own; `Browser.page()` gives one tab to drive with protocol commands (set a cookie, navigate, evaluate
JavaScript, take a screenshot). Only the loopback address is ever visited. Standard library and `websockets`.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

BINARIES = ("chromium", "chromium-browser", "google-chrome")
START_TIMEOUT_S = 30.0


def find_chromium() -> str | None:
    """The browser binary: $HURACAN_CHROMIUM, else the first of BINARIES on the PATH."""
    named = os.environ.get("HURACAN_CHROMIUM")
    if named:
        return named
    return next((path for name in BINARIES if (path := shutil.which(name))), None)


class Tab:
    """One page of the browser: send a protocol command, wait for an event."""

    def __init__(self, socket: ClientConnection) -> None:
        self._socket = socket
        self._ids = itertools.count(1)
        self._events: list[dict[str, Any]] = []
        self.requested: list[str] = []  # every URL the page asked for (Network.requestWillBeSent), in order

    def _receive(self, timeout_s: float) -> dict[str, Any]:
        message = json.loads(self._socket.recv(timeout=max(0.1, timeout_s)))
        if message.get("method") == "Network.requestWillBeSent":
            self.requested.append(message["params"]["request"]["url"])
        return message

    def call(self, method: str, timeout_s: float = 30.0, **params: Any) -> dict[str, Any]:
        """Send one command and return its result (events that arrive meanwhile are kept for `wait_for`)."""
        number = next(self._ids)
        self._socket.send(json.dumps({"id": number, "method": method, "params": params}))
        deadline = time.monotonic() + timeout_s
        while True:
            message = self._receive(deadline - time.monotonic())
            if message.get("id") == number:
                if "error" in message:
                    raise RuntimeError(f"{method} failed: {message['error']}")
                return message.get("result", {})
            self._events.append(message)

    def wait_for(self, event: str, timeout_s: float = 30.0) -> dict[str, Any]:
        """The next `event` (e.g. Page.loadEventFired), including one already received."""
        deadline = time.monotonic() + timeout_s
        while True:
            for i, message in enumerate(self._events):
                if message.get("method") == event:
                    return self._events.pop(i).get("params", {})
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {event} within {timeout_s:.0f} s")
            self._events.append(self._receive(remaining))

    def open(self, url: str, timeout_s: float = 60.0) -> None:
        """Navigate and wait for the load event."""
        self._events.clear()
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired", timeout_s=timeout_s)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_until(self, expression: str, *, timeout_s: float = 60.0, what: str = "") -> Any:
        """Poll `expression` until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout_s
        value = None
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.25)
        raise TimeoutError(f"{what or expression} not true after {timeout_s:.0f} s (last value {value!r})")

    def screenshot(self, path: Path) -> Path:
        """A PNG of the whole page (beyond the viewport) at `path`."""
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        path.write_bytes(base64.b64decode(data))
        return path


@contextlib.contextmanager
def browser(binary: str, *, width: int = 1360, height: int = 1000) -> Iterator[Tab]:
    """Start headless Chromium, yield its first tab, and end the browser (and only it) afterwards."""
    profile = tempfile.mkdtemp(prefix="huracan-chromium-")
    process = subprocess.Popen(
        [
            binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--metrics-recording-only", "--mute-audio",
            f"--user-data-dir={profile}", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
            f"--window-size={width},{height}", "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        port = _devtools_port(process)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
            pages = [t for t in json.load(answer) if t.get("type") == "page"]
        with connect(pages[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=10) as socket:
            tab = Tab(socket)
            tab.call("Page.enable")
            tab.call("Runtime.enable")
            tab.call("Network.enable")
            tab.call(
                "Emulation.setDeviceMetricsOverride",
                width=width,
                height=height,
                deviceScaleFactor=1,
                mobile=False,
            )
            yield tab
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        shutil.rmtree(profile, ignore_errors=True)


def _devtools_port(process: subprocess.Popen[str]) -> int:
    """The port Chromium chose, from its `DevTools listening on ws://127.0.0.1:PORT/...` line."""
    deadline = time.monotonic() + START_TIMEOUT_S
    seen = []
    assert process.stderr is not None
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            if process.poll() is not None:
                break
            continue
        seen.append(line.rstrip())
        found = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
        if found:
            # Keep reading what it writes, so a full pipe never blocks the browser.
            threading.Thread(target=process.stderr.read, daemon=True).start()
            return int(found.group(1))
    raise RuntimeError("Chromium did not open its DevTools port: " + " | ".join(seen[-10:]))
