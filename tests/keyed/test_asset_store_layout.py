"""The asset registry's layout: writer slots and pages, listing in few calls, racing writers, old layouts.

The state store has ``get`` and ``set`` only (no listing, no compare-and-set), and inside a task each
call is a request to the API server. These tests share one in-memory store between threads, each thread
with its own backend (as tasks each open their own registry), and let the store delay every call at
random, so that reads and writes of racing writers interleave in many orders.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict
from typing import Any

import pytest

from airflow_braze_schedule.core.registry_model import Actor, RegistryEntry
from airflow_braze_schedule.registry import RegistryQuery, RegistryReadOnlyError, ScheduleRegistry
from airflow_braze_schedule.registry.asset_store import (
    ENTRIES_PER_PAGE,
    SLOT_SPREAD,
    SUMMARIES_PER_PAGE,
    AssetStateStoreBackend,
    legacy_index_names,
)

URI = "braze://braze_default/schedules"
ACTOR = Actor("dag", "run", "task")


class SharedStore:
    """A state store's values, shared by threads: each get and set is atomic, as one database statement.

    :param delay: the longest random pause before and after each call, letting other threads run between
        any two calls of a writer.
    """

    def __init__(self, delay: float = 0.0, seed: int = 0) -> None:
        self.values: dict[str, Any] = {}
        self.lock = threading.Lock()
        self.delay = delay
        self.random = random.Random(seed)
        self.calls: Counter[str] = Counter()
        self.writers_of: defaultdict[str, set[int]] = defaultdict(set)
        self.write_order: defaultdict[str, list[Any]] = defaultdict(list)
        #: Who writes, if the test names its writers (``store.writer.name = ...``), else the thread.
        self.writer = threading.local()

    def _pause(self) -> None:
        if self.delay:
            with self.lock:
                pause = self.random.random() * self.delay
            time.sleep(pause)

    def get(self, key: str, default: Any = None) -> Any:
        self._pause()
        with self.lock:
            self.calls["get"] += 1
            value = self.values.get(key, default)
        self._pause()
        return _copy(value)

    def set(self, key: str, value: Any) -> None:
        self._pause()
        with self.lock:
            self.calls["set"] += 1
            self.values[key] = _copy(value)
            self.writers_of[key].add(threading.get_ident())
            self.write_order[key].append(getattr(self.writer, "name", threading.get_ident()))
        self._pause()


def _copy(value: Any) -> Any:
    # What the store hands back is never the object a writer still holds (JSON goes over the wire).
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


def backend(store: SharedStore, **options: Any) -> AssetStateStoreBackend:
    return AssetStateStoreBackend(store, uri=URI, **options)


def registry(store: SharedStore, **options: Any) -> ScheduleRegistry:
    return ScheduleRegistry(backend(store, **options), workspace="braze_default")


def created(key: str, day: int = 5, state: str = "scheduled") -> RegistryEntry:
    entry = RegistryEntry(key).intend({"op": "create"}, ACTOR)
    handle = {"schedule_id": f"s-{key}", "schedule": {"time": f"2030-01-{day:02d}T09:00:00Z"}}
    return entry.record("create", ACTOR, handle=handle, state=state, pending=None)


def run_threads(count: int, work: Any) -> None:
    errors: list[BaseException] = []

    def guarded(n: int) -> None:
        try:
            work(n)
        except BaseException as error:  # reported by the test, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors


def test_the_random_delays_do_lose_keys_of_a_shared_read_modify_write_value() -> None:
    """The adversary is real: the same store loses keys of writers that share one value."""
    store = SharedStore(delay=0.002, seed=1)

    def plain_add(n: int) -> None:
        store.set("index", [*store.get("index", []), f"race/{n}"])

    run_threads(24, plain_add)

    assert len(store.get("index")) < 24


def test_dozens_of_racing_writers_lose_no_key_and_share_no_value() -> None:
    store = SharedStore(delay=0.002, seed=2)
    writers, batches, batch = 32, 3, 4

    def write(n: int) -> None:
        own = registry(store)
        for b in range(batches):
            keys = [f"race/{n:02d}/{b}/{k}" for k in range(batch)]
            intents = [RegistryEntry(key).intend({"op": "create"}, ACTOR) for key in keys]
            own.put_many(intents)  # the intents before the requests, then the answers
            own.put_many([created(key) for key in keys])

    run_threads(writers, write)

    listed = registry(store).scope("race/")
    assert len(listed) == writers * batches * batch
    assert all(entry.state == "scheduled" and entry.pending is None for entry in listed.values())
    doors = [name for name in store.values if name.endswith(":door")]
    assert len(doors) >= writers
    pages = [name for name in store.values if name.startswith(("entries:", "summaries:"))]
    assert pages
    assert all(len(store.writers_of[name]) == 1 for name in pages)
    assert all(len(store.writers_of[f"entry:{key}"]) == 1 for key in listed)


def test_a_key_changed_by_a_later_writer_is_read_at_its_newest() -> None:
    store = SharedStore()
    first, second = registry(store), registry(store)
    first.put_many([created("k/1"), created("k/2")])
    newer = second.require("k/1").record("cancel", ACTOR, state="cancelled", outcome="applied")
    second.put_many([newer])

    reader = registry(store)
    assert reader.scope("k/")["k/1"].state == "cancelled"
    assert reader.scope("k/")["k/2"].state == "scheduled"
    page = reader.query(RegistryQuery(prefix="k/", state="cancelled"))
    assert (page.total, [entry.schedule_key for entry in page.entries]) == (1, ["k/1"])


def test_listing_and_querying_read_pages_not_one_value_per_key() -> None:
    store = SharedStore()
    writer = registry(store)
    keys = [f"big/{n:04d}" for n in range(1000)]
    for start in range(0, len(keys), 8):  # the engine's batches: max_workers at a time
        before = store.calls["set"]
        writer.put_many([created(key) for key in keys[start : start + 8]])
        assert store.calls["set"] - before <= 8 + 4 + (5 if start == 0 else 0)  # entries, pages, the slot

    store.calls.clear()
    assert len(registry(store).scope("big/")) == 1000
    # the pages and one past the last, the writer's door and the shut doors after it, the old index
    fixed = 1 + 1 + SLOT_SPREAD + len(legacy_index_names())
    assert store.calls["get"] == 1000 // ENTRIES_PER_PAGE + fixed
    store.calls.clear()
    page = registry(store).query(RegistryQuery(prefix="big/", limit=100, offset=300))
    assert page.total == 1000
    assert [entry.schedule_key for entry in page.entries] == keys[300:400]
    # two summary pages, the slot's tail past them (none: one read), then the page's 100 entries
    assert store.calls["get"] == 2 + fixed + 1 + 100


def test_every_new_key_costs_no_pause() -> None:
    """No wait and no read-back per key: a writer's calls are the sets of its batch and a slot, once."""
    store = SharedStore()
    writer = registry(store)
    writer.put_many([created("a/1")])
    store.calls.clear()
    writer.put_many([created(f"a/{n}") for n in range(2, 10)])
    assert store.calls == Counter({"set": 8 + 1})  # the entries page; the summary page waits (not full)


def test_a_registry_written_in_the_old_layouts_is_still_read() -> None:
    """Keys listed in the single ``index``, in the 32 ``index:NN`` buckets, or both, each with its
    ``entry:<key>``: listed, queried and read; the first writable listing copies them into its pages,
    later listings read no entry one by one, and nothing old is changed."""
    store = SharedStore()
    old = {"index": ["orders/1", "orders/2"], "index:05": ["orders/3", "orders/1"], "index:13": ["other/9"]}
    for name, keys in old.items():
        store.values[name] = list(keys)
    for key in ("orders/1", "orders/2", "orders/3", "other/9"):
        store.values[f"entry:{key}"] = created(key, day=int(key[-1])).to_json()
    before = _copy(store.values)

    assert sorted(registry(store, read_only=True).scope("orders/")) == ["orders/1", "orders/2", "orders/3"]
    page = registry(store, read_only=True).query(RegistryQuery(send_after=_day(2), limit=10))
    assert (page.total, [entry.schedule_key for entry in page.entries]) == (
        3,
        ["orders/2", "orders/3", "other/9"],
    )
    assert store.values == before  # a reader wrote nothing

    writer = registry(store)
    writer.put(created("orders/4"))
    assert sorted(writer.scope("orders/")) == [f"orders/{n}" for n in (1, 2, 3, 4)]
    store.calls.clear()
    assert sorted(registry(store).scope("")) == ["orders/1", "orders/2", "orders/3", "orders/4", "other/9"]
    # the writer's door, its page and one past it, the shut doors, the old index; no entry:<key> at all
    assert store.calls["get"] == 3 + SLOT_SPREAD + len(legacy_index_names())
    assert {name: store.values[name] for name in before} == before


def _day(day: int) -> Any:
    import pendulum

    return pendulum.datetime(2030, 1, day, tz="UTC")


def test_a_reader_refuses_to_write() -> None:
    store = SharedStore()
    with pytest.raises(RegistryReadOnlyError, match="reading only"):
        registry(store, read_only=True).put(created("k"))
    assert store.values == {}


@pytest.mark.slow  # a hundred threads on a slow store; the 32-writer race stays in make test
def test_a_hundred_writers_starting_at_once_each_win_a_slot_of_their_own() -> None:
    """All arrive at the same slot at the same moment: the splitter still gives each a slot alone."""
    store = SharedStore(delay=0.001, seed=3)
    start = threading.Barrier(100)

    def write(n: int) -> None:
        own = registry(store)
        start.wait(timeout=60)
        own.put_many([created(f"burst/{n:03d}")])

    run_threads(100, write)

    assert sorted(registry(store).scope("burst/")) == [f"burst/{n:03d}" for n in range(100)]
    pages = [name for name in store.values if name.startswith("entries:")]
    assert len(pages) == 100
    assert all(len(store.writers_of[name]) == 1 for name in pages)


class CrashAfterEntries(SharedStore):
    """A task killed after writing a batch's entries, before its pages."""

    def set(self, key: str, value: Any) -> None:
        if key.startswith(("entries:", "summaries:")) and self.values.get("crash"):
            raise SystemExit("killed")
        super().set(key, value)


def test_an_answer_written_just_before_a_crash_is_listed_not_its_intent() -> None:
    store = CrashAfterEntries()
    writer = registry(store)
    intents = [RegistryEntry(f"c/{n}").intend({"op": "create"}, ACTOR) for n in range(3)]
    writer.put_many(intents)
    store.values["crash"] = True
    with pytest.raises(SystemExit):
        writer.put_many([created(f"c/{n}") for n in range(3)])

    listed = registry(store, read_only=True).scope("c/")
    assert {key: entry.state for key, entry in listed.items()} == dict.fromkeys(
        ["c/0", "c/1", "c/2"], "scheduled"
    )
    assert all(entry.pending is None for entry in listed.values())


# --- slots handed on ---------------------------------------------------------------------------------


def _doors(store: SharedStore) -> list[str]:
    return sorted(name for name in store.values if name.startswith("writer:") and name.endswith(":door"))


def _one_writer_at_a_time(store: SharedStore, name: str) -> bool:
    """A value's writers took turns: once another thread wrote it, the earlier one never wrote it again."""
    order = [
        ident
        for n, ident in enumerate(store.write_order[name])
        if n == 0 or store.write_order[name][n - 1] != ident
    ]
    return len(order) == len(set(order))


def test_writers_that_close_hand_one_slot_on_and_fill_its_pages() -> None:
    """A daily DAG's mapped upserts, one after another: one slot, pages filled, not one slot per task."""
    store = SharedStore()
    for n in range(120):
        own = registry(store)
        own.put_many([RegistryEntry(f"day/{n:03d}").intend({"op": "create"}, ACTOR)])
        own.put_many([created(f"day/{n:03d}")])
        own.close()

    assert _doors(store) == ["writer:0:door"]
    assert sorted(name for name in store.values if name.startswith("entries:")) == [
        "entries:0:0",
        "entries:0:1",
        "entries:0:2",
    ]
    assert [len(store.values[f"entries:0:{p}"]) for p in range(3)] == [ENTRIES_PER_PAGE, ENTRIES_PER_PAGE, 20]
    assert len(store.values["summaries:0:0"]) == 120
    listed = registry(store, read_only=True).scope("day/")
    assert sorted(listed) == [f"day/{n:03d}" for n in range(120)]
    assert all(entry.state == "scheduled" and entry.pending is None for entry in listed.values())
    assert store.values["writer:0:closed"] == {"epoch": 119, "positions": 120}


def test_a_key_written_again_by_a_later_writer_of_the_slot_is_read_at_its_newest() -> None:
    store = SharedStore()
    first = registry(store)
    first.put_many([created("again/1"), created("again/2")])
    first.close()
    second = registry(store)
    second.put_many([second.require("again/1").record("cancel", ACTOR, state="cancelled", outcome="applied")])
    second.close()

    assert _doors(store) == ["writer:0:door"]
    listed = registry(store, read_only=True).scope("again/")
    assert {key: entry.state for key, entry in listed.items()} == {
        "again/1": "cancelled",
        "again/2": "scheduled",
    }
    page = registry(store, read_only=True).query(RegistryQuery(prefix="again/", state="cancelled"))
    assert [entry.schedule_key for entry in page.entries] == ["again/1"]


def test_a_slot_whose_writer_has_not_closed_is_never_taken() -> None:
    store = SharedStore()
    running = registry(store)
    running.put_many([created("open/1")])
    other = registry(store)
    other.put_many([created("open/2")])  # the first writer is still at work: a slot of its own
    assert _doors(store) == ["writer:0:door", "writer:1:door"]

    running.put_many([created("open/3")])  # still its own slot's pages
    assert set(store.values["entries:0:0"]) == {"open/1", "open/3"}
    running.close()
    later = registry(store)
    later.put_many([created("open/4")])
    assert _doors(store) == ["writer:0:door", "writer:1:door"]
    assert set(store.values["entries:0:0"]) == {"open/1", "open/3", "open/4"}
    assert sorted(registry(store).scope("open/")) == ["open/1", "open/2", "open/3", "open/4"]


def test_a_writer_writing_after_close_claims_a_slot_again() -> None:
    store = SharedStore()
    own = registry(store)
    own.put_many([created("reopen/1")])
    own.close()
    own.put_many([created("reopen/2")])  # the object goes on: it continues the slot it handed on
    successor = registry(store)
    successor.put_many([created("reopen/3")])  # the slot is taken again: a fresh one
    assert _doors(store) == ["writer:0:door", "writer:1:door"]
    assert sorted(registry(store).scope("reopen/")) == ["reopen/1", "reopen/2", "reopen/3"]


def test_racing_writers_that_close_and_start_again_lose_no_key_and_never_share_a_page_at_once() -> None:
    store = SharedStore(delay=0.002, seed=4)
    writers, rounds, batch = 16, 3, 3

    def write(n: int) -> None:
        for r in range(rounds):
            store.writer.name = (n, r)
            own = registry(store)
            keys = [f"turns/{n:02d}/{r}/{k}" for k in range(batch)]
            own.put_many([RegistryEntry(key).intend({"op": "create"}, ACTOR) for key in keys])
            own.put_many([created(key) for key in keys])
            own.close()

    run_threads(writers, write)

    listed = registry(store).scope("turns/")
    missing = {
        f"turns/{n:02d}/{r}/{k}" for n in range(writers) for r in range(rounds) for k in range(batch)
    } - set(listed)
    assert not missing, (
        missing,
        {k: v for k, v in store.values.items() if k.startswith(("writer", "entries"))},
    )
    assert all(entry.state == "scheduled" and entry.pending is None for entry in listed.values())
    pages = [name for name in store.values if name.startswith(("entries:", "summaries:"))]
    assert all(_one_writer_at_a_time(store, name) for name in pages)
    assert all(len(store.values[name]) <= ENTRIES_PER_PAGE for name in pages if name.startswith("entries:"))
    assert all(
        len(store.values[name]) <= SUMMARIES_PER_PAGE for name in pages if name.startswith("summaries:")
    )


def test_writers_taking_turns_on_a_few_threads_keep_the_slots_few() -> None:
    """Four threads, each opening, writing and closing a registry twenty times: fewer slots than registries.

    Writers starting together may still take fresh slots (a splitter can refuse every racer, and the
    free hint is written without compare-and-set); one after another they share one slot (above)."""
    store = SharedStore(delay=0.0005, seed=5)

    def write(n: int) -> None:
        for r in range(20):
            own = registry(store)
            own.put_many([created(f"few/{n}/{r:02d}")])
            own.close()

    run_threads(4, write)

    assert len(registry(store).scope("few/")) == 80
    # 5 to 9 over five seeds here (4 is the least: four writers at once); 26 to 40 while claimers
    # rewrote the hint and joined races under way; without handing on, 80 or more.
    assert len(_doors(store)) <= 12


class _HintOverwritten(SharedStore):
    """A store where, once, another closer writes the free hint just after this writer did, from what it
    read before: this writer's slot is dropped from the hint."""

    def __init__(self, stale: list[int]) -> None:
        super().__init__()
        self.stale: list[int] | None = stale

    def set(self, key: str, value: Any) -> None:
        super().set(key, value)
        if key == "writers:free" and self.stale is not None:
            stale, self.stale = self.stale, None
            super().set(key, stale)


def test_a_closed_slot_dropped_from_the_hint_by_a_racing_closer_is_offered_again() -> None:
    store = _HintOverwritten(stale=[7])
    own = registry(store)
    own.put_many([created("offer/1")])
    own.close()
    assert store.values["writers:free"] == [7, 0]  # read back, found missing, added again
    successor = registry(store)
    successor.put_many([created("offer/2")])
    assert _doors(store) == ["writer:0:door"]  # slot 0 handed on, not a fresh one


def test_a_claimer_does_not_join_a_race_under_way_for_a_closed_slot() -> None:
    """A racer sets race before it opens the door: a claimer that finds race set moves on, so it can
    neither win nor make every racer lose (and leave the slot never closed again)."""
    store = SharedStore()
    own = registry(store)
    own.put_many([created("join/1")])
    own.close()
    store.values["writer:0:race:1"] = "another-racer"  # epoch 1 being raced for, its door still shut
    claimer = registry(store)
    claimer.put_many([created("join/2")])
    assert "writer:0:door:1" not in store.values
    assert store.values["writer:0:race:1"] == "another-racer"
    assert _doors(store) == ["writer:0:door", "writer:1:door"]
    assert sorted(registry(store).scope("join/")) == ["join/1", "join/2"]
