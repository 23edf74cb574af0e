"""What the keyed end-to-end tests share: the registry as the tests read it, times, the fake's live state."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pendulum
import pytest

from airflow_braze_schedule.assets import schedules_asset_uri
from airflow_braze_schedule.registry import ScheduleRegistry, open_registry
from airflow_braze_schedule.registry.asset_store import AssetStateStoreBackend
from tests.helpers import HAS_TASK_STATE_STORE

SQL_CONN = "braze_registry_sql"
#: asset_state_store came with task_state_store, in Airflow 3.3.
HAS_ASSET_STATE_STORE = HAS_TASK_STATE_STORE
NO_ASSET_STORE = "asset_state_store needs Airflow 3.3+; older lines use the SQL registry (registry_conn_id)"


def send_time(days: int = 3, hour: int = 9) -> str:
    """A UTC send time some days ahead, stable within a test."""
    return (
        pendulum.now("UTC").add(days=days).start_of("day").add(hours=hour).format("YYYY-MM-DDTHH:mm:ss") + "Z"
    )


def group_conf(key: str, campaign: str, users: int, time: str) -> dict[str, Any]:
    """The run conf of a keyed bulk test DAG: ``users`` recipients of ``campaign`` (over 50 make a group)."""
    recipients = [{"external_user_id": f"{campaign}/{n}"} for n in range(users)]
    return {"key": key, "campaign_id": campaign, "recipients": recipients, "schedule": time}


def unique_prefix() -> str:
    """Keys unique to one test: the asset registry lives in the session's Airflow database."""
    return f"t-{uuid.uuid4().hex[:8]}/"


class _DbAssetStore:
    """Reads an asset's state store straight from the metadata database (tests only)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def get(self, key: str, default: Any = None) -> Any:
        from airflow.models.asset import AssetModel
        from airflow.models.asset_state_store import AssetStateStoreModel
        from airflow.utils.session import create_session
        from sqlalchemy import select

        with create_session() as session:
            value = session.scalar(
                select(AssetStateStoreModel.value)
                .join(AssetModel, AssetModel.id == AssetStateStoreModel.asset_id)
                .where(AssetModel.uri == self.uri, AssetStateStoreModel.key == key)
            )
        return json.loads(value) if value is not None else default


def read_registry(kind: str, braze_conn_id: str = "braze_default") -> ScheduleRegistry:
    """The registry a DAG of ``kind`` (``asset`` or ``sql``) wrote to, for the test to read."""
    if kind == "sql":
        return open_registry(braze_conn_id=braze_conn_id, registry_conn_id=SQL_CONN)
    uri = schedules_asset_uri(braze_conn_id)
    return ScheduleRegistry(AssetStateStoreBackend(_DbAssetStore(uri), uri=uri), workspace=braze_conn_id)


def writer_slots(braze_conn_id: str = "braze_default") -> int:
    """How many writer slots the asset registry of ``braze_conn_id`` has (its ``writer:<n>:door`` values)."""
    from airflow_braze_schedule.registry.asset_store import MetadataDbAssetStore

    doors = MetadataDbAssetStore(schedules_asset_uri(braze_conn_id)).values_with_prefix("writer:")
    return sum(1 for name in doors if name.endswith(":door"))


def registry_param(kind: str) -> Any:
    marks = [] if kind != "asset" or HAS_ASSET_STATE_STORE else [pytest.mark.skip(reason=NO_ASSET_STORE)]
    return pytest.param(kind, marks=marks, id=kind)


REGISTRIES = [registry_param("asset"), registry_param("sql")]


def live_by_user(fake_braze) -> dict[str, list[str]]:
    """``{external_user_id: [schedule_id, ...]}`` of the fake's live schedules."""
    found: dict[str, list[str]] = {}
    for schedule in fake_braze.active_schedules():
        for recipient in schedule.body.get("recipients") or []:
            found.setdefault(recipient.get("external_user_id"), []).append(schedule.schedule_id)
    return found


def activate_schedules_asset(braze_conn_id: str = "braze_default") -> None:
    """Mark the schedules asset active, as a scheduler does after parsing the DAGs.

    ``dag.test()`` on Airflow 3.0 to 3.2 runs tasks without that step, and a task whose outlet asset is
    inactive fails; 3.3's ``dag.test()`` activates it itself (see ``tests.helpers.register_assets``).
    """
    from airflow_braze_schedule.assets import schedules_asset_uri
    from tests.helpers import register_assets

    register_assets([schedules_asset_uri(braze_conn_id)])
