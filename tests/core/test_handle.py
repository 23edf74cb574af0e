"""The create task's handle in XCom, and how update and cancel tasks find their schedule from it."""

from __future__ import annotations

import json

import pytest

from airflow_braze_schedule.core.endpoints import ScheduleKind
from airflow_braze_schedule.core.errors import BrazeValidationError
from airflow_braze_schedule.core.handle import ScheduleHandle, resolve_schedule, schedule_for_update
from airflow_braze_schedule.core.schedule import BrazeSchedule

MESSAGE, CAMPAIGN, CANVAS = ScheduleKind.MESSAGE, ScheduleKind.CAMPAIGN, ScheduleKind.CANVAS
LOCAL_SCHEDULE = {"time": "2026-12-01T09:00:00", "in_local_time": True, "at_optimal_time": False}

HANDLES = {
    "message": ScheduleHandle("sid-m", MESSAGE, dispatch_id="d-m", schedule=LOCAL_SCHEDULE),
    "message-attributed": ScheduleHandle("sid-a", MESSAGE, campaign_id="camp"),
    "campaign": ScheduleHandle(
        "sid-c", CAMPAIGN, dispatch_id="d-c", campaign_id="camp", schedule=LOCAL_SCHEDULE
    ),
    "canvas": ScheduleHandle("sid-v", CANVAS, dispatch_id="d-v", canvas_id="canv", schedule=LOCAL_SCHEDULE),
}
XCOM = {
    "message": {"schedule_id": "sid-m", "dispatch_id": "d-m", "kind": "message", "schedule": LOCAL_SCHEDULE},
    "message-attributed": {
        "schedule_id": "sid-a",
        "dispatch_id": None,
        "kind": "message",
        "campaign_id": "camp",
        "schedule": None,
    },
    "campaign": {
        "schedule_id": "sid-c",
        "dispatch_id": "d-c",
        "kind": "campaign",
        "campaign_id": "camp",
        "schedule": LOCAL_SCHEDULE,
    },
    "canvas": {
        "schedule_id": "sid-v",
        "dispatch_id": "d-v",
        "kind": "canvas",
        "canvas_id": "canv",
        "schedule": LOCAL_SCHEDULE,
    },
}
OWNER = {"message": None, "message-attributed": None, "campaign": "camp", "canvas": "canv"}


@pytest.mark.parametrize("name", list(HANDLES))
def test_to_xcom_shape_and_json_round_trip(name):
    value = HANDLES[name].to_xcom()
    assert value == XCOM[name]
    assert json.loads(json.dumps(value)) == value
    assert ScheduleHandle.from_xcom(json.loads(json.dumps(value))) == HANDLES[name]


@pytest.mark.parametrize("name", list(HANDLES))
def test_owner_id(name):
    assert HANDLES[name].owner_id == OWNER[name]


@pytest.mark.parametrize("name", list(HANDLES))
@pytest.mark.parametrize(
    "render",
    [
        pytest.param(lambda v: v, id="dict"),
        pytest.param(json.dumps, id="json-text"),
        pytest.param(str, id="python-repr"),  # what {{ ti.xcom_pull(task_ids='create') }} renders
        pytest.param(lambda v: f"  {v}\n", id="python-repr-padded"),
    ],
)
def test_resolve_schedule_reads_a_handle_in_every_form(name, render):
    assert resolve_schedule(render(XCOM[name])) == HANDLES[name]


def test_resolve_schedule_accepts_matching_ids_beside_a_handle():
    assert resolve_schedule(XCOM["campaign"], campaign_id="camp") == HANDLES["campaign"]
    assert resolve_schedule(XCOM["canvas"], canvas_id="canv") == HANDLES["canvas"]


@pytest.mark.parametrize(
    ("name", "kwargs", "field"),
    [
        pytest.param("campaign", {"campaign_id": "other"}, "campaign_id", id="campaign-mismatch"),
        pytest.param("campaign", {"canvas_id": "canv"}, "canvas_id", id="canvas-id-on-campaign"),
        pytest.param("canvas", {"canvas_id": "other"}, "canvas_id", id="canvas-mismatch"),
        pytest.param("message", {"campaign_id": "camp"}, "campaign_id", id="campaign-id-on-message"),
    ],
)
def test_resolve_schedule_refuses_ids_that_disagree_with_the_handle(name, kwargs, field):
    with pytest.raises(BrazeValidationError) as info:
        resolve_schedule(XCOM[name], **kwargs)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param({}, ScheduleHandle("sid", MESSAGE), id="bare-id-is-message"),
        pytest.param(
            {"campaign_id": "camp"}, ScheduleHandle("sid", CAMPAIGN, campaign_id="camp"), id="campaign"
        ),
        pytest.param({"canvas_id": "canv"}, ScheduleHandle("sid", CANVAS, canvas_id="canv"), id="canvas"),
        pytest.param(
            {"campaign_id": "camp", "messages": {"sms": {}}},
            ScheduleHandle("sid", MESSAGE, campaign_id="camp"),
            id="campaign-with-messages-is-message",
        ),
    ],
)
def test_resolve_schedule_with_a_bare_id(kwargs, expected):
    assert resolve_schedule("sid", **kwargs) == expected


@pytest.mark.parametrize(
    ("value", "kwargs", "field"),
    [
        pytest.param("sid", {"campaign_id": "camp", "canvas_id": "canv"}, "campaign_id", id="both-owner-ids"),
        pytest.param(None, {}, "schedule_id", id="None"),
        pytest.param("", {}, "schedule_id", id="empty"),
        pytest.param("None", {}, "schedule_id", id="rendered-None"),
        pytest.param(" sid ", {}, "schedule_id", id="padded"),
        pytest.param(42, {}, "schedule_id", id="int"),
        pytest.param("{not a handle", {}, "schedule_id", id="broken-handle-text"),
        pytest.param({"schedule_id": "sid", "kind": "sms"}, {}, "schedule_id", id="unknown-kind"),
        pytest.param({"schedule_id": "sid"}, {}, "schedule_id", id="no-kind"),
        pytest.param({"schedule_id": None, "kind": "message"}, {}, "schedule_id", id="handle-without-id"),
    ],
)
def test_resolve_schedule_refuses(value, kwargs, field):
    with pytest.raises(BrazeValidationError) as info:
        resolve_schedule(value, **kwargs)
    assert info.value.field == field


def test_from_xcom_ignores_a_schedule_that_is_not_an_object():
    handle = ScheduleHandle.from_xcom({"schedule_id": "sid", "kind": "message", "schedule": "2026-12-01"})
    assert handle.schedule is None


# --- schedule_for_update --------------------------------------------------------------------------

OPTIMAL_SCHEDULE = {"time": "2026-12-01T00:00:00", "in_local_time": False, "at_optimal_time": True}
UTC_SCHEDULE = {"time": "2026-12-01T09:00:00Z", "in_local_time": False, "at_optimal_time": False}


@pytest.mark.parametrize(
    ("update", "original", "expected"),
    [
        pytest.param(
            {"time": "2026-12-02T10:00:00"},
            LOCAL_SCHEDULE,
            {"time": "2026-12-02T10:00:00", "in_local_time": True, "at_optimal_time": False},
            id="keeps-local",
        ),
        pytest.param(
            {"time": "2026-12-02"},
            OPTIMAL_SCHEDULE,
            {"time": "2026-12-02", "in_local_time": False, "at_optimal_time": True},
            id="keeps-optimal",
        ),
        pytest.param(
            "2026-12-02T10:00:00",
            LOCAL_SCHEDULE,
            {"time": "2026-12-02T10:00:00", "in_local_time": True, "at_optimal_time": False},
            id="bare-time",
        ),
        pytest.param(
            {"time": "2026-12-02T10:00:00Z"},
            UTC_SCHEDULE,
            {"time": "2026-12-02T10:00:00Z", "in_local_time": False, "at_optimal_time": False},
            id="keeps-utc",
        ),
        pytest.param(
            {"time": "2026-12-02T10:00:00Z"},
            {"time": "2026-12-01T09:00:00", "in_local_time": True},
            {"time": "2026-12-02T10:00:00Z", "in_local_time": True},
            id="original-with-one-flag",
        ),
        pytest.param(
            {"time": "2026-12-02T10:00:00Z", "in_local_time": False},
            LOCAL_SCHEDULE,
            {"time": "2026-12-02T10:00:00Z", "in_local_time": False},
            id="caller-sets-local-false",
        ),
        pytest.param(
            {"time": "2026-12-02", "at_optimal_time": True},
            LOCAL_SCHEDULE,
            {"time": "2026-12-02", "at_optimal_time": True},
            id="caller-sets-optimal",
        ),
        pytest.param(
            {"time": "2026-12-02T10:00:00Z"}, None, {"time": "2026-12-02T10:00:00Z"}, id="no-original"
        ),
        pytest.param("2026-12-02T10:00:00Z", None, "2026-12-02T10:00:00Z", id="bare-time-no-original"),
        pytest.param(None, LOCAL_SCHEDULE, None, id="no-update"),
    ],
)
def test_schedule_for_update(update, original, expected):
    assert schedule_for_update(update, original) == expected


def test_schedule_for_update_does_not_change_its_inputs():
    update = {"time": "2026-12-02T10:00:00"}
    original = dict(LOCAL_SCHEDULE)
    schedule_for_update(update, original)
    assert update == {"time": "2026-12-02T10:00:00"}
    assert original == LOCAL_SCHEDULE


def test_schedule_for_update_accepts_a_braze_schedule():
    schedule = BrazeSchedule.parse({"time": "2026-12-02T10:00:00Z"})
    assert BrazeSchedule.parse(schedule_for_update(schedule, LOCAL_SCHEDULE)) == schedule
