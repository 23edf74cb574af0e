"""open_registry_reader(): the asset registry read straight from Airflow's metadata database, read-only."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from airflow_braze_schedule.assets import schedules_asset_uri
from airflow_braze_schedule.core.registry_model import Actor, RegistryEntry
from airflow_braze_schedule.registry import (
    RegistryQuery,
    RegistryReadOnlyError,
    ScheduleRegistry,
    open_registry_reader,
)
from airflow_braze_schedule.registry.asset_store import AssetStateStoreBackend
from tests.keyed.keyed_support import HAS_ASSET_STATE_STORE, NO_ASSET_STORE

pytestmark = pytest.mark.skipif(not HAS_ASSET_STATE_STORE, reason=NO_ASSET_STORE)

ACTOR = Actor("dag", "run", "task")


class _DbWriter:
    """Writes an asset's state store values into the metadata database, as the API server does for tasks."""

    def __init__(self, uri: str) -> None:
        from airflow.models.asset import AssetModel
        from airflow.utils.session import create_session

        with create_session() as session:
            asset = AssetModel(name=uri, uri=uri)
            session.add(asset)
            session.flush()
            self.asset_id = asset.id

    def get(self, key: str, default: Any = None) -> Any:
        from airflow.models.asset_state_store import AssetStateStoreModel
        from airflow.utils.session import create_session

        with create_session() as session:
            row = session.get(AssetStateStoreModel, (self.asset_id, key))
            return json.loads(row.value) if row is not None else default

    def set(self, key: str, value: Any) -> None:
        from airflow.models.asset_state_store import AssetStateStoreModel
        from airflow.utils.session import create_session

        with create_session() as session:  # every write stamps updated_at, as Airflow's own upsert does
            row = AssetStateStoreModel(asset_id=self.asset_id, key=key, value=json.dumps(value))
            row.updated_at = datetime.now(UTC)
            session.merge(row)


def _created(key: str, day: int, state: str = "scheduled") -> RegistryEntry:
    handle = {"schedule_id": f"s-{key}", "schedule": {"time": f"2030-01-{day:02d}T09:00:00Z"}}
    return RegistryEntry(key).record("create", ACTOR, handle=handle, state=state)


def test_the_reader_lists_queries_and_reads_both_layouts_and_refuses_to_write(airflow_db):
    conn_id = f"braze_{uuid.uuid4().hex[:8]}"
    uri = schedules_asset_uri(conn_id)
    store = _DbWriter(uri)
    store.set("index:07", ["old/1"])  # a key recorded in the old layout
    store.set("entry:old/1", _created("old/1", day=2).to_json())
    writer = ScheduleRegistry(AssetStateStoreBackend(store, uri=uri), workspace=conn_id)
    writer.put_many(
        [_created(f"new/{n}", day=1 + n % 3, state="cancelled" if n == 4 else "scheduled") for n in range(6)]
    )

    reader = open_registry_reader(conn_id)

    assert sorted(reader.scope("")) == ["new/0", "new/1", "new/2", "new/3", "new/4", "new/5", "old/1"]
    assert reader.get("old/1").schedule_id == "s-old/1"
    page = reader.query(RegistryQuery(state="scheduled", limit=3, offset=1))
    assert page.total == 6
    assert [entry.schedule_key for entry in page.entries] == ["new/1", "new/2", "new/3"]
    with pytest.raises(RegistryReadOnlyError, match="reading only"):
        reader.put(_created("new/9", day=1))
    assert reader.get("new/9") is None

    # Summary pages are kept parsed between queries: a page written since is read again.
    writer.put(writer.require("new/2").record("cancel", ACTOR, state="cancelled", outcome="applied"))
    page = open_registry_reader(conn_id).query(RegistryQuery(state="scheduled", limit=3, offset=1))
    assert page.total == 5
    assert [entry.schedule_key for entry in page.entries] == ["new/1", "new/3", "new/5"]


def test_the_reader_lists_the_last_line_and_reads_a_key_whole(airflow_db):
    conn_id = f"braze_{uuid.uuid4().hex[:8]}"
    uri = schedules_asset_uri(conn_id)
    writer = ScheduleRegistry(AssetStateStoreBackend(_DbWriter(uri), uri=uri), workspace=conn_id)
    writer.put(_created("k/1", day=2).record("cancel", ACTOR, state="cancelled", outcome="applied"))
    listed = writer.scope("")["k/1"]
    writer.put(listed.record("create", ACTOR, state="scheduled", outcome=None))

    reader = open_registry_reader(conn_id)
    listed = reader.scope("")["k/1"]
    assert listed.partial_history
    assert [line["action"] for line in listed.history] == ["create"]
    assert [line["action"] for line in reader.history("k/1")] == ["create", "cancel", "create"]
    assert [line["seq"] for line in reader.get("k/1").history] == [0, 1, 2]
