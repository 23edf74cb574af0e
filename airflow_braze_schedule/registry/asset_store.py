"""The registry in Airflow 3.3+'s ``asset_state_store``: no set-up at all.

Each Braze connection has an asset, ``braze://<conn_id>/schedules`` (:func:`schedules_asset`), which the
keyed operators declare as an outlet. Its state store holds one value per key (``entry:<schedule_key>``)
and, since the store cannot list its keys, an index of them split into :data:`INDEX_BUCKETS` values
(``index:00`` .. ``index:31``): a key belongs to the bucket a stable hash of it names. Listing reads every
bucket, and also the single ``index`` value registries kept before the index was split, so entries
recorded then are still listed (nothing is moved; that value is only read).

The store has no compare-and-set, so a bucket is read, extended and written back when a key is first
used, and two tasks adding new keys to the same bucket at the same moment can overwrite each other. Two
things keep that from losing a key:

* the buckets: two new keys race only if they hash to the same bucket;
* checking after writing: the writer waits a little (a few times what its own read and write took, with
  jitter, so racing writers do not check in step), reads its bucket back and, if its key is missing,
  merges it in again; up to :data:`INDEX_ATTEMPTS` times. Every later save of a key (a create records its
  answer after its request, for one) checks its bucket again too.

What remains: a writer stalled between its read and its write for longer than the other's wait (seconds,
on an overloaded machine) can still drop a key after it was checked; the key's entry is kept, but it is
not listed (a reconcile does not see it) until that key is saved again. The SQL registry
(``registry_conn_id``) has no index and no such window.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from airflow_braze_schedule.assets import schedules_asset, schedules_asset_uri
from airflow_braze_schedule.registry.store import merge_index

__all__ = [
    "INDEX_ATTEMPTS",
    "INDEX_BUCKETS",
    "AssetStateStoreBackend",
    "schedules_asset",
    "schedules_asset_uri",
]

log = logging.getLogger(__name__)

_ENTRY = "entry:"
#: The single index of registries written before the index was split; read, never written.
_LEGACY_INDEX = "index"
#: Fixed for good: a key's bucket must stay where earlier writers put it.
INDEX_BUCKETS = 32
#: How many times a writer writes its key into its bucket before giving up (and logging a warning).
INDEX_ATTEMPTS = 5
#: The wait before reading a bucket back: this many times the writer's own read and write, at least
#: the floor, at most the cap (seconds), then stretched by a random factor between 1 and 2.
_PAUSE_FACTOR = 3.0
_PAUSE_FLOOR = 0.02
_PAUSE_CAP = 1.0


def index_bucket(schedule_key: str) -> str:
    """The name of the index value that lists ``schedule_key``: the same in every process, forever."""
    digest = hashlib.blake2b(schedule_key.encode("utf-8"), digest_size=4).digest()
    return bucket_names()[int.from_bytes(digest, "big") % INDEX_BUCKETS]


def bucket_names() -> list[str]:
    """Every index value, ``index:00`` to ``index:31``."""
    return [f"index:{n:02d}" for n in range(INDEX_BUCKETS)]


class AssetStateStoreBackend:
    """Registry entries as values of an asset's state store (a task's ``asset_state_store[asset]``).

    :param sleep: how to wait before reading a bucket back (tests pass their own).
    :param jitter: a random factor in [1, 2) for that wait.
    """

    def __init__(
        self,
        accessor: Any,
        *,
        uri: str,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = lambda: 1.0 + random.random(),
    ) -> None:
        self.accessor = accessor
        self.description = f"the asset_state_store of {uri}"
        self._sleep = sleep
        self._jitter = jitter

    def load(self, schedule_key: str) -> dict[str, Any] | None:
        value = self.accessor.get(_ENTRY + schedule_key, None)
        return value if isinstance(value, dict) else None

    def save(self, entry: dict[str, Any]) -> None:
        key = entry["schedule_key"]
        # The entry first: an entry missing from the index is only unlisted, an index naming a key
        # with no entry would be wrong.
        self.accessor.set(_ENTRY + key, entry)
        bucket = index_bucket(key)
        if key in self._keys(bucket) or key in self._keys(_LEGACY_INDEX):
            return
        self._add(key, bucket)

    def _add(self, key: str, bucket: str) -> None:
        """Write ``key`` into its bucket, then read the bucket back until it stays there (bounded)."""
        for _attempt in range(INDEX_ATTEMPTS):
            started = time.monotonic()
            self.accessor.set(bucket, merge_index(self._keys(bucket), key))
            round_trip = time.monotonic() - started
            # A writer that read the bucket before our write writes within about its own round trip.
            pause = min(max(_PAUSE_FACTOR * round_trip, _PAUSE_FLOOR), _PAUSE_CAP)
            self._sleep(pause * self._jitter())
            if key in self._keys(bucket):
                return
        log.warning(
            "schedule_key %r: its index bucket %r of %s was overwritten by other writers %d times; the "
            "entry is kept but not listed (a reconcile does not see it) until the key is saved again",
            key,
            bucket,
            self.description,
            INDEX_ATTEMPTS,
        )

    def _keys(self, name: str) -> list[str]:
        value = self.accessor.get(name, None)
        return [key for key in value if isinstance(key, str)] if isinstance(value, list) else []

    def _index(self) -> set[str]:
        keys = set(self._keys(_LEGACY_INDEX))
        for bucket in bucket_names():
            keys.update(self._keys(bucket))
        return keys

    def load_scope(self, prefix: str) -> dict[str, dict[str, Any]]:
        found = {}
        for key in sorted(self._index()):
            if key.startswith(prefix):
                value = self.load(key)
                if value is not None:
                    found[key] = value
        return found
