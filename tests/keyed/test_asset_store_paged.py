"""Paged keys of the asset registry: a new key's intent and result live in its writer's pages only.

A reconcile of new keys must not pay a state-store call per key: each call is a request to Airflow's API
server, made one at a time. These tests check that a batch of new keys costs its pages and nothing per
key, and that everything a reader or a later task needs still finds those keys: a single-key lookup by a
fresh task (through the summary pages), a crash's intent, a later change that outgrows the page copy,
and writers racing on a store that delays every call.
"""

from __future__ import annotations

import contextlib
from typing import Any

from airflow_braze_schedule.core.registry_model import Actor, RegistryEntry
from airflow_braze_schedule.registry import RegistryQuery, ScheduleRegistry
from airflow_braze_schedule.registry.asset_store import PAGE_HISTORY, SLOT_SPREAD
from tests.keyed.test_asset_store_layout import ACTOR, SharedStore, backend, created, registry, run_threads

OTHER = Actor("dag", "run-2", "task")


def _new_keys(writer: ScheduleRegistry, keys: list[str], *, results: bool = True) -> list[RegistryEntry]:
    """What a reconcile does for new keys: list the scope, write the intents in one batch, then the results."""
    listed = writer.scope("orders/")
    assert not any(key in listed for key in keys)
    intents = [RegistryEntry(key).intend({"op": "create"}, ACTOR) for key in keys]
    writer.put_many(intents)
    if results:
        handle = {"schedule_id": "s", "schedule": {"time": "2030-01-05T09:00:00Z"}}
        writer.put_many(
            [
                entry.record("create", ACTOR, handle=handle, state="scheduled", pending=None)
                for entry in intents
            ]
        )
    return intents


def _own_values(store: SharedStore) -> list[str]:
    return sorted(name for name in store.values if name.startswith("entry:"))


def test_a_batch_of_new_keys_costs_its_pages_and_no_call_per_key() -> None:
    store = SharedStore()
    writer = registry(store)
    writer.scope("orders/")
    _new_keys(writer, [f"orders/{n}" for n in range(8)])
    # Two batches (intents, then results), each one entries page: 2 writes for 8 keys, besides the
    # writer's slot claimed once. The summary page waits until it is full, or the writer closes.
    writes = {name: len(order) for name, order in store.write_order.items() if not name.startswith("writer")}
    assert writes == {"entries:0:0": 2}
    writer.close()
    assert len(store.write_order["summaries:0:0"]) == 1
    assert _own_values(store) == []
    assert PAGE_HISTORY == 2  # the intent and the result of a create fit a page copy whole


def test_a_fresh_task_finds_a_paged_key_by_key_with_its_whole_history() -> None:
    store = SharedStore()
    _new_keys(registry(store), ["orders/1", "orders/2"])
    reader = registry(store)
    entry = reader.get("orders/2")
    assert entry is not None
    assert entry.schedule_id == "s"
    assert not entry.partial_history
    assert [line["action"] for line in entry.history] == ["intent:create", "create"]
    assert set(reader.get_many(["orders/1", "orders/2", "orders/3"])) == {"orders/1", "orders/2"}
    assert reader.get("orders/3") is None


def test_an_intent_left_by_a_crash_is_seen_by_key_and_in_a_listing() -> None:
    """The writer dies after its intents' batch: a later single-key task must see the intent, or it would
    send a second create."""
    store = SharedStore()
    _new_keys(registry(store), ["orders/1"], results=False)
    assert registry(store).require("orders/1").pending is not None
    assert registry(store).scope("orders/")["orders/1"].pending is not None


def test_a_summary_written_just_before_a_crash_names_no_key() -> None:
    """Summaries go first; a crash before the entries page leaves a summary naming a key whose intent was
    never durable, so never sent: the key is new, and a fresh task may create it."""
    store = SharedStore()
    writer = registry(store)
    writer.scope("orders/")
    writer.put_many([RegistryEntry(f"orders/{n}").intend({"op": "create"}, ACTOR) for n in range(499)])
    assert "summaries:0:0" not in store.values  # not full yet

    class Crash(Exception):
        pass

    real_set = store.set

    def failing_set(key: str, value: Any) -> None:
        if key.startswith("entries:"):
            raise Crash
        real_set(key, value)

    store.set = failing_set  # type: ignore[method-assign]
    with contextlib.suppress(Crash):
        # The 500th position fills the summary page, which is written before the entries page fails.
        writer.put_many([RegistryEntry("orders/last").intend({"op": "create"}, ACTOR)])
    store.set = real_set  # type: ignore[method-assign]
    assert "orders/last" in store.values["summaries:0:0"]
    assert registry(store).get("orders/last") is None
    assert "orders/last" not in registry(store).scope("")
    assert registry(store).get("orders/498") is not None


def test_lookups_and_queries_read_the_tail_a_live_writer_has_not_summarized_yet() -> None:
    store = SharedStore()
    writer = registry(store)
    _new_keys(writer, [f"orders/{n:03d}" for n in range(620)])
    # Positions 0-499 are summarized (that page is full); 500-619 are the tail.
    assert len(store.values["summaries:0:0"]) == 500
    assert "summaries:0:1" not in store.values
    reader = registry(store)
    assert reader.require("orders/010").schedule_id == "s"
    assert reader.require("orders/610").schedule_id == "s"
    page = registry(store).query(RegistryQuery(prefix="orders/6", limit=100))
    assert page.total == 20
    assert [entry.schedule_key for entry in page.entries][-1] == "orders/619"
    writer.close()
    assert len(store.values["summaries:0:1"]) == 120
    assert registry(store).query(RegistryQuery(prefix="orders/", state="scheduled")).total == 620


def test_a_query_reads_the_summaries_and_tails_once_and_places_its_paged_keys_by_them() -> None:
    """A query's page of paged keys is located in the summaries and tails the query has just read, not
    by a second walk of them."""
    store = SharedStore()
    writer = registry(store)
    _new_keys(writer, [f"orders/{n:03d}" for n in range(620)])
    reads: list[str] = []
    get = store.get

    def counted(key: str, default: Any = None) -> Any:
        reads.append(key)
        return get(key, default)

    store.get = counted  # type: ignore[method-assign]
    page = registry(store).query(RegistryQuery(prefix="orders/", limit=5, offset=608))
    assert [entry.schedule_key for entry in page.entries] == [f"orders/{n}" for n in range(608, 613)]
    assert all(entry.schedule_id == "s" for entry in page.entries)
    read_twice = sorted(name for name in set(reads) if reads.count(name) > 1)
    assert read_twice == []
    assert "summaries:0:0" in reads
    assert "entries:0:12" in reads


def test_a_change_that_outgrows_the_page_copy_moves_the_key_to_its_own_value() -> None:
    store = SharedStore()
    _new_keys(registry(store), ["orders/1"])
    updater = registry(store)
    listed = updater.scope("orders/")["orders/1"]
    assert listed.partial_history  # a listing gives the last line only
    updater.put(listed.intend({"op": "update"}, OTHER))
    assert _own_values(store) == ["entry:orders/1"]
    assert [line["action"] for line in store.values["entry:orders/1"]["history"]] == [
        "intent:create",
        "create",
        "intent:update",
    ]
    # Every reader now takes the own value, which every later writer keeps current.
    later = registry(store)
    entry = later.require("orders/1")
    later.put(entry.record("update", OTHER, pending=None))
    assert len(registry(store).require("orders/1").history) == 4
    assert registry(store).scope("")["orders/1"].history[-1]["action"] == "update"


def test_a_key_with_an_own_value_is_never_paged_again() -> None:
    """A key first written by a single-key task that did not look it up has an own value; a later short
    write must keep that value current, or a lookup would find it stale."""
    store = SharedStore()
    registry(store).put(created("orders/1"))
    assert _own_values(store) == ["entry:orders/1"]
    again = registry(store)
    entry = again.scope("orders/")["orders/1"]
    again.put(entry.record("cancel", OTHER, state="cancelled"))
    assert registry(store).require("orders/1").state == "cancelled"


def test_racing_reconciles_of_new_keys_lose_none_and_write_no_own_value() -> None:
    store = SharedStore(delay=0.001, seed=7)

    def reconcile(n: int) -> None:
        writer = registry(store)
        for batch in range(3):
            _new_keys(writer, [f"orders/{n}-{batch}-{item}" for item in range(5)])
        writer.close()

    run_threads(8, reconcile)
    keys = {f"orders/{n}-{batch}-{item}" for n in range(8) for batch in range(3) for item in range(5)}
    assert _own_values(store) == []
    assert set(registry(store).scope("orders/")) == keys
    fresh = backend(store)
    assert all(fresh.load(key)["history"][-1]["action"] == "create" for key in sorted(keys)[::7])


def test_a_single_key_task_looks_the_key_up_once_and_then_reads_what_it_wrote() -> None:
    """A new key is looked for in the summary pages once per task (the walk costs a read per 500 keys),
    and what the task then writes is what it reads back."""
    store = SharedStore()
    _new_keys(registry(store), [f"orders/{n}" for n in range(3)])
    task = registry(store)
    assert task.get("orders/new") is None
    store.calls.clear()
    assert task.get("orders/new") is None
    assert store.calls["get"] == 0
    intent = RegistryEntry("orders/new").intend({"op": "create"}, ACTOR)
    task.put(intent)
    assert task.require("orders/new").pending is not None
    task.put(intent.record("create", ACTOR, state="scheduled", pending=None))
    assert task.require("orders/new").state == "scheduled"
    assert _own_values(store) == []
    assert registry(store).require("orders/new").state == "scheduled"


def test_an_intent_left_in_an_own_value_by_a_crash_gives_way_to_a_newer_paged_copy() -> None:
    """A key written without a lookup, new then, whose batch crashed after its own value and before its
    pages: the intent was never sent, a later reconcile pages the key, and lookups take the newer copy."""
    store = SharedStore()
    stale = RegistryEntry("orders/1").intend({"op": "create"}, ACTOR).to_json()
    store.values["entry:orders/1"] = stale  # what the crash left: no page copy
    _new_keys(registry(store), ["orders/1"])  # the listing lacks it: a new key, paged
    task = registry(store)
    for _ in range(2):  # the second lookup must not take the key for a new one
        entry = task.require("orders/1")
        assert entry.pending is None
        assert entry.state == "scheduled"
    assert set(task.get_many(["orders/1"])) == {"orders/1"}
    assert registry(store).get_many(["orders/1"])["orders/1"].state == "scheduled"


def test_an_own_value_with_an_intent_and_no_newer_copy_is_what_a_lookup_gives_every_time() -> None:
    store = SharedStore()
    store.values["entry:orders/1"] = RegistryEntry("orders/1").intend({"op": "create"}, ACTOR).to_json()
    task = registry(store)
    assert task.require("orders/1").pending is not None
    assert task.require("orders/1").pending is not None


def _fill(store: SharedStore, count: int, start: int = 0) -> ScheduleRegistry:
    """One writer pages ``count`` new keys in batches of 100 (a reconcile's waves, larger), and closes."""
    writer = registry(store)
    writer.scope("orders/")
    for first in range(start, start + count, 100):
        _new_keys(writer, [f"orders/{n:05d}" for n in range(first, min(first + 100, start + count))])
    writer.close()
    return writer


def test_a_lookup_by_key_reads_the_key_filters_instead_of_every_summary_page() -> None:
    store = SharedStore()
    _fill(store, 2600)  # five full summary pages, each with its filter, and one of 100 keys
    assert sorted(store.values["filters:0:0"]) == ["0", "1", "2", "3", "4"]
    store.calls.clear()
    assert registry(store).require("orders/01234").schedule_id == "s"
    with_filters = store.calls["get"]
    # The doors, the own value, the filter page and the one after it, one or two summary pages, the
    # last (unfiltered) page and the one after it, the tail, and the entries page: not all six pages.
    assert with_filters <= 1 + SLOT_SPREAD + 1 + 2 + 2 + 2 + 1 + 1
    del store.values["filters:0:0"]  # pages without filters (written before them, or a crash) are read
    store.calls.clear()
    assert registry(store).require("orders/01234").schedule_id == "s"
    assert store.calls["get"] >= with_filters + 3


def test_no_key_is_missed_by_a_lookup_through_the_filters() -> None:
    """A filter may only be wrong the safe way: every key of 2,600 is found by key, and keys never
    written are not."""
    store = SharedStore()
    _fill(store, 2600)
    keys = [f"orders/{n:05d}" for n in range(2600)]
    assert set(registry(store).get_many(keys)) == set(keys)
    reader = registry(store)
    assert all(reader.get(f"orders/{n:05d}") is not None for n in range(0, 2600, 97))
    assert registry(store).get_many([f"orders/x{n}" for n in range(50)]) == {}


def test_a_slot_handed_on_keeps_its_filters_and_adds_the_next_ones() -> None:
    store = SharedStore()
    _fill(store, 700)
    _fill(store, 400, start=700)  # the same slot, continued: its second summary page fills up
    assert sorted(store.values["filters:0:0"]) == ["0", "1"]
    assert not any(name.startswith("writer:1:") for name in store.values)
    reader = registry(store)
    assert reader.require("orders/00010").schedule_id == "s"
    assert reader.require("orders/00900").schedule_id == "s"
    assert reader.require("orders/01050").schedule_id == "s"
