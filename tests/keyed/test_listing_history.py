"""A listing gives each entry's last history line only; reading a key, and writing a listed entry, keep
every line: on the asset store (in a task's store) and on the SQL store."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_braze_schedule.core.registry_model import CANCELLED, UPDATED, Actor, RegistryEntry
from airflow_braze_schedule.registry import RegistryQuery, ScheduleRegistry, open_registry
from tests.keyed.test_asset_store_layout import SharedStore, created, registry

OTHER = Actor("dag_b", "run_2", "task_b")


def _actions(lines: list[dict[str, Any]]) -> list[str]:
    return [line["action"] for line in lines]


def _three_lines(writer: ScheduleRegistry, key: str) -> None:
    """intent:create, create, then a cancel: three lines."""
    writer.put(created(key))
    entry = writer.require(key)
    writer.put(entry.record("cancel", OTHER, state=CANCELLED, outcome="applied"))


def _sqlite_registry(tmp_path, monkeypatch) -> ScheduleRegistry:
    url = json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "registry.db")})
    monkeypatch.setenv("AIRFLOW_CONN_BRAZE_REGISTRY_SQL", url)
    return open_registry(braze_conn_id="braze_default", registry_conn_id="braze_registry_sql")


@pytest.fixture(params=["asset", "sqlite"])
def any_registry(request, tmp_path, monkeypatch) -> ScheduleRegistry:
    if request.param == "asset":
        return registry(SharedStore())
    return _sqlite_registry(tmp_path, monkeypatch)


def test_a_listing_gives_the_last_line_and_a_read_by_key_gives_them_all(any_registry) -> None:
    for key in ("orders/1", "orders/2"):
        _three_lines(any_registry, key)

    listed = any_registry.scope("orders/")
    assert list(listed) == ["orders/1", "orders/2"]
    for entry in listed.values():
        assert entry.partial_history
        assert _actions(entry.history) == ["cancel"]
        assert entry.history[0]["seq"] == 2
        assert "partial_history" not in entry.to_json()
    page = any_registry.query(RegistryQuery(prefix="orders/", limit=1))
    assert page.total == 2
    assert [_actions(entry.history) for entry in page.entries] == [["cancel"]]
    assert page.entries[0].partial_history
    assert [item["last_change"]["action"] for item in any_registry.list("orders/")] == ["cancel", "cancel"]

    whole = any_registry.get("orders/1")
    assert not whole.partial_history
    assert _actions(whole.history) == ["intent:create", "create", "cancel"]
    assert _actions(any_registry.get_many(["orders/2"])["orders/2"].history) == _actions(whole.history)
    assert any_registry.find("orders/1")["last_change"]["action"] == "cancel"


def test_a_change_made_through_a_listed_entry_keeps_every_line(any_registry) -> None:
    _three_lines(any_registry, "orders/1")
    _three_lines(any_registry, "orders/2")

    listed = any_registry.scope("orders/")
    first = listed["orders/1"]
    any_registry.put(first.intend({"op": "update"}, OTHER))
    if getattr(any_registry.backend, "keeps_history_apart", False):  # SQL: the table adds new lines
        assert first.partial_history
        assert _actions(first.history) == ["cancel", "intent:update"]
    else:  # joined to its stored history: a later put needs no read
        assert not first.partial_history
        assert _actions(first.history) == ["intent:create", "create", "cancel", "intent:update"]
    first.record("update", OTHER, state=UPDATED, pending=None)
    second = listed["orders/2"].record("cancel", OTHER, note="again")
    any_registry.put_many([first, second])

    assert _actions(any_registry.history("orders/1")) == [
        "intent:create",
        "create",
        "cancel",
        "intent:update",
        "update",
    ]
    assert [line["seq"] for line in any_registry.history("orders/1")] == [0, 1, 2, 3, 4]
    assert _actions(any_registry.require("orders/2").history) == [
        "intent:create",
        "create",
        "cancel",
        "cancel",
    ]
    assert any_registry.get("orders/2").history[-1]["note"] == "again"
    assert _actions(any_registry.scope("orders/")["orders/1"].history) == ["update"]


def test_complete_histories_reads_the_lines_a_listing_left_out(any_registry) -> None:
    _three_lines(any_registry, "orders/1")
    _three_lines(any_registry, "orders/2")
    listed = any_registry.scope("orders/")
    listed["orders/2"].record("update", OTHER, state=UPDATED)  # a line not written yet stays
    any_registry.complete_histories(listed.values())
    assert not any(entry.partial_history for entry in listed.values())
    assert _actions(listed["orders/1"].history) == ["intent:create", "create", "cancel"]
    assert _actions(listed["orders/2"].history) == ["intent:create", "create", "cancel", "update"]


def test_a_listed_entry_written_again_reads_its_stored_entry_once() -> None:
    store = SharedStore()
    writer = registry(store)
    _three_lines(writer, "orders/1")
    entry = registry(store).scope("orders/")["orders/1"]
    other = registry(store)
    store.calls.clear()
    other.put(entry.intend({"op": "update"}, OTHER))
    reads = store.calls["get"]
    assert reads >= 1  # entry:<key>, besides the slot race
    store.calls.clear()
    other.put(entry.record("update", OTHER, state=UPDATED, pending=None))
    assert store.calls["get"] == 0
    assert len(store.values["entry:orders/1"]["history"]) == 5


def test_the_asset_store_pages_keep_the_last_line_and_entry_values_keep_all() -> None:
    store = SharedStore()
    writer = registry(store)
    _three_lines(writer, "orders/1")
    pages = [value for name, value in store.values.items() if name.startswith("entries:")]
    assert pages
    assert all(len(entry["history"]) == 1 for page in pages for entry in page.values())
    assert len(store.values["entry:orders/1"]["history"]) == 3


def test_an_old_page_holding_whole_entries_lists_the_last_line_only() -> None:
    """Pages written before held whole entries: listed with their last line, and a change made through
    such a listed entry keeps the whole history in ``entry:<key>``."""
    store = SharedStore()
    old = created("orders/1").record("cancel", OTHER, state=CANCELLED, outcome="applied").to_json()
    store.values["writer:0:door"] = True
    store.values["entries:0:0"] = {"orders/1": old}
    store.values["entry:orders/1"] = old

    listed = registry(store, read_only=True).scope("")["orders/1"]
    assert listed.partial_history
    assert _actions(listed.history) == ["cancel"]

    writer = registry(store)
    entry = writer.scope("")["orders/1"]
    writer.put(entry.record("create", OTHER, state="scheduled", outcome=None))
    assert _actions(store.values["entry:orders/1"]["history"]) == [
        "intent:create",
        "create",
        "cancel",
        "create",
    ]
    assert _actions(writer.scope("")["orders/1"].history) == ["create"]


def test_a_listed_entry_whose_stored_entry_is_missing_is_written_with_its_own_lines() -> None:
    """A page copy without its ``entry:<key>`` (a value lost, or removed by hand): nothing older to keep,
    and no crash."""
    store = SharedStore()
    writer = registry(store)
    _three_lines(writer, "orders/1")
    del store.values["entry:orders/1"]

    entry = registry(store).scope("")["orders/1"]
    registry(store).put(entry.record("create", OTHER, state="scheduled", outcome=None))
    assert not entry.partial_history
    assert _actions(store.values["entry:orders/1"]["history"]) == ["cancel", "create"]
    assert [line["seq"] for line in store.values["entry:orders/1"]["history"]] == [2, 3]


def test_sql_rows_written_before_with_whole_histories_list_the_last_line(tmp_path, monkeypatch) -> None:
    any_registry = _sqlite_registry(tmp_path, monkeypatch)
    _three_lines(any_registry, "orders/1")
    cursor = any_registry.backend.conn.cursor()
    cursor.execute("SELECT entry FROM braze_schedule_registry")
    (stored,) = cursor.fetchone()
    assert len(RegistryEntry.from_json(stored).history) == 1  # the column keeps the last line only
    whole = any_registry.get("orders/1").to_json()
    cursor.execute("UPDATE braze_schedule_registry SET entry = ?", (json.dumps(whole),))
    any_registry.backend.conn.commit()

    assert _actions(any_registry.scope("")["orders/1"].history) == ["cancel"]
    assert any_registry.get("orders/1").history == whole["history"]


def test_a_listed_line_without_seq_gets_its_place_as_seq() -> None:
    value = {"schedule_key": "k", "history": [{"action": "create"}, {"action": "cancel"}]}
    entry = RegistryEntry.listed(value, {})
    assert entry.history == [{"seq": 1, "action": "cancel"}]
    assert entry.record("update", OTHER).history[-1]["seq"] == 2
    assert RegistryEntry.from_json({**value, "partial_history": True}).partial_history is False


def test_listing_leaves_the_values_a_store_hands_out_whole() -> None:
    """A store may hand out the very dicts it holds: a listing must not cut their histories."""
    from airflow_braze_schedule.core.registry_model import listed_value

    value = created("orders/1").record("cancel", OTHER, state=CANCELLED, outcome="applied").to_json()
    listed = listed_value(value, {})
    assert _actions(listed["history"]) == ["cancel"]
    assert _actions(value["history"]) == ["intent:create", "create", "cancel"]
    assert listed["handle"] == value["handle"]
