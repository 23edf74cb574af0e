"""The registry's batch reads and writes and its paged query, over a backend that has none of its own."""

from __future__ import annotations

from typing import Any

import pendulum

from airflow_braze_schedule.core.registry_model import Actor, RegistryEntry
from airflow_braze_schedule.registry import RegistryQuery, ScheduleRegistry


class _DictBackend:
    description = "a dict"

    def __init__(self) -> None:
        self.values: dict[str, dict[str, Any]] = {}
        self.loads = 0

    def load(self, schedule_key: str) -> dict[str, Any] | None:
        self.loads += 1
        return self.values.get(schedule_key)

    def save(self, entry: dict[str, Any]) -> None:
        self.values[entry["schedule_key"]] = entry

    def load_scope(self, prefix: str) -> dict[str, dict[str, Any]]:
        return {key: value for key, value in self.values.items() if key.startswith(prefix)}


def _entry(key: str, day: int, state: str = "scheduled") -> RegistryEntry:
    time = pendulum.datetime(2030, 1, day, 9, tz="UTC").isoformat()
    entry = RegistryEntry(key, handle={"schedule_id": f"s-{key}", "schedule": {"time": time}})
    return entry.record("create", Actor(dag_id="d", run_id="r", task_id="t"), state=state)


def test_put_many_and_get_many_round_trip_only_the_keys_that_exist():
    registry = ScheduleRegistry(_DictBackend(), workspace="braze_default")
    registry.put_many([_entry("a/1", 1), _entry("a/2", 2)])

    found = registry.get_many(["a/1", "a/2", "a/missing"])

    assert sorted(found) == ["a/1", "a/2"]
    assert found["a/2"].schedule_id == "s-a/2"


def test_a_query_filters_by_prefix_state_and_send_window_and_pages_in_key_order():
    registry = ScheduleRegistry(_DictBackend(), workspace="braze_default")
    registry.put_many([_entry(f"store/{n:02d}", 1 + n % 5) for n in range(20)])
    registry.put(_entry("store/99", 2, state="cancelled"))
    registry.put(_entry("other/1", 2))
    window = RegistryQuery(
        prefix="store/",
        state="scheduled",
        send_after=pendulum.datetime(2030, 1, 2, tz="UTC"),
        send_before=pendulum.datetime(2030, 1, 4, tz="UTC"),
        limit=3,
        offset=2,
    )

    page = registry.query(window, now=pendulum.datetime(2029, 12, 1, tz="UTC"))

    # days 2 and 3 are n % 5 in (1, 2): n = 1, 2, 6, 7, 11, 12, 16, 17
    assert page.total == 8
    assert [entry.schedule_key for entry in page.entries] == ["store/06", "store/07", "store/11"]
