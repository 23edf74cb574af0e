"""Keyed changes of a schedule Braze no longer holds (cancelled elsewhere, or sent), in real DAG runs.

Braze documents no answer for such a ``schedule_id``: a server may answer 404 or 400. Each test runs
against the fake answering either (``FakeBraze(unknown_schedule_status=...)``).
"""

# ruff: noqa: F811  (the fixtures imported from schedule_gone_support are the tests' arguments)
from __future__ import annotations

import pytest

from tests.e2e.schedule_gone_support import (  # noqa: F401  (fixtures)
    braze,
    braze_answering_400,
    cancel_behind_the_providers_back,
    gone_status,
)
from tests.helpers import task_states
from tests.keyed.keyed_support import live_by_user, read_registry, send_time, unique_prefix

DAGS = "braze_e2e_keyed.py"


def _conf(key, user, time):
    return {"key": key, "recipients": [{"external_user_id": user}], "schedule": time}


def test_replace_and_reconcile_cancel_of_a_schedule_braze_no_longer_holds(
    run_dag_logged, braze, gone_status, registry_kind, tmp_path
):
    scope = unique_prefix()
    key = scope + "order-1"
    time = send_time()
    upsert = f"braze_e2e_keyed_upsert_{registry_kind}"
    run_dag_logged(DAGS, upsert, run_conf=_conf(key, "u1", time))
    first_id = read_registry(registry_kind).require(key).schedule_id
    cancel_behind_the_providers_back(braze, first_id)

    # A replace (new recipients): its cancel finds the schedule gone, and the create follows, once.
    replaced = run_dag_logged(DAGS, upsert, run_conf=_conf(key, "u2", time))
    assert task_states(replaced.dag_run) == {"upsert": "success"}, replaced.logs["upsert"][-3000:]
    deletes = braze.requests_to("/campaigns/trigger/schedule/delete")
    assert [r.status for r in deletes] == [200, gone_status]
    assert len(braze.requests_to("/campaigns/trigger/schedule/create")) == 2
    assert live_by_user(braze).keys() == {"u2"}
    entry = read_registry(registry_kind).require(key)
    assert entry.state == "scheduled"
    cancel_line = next(line for line in reversed(entry.history) if line["action"] == "cancel")
    assert "already cancelled or sent" in cancel_line["note"]

    # A reconcile no longer desiring the key: its cancel finds the schedule gone, recorded as cancelled.
    cancel_behind_the_providers_back(braze, entry.schedule_id)
    empty = tmp_path / "none.jsonl"
    empty.write_text("")
    reconciled = run_dag_logged(
        DAGS,
        f"braze_e2e_keyed_reconcile_{registry_kind}",
        run_conf={"scope": scope, "desired_path": str(empty)},
    )
    assert task_states(reconciled.dag_run) == {"reconcile": "success"}, reconciled.logs["reconcile"][-3000:]
    entry = read_registry(registry_kind).require(key)
    assert entry.state == "cancelled"
    assert entry.history[-1]["action"] == "cancel"
    assert "already cancelled or sent" in entry.history[-1]["note"]
    result = reconciled.dag_run.get_task_instance("reconcile").xcom_pull(task_ids="reconcile")
    assert result["outcome"]["done"] == [key]
    assert result["outcome"]["failed"] == {}


@pytest.mark.slow  # several DAG runs; `make test-slow`
def test_a_group_cancel_by_key_of_which_braze_no_longer_holds_a_schedule(
    run_dag_logged, braze, gone_status, registry_kind
):
    key = unique_prefix() + "spring-sale"
    recipients = [{"external_user_id": f"sale/{n}"} for n in range(120)]
    conf = {"key": key, "campaign_id": "sale", "recipients": recipients, "schedule": send_time(days=4)}
    created = run_dag_logged(
        "braze_e2e_keyed_bulk.py", f"braze_e2e_keyed_bulk_upsert_{registry_kind}", run_conf=conf
    )
    assert task_states(created.dag_run) == {"upsert": "success"}
    chunks = read_registry(registry_kind).require(key).handle["chunks"]
    assert len(chunks) == 3
    cancel_behind_the_providers_back(braze, chunks[1]["schedule_id"])

    cancelled = run_dag_logged(DAGS, f"braze_e2e_keyed_cancel_{registry_kind}", run_conf={"key": key})
    assert task_states(cancelled.dag_run) == {"cancel": "success"}, cancelled.logs["cancel"][-3000:]
    assert (
        f"Braze no longer holds schedule {chunks[1]['schedule_id']} (it answered {gone_status}"
        in (cancelled.logs["cancel"])
    )
    assert sorted(r.status for r in braze.requests_to("/campaigns/trigger/schedule/delete")) == sorted(
        [200, 200, 200, gone_status]
    )
    assert braze.active_schedules() == []
    entry = read_registry(registry_kind).require(key)
    assert (entry.state, entry.pending) == ("cancelled", None)
