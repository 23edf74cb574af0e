"""Change events: what their extra carries, and reading it back into handles (pure)."""

from __future__ import annotations

from airflow_braze_schedule.events import handles_from_events
from airflow_braze_schedule.operators.keyed import EVENT_KEYS_LIMIT, event_extra


def _change(n, action="create"):
    return {
        "schedule_key": f"orders/{n}/reminder",
        "action": action,
        "state": "scheduled",
        "schedule_id": f"id-{n}",
        "dispatch_id": f"d-{n}",
        "kind": "campaign",
        "campaign_id": "c1",
        "schedule": {"time": "2027-01-01T10:00:00", "in_local_time": True, "at_optimal_time": False},
    }


def test_one_change_carries_its_whole_handle():
    extra = event_extra("braze_default", [_change(1)])
    assert extra["schedule_key"] == "orders/1/reminder"
    assert extra["handle"]["schedule_id"] == "id-1"
    [handle] = handles_from_events([{"extra": extra}])
    assert handle == {
        "schedule_id": "id-1",
        "kind": "campaign",
        "campaign_id": "c1",
        "schedule": _change(1)["schedule"],
        "schedule_key": "orders/1/reminder",
        "action": "create",
    }


def test_many_changes_are_compact_and_filtered_by_action():
    changes = [_change(n, "cancel" if n % 2 else "update") for n in range(120)]
    changes.append({**_change(999), "action": "unchanged"})
    extra = event_extra("braze_default", changes, scope="orders/")
    assert len(extra["changes"]) == EVENT_KEYS_LIMIT
    assert (extra["changes_total"], extra["changes_truncated"], extra["scope"]) == (121, True, "orders/")
    assert "handle" not in extra
    assert (
        len(handles_from_events({"asset": [{"extra": extra}]}, actions=("cancel",))) == EVENT_KEYS_LIMIT // 2
    )
    assert all(h["action"] != "unchanged" for h in handles_from_events(extra))
    assert handles_from_events(None) == []
