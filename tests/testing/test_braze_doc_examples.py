"""Braze's own request examples (braze-api.md §9) against the fake Braze server.

Each example is sent twice: *as documented* it must be rejected for the reasons braze-api.md lists (or,
for the syntactically broken §9.1, as invalid JSON); *corrected* (those faults fixed, a future time, and
ids of schedules that exist) it must be accepted.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from airflow_braze_schedule.testing import FakeBraze
from tests.braze_doc_examples import AUDIENCE, MESSAGE_CREATE

# §9.1 as printed: placeholders instead of values and missing commas, so not JSON at all.
MESSAGES_CREATE_AS_PRINTED = """{
  "broadcast": "false",
  "external_user_ids": "external_user_identifiers",
  "user_aliases": {"alias_name" : "example_name", "alias_label" : "example_label"},
  "segment_id": "segment_identifiers",
  "campaign_id": "campaign_identifier",
  "send_id": "send_identifier",
  "override_messaging_limits": false,
  "recipient_subscription_state": "subscribed",
  "schedule": {"time": "", "in_local_time": true, "at_optimal_time": true},
  "messages": {
    "apple_push": (optional, Apple Push Object),
    "email": (optional, Email object)
    "webhook": (optional, Webhook object)
  }
}"""

# §9.1 with only the placeholders made JSON: every other documented fault is kept.
MESSAGES_CREATE_AS_DOCUMENTED: dict[str, Any] = {
    "broadcast": "false",
    "external_user_ids": "external_user_identifiers",
    "user_aliases": {"alias_name": "example_name", "alias_label": "example_label"},
    "segment_id": "segment_identifiers",
    "audience": AUDIENCE,
    "campaign_id": "campaign_identifier",
    "send_id": "send_identifier",
    "override_messaging_limits": False,
    "recipient_subscription_state": "subscribed",
    "schedule": {"time": "", "in_local_time": True, "at_optimal_time": True},
    "messages": {
        "apple_push": {"alert": "Hello"},
        "android_push": {"alert": "Hello"},
        "kindle_push": {"alert": "Hello"},
        "web_push": {"alert": "Hello"},
        "email": {"app_id": "app_identifier", "subject": "Hi", "from": "a@example.com", "body": "Hi"},
        "webhook": {"url": "https://example.com/hook"},
        "content_card": {"type": "CLASSIC", "title": "Hi", "description": "Hello"},
    },
}

TRIGGER_CREATE_AS_DOCUMENTED: dict[str, Any] = {
    "recipients": [
        {
            "user_alias": "example_alias",
            "external_user_id": "external_user_identifier",
            "trigger_properties": {},
        }
    ],
    "audience": AUDIENCE,
    "broadcast": False,
    "schedule": {"time": "", "in_local_time": False, "at_optimal_time": False},
}
CAMPAIGN_CREATE_AS_DOCUMENTED = {
    "campaign_id": "campaign_identifier",
    "send_id": "send_identifier",
    **TRIGGER_CREATE_AS_DOCUMENTED,
    "trigger_properties": {},
}


def canvas_create_as_documented(properties: str) -> dict[str, Any]:
    """§9.7: newest uses ``context``; the older page ``canvas_entry_properties``, otherwise identical."""
    body = copy.deepcopy({"canvas_id": "canvas_identifier", **TRIGGER_CREATE_AS_DOCUMENTED, properties: {}})
    del body["recipients"][0]["trigger_properties"]
    body["recipients"][0][properties] = {}
    return body


TRIGGER_UPDATE_SCHEDULE = {"time": "2017-05-24T21:30:00Z", "in_local_time": True}


def future(*, local: bool = False) -> str:
    text = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0, tzinfo=None).isoformat()
    return text if local else text + "Z"


def send(braze: FakeBraze, path: str, body: Any = None, *, data: str | None = None) -> requests.Response:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {braze.api_key}"}
    if data is None:
        return requests.post(braze.url + path, json=body, headers=headers, timeout=5)
    return requests.post(braze.url + path, data=data, headers=headers, timeout=5)


def rejected_for(answer: requests.Response, *reasons: str) -> None:
    assert answer.status_code == 400, answer.text
    text = " | ".join([answer.json()["message"], *answer.json()["errors"]])
    for reason in reasons:
        assert reason in text, f"{reason!r} not in {text!r}"


def accepted(answer: requests.Response) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    assert answer.json()["message"] == "success"
    return dict(answer.json())


def corrected_trigger_create(body: dict[str, Any]) -> dict[str, Any]:
    """Fix §9.4 / §9.7: one identifier per recipient, and a real (future) time."""
    fixed = copy.deepcopy(body)
    del fixed["recipients"][0]["user_alias"]
    fixed["schedule"]["time"] = future()
    return fixed


# ------------------------------------------------------------------------------------------- §9.1


def test_messages_create_as_printed_is_not_json(fake_braze: FakeBraze) -> None:
    rejected_for(
        send(fake_braze, "/messages/schedule/create", data=MESSAGES_CREATE_AS_PRINTED), "Invalid JSON"
    )


def test_messages_create_as_documented_is_rejected_for_the_listed_faults(fake_braze: FakeBraze) -> None:
    rejected_for(
        send(fake_braze, "/messages/schedule/create", MESSAGES_CREATE_AS_DOCUMENTED),
        "'broadcast' must be a boolean",
        "'external_user_ids' must be an array",
        "'user_aliases' must be an array of user alias objects",
        "Cannot parse 'schedule.time'",
        # Not in §9's list: with a campaign_id every message names its variation (§12.3).
        "'messages.apple_push.message_variation_id' is required",
    )
    assert fake_braze.schedules == {}


def test_messages_create_corrected_is_accepted(fake_braze: FakeBraze) -> None:
    """Both delivery flags stay true, as printed: Braze's own example sets both (§12.1)."""
    body = copy.deepcopy(MESSAGE_CREATE)
    body["schedule"] = {"time": future(local=True), "in_local_time": True, "at_optimal_time": True}
    answer = accepted(send(fake_braze, "/messages/schedule/create", body))
    assert set(answer) == {"dispatch_id", "schedule_id", "message"}
    assert fake_braze.schedules[answer["schedule_id"]].schedule == body["schedule"]


# ---------------------------------------------------------------------------------------- §9.2, §9.3


def test_messages_update_and_delete(fake_braze: FakeBraze) -> None:
    update = {
        "schedule_id": "schedule_identifier",
        "schedule": {"time": "2017-05-24T20:30:36Z"},
        "messages": {
            "apple_push": {"alert": "Updated Message!", "badge": 1},
            "android_push": {"title": "Updated title!", "alert": "Updated message!"},
            "sms": {
                "subscription_group_id": "subscription_group_identifier",
                "message_variation_id": "message_variation_identifier",
                "body": "This is my SMS body.",
                "app_id": "app_identifier",
            },
        },
    }
    delete = {"schedule_id": "schedule_identifier"}
    # As printed: a time in 2017 (past) and, for delete, an id that does not exist.
    rejected_for(send(fake_braze, "/messages/schedule/update", update), "in the past")
    assert send(fake_braze, "/messages/schedule/delete", delete).status_code == 404

    create = {"broadcast": True, "segment_id": "segment_identifier", "schedule": {"time": future()}}
    create["messages"] = {"sms": update["messages"]["sms"]}
    sid = accepted(send(fake_braze, "/messages/schedule/create", create))["schedule_id"]
    corrected = {**update, "schedule_id": sid, "schedule": {"time": future()}}
    assert accepted(send(fake_braze, "/messages/schedule/update", corrected)) == {"message": "success"}
    assert fake_braze.schedules[sid].messages == update["messages"]
    accepted(send(fake_braze, "/messages/schedule/delete", {"schedule_id": sid}))
    assert fake_braze.schedules[sid].status == "cancelled"


# ------------------------------------------------------------------------------------ §9.4 to §9.9


TRIGGER_CASES = [
    pytest.param("campaigns", "campaign_id", CAMPAIGN_CREATE_AS_DOCUMENTED, id="campaign"),
    pytest.param("canvas", "canvas_id", canvas_create_as_documented("context"), id="canvas"),
    pytest.param(
        "canvas", "canvas_id", canvas_create_as_documented("canvas_entry_properties"), id="canvas-old"
    ),
]


@pytest.mark.parametrize(("prefix", "owner", "body"), TRIGGER_CASES)
def test_trigger_create_as_documented_is_rejected(
    fake_braze: FakeBraze, prefix: str, owner: str, body: dict[str, Any]
) -> None:
    rejected_for(
        send(fake_braze, f"/{prefix}/trigger/schedule/create", body),
        "exactly one of external_user_id, user_alias, braze_id or email",
        "'recipients[0].user_alias' must be a user alias object",
        "Cannot parse 'schedule.time'",
    )
    assert fake_braze.schedules == {}


@pytest.mark.parametrize(("prefix", "owner", "body"), TRIGGER_CASES)
def test_trigger_create_update_delete_corrected(
    fake_braze: FakeBraze, prefix: str, owner: str, body: dict[str, Any]
) -> None:
    path = f"/{prefix}/trigger/schedule"
    sid = accepted(send(fake_braze, path + "/create", corrected_trigger_create(body)))["schedule_id"]
    owner_id = body[owner]

    # §9.5 / §9.8 as printed: a time in 2017, long passed in all time zones.
    printed = {owner: owner_id, "schedule_id": "schedule_identifier", "schedule": TRIGGER_UPDATE_SCHEDULE}
    rejected_for(send(fake_braze, path + "/update", printed), "passed in all time zones")

    # Corrected: a future date, still in local time with a "Z", which Braze's own examples send.
    local = {"time": future(), "in_local_time": True}
    accepted(send(fake_braze, path + "/update", {owner: owner_id, "schedule_id": sid, "schedule": local}))
    assert fake_braze.schedules[sid].schedule == local

    # §9.6 / §9.9: the printed ids do not exist; the real ones do.
    printed_delete = {owner: owner_id, "schedule_id": "schedule_identifier"}
    assert send(fake_braze, path + "/delete", printed_delete).json() == {"message": "Schedule not found"}
    accepted(send(fake_braze, path + "/delete", {owner: owner_id, "schedule_id": sid}))
    assert fake_braze.active_schedules() == []


# --------------------------------------------------------------------------------------- §9.10, §9.11


def test_scheduled_broadcasts_example(fake_braze: FakeBraze) -> None:
    answer = requests.get(
        fake_braze.url + "/messages/scheduled_broadcasts?end_time=2018-09-01T00:00:00-04:00",
        headers={"Authorization": f"Bearer {fake_braze.api_key}"},
        timeout=5,
    )
    assert answer.json() == {"scheduled_broadcasts": []}  # §12.9: no "message" key


def test_send_id_create_example(fake_braze: FakeBraze) -> None:
    body = {"campaign_id": "campaign_identifier", "send_id": "send_identifier"}
    assert accepted(send(fake_braze, "/sends/id/create", body)) == {
        "message": "success",
        "send_id": "send_identifier",
    }
