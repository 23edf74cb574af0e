"""Where the page, its API and the CLI read: the registry's location, a reader over it, the dashboard.

Free of FastAPI, so the CLI runs on Airflow 2 too.
"""

from __future__ import annotations

from airflow_braze_schedule.get_provider_info import CONFIG_SECTION
from airflow_braze_schedule.registry import DEFAULT_TABLE, ScheduleRegistry


def registry_location() -> tuple[str | None, str]:
    """Where the registry is kept: ``[braze_schedule] registry_conn_id`` and ``registry_table``.

    A deployment setting, not a query parameter: a parameter would let anyone who may read DAGs point
    the API server at any Airflow connection. Unset: the asset store (Airflow 3.3+).
    """
    from airflow.configuration import conf

    conn_id = conf.get(CONFIG_SECTION, "registry_conn_id", fallback=None) or None
    table = conf.get(CONFIG_SECTION, "registry_table", fallback=None) or DEFAULT_TABLE
    return conn_id, table


def open_reader(
    conn_id: str, *, registry_conn_id: str | None = None, registry_table: str | None = None
) -> ScheduleRegistry:
    """A read-only registry of ``conn_id``: where the settings say (or where the CLI's options say)."""
    from airflow_braze_schedule.registry import open_registry_reader

    configured_conn, configured_table = registry_location()
    return open_registry_reader(
        conn_id,
        registry_conn_id=registry_conn_id or configured_conn,
        registry_table=registry_table or configured_table,
    )


def dashboard_of(conn_id: str) -> str | None:
    """The Braze dashboard of the connection's instance, where one is known (never the connection's key)."""
    from airflow.providers.common.compat.sdk import BaseHook

    from airflow_braze_schedule.core.endpoints import resolve_rest_endpoint
    from airflow_braze_schedule.links import dashboard_for

    try:
        return dashboard_for(resolve_rest_endpoint(BaseHook.get_connection(conn_id).host))
    except Exception:  # an unknown connection or host: no link, and no detail of the connection shown
        return None
