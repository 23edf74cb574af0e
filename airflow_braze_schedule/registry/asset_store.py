"""The registry in Airflow 3.3+'s ``asset_state_store``: no set-up at all.

Each Braze connection has an asset, ``braze://<conn_id>/schedules`` (:func:`schedules_asset`), which the
keyed operators declare as an outlet. Its state store holds one value per key (``entry:<schedule_key>``)
and an index of the keys (``index``), since the store cannot list its keys.

The index is read, extended and written back when a key is first used. Two tasks that use *new* keys of
the same connection at the very same moment can race on it: both entries are kept, but one key may be
missing from the index, so it is not listed (a reconcile would not see it). Keys used from one task at a
time (one reconcile, or upserts of one DAG in sequence) never race; where many tasks create keys in
parallel, use the SQL registry (``registry_conn_id``), which has no index.
"""

from __future__ import annotations

from typing import Any

from airflow_braze_schedule.assets import schedules_asset, schedules_asset_uri
from airflow_braze_schedule.registry.store import merge_index

__all__ = ["AssetStateStoreBackend", "schedules_asset", "schedules_asset_uri"]

_ENTRY = "entry:"
_INDEX = "index"


class AssetStateStoreBackend:
    """Registry entries as values of an asset's state store (a task's ``asset_state_store[asset]``)."""

    def __init__(self, accessor: Any, *, uri: str) -> None:
        self.accessor = accessor
        self.description = f"the asset_state_store of {uri}"

    def load(self, schedule_key: str) -> dict[str, Any] | None:
        value = self.accessor.get(_ENTRY + schedule_key, None)
        return value if isinstance(value, dict) else None

    def save(self, entry: dict[str, Any]) -> None:
        key = entry["schedule_key"]
        # The entry first: an entry missing from the index is only unlisted, an index naming a key
        # with no entry would be wrong.
        self.accessor.set(_ENTRY + key, entry)
        index = self._index()
        if key not in index:
            self.accessor.set(_INDEX, merge_index(index, key))

    def _index(self) -> list[str]:
        value = self.accessor.get(_INDEX, None)
        return [key for key in value if isinstance(key, str)] if isinstance(value, list) else []

    def load_scope(self, prefix: str) -> dict[str, dict[str, Any]]:
        found = {}
        for key in self._index():
            if key.startswith(prefix):
                value = self.load(key)
                if value is not None:
                    found[key] = value
        return found
