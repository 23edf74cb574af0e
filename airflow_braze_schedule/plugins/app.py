"""The FastAPI app the plugin mounts at ``/braze``: the schedules page, its static files and its JSON API.

Airflow does not protect a plugin's routes, so every route here depends on Airflow's own:
``requires_access_dag("GET")`` (no dag_id: read access to DAGs as a whole, since an entry names the runs
of any DAG) both authenticates (401 without a valid token or session cookie) and authorises (403).
There is no write route: the page cancels by triggering the ``braze_schedule_admin`` DAG through
Airflow's own ``POST /api/v2/dags/{dag_id}/dagRuns``, with the user's own session, so Airflow decides who
may, and records who did. ``/api/context`` only tells the page whether that will be allowed, so it can
say why not before the user tries.

Imported only by the API server (through :class:`~airflow_braze_schedule.plugins.LazyAsgiApp`), never by
schedulers or workers.
"""

from __future__ import annotations

import functools
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response

from airflow_braze_schedule.core.errors import BrazeError, BrazeValidationError
from airflow_braze_schedule.core.registry_model import STATES, check_schedule_key, utc_now
from airflow_braze_schedule.links import dashboard_page
from airflow_braze_schedule.plugins import _airflow_line
from airflow_braze_schedule.plugins.entries import ADMIN_DAG_ID, entry_detail, entry_view
from airflow_braze_schedule.plugins.reading import dashboard_of, open_reader, registry_location
from airflow_braze_schedule.registry import RegistryQuery, RegistryUnavailableError

STATIC = Path(__file__).parent / "static"
#: The files the page is made of; nothing else under static/ is served.
STATIC_FILES = {"schedules.js": "text/javascript", "schedules.css": "text/css"}
MAX_LIMIT = 500
#: Airflow 3.1+ authenticates a request by its session cookie too (3.0: bearer tokens only).
BROWSER_SESSIONS = _airflow_line() >= (3, 1)
PAGE_NEEDS_3_1 = (
    "The Braze schedules page needs Airflow 3.1 or newer (this API server accepts no browser session). "
    "Use GET /braze/api/schedules with a token from /auth/token, or the command airflow-braze-schedule."
)


def _instant(name: str, value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise HTTPException(
            422, f"{name}={value!r} is not an ISO 8601 instant (e.g. 2026-12-08T09:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        raise HTTPException(422, f"{name}={value!r} has no time zone: add Z or an offset")
    return moment


def _unavailable(error: BrazeError) -> HTTPException:
    return HTTPException(503, str(error))


def admin_dag_status() -> dict[str, Any]:
    """Whether the maintenance DAG is deployed (known to Airflow, not stale) and whether it is paused."""
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        dag = session.get(DagModel, ADMIN_DAG_ID)
        stale = getattr(dag, "is_stale", not getattr(dag, "is_active", True)) if dag is not None else True
        return {
            "dag_id": ADMIN_DAG_ID,
            "deployed": dag is not None and not stale,
            "paused": bool(dag.is_paused) if dag is not None else None,
        }


def create_app() -> FastAPI:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
    from airflow.api_fastapi.core_api.security import get_user, requires_access_dag

    app = FastAPI(title="Braze schedules", docs_url=None, redoc_url=None, openapi_url=None)
    can_read = [Depends(requires_access_dag(method="GET"))]

    @app.exception_handler(HTTPException)
    async def to_login(request: Request, error: HTTPException) -> Response:
        # A person opening the page unauthenticated goes to Airflow's login and back; API callers get 401.
        if error.status_code == 401 and request.url.path.rstrip("/").endswith("/braze"):
            if not BROWSER_SESSIONS:
                # Airflow 3.0 takes only bearer tokens, which a browser does not send when it opens a
                # page: the login would lead straight back here. Say so instead of looping.
                return JSONResponse({"detail": PAGE_NEEDS_3_1}, status_code=401)
            next_url = str(request.url)
            return RedirectResponse(get_auth_manager().get_url_login(next_url=next_url), status_code=302)
        return JSONResponse({"detail": error.detail}, status_code=error.status_code, headers=error.headers)

    @app.get("/", dependencies=can_read, include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(
            STATIC / "schedules.html", media_type="text/html", headers={"Cache-Control": "no-store"}
        )

    @app.get("/static/{name}", dependencies=can_read, include_in_schema=False)
    def static(name: str) -> FileResponse:
        if name not in STATIC_FILES:
            raise HTTPException(404, "no such file")
        return FileResponse(STATIC / name, media_type=STATIC_FILES[name])

    @app.get("/api/context", dependencies=can_read)
    # A plain default, not the Annotated GetUserDep: annotations here are strings resolved in the
    # module's globals, where a name imported in this function is not.
    def context(user: Any = Depends(get_user)) -> dict[str, Any]:  # noqa: B008
        """Who is looking, whether they may trigger the maintenance DAG, and whether it is deployed."""
        may_cancel = get_auth_manager().is_authorized_dag(
            method="POST", access_entity=DagAccessEntity.RUN, details=DagDetails(id=ADMIN_DAG_ID), user=user
        )
        registry_conn_id, registry_table = registry_location()
        return {
            "user": user.get_name(),
            "can_cancel": may_cancel,
            "cannot_cancel_because": None
            if may_cancel
            else f"your role may not trigger the DAG {ADMIN_DAG_ID} (Airflow would answer 403)",
            "admin_dag": admin_dag_status(),
            "registry": {"registry_conn_id": registry_conn_id, "registry_table": registry_table}
            if registry_conn_id
            else {"asset_state_store": True},
            "states": list(STATES),
        }

    @app.get("/api/schedules", dependencies=can_read)
    def schedules(
        conn_id: str = "braze_default",
        scope: str = "",
        state: Annotated[
            str | None, Query(description="scheduled, updated, cancelled, presumed_sent")
        ] = None,
        send_after: str | None = None,
        send_before: str | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        """One page of a connection's keyed schedules, in key order, with the total that matched."""
        if state is not None and state not in STATES:
            raise HTTPException(422, f"state={state!r}: one of {', '.join(STATES)}")
        query = RegistryQuery(
            prefix=scope,
            state=state or None,
            send_after=_instant("send_after", send_after),
            send_before=_instant("send_before", send_before),
            limit=limit,
            offset=offset,
        )
        now = utc_now()
        try:
            page = open_reader(conn_id).query(query, now=now)
        except (RegistryUnavailableError, BrazeError) as error:
            raise _unavailable(error) from None
        dashboard = dashboard_of(conn_id)
        return {
            "conn_id": conn_id,
            "total": page.total,
            "limit": limit,
            "offset": offset,
            "entries": [
                entry_view(entry, now=now, dashboard_url=dashboard_page(dashboard, entry.handle))
                for entry in page.entries
            ],
        }

    @app.get("/api/schedules/{schedule_key:path}", dependencies=can_read)
    def schedule(schedule_key: str, conn_id: str = "braze_default") -> dict[str, Any]:
        """One key's entry with its whole history."""
        try:
            check_schedule_key(schedule_key)
        except BrazeValidationError as error:
            raise HTTPException(422, str(error)) from None
        try:
            entry = open_reader(conn_id).get(schedule_key)
        except (RegistryUnavailableError, BrazeError) as error:
            raise _unavailable(error) from None
        if entry is None:
            raise HTTPException(404, f"no schedule is recorded under {schedule_key!r} for {conn_id!r}")
        dashboard = dashboard_page(dashboard_of(conn_id), entry.handle)
        return {"conn_id": conn_id, **entry_detail(entry, dashboard_url=dashboard)}

    return app


@functools.cache
def app() -> FastAPI:
    return create_app()
