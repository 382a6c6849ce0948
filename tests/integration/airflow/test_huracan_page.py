"""The Huracan page in a real Airflow, checked in a real browser.

One small Engine run (synthetic market with a planted edge, 3 coins, 90 days of 1h) and one real api-server with
this repository's plugins/ (started by scripts/airflow/local_airflow.py, the api-server alone, on the machine's
PostgreSQL), shared by every test here: anonymous requests are refused, the JSON endpoints answer a script's
token with the run's data, and headless Chromium shows the page, alone and inside the Airflow UI's navigation,
with the run's champions in its table. Screenshots go to the test's tmp_path (the path is printed).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from huracan_core.engine.run import EngineRunResult, run_engine
from tests.stubs.airflow_api import AirflowApi
from tests.stubs.airflow_env import REPO, write_nightly_config
from tests.stubs.chromium import browser, find_chromium

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

SCRIPT = REPO / "scripts" / "airflow" / "local_airflow.py"
# Two of these pass the (wide open) gates on this market and become champions; BNBUSDT's model makes no
# out-of-sample trade and is refused, so the page also shows a refusal with its reason.
SYMBOLS = ["SOLUSDT", "XRPUSDT", "BNBUSDT"]
AS_OF = datetime(2025, 3, 4, 2, 0, tzinfo=UTC)
START_TIMEOUT_S = 200
USER, PASSWORD = "huracan", "test-only-password"
ENDPOINTS = (
    "overview",
    "champions",
    "last-night",
    "promotions",
    "models",
    "models/SOLUSDT",
    "hamilton",
    "selector",
)
# The DOM's champions table, and the same table inside the frame of the Airflow UI's plugin page.
CHAMPION_ROWS = (
    "Array.from(document.querySelectorAll('#champions-table tbody tr')).map(r => r.dataset.symbol)"
)
FRAMED_ROWS = (
    "(() => { const f = document.querySelector('iframe'); const d = f && f.contentDocument;"
    f" return d ? {CHAMPION_ROWS.replace('document.', 'd.')} : []; }})()"
)


@dataclass
class Site:
    base_url: str
    api: AirflowApi
    engine: EngineRunResult
    huracan: Path  # config.yaml, archive/ and huracan.db of the run


def _free_port_block(count: int = 3) -> int:
    """A port p with p .. p+count-1 free on 127.0.0.1 (the api-server and the two log-server ports it reserves)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        try:
            for offset in range(count):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        return base
    raise RuntimeError("no block of free ports on 127.0.0.1")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with socket.socket() as probe:
        probe.settimeout(1.0)
        if probe.connect_ex(("127.0.0.1", 5432)) != 0:
            pytest.fail("PostgreSQL is not listening on 127.0.0.1:5432 (Airflow's metadata database)")
    root = tmp_path_factory.mktemp("huracan_page")
    config = write_nightly_config(
        root / "huracan", symbols=SYMBOLS, coins_per_batch=3, parallel_tasks=1, lookback_days=90,
        market="planted_edge", folds=3,
    )  # fmt: skip
    port = _free_port_block()
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AIRFLOW__", "AIRFLOW_VAR_", "AIRFLOW_CONN_"))
        },
        "HURACAN_AIRFLOW_HOME": str(root / "airflow"),
        "HURACAN_AIRFLOW_PORT": str(port),
        "HURACAN_AIRFLOW_COMPONENTS": "api-server",
        "HURACAN_AIRFLOW_DB": "huracan_airflow_test_page",
        "HURACAN_AIRFLOW_RESET": "1",
        "HURACAN_AIRFLOW_USER": USER,
        "HURACAN_AIRFLOW_PASSWORD": PASSWORD,
        "HURACAN_CONFIG": str(config),  # what the plugin reads, as the tasks would
    }
    env.pop("AIRFLOW_HOME", None)
    # Airflow migrates and starts while the Engine trains: the two take about as long.
    starting = subprocess.Popen([sys.executable, str(SCRIPT), "start"], env=env, cwd=REPO)
    try:
        engine = run_engine(str(config), AS_OF, overrides={"engine.mode": "sequential"})
        assert starting.wait(timeout=START_TIMEOUT_S) == 0, (
            f"Airflow did not start; see {root / 'airflow' / 'run'}"
        )
        base_url = f"http://127.0.0.1:{port}"
        yield Site(base_url, AirflowApi(base_url, USER, PASSWORD), engine, root / "huracan")
    finally:
        if starting.poll() is None:
            starting.terminate()
            starting.wait(timeout=30)
        subprocess.run([sys.executable, str(SCRIPT), "stop"], env=env, cwd=REPO, timeout=90, check=False)


def _get(url: str, token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60) as answer:
            body = answer.read().decode()
            return answer.status, json.loads(
                body
            ) if answer.headers.get_content_type() == "application/json" else body
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_the_engine_run_made_champions_for_the_page_to_show(site: Site) -> None:
    assert site.engine.trained == sorted(SYMBOLS) and site.engine.promoted, site.engine


def test_anonymous_requests_and_bad_tokens_are_refused(site: Site) -> None:
    for path in ("/huracan/", "/huracan/icon.svg", *(f"/huracan/api/{e}" for e in ENDPOINTS)):
        status, _ = _get(site.base_url + path)
        assert status == 401, path
    status, _ = _get(site.base_url + "/huracan/api/champions", token="not-a-token")
    assert status == 403


def test_every_json_endpoint_answers_a_script_with_the_runs_data(site: Site) -> None:
    token = site.api.token()
    answers = {}
    for endpoint in ENDPOINTS:
        status, answers[endpoint] = _get(f"{site.base_url}/huracan/api/{endpoint}", token)
        assert status == 200, (endpoint, answers[endpoint])
    champions = answers["champions"]["champions"]
    assert sorted(c["symbol"] for c in champions) == sorted(site.engine.promoted)
    assert all(c["trade_ok"] and c["model_id"] == "20250304_020000Z" for c in champions)
    assert all(isinstance(c["buy_and_hold_net_pnl_pct"], float) for c in champions)
    night = answers["last-night"]["run"]
    assert night["trained"] == site.engine.trained and night["promoted"] == site.engine.promoted
    assert set(night["not_promoted"]) == set(SYMBOLS) - set(site.engine.promoted)
    assert night["dag_run"] is None and night["duration_s"] > 0
    assert len(answers["promotions"]["promotions"]) == len(site.engine.promoted)
    assert answers["models"]["symbols"] == sorted(SYMBOLS)
    assert answers["models/SOLUSDT"]["models"][0]["model_id"] == "20250304_020000Z"
    assert answers["hamilton"]["status"] is None  # Hamilton never ran against this archive
    assert answers["selector"]["selection"]["symbols"] == answers["champions"]["trade_ok"]
    overview = answers["overview"]
    assert not [k for k, v in overview.items() if isinstance(v, dict) and "error" in v], overview


def test_the_page_shows_the_champions_in_headless_chromium_alone_and_inside_the_airflow_ui(
    site: Site, tmp_path: Path
) -> None:
    binary = find_chromium()
    if binary is None:
        message = "Chromium is not installed (apt-get install -y chromium; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    champions = sorted(site.engine.promoted)
    with browser(binary) as tab:
        # The UI's login leaves the auth manager's token in the _token cookie; a browser with it is logged in.
        tab.call("Network.setCookie", name="_token", value=site.api.token(), url=site.base_url + "/")
        tab.open(f"{site.base_url}/huracan/")
        assert sorted(tab.evaluate(CHAMPION_ROWS)) == champions
        assert tab.evaluate("document.querySelector('#last-night').innerText").count("BNBUSDT") >= 1
        alone = tab.screenshot(tmp_path / "huracan_page.png")
        offsite = [
            url for url in tab.requested if not url.startswith((site.base_url + "/", "data:", "about:"))
        ]
        assert not offsite, f"the page asked for something off this Airflow: {offsite}"

        # The Huracan entry of the Airflow navigation opens the page in the UI's frame.
        tab.open(f"{site.base_url}/plugin/huracan")
        framed = tab.wait_until(FRAMED_ROWS, timeout_s=60, what="the champions table inside the Airflow UI")
        assert sorted(framed) == champions
        assert tab.evaluate(
            "Array.from(document.querySelectorAll('nav a, a')).some(a => a.innerText.trim() === 'Huracan')"
        )
        inside = tab.screenshot(tmp_path / "huracan_in_airflow_ui.png")
    for shot in (alone, inside):
        assert shot.stat().st_size > 10_000
        print(f"screenshot: {shot}")


def test_a_broken_config_or_archive_file_is_a_clear_message_not_a_stack(site: Site) -> None:
    token = site.api.token()
    roster = site.huracan / "archive" / "champion" / "champion.json"
    config_file = site.huracan / "config.yaml"
    kept_roster, kept_config = roster.read_text(), config_file.read_text()
    try:
        roster.write_text("{ not json")
        status, page = _get(f"{site.base_url}/huracan/", token)
        assert status == 200 and 'class="error"' in page and "champion/champion.json" in page
        assert "Traceback" not in page and "BNBUSDT" in page  # the other sections still read
        status, answer = _get(f"{site.base_url}/huracan/api/champions", token)
        assert status == 500 and "champion/champion.json" in json.loads(answer)["error"]

        config_file.write_text(kept_config + "engine:\n  mode: turbo\n")
        status, page = _get(f"{site.base_url}/huracan/", token)
        assert status == 500 and "Configuration error" in page and "Traceback" not in page
    finally:
        roster.write_text(kept_roster)
        config_file.write_text(kept_config)


@pytest.fixture
def plugin(airflow_home: Path) -> Any:
    """plugins/huracan_plugin.py imported in the in-process Airflow (its own metadata database)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "huracan_plugin_under_test", REPO / "plugins" / "huracan_plugin.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_page_reads_the_archive_and_database_the_airflow_variables_name(
    plugin: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the tasks do: the Variables huracan_archive and huracan_database override config.yaml."""
    config = write_nightly_config(tmp_path, symbols=["BTCUSDT"], coins_per_batch=1)
    monkeypatch.setenv("HURACAN_CONFIG", str(config))
    assert plugin._config().general.archive == str(tmp_path / "archive")
    monkeypatch.setenv("AIRFLOW_VAR_HURACAN_ARCHIVE", str(tmp_path / "other-archive"))
    monkeypatch.setenv("AIRFLOW_VAR_HURACAN_DATABASE", f"sqlite:///{tmp_path / 'other.db'}")
    settings = plugin._config()
    assert settings.general.archive == str(tmp_path / "other-archive")
    assert settings.general.database == f"sqlite:///{tmp_path / 'other.db'}"


def test_a_night_links_to_the_nightly_dag_run_that_trained_it(plugin: Any) -> None:
    """The plugin finds the night's DAG run in Airflow's own database."""
    from datetime import timedelta

    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunType

    night = datetime(2031, 3, 4, 2, 0, tzinfo=UTC)  # a date no other test of this session runs
    with create_session() as session:
        run = DagRun(
            dag_id="huracan_engine_nightly", run_id="scheduled__2031-03-04T02:00:00+00:00", logical_date=night,
            data_interval=(night - timedelta(days=1), night), run_after=night, run_type=DagRunType.SCHEDULED,
            state=DagRunState.SUCCESS, start_date=night + timedelta(seconds=5),
        )  # fmt: skip
        run.end_date = night + timedelta(minutes=31)
        session.add(run)
    assert plugin._nightly_dag_run(night.isoformat()) == {
        "run_id": "scheduled__2031-03-04T02:00:00+00:00",
        "state": "success",
        "start_date": "2031-03-04T02:00:05+00:00",
        "end_date": "2031-03-04T02:31:00+00:00",
    }
    assert plugin._nightly_dag_run((night + timedelta(days=1)).isoformat()) is None
