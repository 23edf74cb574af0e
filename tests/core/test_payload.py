"""Request rules of the three schedule kinds (braze-api.md §2, §4.1, §4.2), checked before sending."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from airflow_braze_schedule.core.endpoints import Action, ScheduleKind
from airflow_braze_schedule.core.errors import BrazeValidationError
from airflow_braze_schedule.core.payload import (
    BrazeRequest,
    build_create_request,
    build_delete_request,
    build_update_request,
    kind_for,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TIME = "2026-06-10T09:00:00Z"
SCHEDULE = {"time": TIME}
SENT_SCHEDULE = {"time": TIME, "in_local_time": False, "at_optimal_time": False}
MESSAGE, CAMPAIGN, CANVAS = ScheduleKind.MESSAGE, ScheduleKind.CAMPAIGN, ScheduleKind.CANVAS

# A minimal valid create of each kind.
BASE = {
    MESSAGE: {"messages": {"email": {"app_id": "a", "subject": "s", "body": "b"}}, "broadcast": True},
    CAMPAIGN: {"campaign_id": "camp", "broadcast": True},
    CANVAS: {"canvas_id": "canv", "broadcast": True},
}


def create(fields, **kwargs):
    return build_create_request({"schedule": SCHEDULE, **fields}, now=NOW, **kwargs)


def refused(fields, **kwargs) -> BrazeValidationError:
    with pytest.raises(BrazeValidationError) as info:
        create(fields, **kwargs)
    return info.value


def users(n, prefix="u"):
    return [f"{prefix}{i}" for i in range(n)]


def aliases(n):
    return [{"alias_name": f"a{i}", "alias_label": "crm"} for i in range(n)]


# --- the kind rule --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ids", "kind"),
    [
        pytest.param({"canvas_id": "c"}, CANVAS, id="canvas"),
        pytest.param({"canvas_id": "c", "messages": {"sms": {}}}, CANVAS, id="canvas-beats-messages"),
        pytest.param({"messages": {"sms": {}}}, MESSAGE, id="messages"),
        pytest.param({"messages": {"sms": {}}, "campaign_id": "c"}, MESSAGE, id="messages-with-campaign"),
        pytest.param({"messages": {}}, MESSAGE, id="empty-messages-still-message"),
        pytest.param({"campaign_id": "c"}, CAMPAIGN, id="campaign"),
    ],
)
def test_kind_for(ids, kind):
    assert kind_for(**ids) is kind


@pytest.mark.parametrize(
    ("ids", "field"),
    [
        pytest.param({}, "canvas_id / campaign_id / messages", id="nothing"),
        pytest.param({"canvas_id": "c", "campaign_id": "k"}, "campaign_id", id="canvas-and-campaign"),
    ],
)
def test_kind_for_refuses(ids, field):
    with pytest.raises(BrazeValidationError) as info:
        kind_for(**ids)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("fields", "kind", "path"),
    [
        pytest.param(BASE[MESSAGE], MESSAGE, "/messages/schedule/create", id="message"),
        pytest.param(
            {**BASE[MESSAGE], "campaign_id": "c"}, MESSAGE, "/messages/schedule/create", id="message+camp"
        ),
        pytest.param(BASE[CAMPAIGN], CAMPAIGN, "/campaigns/trigger/schedule/create", id="campaign"),
        pytest.param(BASE[CANVAS], CANVAS, "/canvas/trigger/schedule/create", id="canvas"),
    ],
)
def test_create_picks_kind_and_endpoint(fields, kind, path):
    request = create(fields)
    assert (request.method, request.path, request.action, request.kind) == ("POST", path, "create", kind)
    assert request.body == {**fields, "schedule": SENT_SCHEDULE}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        pytest.param({"broadcast": True}, "canvas_id / campaign_id / messages", id="no-kind"),
        pytest.param({"canvas_id": "c", "campaign_id": "k", "broadcast": True}, "campaign_id", id="both-ids"),
    ],
)
def test_create_refuses_without_a_kind(fields, field):
    assert refused(fields).field == field


def test_kind_override_sends_a_campaign_id_alone_as_a_message_schedule():
    request = create({"campaign_id": "camp", "segment_id": "seg"}, kind=MESSAGE)
    assert request.path == "/messages/schedule/create"
    assert request.kind is MESSAGE
    assert request.body == {"campaign_id": "camp", "segment_id": "seg", "schedule": SENT_SCHEDULE}


def test_kind_override_still_refuses_fields_of_another_kind():
    error = refused({"campaign_id": "camp", "broadcast": True}, kind=CANVAS)
    assert error.field == "campaign_id"


@pytest.mark.parametrize(("kind", "field"), [(CAMPAIGN, "campaign_id"), (CANVAS, "canvas_id")])
def test_kind_override_still_requires_the_owner_id(kind, field):
    assert refused({"broadcast": True}, kind=kind).field == field


# --- field rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "extra", "field", "hint"),
    [
        pytest.param(
            MESSAGE,
            {"recipients": [{"external_user_id": "u"}]},
            "recipients",
            "external_user_ids",
            id="recipients-on-message",
        ),
        pytest.param(
            MESSAGE, {"trigger_properties": {}}, "trigger_properties", None, id="trigger-props-on-message"
        ),
        pytest.param(MESSAGE, {"context": {}}, "context", None, id="context-on-message"),
        pytest.param(CANVAS, {"send_id": "s"}, "send_id", "no send_id", id="send-id-on-canvas"),
        pytest.param(
            CANVAS, {"trigger_properties": {}}, "trigger_properties", "context", id="trigger-props-on-canvas"
        ),
        pytest.param(CANVAS, {"messages": {"sms": {}}}, "messages", "no messages", id="messages-on-canvas"),
        pytest.param(CANVAS, {"segment_id": "s"}, "segment_id", None, id="segment-on-canvas"),
        pytest.param(CANVAS, {"external_user_ids": ["u"]}, "external_user_ids", None, id="ids-on-canvas"),
        pytest.param(CAMPAIGN, {"context": {}}, "context", "trigger_properties", id="context-on-campaign"),
        pytest.param(
            CAMPAIGN,
            {"canvas_entry_properties": {}},
            "canvas_entry_properties",
            "trigger_properties",
            id="entry-props-on-campaign",
        ),
        pytest.param(CAMPAIGN, {"user_aliases": aliases(1)}, "user_aliases", None, id="aliases-on-campaign"),
        pytest.param(
            CAMPAIGN,
            {"override_messaging_limits": True},
            "override_messaging_limits",
            None,
            id="override-on-campaign",
        ),
        pytest.param(
            CAMPAIGN,
            {"recipient_subscription_state": "all"},
            "recipient_subscription_state",
            None,
            id="subscription-state-on-campaign",
        ),
    ],
)
def test_field_not_accepted_by_kind(kind, extra, field, hint):
    error = refused({**BASE[kind], **extra})
    assert error.field == field
    assert f"not accepted by {kind.value} schedules" in error.problem
    if hint:
        assert hint in error.expected


def test_unknown_top_level_field():
    error = refused({**BASE[CAMPAIGN], "trigger_propertys": {}})
    assert error.field == "trigger_propertys"
    assert "trigger_properties" in error.expected


def test_none_values_count_as_not_given():
    request = create({**BASE[CAMPAIGN], "send_id": None, "recipients": None, "trigger_properties": None})
    assert request.body == {"campaign_id": "camp", "broadcast": True, "schedule": SENT_SCHEDULE}


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        pytest.param({"send_id": "é"}, "send_id", id="send-id-non-ascii"),
        pytest.param({"send_id": "s" * 65}, "send_id", id="send-id-65-chars"),
        pytest.param({"send_id": ""}, "send_id", id="send-id-empty"),
        pytest.param({"send_id": 12}, "send_id", id="send-id-int"),
        pytest.param({"campaign_id": ""}, "campaign_id", id="campaign-id-empty"),
        pytest.param({"campaign_id": "None"}, "campaign_id", id="campaign-id-rendered-None"),
        pytest.param({"campaign_id": 42}, "campaign_id", id="campaign-id-int"),
        pytest.param({"broadcast": "true"}, "broadcast", id="broadcast-str"),
        pytest.param({"broadcast": 1}, "broadcast", id="broadcast-int"),
        pytest.param({"audience": {}}, "audience", id="audience-empty"),
        pytest.param({"audience": []}, "audience", id="audience-list"),
        pytest.param({"trigger_properties": []}, "trigger_properties", id="trigger-props-list"),
    ],
)
def test_campaign_field_checks(extra, field):
    assert refused({**BASE[CAMPAIGN], **extra}).field == field


def test_send_id_of_64_ascii_characters_is_accepted():
    assert create({**BASE[CAMPAIGN], "send_id": "s" * 64}).body["send_id"] == "s" * 64


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        pytest.param({"broadcast": True, "external_user_ids": ["u"]}, "broadcast", id="broadcast+ids"),
        pytest.param({"broadcast": True, "user_aliases": aliases(1)}, "broadcast", id="broadcast+aliases"),
        pytest.param({"broadcast": False}, "audience", id="no-audience-broadcast-false"),
        pytest.param({}, "audience", id="no-audience"),
        pytest.param({"external_user_ids": []}, "external_user_ids", id="ids-empty"),
        pytest.param({"external_user_ids": "u1"}, "external_user_ids", id="ids-string"),
        pytest.param({"external_user_ids": ["u", ""]}, "external_user_ids[1]", id="ids-empty-id"),
        pytest.param({"external_user_ids": ["u", 7]}, "external_user_ids[1]", id="ids-int-id"),
        pytest.param({"external_user_ids": users(51)}, "external_user_ids", id="ids-51"),
        pytest.param({"user_aliases": []}, "user_aliases", id="aliases-empty"),
        pytest.param({"user_aliases": aliases(51)}, "user_aliases", id="aliases-51"),
        pytest.param(
            {"user_aliases": {"alias_name": "n", "alias_label": "l"}}, "user_aliases", id="alias-object"
        ),
        pytest.param({"user_aliases": ["n"]}, "user_aliases[0]", id="alias-string"),
        pytest.param(
            {"user_aliases": [{"alias_name": "n"}]}, "user_aliases[0].alias_label", id="alias-no-label"
        ),
        pytest.param(
            {"external_user_ids": users(30), "user_aliases": aliases(21)},
            "external_user_ids + user_aliases",
            id="ids+aliases-51",
        ),
        pytest.param({"segment_id": ""}, "segment_id", id="segment-empty"),
        pytest.param(
            {"segment_id": "s", "recipient_subscription_state": "unsubscribed"},
            "recipient_subscription_state",
            id="subscription-state-unknown",
        ),
        pytest.param(
            {"segment_id": "s", "override_messaging_limits": "false"},
            "override_messaging_limits",
            id="override-str",
        ),
        pytest.param({"segment_id": "s", "messages": {}}, "messages", id="messages-empty"),
        pytest.param({"segment_id": "s", "messages": []}, "messages", id="messages-list"),
        pytest.param(
            {"segment_id": "s", "messages": {"whats_app": {}}}, "messages.whats_app", id="whats-app"
        ),
        pytest.param(
            {"segment_id": "s", "messages": {"email": "hi"}}, "messages.email", id="channel-not-object"
        ),
    ],
)
def test_message_field_checks(fields, field):
    assert refused({"messages": {"sms": {"body": "b"}}, **fields}).field == field


@pytest.mark.parametrize("state", ["opted_in", "subscribed", "all"])
def test_recipient_subscription_states(state):
    request = create({**BASE[MESSAGE], "recipient_subscription_state": state})
    assert request.body["recipient_subscription_state"] == state


@pytest.mark.parametrize(
    "targets",
    [
        pytest.param({"external_user_ids": users(50)}, id="50-ids"),
        pytest.param({"user_aliases": aliases(50)}, id="50-aliases"),
        pytest.param({"external_user_ids": users(25), "user_aliases": aliases(25)}, id="25+25"),
        pytest.param({"external_user_ids": ("a", "b")}, id="tuple"),
        pytest.param({"segment_id": "seg"}, id="segment"),
        pytest.param({"audience": {"AND": []}}, id="audience"),
    ],
)
def test_message_audiences_accepted(targets):
    request = create({"messages": {"sms": {"body": "b"}}, **targets})
    assert {k: request.body[k] for k in targets} == {
        k: list(v) if isinstance(v, tuple) else v for k, v in targets.items()
    }


@pytest.mark.parametrize("kind", [CAMPAIGN, CANVAS])
@pytest.mark.parametrize(
    ("extra", "field"),
    [
        pytest.param({"broadcast": False}, "audience", id="no-audience"),
        pytest.param(
            {"broadcast": True, "recipients": [{"external_user_id": "u"}]}, "broadcast", id="broadcast+recips"
        ),
        pytest.param({"broadcast": None, "recipients": []}, "recipients", id="recipients-empty"),
        pytest.param(
            {"broadcast": None, "recipients": [{"external_user_id": f"u{i}"} for i in range(51)]},
            "recipients",
            id="recipients-51",
        ),
    ],
)
def test_trigger_audience_checks(kind, extra, field):
    assert refused({**BASE[kind], **extra}).field == field


RECIPIENT_ERRORS = [
    pytest.param({}, "recipients[0]", id="no-identifier"),
    pytest.param({"trigger_properties": {"a": 1}}, "recipients[0]", id="only-properties"),
    pytest.param({"external_user_id": "u", "braze_id": "b"}, "recipients[0]", id="two-identifiers"),
    pytest.param(
        {"user_alias": {"alias_name": "n", "alias_label": "l"}, "external_user_id": "u"},
        "recipients[0]",
        id="alias-and-external-id",
    ),
    pytest.param({"user_alias": "example_alias"}, "recipients[0].user_alias", id="alias-string"),
    pytest.param(
        {"user_alias": {"alias_name": "n"}}, "recipients[0].user_alias.alias_label", id="alias-no-label"
    ),
    pytest.param(
        {"user_alias": {"alias_label": "l"}}, "recipients[0].user_alias.alias_name", id="alias-no-name"
    ),
    pytest.param({"external_user_id": ""}, "recipients[0].external_user_id", id="empty-id"),
    pytest.param({"braze_id": 5}, "recipients[0].braze_id", id="int-braze-id"),
    pytest.param({"email": "a@example.com"}, "recipients[0].prioritization", id="email-no-prioritization"),
    pytest.param({"external_user_id": "u", "nickname": "x"}, "recipients[0].nickname", id="unknown-key"),
    pytest.param(
        {"user_alias": {"alias_name": "n", "alias_label": "l"}, "send_to_existing_only": True},
        "recipients[0].send_to_existing_only",
        id="existing-only-with-alias",
    ),
    pytest.param(
        {"external_user_id": "u", "send_to_existing_only": False},
        "recipients[0].attributes",
        id="existing-only-false-no-attributes",
    ),
    pytest.param(
        {"external_user_id": "u", "send_to_existing_only": "no"},
        "recipients[0].send_to_existing_only",
        id="existing-only-str",
    ),
    pytest.param(
        {"external_user_id": "u", "attributes": ["a"]}, "recipients[0].attributes", id="attributes-list"
    ),
    pytest.param("u1", "recipients[0]", id="recipient-string"),
]


@pytest.mark.parametrize("kind", [CAMPAIGN, CANVAS])
@pytest.mark.parametrize(("recipient", "field"), RECIPIENT_ERRORS)
def test_recipient_checks(kind, recipient, field):
    assert refused({**BASE[kind], "broadcast": None, "recipients": [recipient]}).field == field


def test_the_failing_recipient_is_named_by_index():
    recipients = [{"external_user_id": "ok"}, {"external_user_id": "ok2"}, {"braze_id": ""}]
    assert refused({**BASE[CAMPAIGN], "broadcast": None, "recipients": recipients}).field == (
        "recipients[2].braze_id"
    )


@pytest.mark.parametrize(
    ("kind", "key", "field"),
    [
        pytest.param(
            CANVAS, "trigger_properties", "recipients[0].trigger_properties", id="trigger-props-canvas"
        ),
        pytest.param(CAMPAIGN, "context", "recipients[0].context", id="context-campaign"),
        pytest.param(
            CAMPAIGN,
            "canvas_entry_properties",
            "recipients[0].canvas_entry_properties",
            id="entry-props-campaign",
        ),
    ],
)
def test_recipient_properties_of_the_wrong_kind(kind, key, field):
    recipient = {"external_user_id": "u", key: {"a": 1}}
    assert refused({**BASE[kind], "broadcast": None, "recipients": [recipient]}).field == field


@pytest.mark.parametrize(
    "recipient",
    [
        pytest.param({"external_user_id": "u", "trigger_properties": {"a": 1}}, id="external-id"),
        pytest.param({"user_alias": {"alias_name": "n", "alias_label": "l"}}, id="alias"),
        pytest.param({"braze_id": "b"}, id="braze-id"),
        pytest.param({"email": "a@example.com", "prioritization": ["unidentified"]}, id="email"),
        pytest.param(
            {"external_user_id": "u", "send_to_existing_only": False, "attributes": {"first_name": "A"}},
            id="create-user",
        ),
        pytest.param({"external_user_id": "u", "send_to_existing_only": True}, id="existing-only"),
    ],
)
def test_valid_campaign_recipients_pass_unchanged(recipient):
    request = create({"campaign_id": "camp", "recipients": [recipient]})
    assert request.body == {"campaign_id": "camp", "recipients": [recipient], "schedule": SENT_SCHEDULE}


BIG = {"blob": "x" * (50 * 1024)}  # 50 KB of value, plus the key: over 51,200 bytes of JSON


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        pytest.param({**BASE[CAMPAIGN], "trigger_properties": BIG}, "trigger_properties", id="trigger-props"),
        pytest.param({**BASE[CANVAS], "context": BIG}, "context", id="context"),
        pytest.param(
            {**BASE[CANVAS], "canvas_entry_properties": BIG}, "canvas_entry_properties", id="entry-props"
        ),
        pytest.param(
            {"campaign_id": "c", "recipients": [{"external_user_id": "u", "trigger_properties": BIG}]},
            "recipients[0].trigger_properties",
            id="recipient-trigger-props",
        ),
        pytest.param(
            {"canvas_id": "c", "recipients": [{"external_user_id": "u", "context": BIG}]},
            "recipients[0].context",
            id="recipient-context",
        ),
    ],
)
def test_properties_over_50_kb(fields, field):
    error = refused(fields)
    assert error.field == field
    assert "51200 bytes" in error.expected


def test_properties_of_exactly_50_kb_pass():
    exact = {"b": "x" * (50 * 1024 - len('{"b":""}'))}
    assert len(json.dumps(exact, separators=(",", ":"))) == 50 * 1024
    assert create({**BASE[CAMPAIGN], "trigger_properties": exact}).body["trigger_properties"] == exact


# Sizes of personalisation are proven by the whole body's size when it is at most 50 KB (one serialisation
# instead of one per recipient); these pin down that the errors, and which one comes first, are unchanged.


def test_the_first_error_in_order_wins_even_when_it_is_a_size():
    recipients = [
        {"external_user_id": "u0", "trigger_properties": BIG},
        {"external_user_id": "u1", "colour": "red"},
    ]
    error = refused({"campaign_id": "c", "recipients": recipients})
    assert error.field == "recipients[0].trigger_properties"
    assert "51200 bytes" in error.expected


def test_the_first_error_in_order_wins_even_when_it_is_not_json():
    recipients = [
        {"external_user_id": "u0", "trigger_properties": {"tags": {"a"}}},
        {"external_user_id": "u1", "colour": "red"},
    ]
    error = refused({"campaign_id": "c", "recipients": recipients})
    assert error.field == "recipients[0].trigger_properties"
    assert "cannot be sent as JSON" in error.problem


def test_a_body_over_50_kb_whose_parts_are_all_within_it_passes():
    part = {"blob": "x" * 2000}
    recipients = [{"external_user_id": f"u{i}", "trigger_properties": part} for i in range(50)]
    request = create({"campaign_id": "c", "recipients": recipients, "trigger_properties": part})
    assert len(request.payload) > 100_000
    assert request.body["recipients"] == recipients


def test_a_big_part_in_a_body_over_50_kb_is_named():
    small = {"blob": "x" * 2000}
    recipients = [{"external_user_id": f"u{i}", "trigger_properties": small} for i in range(30)]
    recipients[17] = {"external_user_id": "u17", "trigger_properties": BIG}
    error = refused({"campaign_id": "c", "recipients": recipients})
    assert error.field == "recipients[17].trigger_properties"


def test_context_and_canvas_entry_properties_together():
    error = refused({**BASE[CANVAS], "context": {"a": 1}, "canvas_entry_properties": {"a": 1}})
    assert error.field == "canvas_entry_properties"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        pytest.param(
            {**BASE[CAMPAIGN], "trigger_properties": {"tags": {"a", "b"}}}, "trigger_properties", id="set"
        ),
        pytest.param({**BASE[CANVAS], "context": {"obj": object()}}, "context", id="object"),
        pytest.param({**BASE[CAMPAIGN], "audience": {"AND": [{"x": {1}}]}}, "audience", id="set-in-audience"),
        pytest.param(
            {**BASE[MESSAGE], "messages": {"email": {"when": datetime(2026, 1, 1)}}},
            "messages",
            id="datetime-in-messages",
        ),
        pytest.param({**BASE[MESSAGE], "messages": {"sms": {"n": float("nan")}}}, "messages", id="nan"),
        pytest.param(
            {"campaign_id": "c", "recipients": [{"external_user_id": "u", "trigger_properties": {"s": {1}}}]},
            "recipients[0].trigger_properties",
            id="set-in-recipient",
        ),
    ],
)
def test_values_that_are_not_json_name_the_field(fields, field):
    error = refused(fields)
    assert error.field == field
    assert "cannot be sent as JSON" in error.problem


def test_body_over_4_mb():
    error = refused({**BASE[MESSAGE], "messages": {"email": {"body": "x" * (4 * 1024 * 1024)}}})
    assert error.field == "body"
    assert "4194304 bytes" in error.expected


def test_schedule_is_required():
    with pytest.raises(BrazeValidationError) as info:
        build_create_request(BASE[CAMPAIGN], now=NOW)
    assert info.value.field == "schedule"


def test_schedule_in_the_past_is_refused_on_create():
    with pytest.raises(BrazeValidationError) as info:
        build_create_request({**BASE[CAMPAIGN], "schedule": {"time": "2026-06-01T11:00:00Z"}}, now=NOW)
    assert info.value.field == "schedule.time"


def test_create_carries_the_schedule_and_its_notes():
    request = create(
        {**BASE[CAMPAIGN], "schedule": {"time": "2026-06-10T09:00:00+02:00", "in_local_time": True}}
    )
    assert request.body["schedule"] == {
        "time": "2026-06-10T09:00:00",
        "in_local_time": True,
        "at_optimal_time": False,
    }
    assert request.schedule is not None
    assert request.schedule.dropped_offset == "+02:00"
    assert len(request.notes) == 1
    assert "offset +02:00, dropped" in request.notes[0]


# --- update ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "kwargs", "path", "body"),
    [
        pytest.param(
            MESSAGE,
            {"schedule": SCHEDULE},
            "/messages/schedule/update",
            {"schedule_id": "sid", "schedule": SENT_SCHEDULE},
            id="message-schedule",
        ),
        pytest.param(
            MESSAGE,
            {"messages": {"sms": {"body": "b"}}},
            "/messages/schedule/update",
            {"schedule_id": "sid", "messages": {"sms": {"body": "b"}}},
            id="message-messages",
        ),
        pytest.param(
            MESSAGE,
            {"schedule": SCHEDULE, "messages": {"sms": {}}},
            "/messages/schedule/update",
            {"schedule_id": "sid", "schedule": SENT_SCHEDULE, "messages": {"sms": {}}},
            id="message-both",
        ),
        pytest.param(
            MESSAGE,
            {"schedule": SCHEDULE, "owner_id": "ignored"},
            "/messages/schedule/update",
            {"schedule_id": "sid", "schedule": SENT_SCHEDULE},
            id="message-ignores-owner",
        ),
        pytest.param(
            CAMPAIGN,
            {"schedule": SCHEDULE, "owner_id": "camp"},
            "/campaigns/trigger/schedule/update",
            {"campaign_id": "camp", "schedule_id": "sid", "schedule": SENT_SCHEDULE},
            id="campaign",
        ),
        pytest.param(
            CANVAS,
            {"schedule": SCHEDULE, "owner_id": "canv"},
            "/canvas/trigger/schedule/update",
            {"canvas_id": "canv", "schedule_id": "sid", "schedule": SENT_SCHEDULE},
            id="canvas",
        ),
    ],
)
def test_update_bodies(kind, kwargs, path, body):
    request = build_update_request(kind, "sid", now=NOW, **kwargs)
    assert (request.method, request.path, request.action, request.kind) == ("POST", path, "update", kind)
    assert request.body == body


@pytest.mark.parametrize(
    ("kind", "kwargs", "field"),
    [
        pytest.param(MESSAGE, {}, "schedule", id="message-nothing"),
        pytest.param(MESSAGE, {"messages": {}}, "messages", id="message-empty-messages"),
        pytest.param(
            MESSAGE, {"messages": {"whats_app": {}}}, "messages.whats_app", id="message-bad-channel"
        ),
        pytest.param(CAMPAIGN, {"owner_id": "camp"}, "schedule", id="campaign-no-schedule"),
        pytest.param(CANVAS, {"owner_id": "canv"}, "schedule", id="canvas-no-schedule"),
        pytest.param(CAMPAIGN, {"schedule": SCHEDULE}, "campaign_id", id="campaign-no-owner"),
        pytest.param(CANVAS, {"schedule": SCHEDULE}, "canvas_id", id="canvas-no-owner"),
        pytest.param(
            CAMPAIGN, {"schedule": SCHEDULE, "owner_id": ""}, "campaign_id", id="campaign-empty-owner"
        ),
        pytest.param(
            CAMPAIGN,
            {"owner_id": "camp", "schedule": SCHEDULE, "messages": {"sms": {}}},
            "messages",
            id="campaign-messages",
        ),
        pytest.param(CANVAS, {"owner_id": "canv", "messages": {"sms": {}}}, "messages", id="canvas-messages"),
        pytest.param(MESSAGE, {"schedule": {"time": "2026-06-01T00:00:00Z"}}, "schedule.time", id="past"),
    ],
)
def test_update_refuses(kind, kwargs, field):
    with pytest.raises(BrazeValidationError) as info:
        build_update_request(kind, "sid", now=NOW, **kwargs)
    assert info.value.field == field


BAD_SCHEDULE_IDS = [
    pytest.param(None, id="None"),
    pytest.param("", id="empty"),
    pytest.param("  ", id="whitespace"),
    pytest.param("None", id="rendered-None"),
    pytest.param(" id ", id="padded"),
    pytest.param(123, id="int"),
]


@pytest.mark.parametrize("kind", list(ScheduleKind))
@pytest.mark.parametrize("schedule_id", BAD_SCHEDULE_IDS)
def test_update_and_delete_refuse_bad_schedule_ids(kind, schedule_id):
    with pytest.raises(BrazeValidationError) as info:
        build_update_request(kind, schedule_id, owner_id="owner", schedule=SCHEDULE, now=NOW)
    assert info.value.field == "schedule_id"
    with pytest.raises(BrazeValidationError) as info:
        build_delete_request(kind, schedule_id, owner_id="owner")
    assert info.value.field == "schedule_id"


# --- delete ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "owner_id", "path", "body"),
    [
        # braze-api.md §9.3, §9.6, §9.9
        pytest.param(
            MESSAGE, None, "/messages/schedule/delete", {"schedule_id": "schedule_identifier"}, id="message"
        ),
        pytest.param(
            CAMPAIGN,
            "campaign_identifier",
            "/campaigns/trigger/schedule/delete",
            {"campaign_id": "campaign_identifier", "schedule_id": "schedule_identifier"},
            id="campaign",
        ),
        pytest.param(
            CANVAS,
            "canvas_identifier",
            "/canvas/trigger/schedule/delete",
            {"canvas_id": "canvas_identifier", "schedule_id": "schedule_identifier"},
            id="canvas",
        ),
    ],
)
def test_delete_bodies_match_braze_examples(kind, owner_id, path, body):
    request = build_delete_request(kind, "schedule_identifier", owner_id=owner_id)
    assert (request.method, request.path, request.action) == ("POST", path, "delete")
    assert request.body == body
    assert list(request.body) == list(body)  # same key order as Braze's examples
    assert request.idempotent


@pytest.mark.parametrize(("kind", "field"), [(CAMPAIGN, "campaign_id"), (CANVAS, "canvas_id")])
def test_delete_requires_the_owner_id(kind, field):
    with pytest.raises(BrazeValidationError) as info:
        build_delete_request(kind, "sid")
    assert info.value.field == field


# --- BrazeRequest ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "idempotent"),
    [
        ("create", False),
        ("update", True),
        ("delete", True),
        ("list", True),
        ("create_send_id", False),
        (Action.CREATE_NAMED_SEND_ID, True),
    ],
)
def test_only_creates_are_not_idempotent(action, idempotent):
    request = BrazeRequest("POST", "/p", action)
    assert request.idempotent is idempotent
    assert request.action is Action(action)  # a string names its Action


def test_an_unknown_action_is_refused():
    with pytest.raises(ValueError, match="'resend'"):
        BrazeRequest("POST", "/p", "resend")


def test_create_request_is_not_idempotent():
    assert create(BASE[CAMPAIGN]).idempotent is False


def test_describe_has_method_path_and_sorted_json_body():
    request = create(BASE[CAMPAIGN])
    assert request.describe() == (
        'POST /campaigns/trigger/schedule/create {"broadcast": true, "campaign_id": "camp", '
        '"schedule": {"at_optimal_time": false, "in_local_time": false, "time": "2026-06-10T09:00:00Z"}}'
    )


def test_describe_with_query_params_and_no_body():
    request = BrazeRequest("GET", "/messages/scheduled_broadcasts", "list", params={"end_time": "2026-07-01"})
    assert request.describe() == "GET /messages/scheduled_broadcasts?end_time=2026-07-01"
