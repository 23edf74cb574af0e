"""The asset registry's key index under concurrent writers: split into buckets and checked after writing.

The state store cannot list its keys nor compare-and-set, so concurrent writers of one index value can
overwrite each other. These tests share one in-memory store between threads, each thread with its own
backend (as tasks of one DAG run each open their own registry), and hold every writer's first index
write until all of them have read the index: the worst interleaving, on purpose.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Any

import pytest

from airflow_braze_schedule.registry import ScheduleRegistry
from airflow_braze_schedule.registry.asset_store import (
    INDEX_ATTEMPTS,
    INDEX_BUCKETS,
    AssetStateStoreBackend,
    bucket_names,
    index_bucket,
)
from airflow_braze_schedule.registry.store import merge_index

URI = "braze://braze_default/schedules"


class SharedStore:
    """A state store's values, shared by threads; a lock per call, as the metadata database gives.

    With ``racers``, each thread's first write of an index value waits until ``racers`` threads have
    reached theirs: every one of them wrote what it read before any write landed.
    """

    def __init__(self, racers: int = 0) -> None:
        self.values: dict[str, Any] = {}
        self.lock = threading.Lock()
        self.barrier = threading.Barrier(racers) if racers else None
        self.held = threading.local()
        self.index_writes: Counter[str] = Counter()

    def get(self, key: str, default: Any = None) -> Any:
        with self.lock:
            value = self.values.get(key, default)
        return list(value) if isinstance(value, list) else value

    def set(self, key: str, value: Any) -> None:
        if key.startswith("index") and self.barrier is not None and not getattr(self.held, "done", False):
            self.held.done = True
            self.barrier.wait(timeout=30)
        with self.lock:
            self.values[key] = list(value) if isinstance(value, list) else value
            if key.startswith("index"):
                self.index_writes[key] += 1


def entry(key: str) -> dict[str, Any]:
    return {"schedule_key": key, "state": "scheduled"}


def keys_in_one_bucket(count: int) -> list[str]:
    """``count`` keys that hash to the same index bucket: the writers all race on one value."""
    found: dict[str, list[str]] = {}
    n = 0
    while True:
        key = f"race/{n}"
        same = found.setdefault(index_bucket(key), [])
        same.append(key)
        if len(same) == count:
            return same
        n += 1


def save_all_at_once(store: SharedStore, keys: list[str]) -> None:
    errors: list[BaseException] = []

    def save(key: str) -> None:
        try:
            AssetStateStoreBackend(store, uri=URI).save(entry(key))
        except BaseException as error:  # reported by the test, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=save, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors


def listed(store: SharedStore, prefix: str = "") -> list[str]:
    return sorted(AssetStateStoreBackend(store, uri=URI).load_scope(prefix))


def test_the_shared_store_does_lose_keys_to_a_plain_read_modify_write() -> None:
    """The simulation is a real race: one value, read then written back by twelve writers at once."""
    store = SharedStore(racers=12)

    def plain_save(key: str) -> None:
        store.set("index", merge_index(store.get("index", []), key))

    threads = [threading.Thread(target=plain_save, args=(f"race/{n}",)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(store.get("index")) == 1  # eleven of twelve keys lost


def test_twelve_writers_racing_on_one_bucket_all_stay_listed() -> None:
    keys = keys_in_one_bucket(12)
    store = SharedStore(racers=12)

    save_all_at_once(store, keys)

    assert listed(store, "race/") == sorted(keys)
    [(bucket, writes)] = store.index_writes.items()
    assert bucket == index_bucket(keys[0])
    assert writes > 12  # the first writes overwrote each other: lost keys were written again


def test_new_keys_spread_over_the_buckets_and_all_are_listed() -> None:
    keys = [f"orders/{n}/reminder" for n in range(40)]
    store = SharedStore(racers=40)

    save_all_at_once(store, keys)

    assert listed(store, "orders/") == sorted(keys)
    assert len(store.index_writes) > 1
    assert "index" not in store.values  # new keys never go to the old single index


def test_a_registry_written_with_the_single_index_keeps_working() -> None:
    """Entries recorded before the index was split stay listed; saving them again writes no bucket."""
    store = SharedStore()
    store.values["index"] = ["orders/1/reminder", "orders/2/reminder"]
    for key in store.values["index"]:
        store.values[f"entry:{key}"] = entry(key)
    registry = ScheduleRegistry(AssetStateStoreBackend(store, uri=URI), workspace="braze_default")

    assert sorted(registry.scope("orders/")) == ["orders/1/reminder", "orders/2/reminder"]
    AssetStateStoreBackend(store, uri=URI).save(entry("orders/1/reminder"))
    assert not store.index_writes
    AssetStateStoreBackend(store, uri=URI).save(entry("orders/3/reminder"))

    assert sorted(registry.scope("orders/")) == [f"orders/{n}/reminder" for n in (1, 2, 3)]
    assert store.values["index"] == ["orders/1/reminder", "orders/2/reminder"]  # only read
    assert list(store.index_writes) == [index_bucket("orders/3/reminder")]


class AlwaysOverwritten(SharedStore):
    """Another writer overwrites the bucket right after each of ours, with what it read before."""

    def set(self, key: str, value: Any) -> None:
        super().set(key, value)
        if key.startswith("index:"):
            with self.lock:
                self.values[key] = []


def test_a_bucket_overwritten_every_time_is_given_up_after_a_bounded_number_of_writes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = AlwaysOverwritten()
    pauses: list[float] = []
    backend = AssetStateStoreBackend(store, uri=URI, sleep=pauses.append, jitter=lambda: 1.5)

    with caplog.at_level(logging.WARNING):
        backend.save(entry("orders/9/reminder"))

    assert store.index_writes[index_bucket("orders/9/reminder")] == INDEX_ATTEMPTS
    assert len(pauses) == INDEX_ATTEMPTS
    assert all(0.02 * 1.5 <= pause <= 1.0 * 1.5 for pause in pauses)
    assert backend.load("orders/9/reminder") == entry("orders/9/reminder")  # the entry itself is kept
    assert "'orders/9/reminder'" in caplog.text
    assert "not listed" in caplog.text


def test_a_key_already_in_its_bucket_costs_no_write_and_no_pause() -> None:
    store = SharedStore()
    pauses: list[float] = []
    backend = AssetStateStoreBackend(store, uri=URI, sleep=pauses.append)
    backend.save(entry("digest/next-monday"))
    backend.save(entry("digest/next-monday"))

    assert sum(store.index_writes.values()) == 1
    assert len(pauses) == 1


def test_a_key_always_hashes_to_the_same_bucket() -> None:
    """Writers in other processes, and later versions, must find the bucket earlier writers used."""
    assert index_bucket("orders/4711/reminder") == "index:05"
    assert index_bucket("digest/next-monday") == "index:13"
    assert len(bucket_names()) == INDEX_BUCKETS == 32
    assert {index_bucket(f"k{n}") for n in range(3200)} == set(bucket_names())
