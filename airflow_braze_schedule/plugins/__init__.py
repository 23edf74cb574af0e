"""The "Braze schedules" plugin: every keyed send, visible and operable in the Airflow UI.

Declared in ``get_provider_info()["plugins"]``, so installing the provider is the whole set-up. What each
Airflow line gets:

* 3.1 and newer: the FastAPI app at ``/braze`` (page and JSON API) and a "Braze schedules" entry in the
  UI's Browse menu (``external_views``), which shows the page inside Airflow's UI;
* 3.0: the JSON API at ``/braze/api`` with a bearer token (as Airflow's REST API); no page, since 3.0's
  API server authenticates no browser session (``/braze/`` says so), and no menu entry;
* 2.x: nothing in the webserver (it runs no FastAPI apps); the command line
  ``airflow-braze-schedule list / show`` reads the same registry.

Plugins are loaded by every Airflow process, so this module imports nothing heavy: the FastAPI app is
built on the first request the API server passes it (:class:`LazyAsgiApp`).
"""

from __future__ import annotations

from typing import Any

from airflow import __version__ as _airflow_version
from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/braze"


def _airflow_line() -> tuple[int, int]:
    major, minor = [*_airflow_version.split("."), "0"][:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)


class LazyAsgiApp:
    """An ASGI app that builds the schedules app (FastAPI, Airflow's security module) on first use."""

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            from airflow_braze_schedule.plugins.app import app

            self._app = app()
        await self._app(scope, receive, send)


class BrazeSchedulesPlugin(AirflowPlugin):
    """The schedules page and API (see the module's docstring for what each Airflow line gets)."""

    name = "braze_schedules"
    if _airflow_line() >= (3, 0):
        fastapi_apps = [{"name": "Braze schedules", "app": LazyAsgiApp(), "url_prefix": URL_PREFIX}]
    if _airflow_line() >= (3, 1):
        external_views = [
            {
                "name": "Braze schedules",
                # Relative: the UI resolves it against its own base, so it holds under a sub-path.
                "href": URL_PREFIX.lstrip("/") + "/",
                "destination": "nav",
                "category": "browse",
                "url_route": "braze-schedules",
            }
        ]


def _entry_point_plugin() -> type[AirflowPlugin] | None:
    # Airflow loads a provider's declared plugins only with [core] lazy_discover_providers = False, and
    # that is not the default; the "airflow.plugins" entry point is what it loads otherwise. This object,
    # named by that entry point, is the plugin in the default case and, when Airflow loads it through
    # the provider instead, nothing (Airflow skips it silently): it is registered once either way.
    from airflow import settings

    return BrazeSchedulesPlugin if getattr(settings, "LAZY_LOAD_PROVIDERS", True) else None


#: What the ``airflow.plugins`` entry point names (see :func:`_entry_point_plugin`).
ENTRY_POINT_PLUGIN = _entry_point_plugin()
