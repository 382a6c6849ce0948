"""The Huracan page inside the Airflow UI (Airflow 3 plugin), and the same data as JSON for scripts.

- A FastAPI app mounted at `/huracan`: the page at `/huracan/`, JSON under `/huracan/api/...`.
- An external view with `url_route` `huracan` and destination `nav`: a **Huracan** entry in Airflow's own
  navigation opens the page inside the UI (at `/plugin/huracan`).

Airflow gives a plugin's FastAPI app no authentication of its own, so every route here requires Airflow's
login: the auth manager's token from the `Authorization: Bearer` header or the `_token` cookie the UI sets,
checked by Airflow's own `requires_access_view` (an anonymous request gets 401, a bad token 403).

The page reads the archive and the database the tasks use: config.yaml (`$HURACAN_CONFIG`, else ./config.yaml),
the `HURACAN__*` environment overrides, and the Airflow Variables `huracan_config_path`, `huracan_archive` and
`huracan_database` (as the DAGs' `huracan_airflow_support.step_inputs` reads them). S3 credentials come from the
standard `AWS_*` variables of the api-server. Everything shown is gathered and rendered by `huracan_core.ui`
(the readers the CLI uses); this file only wires it to Airflow and HTTP.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at runtime, and a route may
# name a class imported inside create_app.
import functools
import logging
import os
from datetime import UTC, datetime
from typing import Any

from airflow.plugins_manager import AirflowPlugin

log = logging.getLogger(__name__)

URL_PREFIX = "/huracan"
NIGHTLY_DAG_ID = "huracan_engine_nightly"
# The Airflow Variables the DAGs read (dags/huracan_airflow_support.py), and the config key each one sets.
VARIABLE_CONFIG_PATH = "huracan_config_path"
VARIABLE_OVERRIDES = {"huracan_archive": "general.archive", "huracan_database": "general.database"}

# The navigation shows it on a light and on a dark (selected) background: white strokes on a blue tile.
ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><rect width="24" height="24" rx="5" fill="#0f6fb8"/>'
    '<g stroke="#fff" stroke-width="2" stroke-linecap="round"><path d="M5 7h11"/><path d="M7 11h12"/>'
    '<path d="M5 15h10"/><path d="M8 19h7"/></g></svg>'
)


# --- settings, as the tasks read them -----------------------------------------------------------------------
def _variable(key: str) -> str | None:
    """An Airflow Variable (database, secrets backend or AIRFLOW_VAR_*), or None when unset or unreadable."""
    from airflow.models import Variable

    try:
        value = Variable.get(key, default_var=None)
    except Exception:  # the page still works from config.yaml; the log says why the Variable was not read
        log.warning("Huracan page: could not read the Airflow Variable %s", key, exc_info=True)
        return None
    return str(value) if value not in (None, "") else None


def _config() -> Any:
    from huracan_core.config import load_config

    path = _variable(VARIABLE_CONFIG_PATH) or os.environ.get("HURACAN_CONFIG") or None
    overrides = {dotted: _variable(key) for key, dotted in VARIABLE_OVERRIDES.items()}
    return load_config(path, overrides=overrides)


@functools.lru_cache(maxsize=4)
def _database(url: str) -> Any:
    """One SQLAlchemy engine (and its connection pool) per database URL, for the life of the api-server."""
    from huracan_core.db import connect

    return connect(url)


def _nightly_dag_run(as_of: str) -> dict[str, Any] | None:
    """The nightly DAG's run that trained as of `as_of` (its data interval end, logical date or run_after)."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import or_, select

    moment = datetime.fromisoformat(as_of)
    try:
        with create_session() as session:
            run = session.scalars(
                select(DagRun)
                .where(
                    DagRun.dag_id == NIGHTLY_DAG_ID,
                    or_(
                        DagRun.data_interval_end == moment,
                        DagRun.logical_date == moment,
                        DagRun.run_after == moment,
                    ),
                )
                .order_by(DagRun.run_after.desc())
                .limit(1)
            ).first()
            if run is None:
                return None
            return {
                "run_id": run.run_id,
                "state": str(getattr(run.state, "value", run.state)),
                "start_date": run.start_date.isoformat() if run.start_date else None,
                "end_date": run.end_date.isoformat() if run.end_date else None,
            }
    except Exception:  # a link is a convenience: the page shows the night without it
        log.warning(
            "Huracan page: could not look up the %s run as of %s", NIGHTLY_DAG_ID, as_of, exc_info=True
        )
        return None


def _world() -> tuple[Any, Any, Any]:
    """(config, archive storage, database engine) for one request; a bad config raises ConfigError."""
    from huracan_core.archive import Storage

    config = _config()
    return config, Storage(config.general.archive), _database(config.general.database)


# --- the app ------------------------------------------------------------------------------------------------
def create_app() -> Any:
    """The FastAPI app; every route requires an Airflow login (router-level dependency)."""
    from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
    from airflow.api_fastapi.core_api.security import requires_access_view
    from fastapi import Depends, FastAPI, HTTPException, Query
    from fastapi.responses import HTMLResponse, JSONResponse, Response

    from huracan_core.exceptions import ConfigError
    from huracan_core.hamilton.control import normalize_symbol
    from huracan_core.ui import page, views

    # WEBSITE: what every user who may see the Airflow UI has (a viewer included).
    app = FastAPI(
        title="Huracan",
        description="The Huracan page and its JSON; every route needs the Airflow login.",
        dependencies=[Depends(requires_access_view(AccessView.WEBSITE))],
    )

    def read(name: str, gather: Any, *, database: bool = True) -> Any:
        """One section's data for the JSON endpoints: a read failure is a 500 with its message, no stack.

        `gather(config, storage, rows)` gets the database as `rows`, or None while it has no Huracan tables yet
        (then the archive's part is answered alone, as on the page) or when the section does not use it.
        """
        try:
            config, storage, db = _world()
        except ConfigError as exc:
            return JSONResponse({"error": f"configuration error: {exc}"}, status_code=500)
        rows = db if database and views.database_note(db) is None else None
        data = views.section(name, lambda: gather(config, storage, rows), db=db)
        if isinstance(data, dict) and set(data) == {"error"}:
            return JSONResponse(data, status_code=500)
        return data

    def everything(config: Any, storage: Any, db: Any) -> dict[str, Any]:
        return views.overview(
            storage,
            db,
            now=datetime.now(UTC),
            timeframe=config.general.timeframe,
            default_run_key=config.hamilton.mode,
            configured=config.hamilton.symbols,
            find_dag_run=_nightly_dag_run,
        )

    # Return types are Any: FastAPI reads annotations as response models, and these are responses already.
    @app.get("/", response_class=HTMLResponse)
    def huracan_page() -> Any:
        try:
            config, storage, db = _world()
        except ConfigError as exc:
            return HTMLResponse(page.render_error(f"Configuration error: {exc}"), status_code=500)
        return HTMLResponse(
            page.render_page(everything(config, storage, db), quote_currency=config.general.quote)
        )

    @app.get("/icon.svg")
    def icon() -> Any:
        return Response(ICON, media_type="image/svg+xml")

    @app.get("/api/overview")
    def api_overview() -> Any:
        try:
            config, storage, db = _world()
        except ConfigError as exc:
            return JSONResponse({"error": f"configuration error: {exc}"}, status_code=500)
        return everything(config, storage, db)  # each section carries its own error, if any

    @app.get("/api/champions")
    def api_champions() -> Any:
        return read("champions", lambda c, s, d: views.champions(s), database=False)

    @app.get("/api/last-night")
    def api_last_night() -> Any:
        return read("last night", lambda c, s, d: views.last_night(s, d, find_dag_run=_nightly_dag_run))

    @app.get("/api/promotions")
    def api_promotions(limit: int = Query(50, ge=1, le=1000)) -> Any:
        return read("promotions", lambda c, s, d: views.promotions(s, d, limit=limit))

    @app.get("/api/models")
    def api_coins() -> Any:
        return read("coins", lambda c, s, d: {"symbols": views.coins(s, d)})

    @app.get("/api/models/{symbol}")
    def api_model_history(symbol: str, limit: int = Query(views.HISTORY_MODELS, ge=1, le=1000)) -> Any:
        try:
            coin = normalize_symbol(symbol)
        except ValueError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        return read(
            f"the model history of {coin}", lambda c, s, d: views.model_history(s, d, coin, limit=limit)
        )

    @app.get("/api/hamilton")
    def api_hamilton() -> Any:
        return read(
            "Hamilton",
            lambda c, s, d: views.hamilton(
                s, d, now=datetime.now(UTC), timeframe=c.general.timeframe, default_run_key=c.hamilton.mode
            ),
        )

    @app.get("/api/selector")
    def api_selector() -> Any:
        return read(
            "selector", lambda c, s, d: views.selector(s, configured=c.hamilton.symbols), database=False
        )

    return app


class HuracanPlugin(AirflowPlugin):
    """The Huracan entry of the Airflow navigation and the app behind it."""

    name = "huracan"
    external_views = [  # noqa: RUF012 - the attribute AirflowPlugin declares
        {
            "name": "Huracan",
            "href": "huracan/",  # relative to the UI's base URL, so a prefix in [api] base_url is kept
            "url_route": "huracan",
            "destination": "nav",
            "nav_top_level": True,
            "icon": "huracan/icon.svg",
        }
    ]

    @property
    def fastapi_apps(self) -> list[dict[str, Any]]:  # type: ignore[override]
        # Built on first use: only the api-server mounts it. The scheduler, the dag-processor and the workers
        # load every plugin too, and need neither FastAPI nor the API's security module.
        return [{"app": _app(), "url_prefix": URL_PREFIX, "name": "Huracan"}]


@functools.cache
def _app() -> Any:
    return create_app()
