"""Tests of the fake Braze server, over real HTTP on loopback (``requests``).

The ``fake_braze`` fixture comes from ``airflow_braze_schedule.testing.pytest_plugin`` (enabled in the root
``conftest.py``): one server per session, reset before each test. Tests that need another configuration
(API key, permissions, clock, rate limit) start their own ``FakeBraze``.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import select
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
import requests

from airflow_braze_schedule.testing import (
    DEFAULT_API_KEY,
    Delay,
    DropAfterProcessing,
    DropBeforeProcessing,
    FakeBraze,
    HtmlError,
    RateLimited,
    Status,
)

if TYPE_CHECKING:
    from pathlib import Path

MESSAGES_CREATE = "/messages/schedule/create"
MESSAGES_UPDATE = "/messages/schedule/update"
MESSAGES_DELETE = "/messages/schedule/delete"
CAMPAIGN_CREATE = "/campaigns/trigger/schedule/create"
CAMPAIGN_UPDATE = "/campaigns/trigger/schedule/update"
CAMPAIGN_DELETE = "/campaigns/trigger/schedule/delete"
CANVAS_CREATE = "/canvas/trigger/schedule/create"
CANVAS_UPDATE = "/canvas/trigger/schedule/update"
CANVAS_DELETE = "/canvas/trigger/schedule/delete"
BROADCASTS = "/messages/scheduled_broadcasts"
SEND_ID_CREATE = "/sends/id/create"
RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")
TOO_MANY = "The max number of external_ids and aliases per request was exceeded"


# ------------------------------------------------------------------------------------------------ helpers


def when(hours: float = 24, *, utc: bool = True) -> str:
    """An ISO 8601 time ``hours`` from now: with ``Z`` (UTC) or without a designator (local/optimal)."""
    moment = datetime.now(UTC) + timedelta(hours=hours)
    text = moment.replace(microsecond=0, tzinfo=None).isoformat()
    return text + "Z" if utc else text


def past_on_a_day_not_over_everywhere() -> str:
    """Midnight (no designator) of the date of 12 hours ago: a wall time already passed in UTC-12, the
    last zone (so a local time is over), on a date not yet over there (so an optimal time is not).

    A fixed offset such as "20 hours ago" is not: its date ends in UTC-12 at noon UTC the next day, so
    from noon to 20:00 UTC it is over everywhere.
    """
    day = (datetime.now(UTC) - timedelta(hours=12)).replace(hour=0, minute=0, second=0, microsecond=0)
    return day.replace(tzinfo=None).isoformat()


def post(
    braze: FakeBraze, path: str, body: Any = None, *, key: str | None = None, **kwargs: Any
) -> requests.Response:
    """POST ``body`` as JSON with ``Authorization: Bearer <key>`` (the fake's key by default)."""
    headers = {
        "Authorization": f"Bearer {braze.api_key if key is None else key}",
        **kwargs.pop("headers", {}),
    }
    kwargs.setdefault("timeout", 5)
    if "data" not in kwargs:
        kwargs["json"] = body
    return requests.post(braze.url + path, headers=headers, **kwargs)


def get(braze: FakeBraze, path: str, **params: str) -> requests.Response:
    headers = {"Authorization": f"Bearer {braze.api_key}"}
    return requests.get(braze.url + path, params=params, headers=headers, timeout=5)


def message_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "external_user_ids": ["user-1"],
        "schedule": {"time": when()},
        "messages": {"apple_push": {"alert": "Hello"}},
    }
    return {**body, **overrides}


def campaign_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "campaign_id": "camp-1",
        "recipients": [{"external_user_id": "user-1"}],
        "schedule": {"time": when()},
    }
    return {**body, **overrides}


def canvas_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "canvas_id": "canvas-1",
        "recipients": [{"external_user_id": "user-1"}],
        "schedule": {"time": when()},
    }
    return {**body, **overrides}


def create(braze: FakeBraze, path: str, body: dict[str, Any]) -> str:
    """Create a schedule, assert success, return its ``schedule_id``."""
    response = post(braze, path, body)
    assert response.status_code == 200, response.text
    return str(response.json()["schedule_id"])


def assert_error(response: requests.Response, status: int, *fragments: str) -> dict[str, Any]:
    """Assert a JSON error answer whose ``message`` + ``errors`` text contains every fragment."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    text = " | ".join([body["message"], *body.get("errors", [])])
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in {text!r}"
    return dict(body)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Any, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


# ----------------------------------------------------------------------------------- schedules: success


@pytest.mark.parametrize(
    ("path", "body", "kind"),
    [
        pytest.param(MESSAGES_CREATE, message_body(), "message", id="messages"),
        pytest.param(CAMPAIGN_CREATE, campaign_body(trigger_properties={"a": 1}), "campaign", id="campaign"),
        pytest.param(CANVAS_CREATE, canvas_body(context={"a": 1}), "canvas", id="canvas"),
        pytest.param(CANVAS_CREATE, canvas_body(canvas_entry_properties={"a": 1}), "canvas", id="canvas-old"),
    ],
)
def test_create_answers_200_with_ids_and_stores_schedule(
    fake_braze: FakeBraze, path: str, body: dict[str, Any], kind: str
) -> None:
    first, second = post(fake_braze, path, body), post(fake_braze, path, body)

    assert first.status_code == second.status_code == 200
    answer = first.json()
    assert set(answer) == {"dispatch_id", "schedule_id", "message"}
    assert answer["message"] == "success"
    ids = {answer["schedule_id"], answer["dispatch_id"], *second.json().values()} - {"success"}
    assert len(ids) == 4, "ids must be distinct"
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    stored = fake_braze.schedules[answer["schedule_id"]]
    assert (stored.kind, stored.status, stored.dispatch_id) == (kind, "scheduled", answer["dispatch_id"])
    assert stored.schedule == body["schedule"]
    assert stored.body == body
    assert stored.history == [body]
    assert stored.campaign_id == body.get("campaign_id")
    assert stored.canvas_id == body.get("canvas_id")
    assert stored.messages == body.get("messages")
    assert len(fake_braze.active_schedules()) == 2


@pytest.mark.parametrize(
    ("create_path", "update_path", "delete_path", "body", "owner"),
    [
        (CAMPAIGN_CREATE, CAMPAIGN_UPDATE, CAMPAIGN_DELETE, campaign_body(), {"campaign_id": "camp-1"}),
        (CANVAS_CREATE, CANVAS_UPDATE, CANVAS_DELETE, canvas_body(), {"canvas_id": "canvas-1"}),
        (MESSAGES_CREATE, MESSAGES_UPDATE, MESSAGES_DELETE, message_body(), {}),
    ],
)
def test_update_replaces_schedule_wholesale_then_delete_cancels(
    fake_braze: FakeBraze,
    create_path: str,
    update_path: str,
    delete_path: str,
    body: dict[str, Any],
    owner: dict[str, str],
) -> None:
    local = {"time": when(48, utc=False), "in_local_time": True}
    sid = create(fake_braze, create_path, {**body, "schedule": local})
    new_schedule = {"time": when(72)}  # no in_local_time: Braze reverts the send to UTC

    updated = post(fake_braze, update_path, {**owner, "schedule_id": sid, "schedule": new_schedule})

    assert updated.status_code == 200
    assert updated.json() == {"message": "success"}
    stored = fake_braze.schedules[sid]
    assert stored.schedule == new_schedule
    assert len(stored.history) == 2
    assert stored.history[1]["schedule"] == new_schedule

    deleted = post(fake_braze, delete_path, {**owner, "schedule_id": sid})
    assert (deleted.status_code, deleted.json()) == (200, {"message": "success"})
    assert fake_braze.schedules[sid].status == "cancelled"
    assert fake_braze.active_schedules() == []
    # A cancelled schedule can neither be deleted again nor updated.
    assert_error(post(fake_braze, delete_path, {**owner, "schedule_id": sid}), 404, "Schedule not found")
    again = post(fake_braze, update_path, {**owner, "schedule_id": sid, "schedule": new_schedule})
    assert_error(again, 404, "Schedule not found")


def test_messages_update_replaces_messages_and_keeps_schedule(fake_braze: FakeBraze) -> None:
    body = message_body()
    sid = create(fake_braze, MESSAGES_CREATE, body)
    new_messages = {"sms": {"subscription_group_id": "g", "body": "Hi"}}

    assert (
        post(fake_braze, MESSAGES_UPDATE, {"schedule_id": sid, "messages": new_messages}).status_code == 200
    )

    stored = fake_braze.schedules[sid]
    assert stored.messages == new_messages  # replaced, not merged with apple_push
    assert stored.schedule == body["schedule"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (MESSAGES_UPDATE, {"schedule_id": "nope", "schedule": {"time": when()}}),
        (MESSAGES_DELETE, {"schedule_id": "nope"}),
        (CAMPAIGN_DELETE, {"campaign_id": "camp-1", "schedule_id": "nope"}),
        (CANVAS_UPDATE, {"canvas_id": "c", "schedule_id": "nope", "schedule": {"time": when()}}),
    ],
)
def test_unknown_schedule_id_is_404(fake_braze: FakeBraze, path: str, body: dict[str, Any]) -> None:
    assert assert_error(post(fake_braze, path, body), 404) == {"message": "Schedule not found"}


def test_unknown_schedule_status_400_answers_unknown_and_cancelled_schedules_with_400() -> None:
    # Braze documents no status for these; a client must be testable against a server answering 400.
    with FakeBraze(unknown_schedule_status=400) as braze:
        sid = create(braze, CAMPAIGN_CREATE, campaign_body())
        delete = {"campaign_id": "camp-1", "schedule_id": sid}
        assert post(braze, CAMPAIGN_DELETE, delete).status_code == 200

        assert_error(post(braze, CAMPAIGN_DELETE, delete), 400, "Schedule not found")
        assert_error(post(braze, MESSAGES_DELETE, {"schedule_id": "nope"}), 400, "Schedule not found")
    with pytest.raises(ValueError, match="unknown_schedule_status"):
        FakeBraze(unknown_schedule_status=410)  # type: ignore[arg-type]


def test_schedule_of_another_kind_or_owner_is_404(fake_braze: FakeBraze) -> None:
    campaign_sid = create(fake_braze, CAMPAIGN_CREATE, campaign_body())
    attributed = {"apple_push": {"alert": "Hello", "message_variation_id": "variation-1"}}
    message_sid = create(fake_braze, MESSAGES_CREATE, message_body(campaign_id="camp-1", messages=attributed))
    schedule = {"time": when()}

    wrong_owner = {"campaign_id": "camp-2", "schedule_id": campaign_sid}
    assert_error(post(fake_braze, CAMPAIGN_DELETE, wrong_owner), 404, "Schedule not found")
    wrong_kind = {"canvas_id": "camp-1", "schedule_id": campaign_sid, "schedule": schedule}
    assert_error(post(fake_braze, CANVAS_UPDATE, wrong_kind), 404)
    assert_error(post(fake_braze, MESSAGES_DELETE, {"schedule_id": campaign_sid}), 404)
    message_as_campaign = {"campaign_id": "camp-1", "schedule_id": message_sid}
    assert_error(post(fake_braze, CAMPAIGN_DELETE, message_as_campaign), 404)
    assert len(fake_braze.active_schedules()) == 2


# ----------------------------------------------------------------------------------------- validation


def _big(size: int) -> dict[str, str]:
    return {"blob": "x" * size}


VALIDATION_CASES = [
    # (id, path, body, fragments expected in message/errors)
    ("no-schedule", MESSAGES_CREATE, {"external_user_ids": ["u"]}, ["'schedule' is required"]),
    ("no-time", CAMPAIGN_CREATE, campaign_body(schedule={}), ["'schedule.time' is required"]),
    ("time-garbage", CAMPAIGN_CREATE, campaign_body(schedule={"time": "tomorrow"}), ["Cannot parse"]),
    ("time-empty", CANVAS_CREATE, canvas_body(schedule={"time": ""}), ["Cannot parse"]),
    ("time-date-only", CANVAS_CREATE, canvas_body(schedule={"time": "2099-01-01"}), ["Cannot parse"]),
    ("time-not-string", MESSAGES_CREATE, message_body(schedule={"time": 1700000000}), ["Cannot parse"]),
    ("utc-past", CAMPAIGN_CREATE, campaign_body(schedule={"time": when(-1)}), ["in the past"]),
    (
        "both-flags-day-over-everywhere",
        CAMPAIGN_CREATE,
        campaign_body(
            schedule={"time": when(-60, utc=False), "in_local_time": True, "at_optimal_time": True}
        ),
        ["ended in all time zones"],
    ),
    (
        "local-passed-everywhere",
        CANVAS_CREATE,
        canvas_body(schedule={"time": when(-13, utc=False), "in_local_time": True}),
        ["passed in all time zones"],
    ),
    (
        "optimal-day-over-everywhere",
        CANVAS_CREATE,
        canvas_body(schedule={"time": when(-60, utc=False), "at_optimal_time": True}),
        ["ended in all time zones"],
    ),
    (
        "flag-not-bool",
        CAMPAIGN_CREATE,
        campaign_body(schedule={"time": when(utc=False), "in_local_time": "true"}),
        ["'schedule.in_local_time' must be a boolean"],
    ),
    ("unknown-schedule-key", MESSAGES_CREATE, message_body(schedule={"time": when(), "tz": "UTC"}), ["'tz'"]),
    ("campaign-id-missing", CAMPAIGN_CREATE, campaign_body(campaign_id=None), ["'campaign_id'"]),
    ("canvas-id-missing", CANVAS_CREATE, {"broadcast": True, "schedule": {"time": when()}}, ["'canvas_id'"]),
    (
        "recipients-on-messages",
        MESSAGES_CREATE,
        message_body(recipients=[{"external_user_id": "u"}]),
        ["not a parameter of /messages/schedule/create"],
    ),
    (
        "send-id-on-canvas",
        CANVAS_CREATE,
        canvas_body(send_id="s"),
        ["not a parameter of /canvas/trigger/schedule/create"],
    ),
    ("unknown-param", CAMPAIGN_CREATE, campaign_body(foo=1), ["unknown parameter 'foo'"]),
    ("broadcast-and-users", MESSAGES_CREATE, message_body(broadcast=True), ["'broadcast' is true"]),
    ("broadcast-and-recipients", CAMPAIGN_CREATE, campaign_body(broadcast=True), ["'broadcast' is true"]),
    ("broadcast-not-bool", CANVAS_CREATE, canvas_body(broadcast="false"), ["'broadcast' must be a boolean"]),
    (
        "messages-no-audience",
        MESSAGES_CREATE,
        message_body(external_user_ids=None, broadcast=False),
        ["No Recipients"],
    ),
    ("campaign-no-audience", CAMPAIGN_CREATE, campaign_body(recipients=[]), ["No Recipients"]),
    (
        "messages-segment-without-broadcast",
        MESSAGES_CREATE,
        message_body(external_user_ids=None, segment_id="seg"),
        ["No Recipients", "only segment_id", "'broadcast' must be true"],
    ),
    (
        "messages-audience-broadcast-false",
        MESSAGES_CREATE,
        message_body(external_user_ids=None, audience={"AND": []}, broadcast=False),
        ["No Recipients", "only audience"],
    ),
    (
        "campaign-audience-without-broadcast",
        CAMPAIGN_CREATE,
        campaign_body(recipients=None, audience={"AND": []}),
        ["No Recipients", "only 'audience'", "'broadcast' must be true"],
    ),
    (
        "canvas-audience-broadcast-false",
        CANVAS_CREATE,
        canvas_body(recipients=None, audience={"AND": []}, broadcast=False),
        ["No Recipients", "'broadcast' must be true"],
    ),
    ("messages-missing", MESSAGES_CREATE, message_body(messages=None), ["No message to send"]),
    ("messages-empty", MESSAGES_CREATE, message_body(messages={}), ["No message to send"]),
    (
        "campaign-message-without-variation",
        MESSAGES_CREATE,
        message_body(
            campaign_id="camp-1",
            messages={"sms": {"body": "Hi", "message_variation_id": "v"}, "email": {"body": "Hi"}},
        ),
        ["Message Variant Unspecified", "'messages.email.message_variation_id' is required"],
    ),
    ("whats-app-not-schedulable", MESSAGES_CREATE, message_body(messages={"whats_app": {}}), ["whats_app"]),
    (
        "windows-not-schedulable",
        MESSAGES_CREATE,
        message_body(messages={"windows_universal_push": {}}),
        ["windows_universal_push"],
    ),
    (
        "accented-trigger-properties-over-50000-bytes",
        CAMPAIGN_CREATE,
        campaign_body(trigger_properties={"b": "é" * 25_000}),
        ["'trigger_properties' is 50008 bytes", "50 KB"],
    ),
    (
        "canvas-no-audience",
        CANVAS_CREATE,
        {"canvas_id": "c", "schedule": {"time": when()}},
        ["No Recipients"],
    ),
    ("51-ids", MESSAGES_CREATE, message_body(external_user_ids=[f"u{i}" for i in range(51)]), [TOO_MANY]),
    (
        "26-ids-25-aliases",
        MESSAGES_CREATE,
        message_body(
            external_user_ids=[f"u{i}" for i in range(26)],
            user_aliases=[{"alias_name": f"a{i}", "alias_label": "l"} for i in range(25)],
        ),
        [TOO_MANY],
    ),
    (
        "51-recipients",
        CANVAS_CREATE,
        canvas_body(recipients=[{"external_user_id": f"u{i}"} for i in range(51)]),
        [TOO_MANY],
    ),
    ("ids-not-list", MESSAGES_CREATE, message_body(external_user_ids="u1"), ["array of non-empty strings"]),
    ("ids-not-strings", MESSAGES_CREATE, message_body(external_user_ids=[1]), ["array of non-empty strings"]),
    (
        "aliases-not-list",
        MESSAGES_CREATE,
        message_body(user_aliases={"alias_name": "a"}),
        ["user alias objects"],
    ),
    (
        "recipient-two-ids",
        CAMPAIGN_CREATE,
        campaign_body(recipients=[{"external_user_id": "u", "braze_id": "b"}]),
        ["exactly one of"],
    ),
    (
        "recipient-no-id",
        CAMPAIGN_CREATE,
        campaign_body(recipients=[{"trigger_properties": {}}]),
        ["exactly one of"],
    ),
    (
        "trigger-properties-too-big",
        CAMPAIGN_CREATE,
        campaign_body(trigger_properties=_big(51 * 1024)),
        ["'trigger_properties'", "50 KB"],
    ),
    (
        "recipient-trigger-properties-too-big",
        CAMPAIGN_CREATE,
        campaign_body(recipients=[{"external_user_id": "u", "trigger_properties": _big(51 * 1024)}]),
        ["recipients[0].trigger_properties", "50 KB"],
    ),
    ("context-too-big", CANVAS_CREATE, canvas_body(context=_big(51 * 1024)), ["'context'", "50 KB"]),
    (
        "recipient-entry-properties-too-big",
        CANVAS_CREATE,
        canvas_body(recipients=[{"external_user_id": "u", "canvas_entry_properties": _big(51 * 1024)}]),
        ["recipients[0].canvas_entry_properties", "50 KB"],
    ),
    (
        "trigger-properties-on-canvas",
        CANVAS_CREATE,
        canvas_body(trigger_properties={}),
        ["'trigger_properties'"],
    ),
    ("send-id-not-ascii", CAMPAIGN_CREATE, campaign_body(send_id="envoi-é"), ["ASCII"]),
    ("unknown-channel", MESSAGES_CREATE, message_body(messages={"apple_psuh": {}}), ["apple_psuh"]),
    ("subscription-state", MESSAGES_CREATE, message_body(recipient_subscription_state="any"), ["opted_in"]),
    ("update-nothing", MESSAGES_UPDATE, {"schedule_id": "s"}, ["'schedule', 'messages' or both"]),
    (
        "campaign-update-no-schedule",
        CAMPAIGN_UPDATE,
        {"campaign_id": "c", "schedule_id": "s"},
        ["'schedule'"],
    ),
    ("canvas-update-no-schedule", CANVAS_UPDATE, {"canvas_id": "c", "schedule_id": "s"}, ["'schedule'"]),
    ("update-past", MESSAGES_UPDATE, {"schedule_id": "s", "schedule": {"time": when(-2)}}, ["in the past"]),
    ("update-no-schedule-id", MESSAGES_UPDATE, {"messages": {"sms": {}}}, ["'schedule_id' is required"]),
    ("delete-empty-id", MESSAGES_DELETE, {"schedule_id": ""}, ["'schedule_id' must be a non-empty string"]),
    ("delete-no-campaign-id", CAMPAIGN_DELETE, {"schedule_id": "s"}, ["'campaign_id' is required"]),
    ("delete-no-canvas-id", CANVAS_DELETE, {"schedule_id": "s"}, ["'canvas_id' is required"]),
    ("send-id-create-no-campaign", SEND_ID_CREATE, {"send_id": "s"}, ["'campaign_id' is required"]),
]


@pytest.mark.parametrize(
    ("path", "body", "fragments"), [pytest.param(*case[1:], id=case[0]) for case in VALIDATION_CASES]
)
def test_invalid_requests_are_400_with_reasons(
    fake_braze: FakeBraze, path: str, body: dict[str, Any], fragments: list[str]
) -> None:
    body = {k: v for k, v in body.items() if v is not None}
    answer = assert_error(post(fake_braze, path, body), 400, *fragments)
    assert isinstance(answer["errors"], list)
    assert answer["errors"]
    assert fake_braze.schedules == {}


def test_named_braze_errors_are_the_message(fake_braze: FakeBraze) -> None:
    no_recipients = post(fake_braze, CAMPAIGN_CREATE, campaign_body(recipients=None, foo=1))
    assert assert_error(no_recipients, 400)["message"] == "No Recipients"
    too_many = post(fake_braze, MESSAGES_CREATE, message_body(external_user_ids=["u"] * 60))
    assert assert_error(too_many, 400)["message"] == TOO_MANY


@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param(
            CAMPAIGN_CREATE,
            campaign_body(schedule={"time": when(-11, utc=False), "in_local_time": True}),
            id="local-time-passed-in-utc-but-not-in-utc-12",
        ),
        pytest.param(
            CANVAS_CREATE,
            canvas_body(schedule={"time": past_on_a_day_not_over_everywhere(), "at_optimal_time": True}),
            id="optimal-time-on-a-day-not-over-everywhere",
        ),
        pytest.param(
            MESSAGES_CREATE, message_body(schedule={"time": when()[:-1]}), id="utc-time-without-designator"
        ),
        pytest.param(
            MESSAGES_CREATE,
            message_body(schedule={"time": when()[:-1] + ".250+0000"}),
            id="utc-time-with-fraction-and-offset",
        ),
        pytest.param(
            MESSAGES_CREATE,
            message_body(external_user_ids=None, segment_id="seg", broadcast=True),
            id="segment-broadcast",
        ),
        pytest.param(
            MESSAGES_CREATE, message_body(external_user_ids=None, broadcast=True), id="broadcast-only"
        ),
        pytest.param(
            CANVAS_CREATE,
            canvas_body(recipients=None, audience={"AND": []}, broadcast=True),
            id="audience-broadcast",
        ),
        pytest.param(
            CAMPAIGN_CREATE,
            campaign_body(schedule={"time": when(utc=False), "in_local_time": True, "at_optimal_time": True}),
            id="both-flags-as-in-braze-example",
        ),
        pytest.param(
            CANVAS_CREATE,
            canvas_body(
                schedule={
                    "time": past_on_a_day_not_over_everywhere(),
                    "in_local_time": True,
                    "at_optimal_time": True,
                }
            ),
            id="both-flags-take-the-optimal-window",
        ),
        pytest.param(
            CAMPAIGN_CREATE,
            campaign_body(schedule={"time": when(), "in_local_time": True}),
            id="local-with-Z-as-in-braze-update-examples",
        ),
        pytest.param(
            MESSAGES_CREATE,
            message_body(schedule={"time": when(utc=False) + "+02:00", "at_optimal_time": True}),
            id="optimal-with-offset",
        ),
        pytest.param(
            MESSAGES_CREATE,
            message_body(
                campaign_id="camp-1",
                messages={"sms": {"body": "Hi", "message_variation_id": "v"}},
            ),
            id="campaign-message-with-variation",
        ),
        pytest.param(
            CAMPAIGN_CREATE,
            campaign_body(trigger_properties={"b": "é" * 20_000}),
            id="accented-trigger-properties-40008-bytes",
        ),
        pytest.param(
            CAMPAIGN_CREATE,
            campaign_body(trigger_properties={"b": "x" * (50_000 - len('{"b":""}'))}),
            id="trigger-properties-of-exactly-50000-bytes",
        ),
        *(
            pytest.param(MESSAGES_CREATE, message_body(messages={channel: {}}), id=f"channel-{channel}")
            for channel in (
                "apple_push",
                "android_push",
                "kindle_push",
                "web_push",
                "email",
                "webhook",
                "content_card",
                "sms",
            )
        ),
        pytest.param(
            CAMPAIGN_CREATE,
            campaign_body(
                recipients=[
                    {"user_alias": {"alias_name": "a", "alias_label": "l"}},
                    {"braze_id": "b"},
                    {"email": "e@example.com", "prioritization": ["identified"]},
                    {"external_user_id": "u", "send_to_existing_only": False, "attributes": {"x": 1}},
                ]
            ),
            id="every-recipient-identifier",
        ),
        pytest.param(
            MESSAGES_CREATE, message_body(external_user_ids=[f"u{i}" for i in range(50)]), id="50-ids"
        ),
    ],
)
def test_valid_edge_cases_are_accepted(fake_braze: FakeBraze, path: str, body: dict[str, Any]) -> None:
    body = {k: v for k, v in body.items() if v is not None}
    response = post(fake_braze, path, body)
    assert response.status_code == 200, response.text


def test_body_must_be_a_json_object(fake_braze: FakeBraze) -> None:
    json_headers = {"Content-Type": "application/json"}
    broken = post(fake_braze, CAMPAIGN_CREATE, data="{not json", headers=json_headers)
    assert_error(broken, 400, "Bad syntax", "Invalid JSON")
    assert_error(post(fake_braze, CAMPAIGN_CREATE, [1, 2]), 400, "Bad syntax", "JSON object")
    assert_error(post(fake_braze, CAMPAIGN_CREATE, data=b"", headers=json_headers), 400, "Invalid JSON")
    nan = post(fake_braze, CAMPAIGN_CREATE, data='{"x": NaN}', headers=json_headers)
    assert_error(nan, 400, "Invalid JSON")
    form = post(fake_braze, CAMPAIGN_CREATE, data={"campaign_id": "c"})
    assert_error(form, 400, "Bad syntax", "Content-Type must be application/json")


def test_body_over_4_mb_is_413_and_connection_stays_usable(fake_braze: FakeBraze) -> None:
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {fake_braze.api_key}"
        big = campaign_body(trigger_properties={"blob": "x" * (4 * 1024 * 1024)})
        too_large = session.post(fake_braze.url + CAMPAIGN_CREATE, json=big, timeout=10)
        assert_error(too_large, 413, "Request Entity Too Large")
        after = session.post(fake_braze.url + CAMPAIGN_CREATE, json=campaign_body(), timeout=5)
        assert after.status_code == 200
    assert len(fake_braze.schedules) == 1


# ------------------------------------------------------------------------- other endpoints and routing


def test_scheduled_broadcasts_lists_no_api_schedules(fake_braze: FakeBraze) -> None:
    create(fake_braze, CAMPAIGN_CREATE, campaign_body())
    listed = get(fake_braze, BROADCASTS, end_time="2018-09-01T00:00:00-04:00")
    assert (listed.status_code, listed.json()) == (200, {"scheduled_broadcasts": []})
    assert_error(get(fake_braze, BROADCASTS), 400, "'end_time' is required")
    assert_error(get(fake_braze, BROADCASTS, end_time="soon"), 400, "end_time")


def test_send_id_create(fake_braze: FakeBraze) -> None:
    given = post(fake_braze, SEND_ID_CREATE, {"campaign_id": "camp-1", "send_id": "my_send"})
    assert (given.status_code, given.json()) == (200, {"message": "success", "send_id": "my_send"})
    generated = post(fake_braze, SEND_ID_CREATE, {"campaign_id": "camp-1"}).json()["send_id"]
    assert generated
    assert fake_braze.send_ids == {"my_send": "camp-1", generated: "camp-1"}


def test_unknown_path_is_404_and_wrong_method_405(fake_braze: FakeBraze) -> None:
    assert assert_error(post(fake_braze, "/messages/schedule/nope", {}), 404) == {"message": "Not Found"}
    assert_error(post(fake_braze, MESSAGES_CREATE + "/", message_body()), 404)
    assert_error(get(fake_braze, MESSAGES_CREATE), 405, "Method Not Allowed")
    assert all(r.status is not None for r in fake_braze.received)


# -------------------------------------------------------------------------------- auth and permissions


def test_missing_or_wrong_key_is_401_without_echoing_it(fake_braze: FakeBraze) -> None:
    missing = requests.post(fake_braze.url + CAMPAIGN_CREATE, json=campaign_body(), timeout=5)
    assert_error(missing, 401, "Invalid API key")
    wrong = post(fake_braze, CAMPAIGN_CREATE, campaign_body(), key="sk-wrong-secret-value")
    assert_error(wrong, 401, "Invalid API key")
    assert "sk-wrong-secret-value" not in wrong.text
    assert fake_braze.api_key not in wrong.text
    basic = post(fake_braze, CAMPAIGN_CREATE, campaign_body(), headers={"Authorization": "Basic abc"})
    assert_error(basic, 401, "Bearer")
    for quoted in (f'"{fake_braze.api_key}"', f"'{fake_braze.api_key}'"):
        answer = assert_error(post(fake_braze, CAMPAIGN_CREATE, campaign_body(), key=quoted), 401, "quotes")
        assert fake_braze.api_key not in json.dumps(answer)
    assert fake_braze.schedules == {}


def test_permissions_are_enforced_per_endpoint(fake_braze: FakeBraze) -> None:
    fake_braze.set_permissions({"campaigns.trigger.schedule.create", "messages.schedule_broadcasts"})

    assert post(fake_braze, CAMPAIGN_CREATE, campaign_body()).status_code == 200
    assert get(fake_braze, BROADCASTS, end_time="2030-01-01").status_code == 200
    denied = post(fake_braze, CANVAS_CREATE, canvas_body())
    assert assert_error(denied, 403) == {"message": "Access Denied"}
    assert_error(post(fake_braze, MESSAGES_DELETE, {"schedule_id": "x"}), 403, "Access Denied")
    fake_braze.reset()  # restores the constructor's permissions (all)
    assert post(fake_braze, CANVAS_CREATE, canvas_body()).status_code == 200


def test_constructor_key_and_permissions() -> None:
    with FakeBraze(api_key="another-key-123", permissions={"messages.schedule.create"}) as braze:
        assert post(braze, MESSAGES_CREATE, message_body()).status_code == 200
        assert_error(post(braze, MESSAGES_CREATE, message_body(), key=DEFAULT_API_KEY), 401)
        assert_error(post(braze, SEND_ID_CREATE, {"campaign_id": "c"}), 403)


# ---------------------------------------------------------------------------------------- rate limits


def test_every_answer_carries_rate_limit_headers(fake_braze: FakeBraze) -> None:
    answers = [
        post(fake_braze, CAMPAIGN_CREATE, campaign_body()),
        post(fake_braze, MESSAGES_CREATE, {}),
        post(fake_braze, CAMPAIGN_CREATE, campaign_body(), key="wrong-key"),
        post(fake_braze, "/nope", {}),
        get(fake_braze, BROADCASTS),
    ]
    for answer in answers:
        assert all(name in answer.headers for name in RATE_HEADERS), answer.headers
        assert answer.headers["x-ratelimit-limit"] == "250000"
    # Only authenticated calls to real endpoints count.
    assert [a.headers["x-ratelimit-remaining"] for a in answers] == [
        "249999",
        "249998",
        "249998",
        "249998",
        "249997",
    ]
    # The raw header names are lowercase, as Braze sends them.
    raw_names = list(answers[0].raw.headers)  # iteration keeps the case sent on the wire
    assert all(name in raw_names for name in RATE_HEADERS)


def test_rate_limit_resets_on_the_clock_hour() -> None:
    now = [1_800_000_000 + 1234.5]  # 20:34:54.5 UTC; the window ends at 21:00:00
    with FakeBraze(rate_limit=2, clock=lambda: now[0]) as braze:
        hour_end = str((math.floor(now[0] / 3600) + 1) * 3600)
        first, second, third = (get(braze, BROADCASTS, end_time="2030-01-01") for _ in range(3))
        assert [r.status_code for r in (first, second, third)] == [200, 200, 429]
        assert [r.headers["x-ratelimit-remaining"] for r in (first, second, third)] == ["1", "0", "0"]
        assert {r.headers["x-ratelimit-reset"] for r in (first, second, third)} == {hour_end}
        assert third.json() == {"message": "Rate Limited"}

        now[0] = float(hour_end)
        assert get(braze, BROADCASTS, end_time="2030-01-01").headers["x-ratelimit-remaining"] == "1"


def test_custom_rate_limit_window_is_aligned_to_the_clock() -> None:
    now = [1_000_000_007.0]
    with FakeBraze(rate_limit=1, rate_limit_window=60, clock=lambda: now[0]) as braze:
        assert get(braze, BROADCASTS, end_time="2030-01-01").headers["x-ratelimit-reset"] == "1000000020"
        assert get(braze, BROADCASTS, end_time="2030-01-01").status_code == 429
        braze.set_rate_limit(5, window=10)
        assert get(braze, BROADCASTS, end_time="2030-01-01").headers["x-ratelimit-reset"] == "1000000010"


def test_rate_limit_is_workspace_wide_across_threads() -> None:
    with FakeBraze(rate_limit=20) as braze:
        results: list[tuple[int, str]] = []
        lock = threading.Lock()

        def client() -> None:
            with requests.Session() as session:
                for _ in range(5):
                    answer = session.post(
                        braze.url + CAMPAIGN_CREATE,
                        json=campaign_body(),
                        headers={"Authorization": f"Bearer {braze.api_key}"},
                        timeout=5,
                    )
                    with lock:
                        results.append((answer.status_code, answer.headers["x-ratelimit-remaining"]))

        threads = [threading.Thread(target=client) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert sorted(code for code, _ in results) == [200] * 20 + [429] * 20
        assert sorted(int(left) for code, left in results if code == 200) == list(range(20))
        assert len(braze.schedules) == 20
        assert len(braze.received) == 40


def broadcast_create(
    braze: FakeBraze, path: str = CAMPAIGN_CREATE, owner_id: str = "camp-1", **audience: Any
) -> requests.Response:
    """A broadcast campaign (or Canvas) schedule create: no recipients, the campaign's segment or an audience."""
    owner = {"campaign_id" if path == CAMPAIGN_CREATE else "canvas_id": owner_id}
    body = {**owner, "broadcast": True, "schedule": {"time": "2099-01-01T09:00:00Z"}, **audience}
    return post(braze, path, body)


def test_broadcast_creates_are_limited_per_unique_audience_per_minute() -> None:
    now = [1_800_000_000 + 12.5]  # 12.5 s into a clock minute
    with FakeBraze(audience_rate_limit=3, clock=lambda: now[0]) as braze:
        minute_end = str((math.floor(now[0] / 60) + 1) * 60)
        same = [broadcast_create(braze) for _ in range(4)]
        assert [r.status_code for r in same] == [200, 200, 200, 429]
        assert [r.headers["x-ratelimit-remaining"] for r in same] == ["2", "1", "0", "0"]
        assert {r.headers["x-ratelimit-limit"] for r in same} == {"3"}
        assert {r.headers["x-ratelimit-reset"] for r in same} == {minute_end}
        assert same[3].json() == {"message": "Rate Limited"}
        # Another audience, another campaign's segment, a Canvas: each a unique audience of its own.
        assert broadcast_create(braze, audience={"AND": [{"x": 1}]}).status_code == 200
        assert broadcast_create(braze, owner_id="camp-2").status_code == 200
        assert broadcast_create(braze, CANVAS_CREATE).status_code == 200
        # Calls that name recipients are not broadcasts: the shared hourly pool counts them.
        named = post(braze, CAMPAIGN_CREATE, campaign_body(schedule={"time": "2099-01-01T09:00:00Z"}))
        assert (named.status_code, named.headers["x-ratelimit-limit"]) == (200, "250000")
        now[0] = float(minute_end)
        assert broadcast_create(braze).status_code == 200


def test_broadcast_creates_are_limited_across_audiences_whichever_hits_first() -> None:
    now = [1_800_000_000.0]
    with FakeBraze(broadcast_rate_limit=4, audience_rate_limit=3, clock=lambda: now[0]) as braze:
        answers = [broadcast_create(braze, audience={"AND": [{"n": n}]}) for n in range(5)]
        assert [r.status_code for r in answers] == [200, 200, 200, 200, 429]
        # The headers are the bucket's closest to its limit (the first audience's, then the minute's).
        assert [r.headers["x-ratelimit-limit"] for r in answers] == ["3", "4", "4", "4", "4"]
        assert [r.headers["x-ratelimit-remaining"] for r in answers] == ["2", "2", "1", "0", "0"]
        # A refused call uses up nothing: the audience refused above still has its 3.
        now[0] += 60
        again = [broadcast_create(braze, audience={"AND": [{"n": 4}]}) for _ in range(4)]
        assert [r.status_code for r in again] == [200, 200, 200, 429]
        # The broadcast buckets leave the shared pool alone.
        assert get(braze, BROADCASTS, end_time="2030-01-01").headers["x-ratelimit-remaining"] == "249999"


def test_broadcast_limits_default_to_braze_figures() -> None:
    now = [1_800_000_000.0]
    with FakeBraze(clock=lambda: now[0]) as braze:
        answers = [broadcast_create(braze) for _ in range(11)]
        assert [r.status_code for r in answers] == [200] * 10 + [429]
        assert answers[0].headers["x-ratelimit-limit"] == "10"
        for n in range(10, 250):  # 240 more audiences, 1 call each, until 250 in the minute
            assert broadcast_create(braze, audience={"AND": [{"n": n}]}).status_code == 200
        last = broadcast_create(braze, audience={"AND": [{"n": "new"}]})
        assert (last.status_code, last.headers["x-ratelimit-limit"]) == (429, "250")


def test_send_id_create_is_limited_per_day() -> None:
    now = [1_800_000_000 + 3600.0]  # 01:00 UTC
    with FakeBraze(send_id_rate_limit=2, clock=lambda: now[0]) as braze:
        day_end = str((math.floor(now[0] / 86400) + 1) * 86400)
        answers = [post(braze, SEND_ID_CREATE, {"campaign_id": "c", "send_id": f"s{n}"}) for n in range(3)]
        assert [r.status_code for r in answers] == [200, 200, 429]
        assert [r.headers["x-ratelimit-limit"] for r in answers] == ["2", "2", "2"]
        assert {r.headers["x-ratelimit-reset"] for r in answers} == {day_end}
        assert braze.send_ids == {"s0": "c", "s1": "c"}
        now[0] = float(day_end)
        assert post(braze, SEND_ID_CREATE, {"campaign_id": "c"}).status_code == 200
    with FakeBraze() as braze:
        assert post(braze, SEND_ID_CREATE, {"campaign_id": "c"}).headers["x-ratelimit-limit"] == "100"


def test_reset_restores_every_bucket() -> None:
    with FakeBraze(audience_rate_limit=1, send_id_rate_limit=1) as braze:
        assert broadcast_create(braze).status_code == 200
        assert post(braze, SEND_ID_CREATE, {"campaign_id": "c"}).status_code == 200
        assert broadcast_create(braze).status_code == 429
        braze.reset()
        assert broadcast_create(braze).status_code == 200
        assert post(braze, SEND_ID_CREATE, {"campaign_id": "c"}).status_code == 200


# ------------------------------------------------------------------------ late updates of local time


@pytest.mark.parametrize(
    ("create_path", "update_path", "body", "owner"),
    [
        (CAMPAIGN_CREATE, CAMPAIGN_UPDATE, campaign_body(), {"campaign_id": "camp-1"}),
        (CANVAS_CREATE, CANVAS_UPDATE, canvas_body(), {"canvas_id": "canvas-1"}),
    ],
)
def test_update_of_a_begun_local_time_send_succeeds_but_changes_nothing(
    create_path: str, update_path: str, body: dict[str, Any], owner: dict[str, str]
) -> None:
    """Braze: "Updates aren't applied if the original schedule used local time and the original time has
    already passed in any time zone" (braze-api.md §12.5); no error is documented."""
    wall = datetime(2026, 6, 2, 9, 0)  # reached at UTC+14 at 2026-06-01T19:00Z
    begun = datetime(2026, 6, 1, 19, 0, tzinfo=UTC).timestamp()
    now = [begun - 1]
    original = {"time": wall.isoformat(), "in_local_time": True}
    new = {"time": "2026-06-03T09:00:00", "in_local_time": True}
    with FakeBraze(clock=lambda: now[0]) as braze:
        sid = create(braze, create_path, {**body, "schedule": original})
        assert post(braze, update_path, {**owner, "schedule_id": sid, "schedule": new}).status_code == 200
        assert braze.schedules[sid].schedule == new  # one second before: applied

        now[0] = begun + datetime(2026, 6, 3, 9).timestamp() - wall.timestamp()  # `new` has begun too
        late = post(
            braze, update_path, {**owner, "schedule_id": sid, "schedule": {"time": "2026-06-04T09:00:00Z"}}
        )

        assert (late.status_code, late.json()) == (200, {"message": "success"})
        stored = braze.schedules[sid]
        assert stored.schedule == new
        assert len(stored.history) == 2  # the create and the one applied update
        # A UTC schedule is not concerned, nor are message schedules.
        utc_sid = create(braze, create_path, {**body, "schedule": {"time": "2026-06-10T09:00:00Z"}})
        later = {"time": "2026-06-11T09:00:00Z"}
        assert (
            post(braze, update_path, {**owner, "schedule_id": utc_sid, "schedule": later}).status_code == 200
        )
        assert braze.schedules[utc_sid].schedule == later


def test_scheduled_broadcasts_lists_dashboard_broadcasts_by_end_date(fake_braze: FakeBraze) -> None:
    fake_braze.add_scheduled_broadcast("Spring sale", "campaign-1", "2030-03-01T09:00:00", tags=["sale"])
    fake_braze.add_scheduled_broadcast(
        "Digest", "canvas-1", "2030-03-05T10:00:00-04:00", type="Canvas", schedule_type="America/New_York"
    )
    listed = get(fake_braze, BROADCASTS, end_time="2030-03-02T00:00:00Z").json()
    assert listed == {
        "scheduled_broadcasts": [
            {
                "name": "Spring sale",
                "id": "campaign-1",
                "type": "Campaign",
                "tags": ["sale"],
                "next_send_time": "2030-03-01T09:00:00",
                "schedule_type": "local_time_zones",
            }
        ]
    }
    everything = get(fake_braze, BROADCASTS, end_time="2030-04-01").json()["scheduled_broadcasts"]
    assert [entry["id"] for entry in everything] == ["campaign-1", "canvas-1"]
    fake_braze.reset()
    assert get(fake_braze, BROADCASTS, end_time="2030-04-01").json() == {"scheduled_broadcasts": []}


# --------------------------------------------------------------------------------------------- faults


def test_status_fault_default_and_custom_bodies(fake_braze: FakeBraze) -> None:
    fake_braze.inject(Status(503))
    fake_braze.inject(Status(500, body="boom", headers={"Retry-After": "1"}))

    first = post(fake_braze, CAMPAIGN_CREATE, campaign_body())
    assert (first.status_code, first.json()) == (503, {"message": "Service Unavailable"})
    assert all(name in first.headers for name in RATE_HEADERS)
    second = post(fake_braze, CAMPAIGN_CREATE, campaign_body())
    assert (second.status_code, second.text, second.headers["Retry-After"]) == (500, "boom", "1")
    assert second.headers["Content-Type"].startswith("text/plain")
    third = post(fake_braze, CAMPAIGN_CREATE, campaign_body())
    assert third.status_code == 200
    assert [r.fault for r in fake_braze.received] == ["Status", "Status", None]
    assert [r.status for r in fake_braze.received] == [503, 500, 200]
    assert len(fake_braze.schedules) == 1


def test_faults_apply_times_and_only_to_their_path(fake_braze: FakeBraze) -> None:
    fake_braze.inject(Status(502), times=2, path=CAMPAIGN_DELETE)

    assert post(fake_braze, CAMPAIGN_CREATE, campaign_body()).status_code == 200
    codes = [
        post(fake_braze, CAMPAIGN_DELETE, {"campaign_id": "c", "schedule_id": "x"}).status_code
        for _ in range(3)
    ]
    assert codes == [502, 502, 404]


def test_rate_limited_fault(fake_braze: FakeBraze) -> None:
    fake_braze.inject(RateLimited(reset_in=30))
    before = time.time()
    answer = post(fake_braze, CAMPAIGN_CREATE, campaign_body())
    assert_error(answer, 429, "Rate Limited")
    assert answer.headers["x-ratelimit-remaining"] == "0"
    assert answer.headers["x-ratelimit-limit"] == "250000"
    assert before + 30 <= int(answer.headers["x-ratelimit-reset"]) <= time.time() + 31
    assert fake_braze.schedules == {}


def test_html_error_fault(fake_braze: FakeBraze) -> None:
    fake_braze.inject(HtmlError())
    answer = post(fake_braze, CAMPAIGN_CREATE, campaign_body())
    assert answer.status_code == 502
    assert answer.headers["Content-Type"].startswith("text/html")
    assert "<h1>502 Bad Gateway</h1>" in answer.text
    assert not any(name in answer.headers for name in RATE_HEADERS)
    with pytest.raises(requests.exceptions.JSONDecodeError):
        answer.json()


def test_delay_fault_times_out_the_client_but_still_processes(fake_braze: FakeBraze) -> None:
    fake_braze.inject(Delay(0.4))
    with pytest.raises(requests.exceptions.ReadTimeout):
        post(fake_braze, CAMPAIGN_CREATE, campaign_body(), timeout=0.1)
    wait_for(lambda: fake_braze.received[0].status == 200)
    assert len(fake_braze.active_schedules()) == 1
    assert fake_braze.received[0].fault == "Delay"


def test_a_request_delayed_across_a_reset_changes_nothing_after_it(fake_braze: FakeBraze) -> None:
    """A test's timed-out create, still sleeping in the fake when the next test resets it, must not land
    in the next test's Braze (it once made a later test see two schedules where it created one)."""
    fake_braze.inject(Delay(0.5))
    with pytest.raises(requests.exceptions.ReadTimeout):
        post(fake_braze, CAMPAIGN_CREATE, campaign_body(), timeout=0.1)
    assert len(fake_braze.received) == 1  # it arrived and sleeps
    fake_braze.reset()

    time.sleep(0.8)  # well past the delay: before the fix the old create was stored by now

    assert (fake_braze.schedules, fake_braze.received) == ({}, [])
    assert post(fake_braze, CAMPAIGN_CREATE, campaign_body()).status_code == 200
    assert len(fake_braze.schedules) == 1


@pytest.mark.parametrize(("fault", "created"), [(DropBeforeProcessing(), 0), (DropAfterProcessing(), 1)])
def test_drop_faults_close_the_connection_without_answer(
    fake_braze: FakeBraze, fault: DropBeforeProcessing | DropAfterProcessing, created: int
) -> None:
    fake_braze.inject(fault)
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {fake_braze.api_key}"
        with pytest.raises(requests.exceptions.ConnectionError):
            session.post(fake_braze.url + CAMPAIGN_CREATE, json=campaign_body(), timeout=5)
        # The same session recovers on a new connection.
        assert (
            session.post(fake_braze.url + CAMPAIGN_CREATE, json=campaign_body(), timeout=5).status_code == 200
        )
    assert len(fake_braze.schedules) == created + 1
    dropped = fake_braze.received[0]
    assert (dropped.status, dropped.fault) == (None, type(fault).__name__)


def test_fault_validation(fake_braze: FakeBraze) -> None:
    with pytest.raises(ValueError, match="Status code"):
        Status(42)
    with pytest.raises(ValueError, match="HtmlError code"):
        HtmlError(200)
    with pytest.raises(ValueError, match="times"):
        fake_braze.inject(Status(500), times=0)
    with pytest.raises(TypeError):
        fake_braze.inject(500)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------- records and control


def test_received_records_every_request(fake_braze: FakeBraze) -> None:
    body = campaign_body()
    post(fake_braze, CAMPAIGN_CREATE + "?trace=1", body, headers={"X-Custom": "yes"})
    get(fake_braze, BROADCASTS, end_time="2030-01-01")

    first, second = fake_braze.received
    assert (first.method, first.path, first.query, first.status, first.fault) == (
        "POST",
        CAMPAIGN_CREATE,
        {"trace": "1"},
        200,
        None,
    )
    assert first.json == body
    assert json.loads(first.body) == body
    assert first.headers["x-custom"] == "yes"
    assert first.headers["authorization"] == f"Bearer {fake_braze.api_key}"
    assert abs(first.at - time.time()) < 5
    assert (second.method, second.json, second.body, second.query) == (
        "GET",
        None,
        "",
        {"end_time": "2030-01-01"},
    )
    assert fake_braze.requests_to(BROADCASTS) == [second]
    assert fake_braze.requests_to(BROADCASTS.lstrip("/")) == [second]


def test_reset_forgets_everything(fake_braze: FakeBraze) -> None:
    create(fake_braze, CAMPAIGN_CREATE, campaign_body())
    fake_braze.inject(Status(500))
    fake_braze.set_rate_limit(1)

    fake_braze.reset()

    assert (fake_braze.received, fake_braze.schedules) == ([], {})
    answer = post(fake_braze, CAMPAIGN_CREATE, campaign_body())
    assert answer.status_code == 200
    assert answer.headers["x-ratelimit-remaining"] == "249999"


def test_airflow_connection_helpers(fake_braze: FakeBraze) -> None:
    connection = {
        "conn_type": "braze",
        "host": fake_braze.url,
        "password": fake_braze.api_key,
        "extra": {"timeout": 5},
    }
    assert fake_braze.url.startswith("http://127.0.0.1:")
    assert fake_braze.airflow_connection() == connection
    name, value = fake_braze.airflow_conn_env("braze_other")
    assert (name, json.loads(value)) == ("AIRFLOW_CONN_BRAZE_OTHER", connection)
    # The plugin's fixture points the default connection at the fake.
    assert json.loads(os.environ["AIRFLOW_CONN_BRAZE_DEFAULT"]) == connection


def test_start_stop_lifecycle() -> None:
    braze = FakeBraze()
    with pytest.raises(RuntimeError):
        _ = braze.url
    assert braze.start() is braze
    url = braze.url
    with requests.Session() as session:  # an idle keep-alive connection must not block stop()
        session.get(url + BROADCASTS, timeout=5)
        started = time.monotonic()
        braze.stop()
        assert time.monotonic() - started < 2
        with pytest.raises(requests.exceptions.ConnectionError):
            session.get(url + BROADCASTS, timeout=5)
    braze.stop()  # idempotent


# --------------------------------------------------------------------------- transport: keep-alive, Nagle


def test_keep_alive_answers_leave_in_one_write_with_nagle_off(
    fake_braze: FakeBraze, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each answer leaves in one send() on a TCP_NODELAY socket, and keep-alive connections stay open.

    An answer written in two pieces (headers, then body) waits for the client's delayed ACK, ~40 ms a
    call against a keep-alive client. Counting the server's writes checks that without timing anything.
    """
    writes: list[tuple[int, int]] = []  # (bytes, TCP_NODELAY) per send() of the server's thread
    original_send = socket.socket.send
    client_thread = threading.get_ident()

    def recording_send(sock: socket.socket, data: Any, *args: Any) -> int:
        if threading.get_ident() != client_thread:
            writes.append((len(data), sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)))
        return original_send(sock, data, *args)

    monkeypatch.setattr(socket.socket, "send", recording_send)
    with requests.Session() as session:
        session.headers["Authorization"] = f"Bearer {fake_braze.api_key}"
        for _ in range(20):
            answer = session.post(fake_braze.url + CAMPAIGN_CREATE, json=campaign_body(), timeout=5)
            assert answer.status_code == 200
            assert answer.headers["Connection"] == "keep-alive"
    monkeypatch.undo()
    assert len(writes) == 20, f"{len(writes)} writes for 20 answers"
    assert all(nodelay for _, nodelay in writes), "TCP_NODELAY is off on the server's socket"

    host, port = fake_braze.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        sockets = set()
        for _ in range(5):
            connection.request("GET", BROADCASTS + "?end_time=2030-01-01", headers={"Authorization": "x"})
            connection.getresponse().read()
            sockets.add(id(connection.sock))
        assert len(sockets) == 1, "the server closed a keep-alive connection"
    finally:
        connection.close()


# ------------------------------------------------------------------------------- inspection endpoints


def test_inspection_state_never_leaks_the_key(fake_braze: FakeBraze) -> None:
    sid = create(fake_braze, CAMPAIGN_CREATE, campaign_body())
    # A careless client puts the key in the body and the URL too: the state must hide it everywhere.
    post(fake_braze, CAMPAIGN_CREATE + f"?api_key={fake_braze.api_key}", {"api_key": fake_braze.api_key})

    answer = requests.get(fake_braze.url + "/_fake/state", timeout=5)  # no key needed

    assert answer.status_code == 200
    assert fake_braze.api_key not in answer.text
    state = answer.json()
    assert [s["schedule_id"] for s in state["schedules"]] == [sid]
    assert state["schedules"][0]["status"] == "scheduled"
    assert [r["path"] for r in state["received"]] == [CAMPAIGN_CREATE, CAMPAIGN_CREATE]
    assert {r["headers"]["authorization"] for r in state["received"]} == {"Bearer ***"}
    assert state["received"][1]["json"] == {"api_key": "***"}
    # Inspection calls are not recorded and do not count against the rate limit.
    assert len(fake_braze.received) == 2


def test_inspection_reset(fake_braze: FakeBraze) -> None:
    create(fake_braze, CAMPAIGN_CREATE, campaign_body())
    answer = requests.post(fake_braze.url + "/_fake/reset", timeout=5)
    assert (answer.status_code, answer.json()) == (200, {"message": "success"})
    assert fake_braze.schedules == {}
    assert requests.get(fake_braze.url + "/_fake/nope", timeout=5).status_code == 404


# ------------------------------------------------------------------------------- standalone and plugin


def test_standalone_module_serves_until_sigterm() -> None:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "airflow_braze_schedule.testing",
        "--port",
        str(port),
        "--api-key",
        "k-123456",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert select.select([process.stdout], [], [], 15)[0], "no start-up line"
        line = process.stdout.readline()
        assert f"http://127.0.0.1:{port}" in line
        env_value = line.split("AIRFLOW_CONN_BRAZE_DEFAULT=", 1)[1].strip().strip("'")
        assert json.loads(env_value)["password"] == "k-123456"

        url = f"http://127.0.0.1:{port}"
        created = requests.post(
            url + CAMPAIGN_CREATE,
            json=campaign_body(),
            headers={"Authorization": "Bearer k-123456"},
            timeout=5,
        )
        assert created.status_code == 200
        state = requests.get(url + "/_fake/state", timeout=5).json()
        assert [s["schedule_id"] for s in state["schedules"]] == [created.json()["schedule_id"]]

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.stderr is not None
    assert process.stderr.read() == ""


def test_pytest_plugin_in_a_user_project(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(
        'pytest_plugins = ["airflow_braze_schedule.testing.pytest_plugin"]\n'
    )
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            """
            import json, os, requests

            def test_first(fake_braze, fake_braze_server):
                assert fake_braze is fake_braze_server
                conn = json.loads(os.environ["AIRFLOW_CONN_BRAZE_DEFAULT"])
                answer = requests.post(
                    conn["host"] + "/messages/schedule/create",
                    json={
                        "broadcast": True,
                        "segment_id": "seg",
                        "messages": {"sms": {"body": "Hi"}},
                        "schedule": {"time": "2099-01-01T00:00:00Z"},
                    },
                    headers={"Authorization": "Bearer " + conn["password"]},
                )
                assert answer.status_code == 200
                assert len(fake_braze.active_schedules()) == 1

            def test_second_starts_clean(fake_braze):
                assert fake_braze.received == [] and fake_braze.schedules == {}
            """
        )
    )
    environment = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    environment.pop("AIRFLOW_CONN_BRAZE_DEFAULT", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_importing_the_testing_package_does_not_import_airflow() -> None:
    code = (
        "import sys, airflow_braze_schedule.testing, airflow_braze_schedule.testing.pytest_plugin\n"
        "leaked = sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.'))\n"
        "assert not leaked, leaked\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
