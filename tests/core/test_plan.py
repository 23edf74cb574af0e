"""The one planning rule for upsert and reconcile (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from airflow_braze_schedule.core.errors import BrazeValidationError
from airflow_braze_schedule.core.payload import build_create_request
from airflow_braze_schedule.core.plan import Action, plan_key, plan_scope
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
