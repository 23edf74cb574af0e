"""Every BrazeHook endpoint method, over real HTTP to the fake Braze: what went out, what came back,
and what the fake holds afterwards. Also the keep-alive session."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hook_support import EMAIL, FUTURE, LATER

from airflow_braze_schedule import __version__
from airflow_braze_schedule.core.errors import BrazeValidationError
from airflow_braze_schedule.testing import FakeBraze, Status

UTC_SCHEDULE = {"time": FUTURE, "in_local_time": False, "at_optimal_time": False}
LATER_SCHEDULE = {"time": LATER, "in_local_time": False, "at_optimal_time": False}


def assert_sent(fake: FakeBraze, method: str, path: str, body: dict | None, query: dict | None = None):
    """Exactly one request reached the fake, as described; it carried the hook's headers."""
    assert len(fake.received) == 1, fake.received
    request = fake.received[0]
    assert (request.method, request.path) == (method, path)
    assert request.json == body
    assert request.query == (query or {})
    assert request.headers["authorization"] == f"Bearer {fake.api_key}"
    assert request.headers["user-agent"].startswith(f"airflow-braze-schedule/{__version__}")
    if method == "POST":
        assert request.headers["content-type"] == "application/json"
    assert request.status == 200
    return request


# --- messages ------------------------------------------------------------------------------------------


def test_schedule_message(fake_braze, make_hook):
    answer = make_hook().schedule_message(
        schedule={"time": FUTURE}, external_user_ids=["user-1", "user-2"], messages=EMAIL, send_id="send-1"
    )

    assert_sent(
        fake_braze,
        "POST",
        "/messages/schedule/create",
        {
            "send_id": "send-1",
            "external_user_ids": ["user-1", "user-2"],
            "messages": EMAIL,
            "schedule": UTC_SCHEDULE,
        },
    )
    stored = fake_braze.schedules[answer["schedule_id"]]
    assert answer == {
        "schedule_id": stored.schedule_id,
        "dispatch_id": stored.dispatch_id,
        "message": "success",
    }
    assert (stored.kind, stored.status, stored.schedule, stored.messages) == (
        "message",
        "scheduled",
        UTC_SCHEDULE,
        EMAIL,
    )


def test_update_scheduled_message_replaces_schedule_and_messages(fake_braze, make_hook):
    hook = make_hook()
    schedule_id = hook.schedule_message(
        schedule={"time": FUTURE}, broadcast=True, segment_id="seg-1", messages=EMAIL
    )["schedule_id"]
    new_messages = {"sms": {"subscription_group_id": "sg-1", "body": "Hi"}}

    answer = hook.update_scheduled_message(
        schedule_id, schedule={"time": LATER, "in_local_time": True}, messages=new_messages
    )

    assert answer == {"message": "success"}
    [update] = fake_braze.requests_to("/messages/schedule/update")
    assert update.json == {
        "schedule_id": schedule_id,
        "schedule": {"time": "2031-03-02T10:30:00", "in_local_time": True, "at_optimal_time": False},
        "messages": new_messages,
    }
    assert update.headers["authorization"] == f"Bearer {fake_braze.api_key}"
    assert update.headers["content-type"] == "application/json"
    stored = fake_braze.schedules[schedule_id]
    assert stored.schedule == {"time": "2031-03-02T10:30:00", "in_local_time": True, "at_optimal_time": False}
    assert stored.messages == new_messages
    assert stored.status == "scheduled"
    assert len(stored.history) == 2


def test_update_scheduled_message_schedule_only(fake_braze, make_hook):
    hook = make_hook()
    schedule_id = hook.schedule_message(schedule={"time": FUTURE}, external_user_ids=["u"], messages=EMAIL)[
        "schedule_id"
    ]

    hook.update_scheduled_message(schedule_id, schedule=LATER)

    [update] = fake_braze.requests_to("/messages/schedule/update")
    assert update.json == {"schedule_id": schedule_id, "schedule": LATER_SCHEDULE}
    stored = fake_braze.schedules[schedule_id]
    assert stored.schedule == LATER_SCHEDULE
    assert stored.messages == EMAIL  # untouched: not part of the update


def test_delete_scheduled_message(fake_braze, make_hook):
    hook = make_hook()
    schedule_id = hook.schedule_message(
        schedule={"time": FUTURE}, broadcast=True, segment_id="seg-1", messages=EMAIL
    )["schedule_id"]

    answer = hook.delete_scheduled_message(schedule_id)

    assert answer == {"message": "success"}
    [delete] = fake_braze.requests_to("/messages/schedule/delete")
    assert delete.json == {"schedule_id": schedule_id}
    assert delete.headers["authorization"] == f"Bearer {fake_braze.api_key}"
    assert fake_braze.schedules[schedule_id].status == "cancelled"
    assert fake_braze.active_schedules() == []


# --- API-triggered campaigns ---------------------------------------------------------------------------


def test_schedule_campaign(fake_braze, make_hook):
    recipients = [{"external_user_id": "user-1", "trigger_properties": {"coupon": "X1"}}]
    answer = make_hook().schedule_campaign(
        "campaign-1", schedule={"time": FUTURE}, recipients=recipients, trigger_properties={"a": 1}
    )

    assert_sent(
        fake_braze,
        "POST",
        "/campaigns/trigger/schedule/create",
        {
            "campaign_id": "campaign-1",
            "recipients": recipients,
            "trigger_properties": {"a": 1},
            "schedule": UTC_SCHEDULE,
        },
    )
    stored = fake_braze.schedules[answer["schedule_id"]]
    assert answer["dispatch_id"] == stored.dispatch_id
    assert answer["message"] == "success"
    assert (stored.kind, stored.campaign_id, stored.status) == ("campaign", "campaign-1", "scheduled")


def test_update_campaign_schedule_replaces_the_schedule(fake_braze, make_hook):
    hook = make_hook()
    schedule_id = hook.schedule_campaign(
        "campaign-1", schedule={"time": "2031-03-01T09:00:00", "in_local_time": True}, broadcast=True
    )["schedule_id"]

    answer = hook.update_campaign_schedule("campaign-1", schedule_id, schedule={"time": LATER})

    assert answer == {"message": "success"}
    [update] = fake_braze.requests_to("/campaigns/trigger/schedule/update")
    # The whole object is sent: in_local_time false is explicit, since Braze replaces the schedule wholesale.
    assert update.json == {
        "campaign_id": "campaign-1",
        "schedule_id": schedule_id,
        "schedule": LATER_SCHEDULE,
    }
    assert update.headers["content-type"] == "application/json"
    assert fake_braze.schedules[schedule_id].schedule == LATER_SCHEDULE


def test_delete_campaign_schedule(fake_braze, make_hook):
    hook = make_hook()
    schedule_id = hook.schedule_campaign("campaign-1", schedule={"time": FUTURE}, broadcast=True)[
        "schedule_id"
    ]

    answer = hook.delete_campaign_schedule("campaign-1", schedule_id)

    assert answer == {"message": "success"}
    [delete] = fake_braze.requests_to("/campaigns/trigger/schedule/delete")
    assert delete.json == {"campaign_id": "campaign-1", "schedule_id": schedule_id}
    assert fake_braze.schedules[schedule_id].status == "cancelled"


# --- API-triggered Canvases ----------------------------------------------------------------------------


def test_schedule_canvas(fake_braze, make_hook):
    recipients = [{"user_alias": {"alias_name": "a-1", "alias_label": "crm"}, "context": {"tier": "gold"}}]
    answer = make_hook().schedule_canvas(
        "canvas-1", schedule={"time": FUTURE}, recipients=recipients, context={"source": "airflow"}
    )

    assert_sent(
        fake_braze,
        "POST",
        "/canvas/trigger/schedule/create",
        {
            "canvas_id": "canvas-1",
            "recipients": recipients,
            "context": {"source": "airflow"},
            "schedule": UTC_SCHEDULE,
        },
    )
    stored = fake_braze.schedules[answer["schedule_id"]]
    assert answer == {
        "schedule_id": stored.schedule_id,
        "dispatch_id": stored.dispatch_id,
        "message": "success",
    }
    assert (stored.kind, stored.canvas_id, stored.status) == ("canvas", "canvas-1", "scheduled")


def test_update_canvas_schedule_replaces_the_schedule(fake_braze, make_hook):
    hook = make_hook()
    schedule_id = hook.schedule_canvas("canvas-1", schedule={"time": FUTURE}, broadcast=True)["schedule_id"]
    optimal = {"time": "2031-03-05T00:00:00", "in_local_time": False, "at_optimal_time": True}

    answer = hook.update_canvas_schedule(
        "canvas-1", schedule_id, schedule={"time": "2031-03-05", "at_optimal_time": True}
    )

    assert answer == {"message": "success"}
    [update] = fake_braze.requests_to("/canvas/trigger/schedule/update")
    assert update.json == {"canvas_id": "canvas-1", "schedule_id": schedule_id, "schedule": optimal}
    assert fake_braze.schedules[schedule_id].schedule == optimal


def test_delete_canvas_schedule(fake_braze, make_hook):
    hook = make_hook()
    schedule_id = hook.schedule_canvas("canvas-1", schedule={"time": FUTURE}, broadcast=True)["schedule_id"]

    answer = hook.delete_canvas_schedule("canvas-1", schedule_id)

    assert answer == {"message": "success"}
    [delete] = fake_braze.requests_to("/canvas/trigger/schedule/delete")
    assert delete.json == {"canvas_id": "canvas-1", "schedule_id": schedule_id}
    assert fake_braze.schedules[schedule_id].status == "cancelled"
    assert fake_braze.active_schedules() == []


def test_delete_with_another_owner_is_not_found_and_cancels_nothing(fake_braze, make_hook):
    from airflow_braze_schedule.core.errors import BrazeNotFoundError

    hook = make_hook()
    schedule_id = hook.schedule_canvas("canvas-1", schedule={"time": FUTURE}, broadcast=True)["schedule_id"]

    with pytest.raises(BrazeNotFoundError) as info:
        hook.delete_canvas_schedule("canvas-2", schedule_id)

    assert info.value.status_code == 404
    assert fake_braze.api_key not in str(info.value)
    assert len(fake_braze.requests_to("/canvas/trigger/schedule/delete")) == 1  # a 404 is not retried
    assert fake_braze.schedules[schedule_id].status == "scheduled"


# --- create_schedule picks the endpoint from the fields ------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "path", "kind"),
    [
        ({"messages": EMAIL, "external_user_ids": ["u"]}, "/messages/schedule/create", "message"),
        (
            {
                "messages": {"email": {**EMAIL["email"], "message_variation_id": "variation-1"}},
                "campaign_id": "campaign-1",
                "external_user_ids": ["u"],
            },
            "/messages/schedule/create",
            "message",
        ),
        ({"campaign_id": "campaign-1", "broadcast": True}, "/campaigns/trigger/schedule/create", "campaign"),
        ({"canvas_id": "canvas-1", "broadcast": True}, "/canvas/trigger/schedule/create", "canvas"),
    ],
)
def test_create_schedule_routes_by_fields(fake_braze, make_hook, fields, path, kind):
    answer = make_hook().create_schedule(schedule={"time": FUTURE}, **fields)

    assert_sent(fake_braze, "POST", path, {**fields, "schedule": UTC_SCHEDULE})
    assert fake_braze.schedules[answer["schedule_id"]].kind == kind
    assert answer["message"] == "success"


# --- reads and send ids -------------------------------------------------------------------------------


def test_get_scheduled_broadcasts_with_a_string(fake_braze, make_hook):
    broadcasts = make_hook().get_scheduled_broadcasts("2031-01-01T00:00:00Z")

    assert broadcasts == []
    assert_sent(
        fake_braze, "GET", "/messages/scheduled_broadcasts", None, {"end_time": "2031-01-01T00:00:00Z"}
    )
    assert fake_braze.received[0].body == ""


@pytest.mark.parametrize("end_time", ["2031-01-01", date(2031, 1, 1)], ids=["date-string", "date"])
def test_get_scheduled_broadcasts_sends_a_date_as_its_midnight_utc_date_time(fake_braze, make_hook, end_time):
    # Braze's only example is a date-time with offset; a server may refuse a bare date.
    make_hook().get_scheduled_broadcasts(end_time)

    [request] = fake_braze.received
    assert request.query["end_time"] == "2031-01-01T00:00:00Z"
    assert request.status == 200


@pytest.mark.parametrize("end_time", ["next tuesday", "", None, 20310101])
def test_get_scheduled_broadcasts_refuses_what_is_no_date_before_the_call(fake_braze, make_hook, end_time):
    with pytest.raises(BrazeValidationError, match=r"^end_time: .* is not an ISO 8601 date or date-time"):
        make_hook().get_scheduled_broadcasts(end_time)

    assert fake_braze.received == []


def test_get_scheduled_broadcasts_with_a_datetime_returns_the_list(fake_braze, make_hook):
    listed = [{"name": "Dashboard campaign", "id": "c-1", "type": "Campaign", "next_send_time": "2031-01-01"}]
    fake_braze.inject(Status(200, {"scheduled_broadcasts": listed, "message": "success"}))

    broadcasts = make_hook().get_scheduled_broadcasts(datetime(2031, 1, 1, 12, 30, tzinfo=UTC))

    assert broadcasts == listed
    [request] = fake_braze.received
    assert datetime.fromisoformat(request.query["end_time"]) == datetime(2031, 1, 1, 12, 30, tzinfo=UTC)


def test_get_scheduled_broadcasts_takes_a_naive_datetime_as_utc(fake_braze, make_hook):
    make_hook().get_scheduled_broadcasts(datetime(2031, 1, 1, 8, 0))

    [request] = fake_braze.received
    assert datetime.fromisoformat(request.query["end_time"]) == datetime(2031, 1, 1, 8, 0, tzinfo=UTC)
    assert request.status == 200


def test_create_send_id_with_a_chosen_id(fake_braze, make_hook):
    send_id = make_hook().create_send_id("campaign-1", "my-send-1")

    assert send_id == "my-send-1"
    assert_sent(fake_braze, "POST", "/sends/id/create", {"campaign_id": "campaign-1", "send_id": "my-send-1"})
    assert fake_braze.send_ids == {"my-send-1": "campaign-1"}


def test_create_send_id_generated_by_braze(fake_braze, make_hook):
    send_id = make_hook().create_send_id("campaign-1")

    assert_sent(fake_braze, "POST", "/sends/id/create", {"campaign_id": "campaign-1"})
    assert fake_braze.send_ids == {send_id: "campaign-1"}
    assert send_id


# --- one keep-alive session ----------------------------------------------------------------------------


def test_many_calls_share_one_keep_alive_connection(fake_braze, make_hook):
    hook = make_hook()
    session = hook.session
    assert hook.get_conn() is hook.client
    assert hook.client.session is session  # this thread's session of the hook's client

    ids = [
        hook.schedule_message(schedule={"time": FUTURE}, external_user_ids=[f"u{i}"], messages=EMAIL)[
            "schedule_id"
        ]
        for i in range(3)
    ]
    hook.update_scheduled_message(ids[0], schedule=LATER)
    hook.delete_scheduled_message(ids[1])
    hook.get_scheduled_broadcasts(FUTURE)

    assert hook.session is session
    assert len(fake_braze.received) == 6
    assert all(r.headers["connection"] == "keep-alive" for r in fake_braze.received)
    pools = session.get_adapter(fake_braze.url).poolmanager.pools
    [pool] = [pools[key] for key in pools.keys()]  # noqa: SIM118 (RecentlyUsedContainer has no iterator)
    assert pool.num_requests == 6
    assert pool.num_connections == 1  # one TCP connection carried all six calls
    assert len(fake_braze.active_schedules()) == 2
