"""The SQL registry on SQLite and on a real PostgreSQL server: tables, round trips, history, scopes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from airflow_braze_schedule.core.registry_model import CANCELLED, SCHEDULED, Actor, RegistryEntry
from airflow_braze_schedule.registry import UnknownScheduleKeyError, open_registry

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ACTOR = Actor("dag_a", "run_1", "task_1")


def _entry(key: str, schedule_id: str, time: str = "2026-12-05T09:00:00Z") -> RegistryEntry:
    entry = RegistryEntry(key)
    entry.intend({"op": "create"}, ACTOR, now=NOW)
    handle = {"schedule_id": schedule_id, "kind": "message", "schedule": {"time": time}}
    return entry.record("create", ACTOR, now=NOW, handle=handle, state=SCHEDULED, pending=None)


def _rows(registry, sql):
    cursor = registry.backend.conn.cursor()
    cursor.execute(sql)
    return cursor.fetchall()


def test_round_trip_scope_and_history(sql_registry_conn):
    registry = open_registry(braze_conn_id="braze_default", registry_conn_id=sql_registry_conn)
    other_workspace = open_registry(braze_conn_id="braze_eu", registry_conn_id=sql_registry_conn)
    for n in range(3):
        registry.put(_entry(f"order-{n}/reminder", f"s{n}"))
    registry.put(_entry("order_%/odd", "s-odd"))  # a prefix with LIKE's wildcards in it
    other_workspace.put(_entry("order-0/reminder", "eu-0"))

    assert registry.find("order-1/reminder", now=NOW)["schedule_id"] == "s1"
    assert registry.find("missing") is None
    assert other_workspace.find("order-0/reminder")["schedule_id"] == "eu-0"
    assert [item["schedule_key"] for item in registry.list("order-", now=NOW)] == [
        "order-0/reminder",
        "order-1/reminder",
        "order-2/reminder",
    ]
    assert [item["schedule_key"] for item in registry.list("order_%", now=NOW)] == ["order_%/odd"]

    entry = registry.require("order-1/reminder")
    registry.put(
        entry.record("cancel", Actor("dag_b", "run_9", "cancel"), now=NOW, state=CANCELLED, outcome="applied")
    )
    assert [line["action"] for line in registry.history("order-1/reminder")] == [
        "intent:create",
        "create",
        "cancel",
    ]
    # Users can query the tables themselves: one row per key, one history row per change.
    assert _rows(
        registry,
        "SELECT state, outcome, schedule_id, dag_id, task_id FROM braze_schedule_registry "
        "WHERE workspace = 'braze_default' AND schedule_key = 'order-1/reminder'",
    ) == [("cancelled", "applied", "s1", "dag_b", "cancel")]
    history = _rows(
        registry,
        "SELECT seq, action, dag_id FROM braze_schedule_registry_history "
        "WHERE workspace = 'braze_default' AND schedule_key = 'order-1/reminder' ORDER BY seq",
    )
    assert [tuple(row) for row in history] == [
        (0, "intent:create", "dag_a"),
        (1, "create", "dag_a"),
        (2, "cancel", "dag_b"),
    ]
    send_first = _rows(
        registry,
        "SELECT send_first FROM braze_schedule_registry WHERE schedule_key = 'order-0/reminder' AND workspace = 'braze_default'",
    )
    assert send_first == [("2026-12-05T09:00:00+00:00",)]
    assert registry.live_schedule_ids("order-", now=NOW) == {
        "order-0/reminder": "s0",
        "order-2/reminder": "s2",
    }

    with pytest.raises(UnknownScheduleKeyError, match="No schedule is recorded under schedule_key 'nope'"):
        registry.history("nope")


def test_a_second_registry_object_sees_the_first_ones_writes(sql_registry_conn):
    """Two tasks on two connections: what one commits, the other reads."""
    writer = open_registry(braze_conn_id="braze_default", registry_conn_id=sql_registry_conn)
    reader = open_registry(braze_conn_id="braze_default", registry_conn_id=sql_registry_conn)
    assert reader.find("k") is None
    writer.put(_entry("k", "s1"))
    assert reader.find("k")["schedule_id"] == "s1"
