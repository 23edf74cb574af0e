"""Upsert, update and cancel by schedule_key in real DAG runs against the fake Braze, on both registries."""

from __future__ import annotations

import pytest

from tests.helpers import task_states
from tests.keyed.keyed_support import live_by_user, read_registry, send_time, unique_prefix, writer_slots

DAGS = "braze_e2e_keyed.py"


def _conf(key, user, time, **more):
    return {"key": key, "recipients": [{"external_user_id": user}], "schedule": time, **more}


def test_upsert_lifecycle_and_changes_by_key_from_other_dags(run_dag_logged, fake_braze, registry_kind):
    key = unique_prefix() + "order-4711/reminder"
    local = {"time": send_time(days=4)[:-1], "in_local_time": True}
    upsert = f"braze_e2e_keyed_upsert_{registry_kind}"
    slots_before = writer_slots() if registry_kind == "asset" else 0

    first = run_dag_logged(DAGS, upsert, run_conf=_conf(key, "u1", local))
    assert task_states(first.dag_run) == {"upsert": "success"}
    assert len(fake_braze.requests_to("/campaigns/trigger/schedule/create")) == 1

    # The same request again: no request at all.
    before = len(fake_braze.received)
    second = run_dag_logged(DAGS, upsert, run_conf=_conf(key, "u1", local))
    assert task_states(second.dag_run) == {"upsert": "success"}
    assert len(fake_braze.received) == before
    assert "unchanged (the same request as recorded)" in second.logs["upsert"]

    # Only the time: one update, keeping local time although the new schedule does not say so.
    moved = send_time(days=5)[:-1]
    third = run_dag_logged(DAGS, upsert, run_conf=_conf(key, "u1", {"time": moved}))
    assert task_states(third.dag_run) == {"upsert": "success"}
    updates = fake_braze.requests_to("/campaigns/trigger/schedule/update")
    assert len(updates) == 1
    assert updates[0].json["schedule"] == {"time": moved, "in_local_time": True, "at_optimal_time": False}

    # The recipients: replace, a cancel then a create.
    fourth = run_dag_logged(DAGS, upsert, run_conf=_conf(key, "u2", {"time": moved}))
    assert task_states(fourth.dag_run) == {"upsert": "success"}
    assert len(fake_braze.requests_to("/campaigns/trigger/schedule/delete")) == 1
    assert len(fake_braze.requests_to("/campaigns/trigger/schedule/create")) == 2
    assert live_by_user(fake_braze).keys() == {"u2"}

    registry = read_registry(registry_kind)
    entry = registry.require(key)
    assert entry.state == "scheduled"
    assert entry.schedule_id == live_by_user(fake_braze)["u2"][0]
    actions = [line["action"] for line in entry.history if not line["action"].startswith("intent:")]
    assert actions == ["create", "update", "cancel", "create"]
    assert {line["dag_id"] for line in entry.history} == {upsert}
    assert len({line["run_id"] for line in entry.history}) == 3  # the unchanged run wrote nothing

    # Update and cancel by key, from other DAGs.
    later = send_time(days=6)
    updated = run_dag_logged(
        DAGS, f"braze_e2e_keyed_update_{registry_kind}", run_conf={"key": key, "schedule": later}
    )
    assert task_states(updated.dag_run) == {"update": "success"}
    assert fake_braze.schedules[entry.schedule_id].schedule["time"] == later[:-1]  # local time kept: no Z
    cancelled = run_dag_logged(DAGS, f"braze_e2e_keyed_cancel_{registry_kind}", run_conf={"key": key})
    assert task_states(cancelled.dag_run) == {"cancel": "success"}
    assert live_by_user(fake_braze) == {}
    entry = read_registry(registry_kind).require(key)
    assert (entry.state, entry.outcome) == ("cancelled", "applied")
    assert entry.history[-1]["dag_id"] == f"braze_e2e_keyed_cancel_{registry_kind}"
    if registry_kind == "asset":
        # Five writing tasks, one after another: each hands its writer slot on to the next.
        assert writer_slots() - slots_before <= 1

    # Cancelling again: a no-op that says so. An unknown key: a clear error, no request.
    before = len(fake_braze.received)
    again = run_dag_logged(DAGS, f"braze_e2e_keyed_cancel_{registry_kind}", run_conf={"key": key})
    assert task_states(again.dag_run) == {"cancel": "success"}
    assert "is already cancelled: nothing to do" in again.logs["cancel"]
    unknown = run_dag_logged(
        DAGS, f"braze_e2e_keyed_update_{registry_kind}", run_conf={"key": key + "-typo", "schedule": later}
    )
    assert task_states(unknown.dag_run) == {"update": "failed"}
    assert f"No schedule is recorded under schedule_key '{key}-typo'" in unknown.logs["update"]
    assert len(fake_braze.received) == before


def test_a_crash_between_cancel_and_create_of_a_replace_is_finished_by_the_retry(
    run_dag_logged, fake_braze, registry_kind
):
    key = unique_prefix() + "order-1/reminder"
    time = send_time()
    crash = f"braze_e2e_keyed_crash_{registry_kind}"
    # The first run creates (no replace, so no crash point is reached).
    run_dag_logged(DAGS, f"braze_e2e_keyed_upsert_{registry_kind}", run_conf=_conf(key, "old", time))
    run = run_dag_logged(DAGS, crash, run_conf=_conf(key, "new", time))
    assert task_states(run.dag_run) == {"upsert": "success"}
    assert "worker lost between the cancel and the create of a replace" in run.output
    assert "left 'replace' (old_cancelled) under way; settling it first" in run.logs["upsert"]
    # One cancel, one create of the new send: nothing twice, nothing missing.
    assert len(fake_braze.requests_to("/campaigns/trigger/schedule/delete")) == 1
    assert len(fake_braze.requests_to("/campaigns/trigger/schedule/create")) == 2
    assert live_by_user(fake_braze).keys() == {"new"}
    entry = read_registry(registry_kind).require(key)
    assert entry.schedule_id == live_by_user(fake_braze)["new"][0]
    assert entry.pending is None


@pytest.mark.slow  # several DAG runs; `make test-slow`
def test_late_changes_are_said_plainly(run_dag_logged, fake_braze, registry_kind):
    """Ten minutes before the send: upsert leaves it alone (freeze window), a cancel is best effort."""
    import pendulum

    key = unique_prefix() + "late"
    soon = pendulum.now("UTC").add(minutes=10).format("YYYY-MM-DDTHH:mm:ss") + "Z"
    later = pendulum.now("UTC").add(minutes=40).format("YYYY-MM-DDTHH:mm:ss") + "Z"
    upsert = f"braze_e2e_keyed_upsert_{registry_kind}"
    run_dag_logged(DAGS, upsert, run_conf=_conf(key, "u1", soon))
    before = len(fake_braze.received)
    frozen = run_dag_logged(DAGS, upsert, run_conf=_conf(key, "u1", later))
    assert task_states(frozen.dag_run) == {"upsert": "success"}
    assert len(fake_braze.received) == before
    result = frozen.dag_run.get_task_instance("upsert").xcom_pull(task_ids="upsert")
    assert result["action"] == "frozen"
    assert "inside the freeze window of 0:15:00 before the send" in result["reason"]

    cancelled = run_dag_logged(DAGS, f"braze_e2e_keyed_cancel_{registry_kind}", run_conf={"key": key})
    result = cancelled.dag_run.get_task_instance("cancel").xcom_pull(task_ids="cancel")
    assert (result["state"], result["outcome"]) == ("cancelled", "best_effort")
    assert "Braze applies a cancel this close to the send with best effort" in cancelled.logs["cancel"]
    entry = read_registry(registry_kind).require(key)
    assert (entry.state, entry.outcome) == ("cancelled", "best_effort")
