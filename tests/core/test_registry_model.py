"""The registry entry, its states, and how late changes land (pure: no Airflow, no HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airflow_braze_schedule.core.errors import BrazeValidationError
from airflow_braze_schedule.core.payload import build_create_request
from airflow_braze_schedule.core.registry_model import (
    APPLIED,
    BEST_EFFORT,
    PRESUMED_SENT,
    REFUSED_TOO_LATE,
    SCHEDULED,
    Actor,
    RegistryEntry,
    check_schedule_key,
    late_change_outcome,
    request_fingerprints,
    with_schedule,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _request(time: str = "2026-12-05T09:00:00Z", user: str = "u1", **extra):
    fields = {
        "campaign_id": "c1",
        "recipients": [{"external_user_id": user}],
        "schedule": {"time": time, **extra},
    }
    return build_create_request(fields, now=NOW)


def _entry(schedule: dict) -> RegistryEntry:
    return RegistryEntry(
        "k", handle={"schedule_id": "s1", "kind": "campaign", "schedule": schedule}, state=SCHEDULED
    )


def test_fingerprints_tell_a_new_time_from_a_new_send():
    full, content = request_fingerprints(_request())
    moved_full, moved_content = request_fingerprints(_request(time="2026-12-06T09:00:00Z"))
    other_full, other_content = request_fingerprints(_request(user="u2"))
    assert content == moved_content != other_content
    assert len({full, moved_full, other_full}) == 3
    assert request_fingerprints(_request()) == (full, content)  # stable
    # The whole fingerprint can be rebuilt from the content one and the schedule as sent.
    body = _request(time="2026-12-06T09:00:00Z").body
    assert body is not None
    assert with_schedule(content, body["schedule"]) == moved_full


@pytest.mark.parametrize(
    ("schedule", "now", "state"),
    [
        ({"time": "2026-12-01T11:59:59Z"}, NOW, PRESUMED_SENT),
        ({"time": "2026-12-01T12:00:01Z"}, NOW, SCHEDULED),
        # Local time: sent everywhere only 12 hours after the wall-clock time passes in UTC.
        ({"time": "2026-12-01T01:00:00", "in_local_time": True}, NOW, SCHEDULED),
        ({"time": "2026-12-01T00:00:00", "in_local_time": True}, NOW, PRESUMED_SENT),
    ],
)
def test_presumed_sent_once_the_time_has_passed_in_every_zone(schedule, now, state):
    assert _entry(schedule).effective_state(now) == state
    assert _entry(schedule).is_live(now) == (state == SCHEDULED)


@pytest.mark.parametrize(
    ("schedule", "kind", "action", "outcome", "words"),
    [
        ({"time": "2026-12-03T09:00:00Z"}, "campaign", "update", APPLIED, None),
        ({"time": "2026-12-01T12:30:00Z"}, "campaign", "cancel", BEST_EFFORT, "within 1:00:00"),
        ({"time": "2026-12-01T11:00:00Z"}, "message", "cancel", REFUSED_TOO_LATE, "has passed"),
        # A local-time campaign whose time has passed somewhere: Braze ignores updates (12.5) ...
        (
            {"time": "2026-12-01T20:00:00", "in_local_time": True},
            "campaign",
            "update",
            REFUSED_TOO_LATE,
            "any time zone",
        ),
        # ... but a cancel still lands, with best effort; and message schedules are not covered by 12.5.
        (
            {"time": "2026-12-01T20:00:00", "in_local_time": True},
            "campaign",
            "cancel",
            BEST_EFFORT,
            "has begun",
        ),
        (
            {"time": "2026-12-01T20:00:00", "in_local_time": True},
            "message",
            "update",
            BEST_EFFORT,
            "has begun",
        ),
    ],
)
def test_late_change_outcome(schedule, kind, action, outcome, words):
    got, reason = late_change_outcome(schedule, kind=kind, action=action, now=NOW)
    assert got == outcome
    assert (reason is None) if words is None else (words in reason)


def test_the_best_effort_window_is_configurable():
    schedule = {"time": "2026-12-01T14:00:00Z"}
    assert late_change_outcome(schedule, kind="message", action="cancel", now=NOW)[0] == APPLIED
    wide = late_change_outcome(
        schedule, kind="message", action="cancel", now=NOW, best_effort_window=timedelta(hours=3)
    )
    assert wide[0] == BEST_EFFORT


def test_history_says_who_did_what_and_survives_json():
    entry = RegistryEntry("order-1/reminder")
    actor = Actor("dag_a", "run_1", "upsert")
    entry.intend({"op": "create"}, actor, now=NOW)
    entry.record(
        "create",
        actor,
        now=NOW,
        handle={"schedule_id": "s1", "kind": "message"},
        state=SCHEDULED,
        pending=None,
    )
    back = RegistryEntry.from_json(entry.to_json())
    assert back == entry
    assert [line["action"] for line in back.history] == ["intent:create", "create"]
    assert [line["seq"] for line in back.history] == [0, 1]
    assert back.history[1] | {"at": None} == {
        "seq": 1,
        "at": None,
        "action": "create",
        "state": SCHEDULED,
        "schedule_id": "s1",
        "dag_id": "dag_a",
        "run_id": "run_1",
        "task_id": "upsert",
    }
    assert back.summary(NOW)["last_change"]["task_id"] == "upsert"


@pytest.mark.parametrize("bad", [None, "", "  ", "None", " padded", "x" * 401, "tab\there", 42])
def test_schedule_keys_are_checked(bad):
    with pytest.raises(BrazeValidationError, match="schedule_key"):
        check_schedule_key(bad)
