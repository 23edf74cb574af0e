"""Reconcile over a scope that holds groups (bulk-sized sends) and single schedules, in real DAG runs
against the fake Braze: the plan counts a group as one key and its schedules as requests, and the run
sends exactly the plan's requests."""

from __future__ import annotations

import json
import uuid
from collections import Counter

import pytest

from airflow_braze_schedule.testing import Delay, Status
from tests.helpers import HAS_TASK_STATE_STORE, task_states
from tests.keyed.keyed_support import read_registry, send_time, unique_prefix

DAGS = "braze_e2e_keyed.py"
CREATE = "/campaigns/trigger/schedule/create"


def _send(scope, name, users, time, version=1):
    """One desired campaign send under ``<scope><name>``, to ``users`` users of its own campaign."""
    campaign = f"{scope}{name}"
    recipients = [
        {"external_user_id": f"{campaign}/{n}", "trigger_properties": {"v": version}} for n in range(users)
    ]
    return {
        "schedule_key": f"{scope}{name}",
        "campaign_id": campaign,
        "recipients": recipients,
        "schedule": {"time": time},
    }


def _write(path, sends):
    with open(path, "w", encoding="utf-8") as lines:
        for send in sends:
            lines.write(json.dumps(send) + "\n")
    return str(path)


def _paths(fake_braze, since):
    return Counter(request.path.rsplit("/", 1)[-1] for request in fake_braze.received[since:])


def _live_by_campaign(fake_braze, scope):
    found: dict[str, set[str]] = {}
    for schedule in fake_braze.active_schedules():
        campaign = schedule.body.get("campaign_id") or ""
        if campaign.startswith(scope):
            found.setdefault(campaign, set()).add(schedule.schedule_id)
    return found


def _registry_live(registry, scope):
    """The schedule ids the registry names as live, by key: a group's every chunk, or the one schedule."""
    named: dict[str, set[str]] = {}
    for key, entry in registry.scope(scope).items():
        if entry.is_live():
            chunks = (entry.handle or {}).get("chunks")
            named[key] = {c["schedule_id"] for c in chunks} if chunks else {entry.schedule_id}
    return named


# About 11 s of real DAG runs; make test drives a group key's steps through the reconcile without
# Airflow (tests/engine/test_group_steps.py), this runs in make test-slow.
@pytest.mark.slow
def test_reconcile_with_groups_sends_exactly_the_plans_requests(
    run_dag_logged, fake_braze, registry_kind, tmp_path, record_property
):
    scope = unique_prefix() + f"{uuid.uuid4().hex[:4]}/"
    reconcile = f"braze_e2e_keyed_reconcile_{registry_kind}"
    base, moved = send_time(days=3), send_time(days=4)
    first = [
        _send(scope, "group-gone", 120, base),  # 3 schedules
        _send(scope, "group-moved", 120, base),  # 3 schedules
        _send(scope, "group-changed", 60, base),  # 2 schedules
        _send(scope, "single-same", 1, base),
        _send(scope, "single-moved", 1, base),
        _send(scope, "single-gone", 1, base),
    ]
    run = run_dag_logged(
        DAGS, reconcile, run_conf={"scope": scope, "desired_path": _write(tmp_path / "a.jsonl", first)}
    )
    assert task_states(run.dag_run) == {"reconcile": "success"}
    assert (
        "create 6, update 0, replace 0, cancel 0, unchanged 0, resume 0, frozen 0; 11 requests"
        in run.logs["reconcile"]
    )
    assert _paths(fake_braze, 0) == {"create": 3 + 3 + 2 + 3}
    registry = read_registry(registry_kind)
    assert _registry_live(registry, scope) == _live_by_campaign(fake_braze, scope)
    old = _live_by_campaign(fake_braze, scope)

    # One group removed, one moved, one with another audience (60 -> 110 users), a new group, and
    # singles: one the same, one moved, one removed, one new.
    second = [
        _send(scope, "group-moved", 120, moved),
        _send(scope, "group-changed", 110, base),
        _send(scope, "group-new", 51, base),  # 2 schedules
        _send(scope, "single-same", 1, base),
        _send(scope, "single-moved", 1, moved),
        _send(scope, "single-new", 1, base),
    ]
    second_path = _write(tmp_path / "b.jsonl", second)
    counts = "create 2, update 2, replace 1, cancel 2, unchanged 1, resume 0, frozen 0; 16 requests to send"

    # A dry run first: the same plan, logged and returned; nothing sent.
    since = len(fake_braze.received)
    dry = run_dag_logged(
        DAGS,
        f"braze_e2e_keyed_reconcile_dry_{registry_kind}",
        run_conf={"scope": scope, "desired": second},
    )
    assert task_states(dry.dag_run) == {"reconcile": "success"}
    assert len(fake_braze.received) == since
    assert counts in dry.logs["reconcile"]
    dry_plan = dry.dag_run.get_task_instance("reconcile").xcom_pull(task_ids="reconcile")["plan"]
    assert dry_plan["keys"]["cancel"] == [f"{scope}group-gone", f"{scope}single-gone"]
    assert dry_plan["keys"]["replace"] == [f"{scope}group-changed"]
    assert dry_plan["groups"] == {
        f"{scope}group-changed": 2 + 3,
        f"{scope}group-moved": 3,
        f"{scope}group-new": 2,
        f"{scope}group-gone": 3,
    }
    assert _registry_live(read_registry(registry_kind), scope) == old

    run = run_dag_logged(DAGS, reconcile, run_conf={"scope": scope, "desired_path": second_path})
    assert task_states(run.dag_run) == {"reconcile": "success"}
    log = run.logs["reconcile"]
    assert counts in log
    result = run.dag_run.get_task_instance("reconcile").xcom_pull(task_ids="reconcile")
    assert result["plan"]["requests_expected"] == 16
    assert result["outcome"]["requests_sent"] == 16
    sent = _paths(fake_braze, since)
    # Exactly the plan's requests: 1 + 2 + 3 creates (single-new, group-new, group-changed's new group),
    # 3 + 1 updates (group-moved's schedules, single-moved), 3 + 1 + 2 deletes (group-gone, single-gone,
    # group-changed's old group).
    assert sent == {"create": 6, "update": 4, "delete": 6}
    assert sum(sent.values()) == result["plan"]["requests_expected"]
    assert "Reconcile: 7 of 7 keys done" in log

    live = _live_by_campaign(fake_braze, scope)
    registry = read_registry(registry_kind)
    assert _registry_live(registry, scope) == live  # nothing live the registry does not name
    assert sorted(live) == sorted(s["schedule_key"] for s in second)  # each send its own campaign
    assert live[f"{scope}group-moved"] == old[f"{scope}group-moved"]
    assert {fake_braze.schedules[i].schedule["time"] for i in live[f"{scope}group-moved"]} == {moved}
    assert len(live[f"{scope}group-changed"]) == 3
    assert not live[f"{scope}group-changed"] & old[f"{scope}group-changed"]
    assert len(live[f"{scope}group-new"]) == 2
    gone = registry.require(f"{scope}group-gone")
    assert (gone.state, gone.outcome, gone.pending) == ("cancelled", "applied", None)
    assert all(fake_braze.schedules[i].status != "scheduled" for i in old[f"{scope}group-gone"])
    moved_entry = registry.require(f"{scope}group-moved")
    assert (moved_entry.state, moved_entry.outcome) == ("updated", "applied")

    # Again: nothing to do, nothing sent.
    since = len(fake_braze.received)
    again = run_dag_logged(DAGS, reconcile, run_conf={"scope": scope, "desired_path": second_path})
    assert task_states(again.dag_run) == {"reconcile": "success"}
    assert (
        "create 0, update 0, replace 0, cancel 0, unchanged 6, resume 0, frozen 0; 0 requests"
        in (again.logs["reconcile"])
    )
    assert len(fake_braze.received) == since
    record_property(
        "figures",
        f"reconcile with groups ({registry_kind} registry): 3 groups + 3 singles -> plan create 2 / update 2 / "
        "replace 1 / cancel 2 / unchanged 1 = 16 requests expected (groups: 3 updates, 2+3 replace, "
        f"3 cancels, 2 creates), {sum(sent.values())} sent; dry run sent 0; a third run sent 0",
    )


@pytest.mark.skipif(
    not HAS_TASK_STATE_STORE, reason="a retried group create resumes from task_state_store (3.3+)"
)
def test_a_retried_reconcile_resumes_each_groups_create_without_sending_a_chunk_twice(
    run_dag_logged, fake_braze, registry_kind, tmp_path
):
    """Two new groups in one task: the first group's 2nd and 3rd chunks are refused (500 on all three
    tries each), the second group is created; the task's retry sends only those two chunks. Each group
    has its own ledger, so the second group's create does not read the first's."""
    scope = unique_prefix()
    time = send_time(days=3)
    sends = [_send(scope, "group-a", 120, time), _send(scope, "group-b", 120, time)]
    fake_braze.inject(Delay(0), path=CREATE)
    fake_braze.inject(Status(500), times=6, path=CREATE)
    run = run_dag_logged(
        DAGS,
        f"braze_e2e_keyed_reconcile_{registry_kind}",
        run_conf={"scope": scope, "desired_path": _write(tmp_path / "a.jsonl", sends)},
    )
    assert task_states(run.dag_run) == {"reconcile": "success"}
    assert run.dag_run.get_task_instance("reconcile").try_number == 2
    assert sum(1 for r in fake_braze.requests_to(CREATE) if r.fault == "Status") == 6
    log = run.logs["reconcile"]
    assert "this task's earlier try left the group's create under way; resuming it" in log
    assert "Resuming: an earlier try created 1 chunks (not sent again)" in log
    answered = Counter(
        r.json["campaign_id"]
        for r in fake_braze.requests_to(CREATE)
        if r.status is not None and r.status < 300
    )
    assert answered == {f"{scope}group-a": 3, f"{scope}group-b": 3}  # each chunk created once
    live = _live_by_campaign(fake_braze, scope)
    assert _registry_live(read_registry(registry_kind), scope) == live
    assert {key: len(ids) for key, ids in live.items()} == {f"{scope}group-a": 3, f"{scope}group-b": 3}
