"""Where keyed schedules live, and a small API to read them from your own code.

Every create, update and cancel given a ``schedule_key`` is recorded here, per Braze connection
(workspace). Two places to keep it:

* Airflow 3.3+, nothing to set up: the ``asset_state_store`` of the asset ``braze://<conn_id>/schedules``,
  which the keyed operators declare as an outlet;
* any Airflow line: a table in a database reached through an Airflow SQL connection (any ``DbApiHook``:
  PostgreSQL, MySQL, SQLite, ...), chosen with ``registry_conn_id=``; the table is created if missing and
  is yours to query (see :mod:`airflow_braze_schedule.registry.sql`).

From a task of your own::

    from airflow_braze_schedule.registry import open_registry, schedules_asset

    @task(outlets=[schedules_asset("braze_default")])  # the asset_state_store registry needs this
    def audit(**context):
        registry = open_registry(context, braze_conn_id="braze_default")
        registry.find("order-4711/reminder")      # state, outcome, schedule_id, handle, last change
        registry.list("order-4711/")               # every key under a prefix
        registry.history("order-4711/reminder")   # every change, with its dag_id, run_id, task_id

Outside Airflow tasks (a script, a notebook, Airflow's API server), :func:`open_registry_reader` opens
either registry for reading: the SQL table with ``registry_conn_id=``, else (Airflow 3.3+) the
``asset_state_store`` straight from Airflow's metadata database. ``registry.query(RegistryQuery(...))``
answers a page at a time.
"""

from __future__ import annotations

from typing import Any

from airflow_braze_schedule.registry.asset_store import (
    AssetStateStoreBackend,
    MetadataDbAssetStore,
    schedules_asset,
    schedules_asset_uri,
)
from airflow_braze_schedule.registry.sql import DEFAULT_TABLE, SqlBackend
from airflow_braze_schedule.registry.store import (
    RegistryPage,
    RegistryQuery,
    RegistryReadOnlyError,
    RegistryUnavailableError,
    ScheduleRegistry,
    UnknownScheduleKeyError,
)

__all__ = [
    "DEFAULT_TABLE",
    "RegistryPage",
    "RegistryQuery",
    "RegistryReadOnlyError",
    "RegistryUnavailableError",
    "ScheduleRegistry",
    "UnknownScheduleKeyError",
    "open_registry",
    "open_registry_reader",
    "schedules_asset",
    "schedules_asset_uri",
]


#: The provider package that registers each common SQL connection type, named in the error that asks
#: for it; other types get the general advice.
SQL_PROVIDER_PACKAGES = {
    "jdbc": "apache-airflow-providers-jdbc",
    "mssql": "apache-airflow-providers-microsoft-mssql",
    "mysql": "apache-airflow-providers-mysql",
    "odbc": "apache-airflow-providers-odbc",
    "oracle": "apache-airflow-providers-oracle",
    "postgres": "apache-airflow-providers-postgres",
    "redshift": "apache-airflow-providers-amazon",
    "snowflake": "apache-airflow-providers-snowflake",
    "sqlite": "apache-airflow-providers-sqlite",
    "trino": "apache-airflow-providers-trino",
}


def _sql_hook(registry_conn_id: str) -> Any:
    from airflow.providers.common.compat.sdk import BaseHook

    connection = BaseHook.get_connection(registry_conn_id)
    try:
        hook = connection.get_hook()
    except Exception as error:
        # Airflow says only 'Unknown hook type' (2.11: nothing at all) when the connection type's
        # provider is not installed; the user needs the connection, its type and the package.
        conn_type = connection.conn_type
        package = SQL_PROVIDER_PACKAGES.get(
            str(conn_type), f"the provider package that registers connection type {conn_type!r}"
        )
        raise RegistryUnavailableError(
            f"registry_conn_id={registry_conn_id!r} is a connection of type {conn_type!r}, and Airflow "
            f"could not build its hook here ({type(error).__name__}): install {package} next to Airflow "
            "wherever the task runs, or name a connection of a SQL database whose provider is installed"
        ) from error
    if not (hasattr(hook, "get_conn") and hasattr(hook, "placeholder")):
        raise RegistryUnavailableError(
            f"registry_conn_id={registry_conn_id!r} gives a {type(hook).__name__}, not a SQL hook "
            "(DbApiHook): use a connection of a SQL database (postgres, mysql, sqlite, ...)"
        )
    return hook


def _has_asset_state_store() -> bool:
    try:
        from airflow.models.asset_state_store import AssetStateStoreModel  # noqa: F401
    except ImportError:
        return False
    return True


def open_registry_reader(
    braze_conn_id: str = "braze_default",
    *,
    registry_conn_id: str | None = None,
    registry_table: str = DEFAULT_TABLE,
) -> ScheduleRegistry:
    """The registry of ``braze_conn_id``'s keyed schedules, for reading outside a task.

    With ``registry_conn_id``, the SQL table (as :func:`open_registry`); without it, on Airflow 3.3+, the
    ``asset_state_store`` of ``braze://<conn_id>/schedules`` read from Airflow's metadata database (in a
    process that has it configured: the API server, ``airflow`` commands). Writing raises
    :class:`RegistryReadOnlyError`.

    :raises RegistryUnavailableError: on Airflow before 3.3 without ``registry_conn_id``.
    """
    if registry_conn_id:
        backend = SqlBackend(
            _sql_hook(registry_conn_id), workspace=braze_conn_id, table=registry_table, read_only=True
        )
        return ScheduleRegistry(backend, workspace=braze_conn_id)
    if not _has_asset_state_store():
        raise RegistryUnavailableError(
            "No asset_state_store in this Airflow (it came in 3.3): set registry_conn_id to the Airflow SQL "
            "connection the keyed operators keep their registry in"
        )
    uri = schedules_asset_uri(braze_conn_id)
    reader = AssetStateStoreBackend(MetadataDbAssetStore(uri), uri=uri, read_only=True)
    return ScheduleRegistry(reader, workspace=braze_conn_id)


def open_registry(
    context: Any = None,
    *,
    braze_conn_id: str = "braze_default",
    registry_conn_id: str | None = None,
    registry_table: str = DEFAULT_TABLE,
) -> ScheduleRegistry:
    """The registry of ``braze_conn_id``'s keyed schedules.

    :param context: the task's context (needed for the ``asset_state_store`` registry).
    :param braze_conn_id: the Braze connection: keys are unique per connection.
    :param registry_conn_id: an Airflow SQL connection: keep the registry in a table there instead.
    :param registry_table: the SQL table's name.
    :raises RegistryUnavailableError: saying what to set up.
    """
    if registry_conn_id:
        return ScheduleRegistry(
            SqlBackend(_sql_hook(registry_conn_id), workspace=braze_conn_id, table=registry_table),
            workspace=braze_conn_id,
        )
    uri = schedules_asset_uri(braze_conn_id)
    stores = context.get("asset_state_store") if context is not None else None
    if stores is None:
        where = "outside a task" if context is None else "in this Airflow (asset_state_store came in 3.3)"
        raise RegistryUnavailableError(
            f"No schedule registry {where}: set registry_conn_id to an Airflow SQL connection (any "
            "database with a DbApiHook), where the registry is kept in a table"
        )
    try:
        accessor = stores[schedules_asset(braze_conn_id)]
    except KeyError:
        raise RegistryUnavailableError(
            f"This task does not declare the asset {uri} among its outlets or inlets, so its "
            f"asset_state_store is out of reach: add outlets=[schedules_asset({braze_conn_id!r})]"
        ) from None
    return ScheduleRegistry(AssetStateStoreBackend(accessor, uri=uri), workspace=braze_conn_id)
