"""Change events: what their extra carries, and reading it back into handles (pure)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from airflow_braze_schedule.events import EVENT_KEYS_LIMIT, event_extra, group_change, handles_from_events


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


def _group(chunks):
    return {
        "kind": "campaign",
        "campaign_id": "c1",
        "schedule": {"time": "2027-01-01T10:00:00"},
        "recipients": chunks * 50,
        "chunk_size": 50,
        "chunks": [
            {"position": n, "schedule_id": f"g-{n}", "dispatch_id": None, "recipients": 50}
            for n in range(chunks)
        ],
    }


def test_a_group_change_reads_back_as_a_group_handle():
    from airflow_braze_schedule.core.group import as_group_handle

    extra = event_extra("braze_default", [group_change(_group(3), "promo", "create", "scheduled")])
    assert extra["handle"]["schedule_ids_count"] == 3
    [handle] = handles_from_events(extra)
    group = as_group_handle(handle)
    assert group is not None
    assert (group.schedule_ids, group.campaign_id, group.recipients) == (["g-0", "g-1", "g-2"], "c1", 150)
    assert (handle["schedule_key"], handle["action"]) == ("promo", "create")


def test_a_large_group_carries_only_counts_and_reads_back_as_nothing():
    from airflow_braze_schedule.core.group import EVENT_SCHEDULE_IDS_LIMIT

    change = group_change(_group(EVENT_SCHEDULE_IDS_LIMIT + 1), "big", "create", "scheduled")
    extra = event_extra("braze_default", [change])
    assert extra["handle"]["schedule_ids_count"] == EVENT_SCHEDULE_IDS_LIMIT + 1
    assert "schedule_ids" not in extra["handle"]
    assert handles_from_events(extra) == []


def test_a_dry_runs_extra_is_left_out_unless_asked_for_and_then_says_so():
    extra = {**event_extra("braze_default", [_change(1)]), "dry_run": True, "sent": False}
    real = event_extra("braze_default", [_change(2)])
    assert [h["schedule_id"] for h in handles_from_events([extra, real])] == ["id-2"]
    handles = handles_from_events([extra, real], include_dry_run=True)
    assert [(h["schedule_id"], h.get("dry_run")) for h in handles] == [("id-1", True), ("id-2", None)]


def test_an_unkeyed_change_reads_back_with_no_key():
    extra = event_extra("braze_default", [{**_change(3), "schedule_key": None}])
    assert extra["schedule_key"] is None
    [handle] = handles_from_events(extra)
    assert (handle["schedule_id"], handle["schedule_key"]) == ("id-3", None)


def test_handles_are_read_from_triggering_asset_events_as_airflow_passes_them():
    """Airflow 3 passes ``triggering_asset_events`` as a mapping keyed by assets, whose ``in`` raises a
    TypeError for a string: reading it must not mistake it for an event's extra."""
    context = pytest.importorskip("airflow.sdk.execution_time.context")
    accessor_type = getattr(context, "TriggeringAssetEventsAccessor", None)
    if accessor_type is None or not hasattr(accessor_type, "build"):
        pytest.skip("this Airflow has no TriggeringAssetEventsAccessor.build")
    change = {
        "schedule_key": "k",
        "action": "create",
        "schedule_id": "s-1",
        "kind": "campaign",
        "campaign_id": "c",
        "schedule": {"time": "2031-01-01T09:00:00Z"},
    }
    uri = "braze://braze_default/schedules"
    event = SimpleNamespace(
        asset=SimpleNamespace(name=uri, uri=uri), source_aliases=[], extra={"changes": [change]}
    )
    accessor = accessor_type.build([event])
    with pytest.raises(TypeError):
        "changes" in accessor  # noqa: B015 - what made the reading fail before
    assert [handle["schedule_id"] for handle in handles_from_events(accessor)] == ["s-1"]
