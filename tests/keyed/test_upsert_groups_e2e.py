"""Upsert of a group (a bulk-sized send) in real DAG runs against the fake Braze: the freeze window, dry
runs, a single schedule replaced by a group, and a group cancel cut short that another run finishes."""

from __future__ import annotations

import uuid

import pendulum
import pytest

from airflow_braze_schedule.testing import Delay, DropBeforeProcessing
from tests.helpers import (
    CAMPAIGN_CREATE,
    CAMPAIGN_DELETE,
    campaign_live,
    campaign_requests,
    task_states,
)
from tests.keyed.keyed_support import group_conf, read_registry, send_time, unique_prefix

# Edge paths of group upserts, a few DAG runs each: `make test-slow` (the group upsert's main path is in
# test_keyed_bulk_e2e.py, and reconcile's over groups in test_reconcile_groups_e2e.py).
pytestmark = pytest.mark.slow

DAGS = "braze_e2e_keyed_bulk.py"
KEYED = "braze_e2e_keyed.py"


def _live(fake_braze, campaign):
    return set(campaign_live(fake_braze, campaign))


def _answered(fake_braze, path, campaign):
    """Requests on ``path`` for ``campaign`` that Braze answered with success."""
    return campaign_requests(fake_braze, path, campaign, answered=True)


def _chunk_ids(entry):
    return {chunk["schedule_id"] for chunk in entry.handle["chunks"]}


def _result(run, task_id="upsert"):
    return run.dag_run.get_task_instance(task_id).xcom_pull(task_ids=task_id)


def test_a_group_is_frozen_inside_the_freeze_window_and_a_late_cancel_is_best_effort(
    run_dag_logged, fake_braze, registry_kind
):
    key = unique_prefix() + "flash-sale"
    campaign = f"campaign-{uuid.uuid4().hex[:8]}"
    soon = pendulum.now("UTC").add(minutes=10).format("YYYY-MM-DDTHH:mm:ss") + "Z"
    later = pendulum.now("UTC").add(minutes=40).format("YYYY-MM-DDTHH:mm:ss") + "Z"
    upsert = f"braze_e2e_keyed_bulk_upsert_{registry_kind}"
    run_dag_logged(DAGS, upsert, run_conf=group_conf(key, campaign, 120, soon))
    assert len(_live(fake_braze, campaign)) == 3

    # Moving it ten minutes before the send: left alone, and said so.
    before = len(fake_braze.received)
    frozen = run_dag_logged(DAGS, upsert, run_conf=group_conf(key, campaign, 120, later))
    assert task_states(frozen.dag_run) == {"upsert": "success"}
    result = _result(frozen)
    assert result["action"] == "frozen"
    assert "inside the freeze window of 0:15:00 before the send" in result["reason"]
    assert len(result["chunks"]) == 3
    assert len(fake_braze.received) == before
    entry = read_registry(registry_kind).require(key)
    assert (entry.state, entry.pending, entry.handle["schedule"]["time"]) == ("scheduled", None, soon)

    # A cancel by key this close to the send: every schedule cancelled, with best effort, said plainly.
    cancelled = run_dag_logged(KEYED, f"braze_e2e_keyed_cancel_{registry_kind}", run_conf={"key": key})
    assert task_states(cancelled.dag_run) == {"cancel": "success"}
    result = _result(cancelled, "cancel")
    assert (result["state"], result["outcome"], result["cancelled"]) == ("cancelled", "best_effort", True)
    assert "Braze applies a cancel this close to the send with best effort" in cancelled.logs["cancel"]
    assert _live(fake_braze, campaign) == set()
    entry = read_registry(registry_kind).require(key)
    assert (entry.state, entry.outcome) == ("cancelled", "best_effort")


def test_a_group_dry_run_logs_the_plan_and_sends_nothing(run_dag_logged, fake_braze, registry_kind):
    key = unique_prefix() + "winter-promo"
    campaign = f"campaign-{uuid.uuid4().hex[:8]}"
    time = send_time(days=4)
    dry = f"braze_e2e_keyed_bulk_upsert_dry_{registry_kind}"

    # Nothing under the key yet: a dry run validates the whole audience and says what it would send.
    first = run_dag_logged(DAGS, dry, run_conf=group_conf(key, campaign, 120, time))
    assert task_states(first.dag_run) == {"upsert": "success"}
    assert fake_braze.received == []
    assert _result(first) == {
        "schedule_key": key,
        "action": "create",
        "reason": "no schedule yet",
        "requests_expected": 3,
        "dry_run": True,
    }
    assert read_registry(registry_kind).get(key) is None

    run_dag_logged(
        DAGS, f"braze_e2e_keyed_bulk_upsert_{registry_kind}", run_conf=group_conf(key, campaign, 120, time)
    )
    recorded = read_registry(registry_kind).require(key)
    before = len(fake_braze.received)
    changed = run_dag_logged(DAGS, dry, run_conf=group_conf(key, campaign, 121, time))
    assert (_result(changed)["action"], _result(changed)["requests_expected"]) == ("replace", 3 + 3)
    log = changed.logs["upsert"]
    assert "replace of a group (the send changed beyond its schedule" in log
    assert "Dry run: the plan above was NOT carried out: nothing sent to Braze." in log
    assert len(fake_braze.received) == before
    assert read_registry(registry_kind).require(key).history == recorded.history


def test_a_single_schedule_is_replaced_by_a_group(run_dag_logged, fake_braze, registry_kind):
    key = unique_prefix() + "newsletter"
    campaign = f"campaign-{uuid.uuid4().hex[:8]}"
    time = send_time(days=4)
    upsert = f"braze_e2e_keyed_bulk_upsert_{registry_kind}"
    run_dag_logged(DAGS, upsert, run_conf=group_conf(key, campaign, 1, time))
    [single] = _live(fake_braze, campaign)
    assert read_registry(registry_kind).require(key).schedule_id == single

    # Now 120 users: the single schedule cancelled, then a group of 3 created; recorded as the group.
    run = run_dag_logged(DAGS, upsert, run_conf=group_conf(key, campaign, 120, time))
    assert task_states(run.dag_run) == {"upsert": "success"}
    assert (_result(run)["action"], len(_result(run)["chunks"])) == ("replace", 3)
    assert (
        _answered(fake_braze, CAMPAIGN_DELETE, campaign),
        _answered(fake_braze, CAMPAIGN_CREATE, campaign),
    ) == (1, 1 + 3)
    live = _live(fake_braze, campaign)
    assert len(live) == 3
    assert single not in live
    entry = read_registry(registry_kind).require(key)
    assert (entry.state, entry.pending) == ("scheduled", None)
    assert _chunk_ids(entry) == live
    actions = [line["action"] for line in entry.history if not line["action"].startswith("intent:")]
    assert actions == ["create", "replace_cancelled", "create"]

    # The group, upserted again as it is: nothing sent.
    before = len(fake_braze.received)
    again = run_dag_logged(DAGS, upsert, run_conf=group_conf(key, campaign, 120, time))
    assert _result(again)["action"] == "unchanged"
    assert len(fake_braze.received) == before


def test_a_group_cancel_cut_short_is_finished_by_another_run(run_dag_logged, fake_braze, registry_kind):
    key = unique_prefix() + "spring-sale"
    campaign = f"campaign-{uuid.uuid4().hex[:8]}"
    time = send_time(days=4)
    upsert = f"braze_e2e_keyed_bulk_upsert_{registry_kind}"
    run_dag_logged(DAGS, upsert, run_conf=group_conf(key, campaign, 120, time))
    old = _live(fake_braze, campaign)
    assert len(old) == 3

    # A replace whose cancel of the old group loses its connection on every try of the 2nd and 3rd
    # deletes (three tries each): one schedule cancelled, two left, the task failed (no retries).
    fake_braze.inject(Delay(0), path=CAMPAIGN_DELETE)
    fake_braze.inject(DropBeforeProcessing(), times=6, path=CAMPAIGN_DELETE)
    cut = run_dag_logged(DAGS, upsert, run_conf=group_conf(key, campaign, 121, time))
    assert task_states(cut.dag_run) == {"upsert": "failed"}
    assert sum(1 for r in fake_braze.requests_to(CAMPAIGN_DELETE) if r.fault == "DropBeforeProcessing") == 6
    assert len(_live(fake_braze, campaign) & old) == 2
    assert _answered(fake_braze, CAMPAIGN_CREATE, campaign) == 3  # the new group was not begun
    entry = read_registry(registry_kind).require(key)
    assert (entry.pending["op"], entry.pending["stage"]) == ("group_replace", "cancelling")

    # Another DAG run upserting the key finishes the cancel (the one already cancelled is not found:
    # done), then creates the new group once.
    run = run_dag_logged(DAGS, upsert, run_conf=group_conf(key, campaign, 121, time))
    assert task_states(run.dag_run) == {"upsert": "success"}
    assert "left 'group_replace' (cancelling) under way; settling it first" in run.logs["upsert"]
    live = _live(fake_braze, campaign)
    assert len(live) == 3
    assert not live & old
    assert sum(len(fake_braze.schedules[i].body["recipients"]) for i in live) == 121
    assert _answered(fake_braze, CAMPAIGN_CREATE, campaign) == 3 + 3
    entry = read_registry(registry_kind).require(key)
    assert (entry.state, entry.pending) == ("scheduled", None)
    assert _chunk_ids(entry) == live  # nothing live that the registry does not name
    assert {line["run_id"] for line in entry.history if line["action"] == "create"} >= {run.dag_run.run_id}
