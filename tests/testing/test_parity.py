"""The fake Braze is Braze's twin, not the provider's: both rule sets must agree on every request.

One table of requests (Braze's documented examples, braze-api.md §9; every refusal rule; the channel
list; size limits; broadcast rules; both delivery flags; recipients limits) goes through the core's
validation (``build_create_request`` / ``build_update_request`` / ``build_delete_request``) and through
the fake over real HTTP, and the verdicts must match: accepted by both, or refused by both. Where they
must differ, the row says why.

The same input goes to both (the request fields as JSON). When the core accepts, the body it builds,
what the provider would send, must be accepted by the fake too. The two never share code: the fake
models Braze from Braze's docs on its own (``airflow_braze_schedule/testing/_rules.py``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from airflow_braze_schedule.core.endpoints import ENDPOINTS, ScheduleKind
from airflow_braze_schedule.core.errors import BrazeValidationError
from airflow_braze_schedule.core.payload import (
    BrazeRequest,
    build_create_request,
    build_delete_request,
    build_update_request,
)
from airflow_braze_schedule.testing import FakeBraze
from tests.braze_doc_examples import (
    AUDIENCE,
    CAMPAIGN_CREATE,
    EXAMPLES_NOW,
    FUTURE,
    MESSAGE_CREATE,
    MESSAGE_UPDATE_MESSAGES,
    TRIGGER_UPDATE_SCHEDULE,
    canvas_create,
)

MESSAGE, CAMPAIGN, CANVAS = ScheduleKind.MESSAGE, ScheduleKind.CAMPAIGN, ScheduleKind.CANVAS
NOW = EXAMPLES_NOW
UTC_TIME = {"time": FUTURE + "Z"}
LOCAL_TIME = {"time": FUTURE, "in_local_time": True}
EMAIL = {"email": {"app_id": "app-1", "subject": "Hi", "body": "Hello"}}
OWNER = {CAMPAIGN: {"campaign_id": "campaign-1"}, CANVAS: {"canvas_id": "canvas-1"}, MESSAGE: {}}
CHANNELS = (
    "apple_push",
    "android_push",
    "kindle_push",
    "web_push",
    "email",
    "webhook",
    "content_card",
    "sms",
)


@dataclass(frozen=True)
class Row:
    """One request through both rule sets.

    :param call: ``create``, ``update`` or ``delete``.
    :param kind: the schedule kind (the endpoint), passed to the core as the hook does.
    :param fields: create: the request fields; update: ``schedule`` and/or ``messages``.
    :param original: update and delete: the create fields of the schedule addressed (made in the fake
        first, and given to the core as the handle's schedule).
    :param differ: why the two must disagree here; None means they must agree.
    """

    id: str
    call: str
    kind: ScheduleKind
    fields: dict[str, Any]
    original: dict[str, Any] = field(default_factory=dict)
    differ: str | None = None


def create(row_id: str, kind: ScheduleKind, differ: str | None = None, **fields: Any) -> Row:
    return Row(row_id, "create", kind, {**OWNER[kind], **fields}, differ=differ)


def message(row_id: str, differ: str | None = None, **fields: Any) -> Row:
    return create(row_id, MESSAGE, differ, **{"messages": EMAIL, "schedule": UTC_TIME, **fields})


def campaign(row_id: str, differ: str | None = None, **fields: Any) -> Row:
    return create(row_id, CAMPAIGN, differ, **{"schedule": UTC_TIME, **fields})


def canvas(row_id: str, differ: str | None = None, **fields: Any) -> Row:
    return create(row_id, CANVAS, differ, **{"schedule": UTC_TIME, **fields})


def users(n: int) -> list[str]:
    return [f"user-{i}" for i in range(n)]


def aliases(n: int) -> list[dict[str, str]]:
    return [{"alias_name": f"a-{i}", "alias_label": "crm"} for i in range(n)]


def recipients(n: int, **extra: Any) -> list[dict[str, Any]]:
    return [{"external_user_id": f"user-{i}", **extra} for i in range(n)]


def sized(total: int, letter: str = "x") -> dict[str, str]:
    """An object of exactly ``total`` bytes of compact UTF-8 JSON (``letter`` of 1 or 2 bytes)."""
    width = len(letter.encode())
    return {"b": letter * ((total - len('{"b":""}')) // width)}


BEGUN_LOCAL = {
    "time": "2026-06-01T23:00:00",
    "in_local_time": True,
}  # reached at UTC+14 at 09:00Z, NOW 12:00Z

ROWS: list[Row] = [
    # --- Braze's documented examples (§9), corrected ------------------------------------------------
    create("9.1-message-both-flags", MESSAGE, **{k: v for k, v in MESSAGE_CREATE.items()}),
    create("9.4-campaign", CAMPAIGN, **CAMPAIGN_CREATE),
    create("9.7-canvas", CANVAS, **canvas_create("context")),
    create("9.7-canvas-older-name", CANVAS, **canvas_create("canvas_entry_properties")),
    Row(
        "9.2-message-update",
        "update",
        MESSAGE,
        {"schedule": UTC_TIME, "messages": MESSAGE_UPDATE_MESSAGES},
        original={"messages": EMAIL, "broadcast": True, "segment_id": "seg", "schedule": UTC_TIME},
    ),
    Row(
        "9.5-campaign-update-local-with-Z",
        "update",
        CAMPAIGN,
        {"schedule": TRIGGER_UPDATE_SCHEDULE},
        original={"broadcast": True, "schedule": UTC_TIME},
    ),
    Row(
        "9.8-canvas-update-local-with-Z",
        "update",
        CANVAS,
        {"schedule": TRIGGER_UPDATE_SCHEDULE},
        original={"broadcast": True, "schedule": UTC_TIME},
    ),
    Row(
        "9.3-message-delete",
        "delete",
        MESSAGE,
        {},
        original={"messages": EMAIL, "external_user_ids": ["u"], "schedule": UTC_TIME},
    ),
    Row("9.6-campaign-delete", "delete", CAMPAIGN, {}, original={"broadcast": True, "schedule": UTC_TIME}),
    Row("9.9-canvas-delete", "delete", CANVAS, {}, original={"broadcast": True, "schedule": UTC_TIME}),
    # --- the schedule object ------------------------------------------------------------------------
    campaign("both-flags", broadcast=True, schedule={**LOCAL_TIME, "at_optimal_time": True}),
    campaign(
        "both-flags-optimal-window-still-open",
        broadcast=True,
        schedule={"time": "2026-06-01T00:00:00", "in_local_time": True, "at_optimal_time": True},
    ),
    campaign(
        "both-flags-day-over",
        broadcast=True,
        schedule={"time": "2026-05-30", "in_local_time": True, "at_optimal_time": True},
    ),
    campaign("local-with-Z", broadcast=True, schedule={"time": FUTURE + "Z", "in_local_time": True}),
    canvas(
        "optimal-with-offset", broadcast=True, schedule={"time": FUTURE + "-05:00", "at_optimal_time": True}
    ),
    campaign(
        "local-passed-somewhere",
        broadcast=True,
        schedule={"time": "2026-06-01T09:00:00", "in_local_time": True},
    ),
    campaign(
        "local-passed-everywhere",
        broadcast=True,
        schedule={"time": "2026-05-31T23:00:00", "in_local_time": True},
    ),
    campaign("utc-past", broadcast=True, schedule={"time": "2026-06-01T11:59:59Z"}),
    campaign("utc-no-designator", broadcast=True, schedule={"time": FUTURE}),
    campaign("time-empty", broadcast=True, schedule={"time": ""}),
    campaign("flag-as-text", broadcast=True, schedule={"time": FUTURE, "in_local_time": "true"}),
    campaign("schedule-unknown-key", broadcast=True, schedule={"time": FUTURE + "Z", "timezone": "UTC"}),
    campaign(
        "date-without-time",
        broadcast=True,
        schedule={"time": "2026-06-10"},
        differ="the provider completes a bare date to midnight UTC and sends a date-time, which the fake "
        "accepts; Braze's format is a date-time, so the fake refuses the bare date",
    ),
    # --- broadcast and audiences --------------------------------------------------------------------
    message("message-users", external_user_ids=["u"]),
    message("message-segment-without-broadcast", segment_id="seg"),
    message("message-segment-broadcast", segment_id="seg", broadcast=True),
    message("message-audience-broadcast-false", audience=AUDIENCE, broadcast=False),
    message("message-audience-broadcast", audience=AUDIENCE, broadcast=True),
    message("message-users-in-segment", segment_id="seg", external_user_ids=["u"]),
    message("message-broadcast-with-users", broadcast=True, external_user_ids=["u"]),
    message("message-broadcast-with-aliases", broadcast=True, user_aliases=aliases(1)),
    message("message-nobody", broadcast=False),
    message("message-broadcast-alone", broadcast=True),
    campaign("campaign-recipients", recipients=recipients(1)),
    campaign("campaign-broadcast", broadcast=True),
    campaign("campaign-audience-without-broadcast", audience=AUDIENCE),
    campaign("campaign-audience-broadcast", audience=AUDIENCE, broadcast=True),
    campaign("campaign-broadcast-with-recipients", broadcast=True, recipients=recipients(1)),
    campaign("campaign-nobody", broadcast=False),
    canvas("canvas-audience-without-broadcast", audience=AUDIENCE, broadcast=False),
    canvas("canvas-audience-broadcast", audience=AUDIENCE, broadcast=True),
    canvas("canvas-recipients-and-audience", audience=AUDIENCE, recipients=recipients(2)),
    campaign("audience-empty", audience={}, broadcast=True),
    campaign("broadcast-as-text", broadcast="true"),
    # --- recipients limits --------------------------------------------------------------------------
    message("50-external-ids", external_user_ids=users(50)),
    message("51-external-ids", external_user_ids=users(51)),
    message("25-ids-25-aliases", external_user_ids=users(25), user_aliases=aliases(25)),
    message("26-ids-25-aliases", external_user_ids=users(26), user_aliases=aliases(25)),
    campaign("50-recipients", recipients=recipients(50)),
    canvas("51-recipients", recipients=recipients(51)),
    campaign("recipient-two-identifiers", recipients=[{"external_user_id": "u", "braze_id": "b"}]),
    campaign("recipient-email-without-prioritization", recipients=[{"email": "a@example.com"}]),
    campaign("recipient-alias-as-text", recipients=[{"user_alias": "example_alias"}]),
    campaign(
        "recipient-new-user-without-attributes",
        recipients=[{"external_user_id": "u", "send_to_existing_only": False}],
    ),
    # --- messages: channels, variations, presence -----------------------------------------------------
    *(message(f"channel-{channel}", broadcast=True, messages={channel: {}}) for channel in CHANNELS),
    message("channel-whats_app", broadcast=True, messages={"whats_app": {}}),
    message("channel-windows_universal_push", broadcast=True, messages={"windows_universal_push": {}}),
    message("messages-empty", broadcast=True, messages={}),
    message("messages-missing", broadcast=True, segment_id="seg", messages=None),
    message("messages-missing-with-users", external_user_ids=["u"], messages=None),
    message(
        "campaign-attributed-without-variation",
        campaign_id="campaign-1",
        external_user_ids=["u"],
    ),
    message(
        "campaign-attributed-one-variation-missing",
        campaign_id="campaign-1",
        external_user_ids=["u"],
        messages={"sms": {"body": "Hi", "message_variation_id": "v-1"}, "email": {"body": "Hi"}},
    ),
    message(
        "campaign-attributed-with-variations",
        campaign_id="campaign-1",
        external_user_ids=["u"],
        messages={"sms": {"body": "Hi", "message_variation_id": "v-1"}},
    ),
    message("subscription-state-unknown", broadcast=True, recipient_subscription_state="everyone"),
    # --- sizes --------------------------------------------------------------------------------------
    campaign("trigger-properties-50000-bytes", broadcast=True, trigger_properties=sized(50_000)),
    campaign("trigger-properties-50001-bytes", broadcast=True, trigger_properties=sized(50_001)),
    campaign(
        "trigger-properties-accented-40008-bytes", broadcast=True, trigger_properties={"b": "é" * 20_000}
    ),
    campaign(
        "trigger-properties-accented-50008-bytes", broadcast=True, trigger_properties={"b": "é" * 25_000}
    ),
    canvas("context-accented-50000-bytes", broadcast=True, context=sized(50_000, "é")),
    canvas("context-over-50000-bytes", broadcast=True, context=sized(50_002, "é")),
    campaign(
        "recipient-trigger-properties-accented",
        recipients=recipients(1, trigger_properties={"b": "é" * 20_000}),
    ),
    canvas("recipient-context-over", recipients=recipients(1, context=sized(50_001))),
    message(
        "body-over-4-mb",
        broadcast=True,
        messages={"email": {"app_id": "a", "subject": "s", "body": "x" * (4 * 1024 * 1024)}},
    ),
    # --- fields per endpoint ------------------------------------------------------------------------
    message("recipients-on-a-message", recipients=recipients(1)),
    canvas("send-id-on-a-canvas", broadcast=True, send_id="s-1"),
    canvas("trigger-properties-on-a-canvas", broadcast=True, trigger_properties={}),
    campaign("send-id-not-ascii", broadcast=True, send_id="envoi-é"),
    campaign("send-id-65-characters", broadcast=True, send_id="s" * 65),
    canvas("context-and-older-name", broadcast=True, context={}, canvas_entry_properties={}),
    campaign(
        "campaign-id-rendered-none",
        broadcast=True,
        campaign_id="None",
        differ="'None' is what a template that found nothing renders: the provider refuses it as a DAG bug, "
        "while to Braze it is just a campaign id",
    ),
    # --- updates ------------------------------------------------------------------------------------
    Row(
        "campaign-update-nothing", "update", CAMPAIGN, {}, original={"broadcast": True, "schedule": UTC_TIME}
    ),
    Row(
        "message-update-nothing",
        "update",
        MESSAGE,
        {},
        original={"messages": EMAIL, "external_user_ids": ["u"], "schedule": UTC_TIME},
    ),
    Row(
        "message-update-whats_app",
        "update",
        MESSAGE,
        {"messages": {"whats_app": {}}},
        original={"messages": EMAIL, "external_user_ids": ["u"], "schedule": UTC_TIME},
    ),
    Row(
        "update-to-the-past",
        "update",
        CANVAS,
        {"schedule": {"time": "2026-05-01T00:00:00Z"}},
        original={"broadcast": True, "schedule": UTC_TIME},
    ),
    Row(
        "update-before-the-local-send-begins",
        "update",
        CAMPAIGN,
        {"schedule": LOCAL_TIME},
        original={"broadcast": True, "schedule": LOCAL_TIME},
    ),
    Row(
        "update-after-the-local-send-began",
        "update",
        CANVAS,
        {"schedule": LOCAL_TIME},
        original={"broadcast": True, "schedule": BEGUN_LOCAL},
        differ="Braze answers success but silently keeps the old schedule (§12.5): the provider refuses "
        "rather than report an update that never happens; the fake keeps the schedule unchanged",
    ),
]


@pytest.fixture(scope="module")
def twin() -> Iterator[FakeBraze]:
    """A fake Braze whose clock stands at NOW, the core's ``now`` too."""
    with FakeBraze(clock=NOW.timestamp) as braze:
        yield braze


@pytest.fixture(scope="module")
def session(twin: FakeBraze) -> Iterator[requests.Session]:
    with requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {twin.api_key}"
        yield http


def core_verdict(row: Row, schedule_id: str = "schedule-1") -> BrazeRequest | BrazeValidationError:
    owner_id = OWNER[row.kind].get(ENDPOINTS[row.kind].owner_field or "")
    try:
        if row.call == "create":
            return build_create_request(copy.deepcopy(row.fields), kind=row.kind, now=NOW)
        if row.call == "update":
            return build_update_request(
                row.kind,
                schedule_id,
                owner_id=owner_id,
                original=row.original.get("schedule"),
                now=NOW,
                **copy.deepcopy(row.fields),
            )
        return build_delete_request(row.kind, schedule_id, owner_id=owner_id)
    except BrazeValidationError as error:
        return error


def fake_answer(http: requests.Session, twin: FakeBraze, row: Row, body: dict[str, Any]) -> requests.Response:
    path = getattr(ENDPOINTS[row.kind], row.call)
    return http.post(twin.url + path, json=body, timeout=30)


def without_none(fields: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


def test_the_table_covers_the_rules() -> None:
    ids = [row.id for row in ROWS]
    assert len(ids) == len(set(ids))
    assert {row.call for row in ROWS} == {"create", "update", "delete"}
    assert sum(row.differ is not None for row in ROWS) <= 3, "differences must stay rare and explained"


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_core_and_fake_agree(twin: FakeBraze, session: requests.Session, row: Row) -> None:
    twin.reset()
    schedule_id = "schedule-1"
    owner = OWNER[row.kind]
    if row.call != "create":
        made = fake_answer(session, twin, Row("setup", "create", row.kind, {}), {**owner, **row.original})
        assert made.status_code == 200, made.text
        schedule_id = made.json()["schedule_id"]
        raw = {**owner, "schedule_id": schedule_id, **without_none(row.fields)}
    else:
        raw = without_none(row.fields)

    core = core_verdict(row, schedule_id)
    answer = fake_answer(session, twin, row, raw)
    core_accepts = isinstance(core, BrazeRequest)
    fake_accepts = answer.status_code == 200
    verdicts = f"core: {'accepted' if core_accepts else core}; fake: {answer.status_code} {answer.text[:300]}"

    if row.differ is None:
        assert core_accepts == fake_accepts, verdicts
    else:
        assert core_accepts != fake_accepts, f"the row says they differ ({row.differ}), but {verdicts}"
    if not fake_accepts:
        assert answer.status_code in (400, 413), verdicts
    if isinstance(core, BrazeRequest):
        # What the provider sends must be what Braze's twin accepts.
        twin.reset()
        if row.call == "create":
            headers = {"Content-Type": "application/json"}
            sent = session.post(twin.url + core.path, data=core.payload, headers=headers, timeout=30)
            assert sent.status_code == 200, f"the provider's body was refused: {sent.text[:300]}"


def test_the_late_update_the_provider_refuses_is_a_silent_no_op_in_the_fake(
    twin: FakeBraze, session: requests.Session
) -> None:
    (row,) = [row for row in ROWS if row.id == "update-after-the-local-send-began"]
    twin.reset()
    made = fake_answer(
        session, twin, Row("setup", "create", row.kind, {}), {**OWNER[row.kind], **row.original}
    )
    schedule_id = made.json()["schedule_id"]
    body = {**OWNER[row.kind], "schedule_id": schedule_id, **row.fields}
    answer = session.post(twin.url + ENDPOINTS[row.kind].update, json=body, timeout=5)
    assert (answer.status_code, answer.json()) == (200, {"message": "success"})
    assert twin.schedules[schedule_id].schedule == BEGUN_LOCAL


def test_the_scheduled_broadcasts_answer_has_braze_shape(twin: FakeBraze, session: requests.Session) -> None:
    twin.reset()
    twin.add_scheduled_broadcast("Spring", "campaign-1", "2026-06-05T09:00:00", tags=["sale"])
    answer = session.get(
        twin.url + "/messages/scheduled_broadcasts", params={"end_time": "2026-07-01"}, timeout=5
    )
    body = answer.json()
    assert list(body) == ["scheduled_broadcasts"]  # §12.9: no "message" key
    assert [set(entry) for entry in body["scheduled_broadcasts"]] == [
        {"name", "id", "type", "tags", "next_send_time", "schedule_type"}
    ]
