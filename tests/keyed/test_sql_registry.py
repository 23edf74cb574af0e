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


def _varied(n: int) -> RegistryEntry:
    """Entries of every effective state and send day: cancelled, sent already, still to come."""
    day = 1 + n % 9
    entry = _entry(f"batch/{n:03d}", f"s{n}", time=f"2026-12-{day:02d}T09:00:00Z")
    if n % 7 == 0:
        entry.record("cancel", ACTOR, now=NOW, state=CANCELLED, outcome="applied")
    return entry


def test_batches_are_read_and_written_whole_and_queried_by_the_same_rule(sql_registry_conn):
    from airflow_braze_schedule.registry import RegistryQuery, ScheduleRegistry
    from tests.core.test_registry_query import _DictBackend

    registry = open_registry(braze_conn_id="braze_default", registry_conn_id=sql_registry_conn)
    entries = [_varied(n) for n in range(120)]
    registry.put_many(entries[:60])
    registry.put_many(entries[40:])  # 20 rows exist already: replaced, their history kept once
    plain = ScheduleRegistry(_DictBackend(), workspace="braze_default")
    plain.put_many([_varied(n) for n in range(120)])

    found = registry.get_many([f"batch/{n:03d}" for n in range(0, 130, 10)])
    assert sorted(found) == [f"batch/{n:03d}" for n in range(0, 120, 10)]
    assert found["batch/070"].state == CANCELLED
    history = _rows(registry, "SELECT COUNT(*) FROM braze_schedule_registry_history")
    assert history == [(sum(len(entry.history) for entry in entries),)]
    for query in (
        RegistryQuery(prefix="batch/", limit=7, offset=5),
        RegistryQuery(state="presumed_sent", limit=50),
        RegistryQuery(state="scheduled", send_after=datetime(2026, 12, 3, tzinfo=UTC), limit=50),
        RegistryQuery(state="cancelled", send_before=datetime(2026, 12, 5, 9, tzinfo=UTC), offset=2),
        RegistryQuery(prefix="batch/1", send_after=datetime(2026, 12, 2, 9, 0, 0, 1, tzinfo=UTC)),
    ):
        page, expected = registry.query(query, now=NOW), plain.query(query, now=NOW)
        assert page.total == expected.total > 0, query
        assert [e.schedule_key for e in page.entries] == [e.schedule_key for e in expected.entries], query


def test_a_reader_refuses_to_write(sql_registry_conn):
    from airflow_braze_schedule.registry import RegistryReadOnlyError, open_registry_reader

    early = open_registry_reader("braze_default", registry_conn_id=sql_registry_conn)
    with pytest.raises(Exception, match="braze_schedule_registry"):  # no table: the reader made none
        early.find("k")
    early.backend.conn.rollback()
    open_registry(braze_conn_id="braze_default", registry_conn_id=sql_registry_conn).put(_entry("k", "s1"))
    reader = open_registry_reader("braze_default", registry_conn_id=sql_registry_conn)

    assert reader.find("k")["schedule_id"] == "s1"
    with pytest.raises(RegistryReadOnlyError, match="reading only"):
        reader.put(_entry("k", "s2"))
    assert reader.find("k")["schedule_id"] == "s1"
