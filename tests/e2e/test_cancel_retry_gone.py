"""A cancel retried by Airflow after its earlier try's cancel was done but the answer lost: the retry finds
the schedule gone (404, or 400 on some servers) and is done. A first try meeting an unknown id fails."""

# ruff: noqa: F811  (the fixtures imported from schedule_gone_support are the tests' arguments)
from __future__ import annotations

from airflow_braze_schedule.testing import DropAfterProcessing
from tests.e2e.schedule_gone_support import (  # noqa: F401  (fixtures)
    braze,
    braze_answering_400,
    cancel_behind_the_providers_back,
    gone_status,
    post,
)
from tests.helpers import task_states

DAGS = "braze_e2e_schedule_gone.py"
DELETE = "/campaigns/trigger/schedule/delete"


def _result(run, task_id):
    return run.dag_run.get_task_instance(task_id).xcom_pull(task_ids=task_id)


def test_a_retried_cancel_whose_first_answer_was_lost_is_done(run_dag_logged, braze, gone_status):
    braze.inject(DropAfterProcessing(), path=DELETE)
    run = run_dag_logged(DAGS, "braze_e2e_gone_cancel")
    assert task_states(run.dag_run) == {"create": "success", "cancel": "success"}, run.logs["cancel"][-3000:]
    deletes = braze.requests_to(DELETE)
    assert [r.fault for r in deletes] == ["DropAfterProcessing", None]
    assert deletes[1].status == gone_status
    assert braze.active_schedules() == []
    result = _result(run, "cancel")
    assert result["cancelled"] is True
    assert "an earlier try of this task or someone else cancelled it, or it was sent" in result["reason"]
    assert f"Braze no longer holds schedule {result['schedule_id']}" in run.logs["cancel"]


def test_a_first_try_cancel_of_a_schedule_braze_no_longer_holds_fails(run_dag_logged, braze, gone_status):
    body = {"campaign_id": "c1", "recipients": [{"external_user_id": "u1"}]}
    body["schedule"] = {"time": "2099-01-02T09:00:00Z"}
    schedule_id = post(braze, "/campaigns/trigger/schedule/create", body)["schedule_id"]
    cancel_behind_the_providers_back(braze, schedule_id)
    run = run_dag_logged(
        DAGS, "braze_e2e_gone_cancel_by_id", run_conf={"schedule_id": schedule_id, "campaign_id": "c1"}
    )
    assert task_states(run.dag_run) == {"cancel": "failed"}
    assert [r.status for r in braze.requests_to(DELETE)] == [200, gone_status]  # tried once: not retried
    assert f"Braze answered {gone_status} to POST {DELETE}" in run.logs["cancel"]


def test_a_retried_group_cancel_finds_its_cancelled_schedules_gone(run_dag_logged, braze, gone_status):
    braze.inject(DropAfterProcessing(), path=DELETE)
    run = run_dag_logged(DAGS, "braze_e2e_gone_group_cancel")
    assert task_states(run.dag_run) == {"bulk": "success", "cancel": "success"}, run.logs["cancel"][-3000:]
    statuses = [r.status for r in braze.requests_to(DELETE) if r.fault is None]
    assert statuses == [200, 200] + [gone_status] * 3  # the second try: all three already cancelled
    assert braze.active_schedules() == []
    assert _result(run, "cancel")["cancelled"] is True
