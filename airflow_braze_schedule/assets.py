"""The Braze asset of a connection: every create, update and cancel emits its change event on it, and
keyed schedules keep their registry in its state store (Airflow 3.3+).

Kept light (no import beyond Airflow's ``Asset``, and that only when called): DAG files call these at
parse time. ``braze://`` is a scheme of this provider's own; Airflow takes it as it is (no normaliser is
needed, since the URI is built here, always the same way).
"""

from __future__ import annotations

from typing import Any

ASSET_SCHEME = "braze"


def schedules_asset_uri(braze_conn_id: str) -> str:
    """The URI of the asset that carries a Braze connection's keyed schedules and their events."""
    return f"{ASSET_SCHEME}://{braze_conn_id}/schedules"


def schedules_asset(braze_conn_id: str = "braze_default") -> Any:
    """The asset of a Braze connection's schedules (an ``Asset`` on Airflow 3, a ``Dataset`` on 2).

    Schedule a DAG on it to react to every keyed create, update and cancel made through that connection.
    """
    from airflow.providers.common.compat.sdk import Asset

    uri = schedules_asset_uri(braze_conn_id)
    try:
        return Asset(name=uri, uri=uri)
    except TypeError:  # Airflow 2's Dataset takes no name
        return Asset(uri)


def declares_schedules_asset(emit_asset_event: bool | None) -> bool:
    """Whether an operator declares its connection's schedules asset: as told by ``emit_asset_event``, or
    by default from Airflow 3.3 on, whose ``dag.test()`` registers a DAG's assets as the DAG processor does.
    Before, a local run (``dag.test()``, ``airflow dags test``) of a DAG nobody has deployed meets an asset
    Airflow does not know: 3.0 to 3.2 fail the task, 2.11 warns and drops the event. So a DAG copied from
    the README would fail or warn on its first local run; deployments there pass ``emit_asset_event=True``.
    """
    if emit_asset_event is not None:
        return bool(emit_asset_event)
    from airflow import __version__ as airflow_version
    from packaging.version import Version

    return Version(airflow_version).release[:2] >= (3, 3)


def with_schedules_outlet(braze_conn_id: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Operator keyword arguments with the connection's schedules asset added to ``outlets``.

    It is the asset the task's change events are emitted on (every Braze operator declares it unless given
    ``emit_asset_event=False``), and gives a keyed task the ``asset_state_store`` its registry lives in
    (Airflow 3.3+). A templated ``braze_conn_id`` has no asset at parse time: ``kwargs`` come back as given.
    """
    if "{{" in braze_conn_id:
        return kwargs
    asset = schedules_asset(braze_conn_id)
    given = kwargs.get("outlets")
    # BaseOperator takes one outlet or a list of them.
    outlets = list(given) if isinstance(given, list | tuple) else [] if given is None else [given]
    if asset not in outlets:
        outlets.append(asset)
    return {**kwargs, "outlets": outlets}
