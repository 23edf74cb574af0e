"""Braze's documented request examples (braze-api.md §9) as test vectors.

Each example is used in its corrected form (§9 lists what is wrong with each), with a future time in place
of the empty ``"time": ""``, and the body built must equal it, except that our ``schedule`` always carries
explicit ``in_local_time`` / ``at_optimal_time`` booleans. The uncorrected examples must be refused for the
reason the doc gives.
"""

from __future__ import annotations

import copy

import pytest

from airflow_braze_schedule.core.endpoints import ScheduleKind
from airflow_braze_schedule.core.errors import BrazeValidationError
from airflow_braze_schedule.core.payload import build_create_request, build_update_request
from tests.braze_doc_examples import (
    CAMPAIGN_CREATE,
    EXAMPLES_NOW,
    MESSAGE_CREATE,
    MESSAGE_UPDATE_MESSAGES,
    canvas_create,
)

NOW = EXAMPLES_NOW


@pytest.mark.parametrize(
    ("example", "path"),
    [
        pytest.param(MESSAGE_CREATE, "/messages/schedule/create", id="9.1-message"),
        pytest.param(CAMPAIGN_CREATE, "/campaigns/trigger/schedule/create", id="9.4-campaign"),
        pytest.param(canvas_create("context"), "/canvas/trigger/schedule/create", id="9.7-canvas-context"),
        pytest.param(
            canvas_create("canvas_entry_properties"), "/canvas/trigger/schedule/create", id="9.7-canvas-older"
        ),
    ],
)
def test_corrected_create_examples_are_sent_as_documented(example, path):
    request = build_create_request(copy.deepcopy(example), now=NOW)
    assert request.path == path
    assert request.body == example


def test_message_example_with_a_campaign_id_is_a_message_schedule():
    assert build_create_request(MESSAGE_CREATE, now=NOW).kind is ScheduleKind.MESSAGE


def test_message_example_sets_both_flags_and_says_braze_gives_no_precedence():
    request = build_create_request(copy.deepcopy(MESSAGE_CREATE), now=NOW)
    assert request.body["schedule"] == {
        "time": "2026-06-10T09:00:00",
        "in_local_time": True,
        "at_optimal_time": True,
    }
    assert any("Braze documents no precedence" in note for note in request.notes)


def test_9_2_message_update():
    messages = MESSAGE_UPDATE_MESSAGES
    request = build_update_request(
        ScheduleKind.MESSAGE,
        "schedule_identifier",
        schedule={"time": "2026-06-10T20:30:36Z"},
        messages=copy.deepcopy(messages),
        now=NOW,
    )
    assert request.path == "/messages/schedule/update"
    assert request.body == {
        "schedule_id": "schedule_identifier",
        "schedule": {"time": "2026-06-10T20:30:36Z", "in_local_time": False, "at_optimal_time": False},
        "messages": messages,
    }


@pytest.mark.parametrize(
    ("kind", "owner", "path"),
    [
        pytest.param(
            ScheduleKind.CAMPAIGN, "campaign_id", "/campaigns/trigger/schedule/update", id="9.5-campaign"
        ),
        pytest.param(ScheduleKind.CANVAS, "canvas_id", "/canvas/trigger/schedule/update", id="9.8-canvas"),
    ],
)
@pytest.mark.parametrize(
    ("schedule", "sent", "notes"),
    [
        pytest.param(
            {"time": "2026-06-10T21:30:00", "in_local_time": True},
            {"time": "2026-06-10T21:30:00", "in_local_time": True, "at_optimal_time": False},
            [],
            id="local-z-removed",
        ),
        pytest.param(
            {"time": "2026-06-10T21:30:00Z"},
            {"time": "2026-06-10T21:30:00Z", "in_local_time": False, "at_optimal_time": False},
            [],
            id="utc-z-kept",
        ),
        # As printed: in_local_time with a Z, which §3 forbids. Accepted; the Z is dropped with a note.
        pytest.param(
            {"time": "2026-06-10T21:30:00Z", "in_local_time": True},
            {"time": "2026-06-10T21:30:00", "in_local_time": True, "at_optimal_time": False},
            ["schedule.time had the offset +00:00, dropped"],
            id="as-printed-local-with-z",
        ),
    ],
)
def test_trigger_update_examples(kind, owner, path, schedule, sent, notes):
    owner_id = f"{owner.split('_')[0]}_identifier"
    request = build_update_request(kind, "schedule_identifier", owner_id=owner_id, schedule=schedule, now=NOW)
    assert request.path == path
    assert request.body == {owner: owner_id, "schedule_id": "schedule_identifier", "schedule": sent}
    assert len(request.notes) == len(notes)
    for note, fragment in zip(request.notes, notes, strict=True):
        assert note.startswith(fragment)


# --- the examples as printed are refused, one documented flaw at a time ---------------------------


def with_flaw(example: dict, **changes) -> dict:
    broken = copy.deepcopy(example)
    for key, value in changes.items():
        if key == "recipient":
            broken["recipients"][0] = value
        elif key == "time":
            broken["schedule"]["time"] = value
        else:
            broken[key] = value
    return broken


@pytest.mark.parametrize(
    ("example", "field"),
    [
        pytest.param(with_flaw(MESSAGE_CREATE, broadcast="false"), "broadcast", id="9.1-broadcast-string"),
        pytest.param(
            with_flaw(MESSAGE_CREATE, external_user_ids="external_user_identifiers"),
            "external_user_ids",
            id="9.1-external-ids-string",
        ),
        pytest.param(
            with_flaw(
                MESSAGE_CREATE, user_aliases={"alias_name": "example_name", "alias_label": "example_label"}
            ),
            "user_aliases",
            id="9.1-alias-object-not-list",
        ),
        pytest.param(with_flaw(MESSAGE_CREATE, time=""), "schedule.time", id="9.1-empty-time"),
        pytest.param(
            with_flaw(MESSAGE_CREATE, messages={"email": {"app_id": "a", "subject": "s", "body": "b"}}),
            "messages.email.message_variation_id",
            id="9.1-campaign-without-variation",
        ),
        pytest.param(with_flaw(CAMPAIGN_CREATE, time=""), "schedule.time", id="9.4-empty-time"),
        pytest.param(
            with_flaw(
                CAMPAIGN_CREATE,
                recipient={
                    "user_alias": {"alias_name": "example_alias", "alias_label": "example_label"},
                    "external_user_id": "external_user_identifier",
                    "trigger_properties": {},
                },
            ),
            "recipients[0]",
            id="9.4-alias-and-external-id",
        ),
        pytest.param(
            with_flaw(
                CAMPAIGN_CREATE,
                recipient={
                    "user_alias": "example_alias",
                    "external_user_id": "external_user_identifier",
                    "trigger_properties": {},
                },
            ),
            "recipients[0]",
            id="9.4-as-printed",
        ),
        pytest.param(
            with_flaw(CAMPAIGN_CREATE, recipient={"user_alias": "example_alias", "trigger_properties": {}}),
            "recipients[0].user_alias",
            id="9.4-alias-string",
        ),
        pytest.param(with_flaw(canvas_create("context"), time=""), "schedule.time", id="9.7-empty-time"),
        pytest.param(
            with_flaw(
                canvas_create("context"),
                recipient={
                    "user_alias": "example_alias",
                    "external_user_id": "external_user_identifier",
                    "context": {},
                },
            ),
            "recipients[0]",
            id="9.7-as-printed",
        ),
    ],
)
def test_uncorrected_examples_are_refused_for_the_documented_reason(example, field):
    with pytest.raises(BrazeValidationError) as info:
        build_create_request(example, now=NOW)
    assert info.value.field == field
