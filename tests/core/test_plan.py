"""The one planning rule for upsert and reconcile (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airflow_braze_schedule.core.errors import BrazeValidationError
from airflow_braze_schedule.core.payload import build_create_request
from airflow_braze_schedule.core.plan import (
    Action,
    GroupSend,
    plan_group,
    plan_key,
    plan_scope,
    sends_as_group,
)
from airflow_braze_schedule.core.registry_model import (
    CANCELLED,
    SCHEDULED,
    RegistryEntry,
    request_fingerprints,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _request(time="2026-12-05T09:00:00Z", user="u1"):
    return build_create_request(
        {"campaign_id": "c1", "recipients": [{"external_user_id": user}], "schedule": {"time": time}}, now=NOW
    )


def _entry(key, request, state=SCHEDULED, pending=None):
    full, content = request_fingerprints(request)
    return RegistryEntry(
        key,
        handle={
            "schedule_id": f"id-{key}",
            "kind": "campaign",
            "campaign_id": "c1",
            "schedule": request.body["schedule"],
        },
        fingerprint=full,
        content_fingerprint=content,
        state=state,
        pending=pending,
    )


@pytest.mark.parametrize(
    ("entry", "request_", "action"),
    [
        (None, _request(), Action.CREATE),
        (_entry("k", _request()), _request(), Action.UNCHANGED),
        (_entry("k", _request()), _request(time="2026-12-06T09:00:00Z"), Action.UPDATE),
        (_entry("k", _request()), _request(user="u2"), Action.REPLACE),
        (_entry("k", _request(), state=CANCELLED), _request(), Action.CREATE),
        (_entry("k", _request(), pending={"op": "update"}), _request(), Action.RESUME),
    ],
)
def test_plan_key(entry, request_, action):
    assert plan_key("k", entry, request_, now=NOW).action == action


def test_a_change_inside_the_freeze_window_is_left_alone():
    entry = _entry("k", _request(time="2026-12-01T12:10:00Z"))
    plan = plan_key("k", entry, _request(time="2026-12-02T09:00:00Z"), now=NOW)
    assert plan.action == Action.FROZEN
    assert "freeze window" in plan.reason
    unfrozen = plan_key(
        "k", entry, _request(time="2026-12-02T09:00:00Z"), now=NOW, freeze_window=timedelta(0)
    )
    assert unfrozen.action == Action.UPDATE


def test_plan_scope_counts_and_requests():
    registered = {f"s/{n}": _entry(f"s/{n}", _request(user=str(n))) for n in range(6)}
    registered["s/5"].state = CANCELLED
    registered["other/1"] = _entry("other/1", _request())
    desired = {
        "s/0": _request(user="0"),  # unchanged
        "s/1": _request(user="1", time="2026-12-07T09:00:00Z"),  # update
        "s/2": _request(user="changed"),  # replace
        "s/5": _request(user="5"),  # cancelled before: create
        "s/9": _request(user="9"),  # new: create
    }  # s/3 and s/4: no longer desired -> cancel; other/1 is out of scope
    plan = plan_scope("s/", registered, desired, now=NOW)
    assert plan.by_action() == {
        "create": ["s/5", "s/9"],
        "update": ["s/1"],
        "replace": ["s/2"],
        "cancel": ["s/3", "s/4"],
        "unchanged": ["s/0"],
        "resume": [],
        "frozen": [],
    }
    assert plan.requests_expected() == 2 + 1 + 2 + 2


def test_desired_keys_must_be_in_scope():
    with pytest.raises(BrazeValidationError, match="do not start with the scope"):
        plan_scope("s/", {}, {"t/1": _request()}, now=NOW)


# --- a send made of a group of schedules (a bulk create's), one key -----------------------------------


def _group_entry(
    key, fingerprint="full-1", content="content-1", chunks=3, time="2026-12-05T09:00:00Z", **more
):
    handle = {
        "kind": "campaign",
        "campaign_id": "c1",
        "schedule": {"time": time},
        "recipients": 50 * chunks,
        "chunk_size": 50,
        "chunks": [
            {"position": n, "schedule_id": f"id-{key}-{n}", "dispatch_id": None, "recipients": 50}
            for n in range(chunks)
        ],
    }
    more.setdefault("state", SCHEDULED)
    return RegistryEntry(key, handle=handle, fingerprint=fingerprint, content_fingerprint=content, **more)


def _send(fingerprint="full-1", content="content-1", chunks=3):
    return GroupSend(fingerprint, content, chunks)


@pytest.mark.parametrize(
    ("entry", "send", "action", "requests"),
    [
        (None, _send(chunks=4), Action.CREATE, 4),
        (_group_entry("k"), _send(), Action.UNCHANGED, 0),
        # Only the schedule changed: every schedule of the group is updated.
        (_group_entry("k"), _send(fingerprint="full-2"), Action.UPDATE, 3),
        # The audience changed: the old group's 3 schedules cancelled, the new group's 4 created.
        (_group_entry("k"), _send(fingerprint="full-2", content="content-2", chunks=4), Action.REPLACE, 7),
        (_group_entry("k", state=CANCELLED), _send(chunks=2), Action.CREATE, 2),
        # A single schedule under the key, the send now a group: one cancel, then the group's creates.
        (_entry("k", _request()), _send(chunks=3), Action.REPLACE, 1 + 3),
        # An interrupted group job: a create (or a replace's create half) resumes; the others are settled.
        (RegistryEntry("k", pending={"op": "group_create"}), _send(), Action.CREATE, 3),
        (
            _group_entry("k", state=CANCELLED, pending={"op": "group_replace", "stage": "creating"}),
            _send(),
            Action.CREATE,
            3,
        ),
        (_group_entry("k", pending={"op": "group_update"}), _send(), Action.RESUME, 0),
    ],
)
def test_plan_group(entry, send, action, requests):
    plan = plan_group("k", entry, send, now=NOW)
    assert (plan.action, plan.requests()) == (action, requests)
    assert plan.is_group


def test_a_group_and_a_single_schedule_never_match():
    """Equal fingerprints of different forms (never in practice) still do not make "unchanged"."""
    entry = _entry("k", _request())
    full, content = request_fingerprints(_request())
    assert plan_group("k", entry, GroupSend(full, content, 1), now=NOW).action == Action.REPLACE


def test_a_group_change_inside_the_freeze_window_is_left_alone():
    entry = _group_entry("k", time="2026-12-01T12:10:00Z")
    plan = plan_group("k", entry, _send(fingerprint="full-2"), now=NOW)
    assert (plan.action, plan.requests()) == (Action.FROZEN, 0)
    assert "freeze window" in plan.reason
    assert plan_group("k", entry, _send(), now=NOW).action == Action.UNCHANGED  # no change: not frozen


def test_plan_scope_with_groups_counts_a_group_as_one_key_and_its_schedules_as_requests():
    registered = {
        "s/gone": _group_entry("s/gone", chunks=3),
        "s/moved": _group_entry("s/moved", chunks=3),
        "s/changed": _group_entry("s/changed", chunks=2),
        "s/frozen-gone": _group_entry("s/frozen-gone", time="2026-12-01T12:05:00Z"),
        "s/single": _entry("s/single", _request()),
    }
    desired = {
        "s/moved": _send(fingerprint="full-2"),
        "s/changed": _send(fingerprint="full-3", content="content-3", chunks=3),
        "s/new": _send(chunks=2),
        "s/single": _request(time="2026-12-06T09:00:00Z"),
    }
    plan = plan_scope("s/", registered, desired, now=NOW)
    assert plan.by_action() == {
        "create": ["s/new"],
        "update": ["s/moved", "s/single"],
        "replace": ["s/changed"],
        "cancel": ["s/gone"],
        "unchanged": [],
        "resume": [],
        "frozen": ["s/frozen-gone"],
    }
    assert plan.requests_expected() == 2 + (3 + 1) + (2 + 3) + 3
    summary = plan.to_json()
    assert summary["groups"] == {"s/new": 2, "s/moved": 3, "s/changed": 5, "s/gone": 3}
    assert "freeze window" in summary["reasons"]["s/frozen-gone"]


@pytest.mark.parametrize(
    ("fields", "entry", "as_group"),
    [
        ({"recipients": [{"external_user_id": str(n)} for n in range(50)]}, None, False),
        ({"recipients": [{"external_user_id": str(n)} for n in range(51)]}, None, True),
        ({"external_user_ids": ["a"] * 30, "user_aliases": [{"alias_name": "b"}] * 21}, None, True),
        ({"recipients_path": "file:///tmp/audience.jsonl"}, None, True),
        ({"recipients_path": ""}, None, False),  # a template that rendered nothing
        ({"recipients": [{"external_user_id": "1"}]}, _group_entry("k"), True),
        (
            {"recipients": [{"external_user_id": "1"}]},
            RegistryEntry("k", pending={"op": "group_create"}),
            True,
        ),
        ({"recipients": [{"external_user_id": "1"}]}, _entry("k", _request()), False),
    ],
)
def test_sends_as_group(fields, entry, as_group):
    assert sends_as_group(fields, entry) is as_group
