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


def test_a_retried_group_cancel_finds_its_cancelled_schedules_gone(run_dag_logged, braze, gone_status):
    braze.inject(DropAfterProcessing(), path=DELETE)
    run = run_dag_logged(DAGS, "braze_e2e_gone_group_cancel")
    assert task_states(run.dag_run) == {"bulk": "success", "cancel": "success"}, run.logs["cancel"][-3000:]
    statuses = [r.status for r in braze.requests_to(DELETE) if r.fault is None]
    assert statuses == [200, 200] + [gone_status] * 3  # the second try: all three already cancelled
    assert braze.active_schedules() == []
    assert _result(run, "cancel")["cancelled"] is True
