"""A small client of Airflow 3's REST API (v2) for tests: log in, trigger a DAG, wait for its run.

Standard library only; every wait is bounded and says what it was waiting for when it gives up.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Seconds one request may take; creating a run waits on database locks the scheduler holds.
REQUEST_TIMEOUT_S = 60


@dataclass
class AirflowApi:
    base_url: str
    username: str
    password: str
    _token: str | None = field(default=None, repr=False)

    def _call(
        self, method: str, path: str, body: Any | None = None, *, auth: bool = True, tries: int = 4
    ) -> Any:
        """One request; reads are retried on a timeout or a 5xx (a loaded 2-core machine answers slowly)."""
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        data = json.dumps(body).encode() if body is not None else None
        for attempt in range(1, tries + 1):
            request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
                    return json.load(response)
            except urllib.error.HTTPError as exc:
                if exc.code < 500 or attempt == tries:
                    raise
            except (TimeoutError, urllib.error.URLError):
                if attempt == tries:
                    raise
            time.sleep(2.0 * attempt)
        raise AssertionError("unreachable")

    def token(self) -> str:
        """A JWT from the simple auth manager's /auth/token (username and password)."""
        if self._token is None:
            answer = self._call(
                "POST", "/auth/token", {"username": self.username, "password": self.password}, auth=False
            )
            self._token = answer["access_token"]
        return self._token

    def wait_for_dag(self, dag_id: str, *, timeout_s: float) -> dict[str, Any]:
        """Wait until the dag-processor has parsed the DAG and the API knows it."""
        deadline = time.monotonic() + timeout_s
        last = ""
        while time.monotonic() < deadline:
            try:
                return self._call("GET", f"/api/v2/dags/{dag_id}")
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
            time.sleep(1.0)
        raise TimeoutError(f"DAG {dag_id} not visible through the API after {timeout_s:.0f}s ({last})")

    def unpause(self, dag_id: str) -> None:
        self._call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def pause(self, dag_id: str) -> None:
        self._call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": True})

    def trigger(self, dag_id: str, logical_date: datetime) -> str:
        # Not retried: a second POST would ask for a second run.
        body = {"logical_date": logical_date.isoformat()}
        run = self._call("POST", f"/api/v2/dags/{dag_id}/dagRuns", body, tries=1)
        return str(run["dag_run_id"])

    def wait_for_run(self, dag_id: str, run_id: str, *, timeout_s: float) -> str:
        """Poll the run until it succeeds or fails; returns its final state."""
        deadline = time.monotonic() + timeout_s
        state = "unknown"
        while time.monotonic() < deadline:
            state = self._call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]
            if state in ("success", "failed"):
                return state
            time.sleep(2.0)
        raise TimeoutError(f"run {run_id} of {dag_id} still {state} after {timeout_s:.0f}s")

    def run_ids(self, dag_id: str) -> list[str]:
        answer = self._call("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100")
        return [run["dag_run_id"] for run in answer["dag_runs"]]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        answer = self._call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100")
        return list(answer["task_instances"])


def overlapping(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two task instances ran at the same time (their start-end intervals intersect)."""
    start_a, end_a = (datetime.fromisoformat(a[k]) for k in ("start_date", "end_date"))
    start_b, end_b = (datetime.fromisoformat(b[k]) for k in ("start_date", "end_date"))
    return start_a < end_b and start_b < end_a
