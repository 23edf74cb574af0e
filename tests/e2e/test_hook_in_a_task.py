"""Plain ``@task(retries=2)`` functions calling the hook, under real Airflow (one ``dag.test()`` run): a
request Braze refuses is sent once (the task fails without retries), a 5xx is still retried by Airflow,
and the refusal can still be caught as its Braze type."""

from __future__ import annotations

import pytest

from airflow_braze_schedule.testing import Status
from tests.dags.braze_e2e_hook_in_a_task import DAG_ID

pytestmark = pytest.mark.usefixtures("airflow_db")
MESSAGE = "/messages/schedule/create"
CAMPAIGN = "/campaigns/trigger/schedule/create"
CANVAS = "/canvas/trigger/schedule/create"


@pytest.fixture(scope="module")
def run(airflow_db, fake_braze_server):
    """Run the DAG once: 400 for the message (three times over, should it be resent), 503 twice for the
    campaign, 400 for the Canvas."""
    from tests.helpers import env_vars

    fake = fake_braze_server
    fake.reset()
    fake.inject(Status(400, {"message": "Refused", "errors": ["no"]}), times=3, path=MESSAGE)
    fake.inject(Status(503), times=2, path=CAMPAIGN)
    fake.inject(Status(400, {"message": "Invalid Canvas ID"}), path=CANVAS)
    with env_vars(**dict([fake.airflow_conn_env()])):
        from tests.helpers import load_dag

        dag_run = load_dag("braze_e2e_hook_in_a_task.py", DAG_ID).test()
    return dag_run, fake


def test_a_request_braze_refuses_is_sent_once(run):
    dag_run, fake = run

    ti = dag_run.get_task_instance("refused")
    assert ti.state == "failed"
    assert ti.try_number == 1  # retries=2, unused
    assert [r.status for r in fake.requests_to(MESSAGE)] == [400]  # one request, not three


def test_a_5xx_is_still_retried_by_airflow(run):
    dag_run, fake = run

    ti = dag_run.get_task_instance("unavailable")
    assert ti.state == "success"
    assert ti.try_number == 3
    assert [r.status for r in fake.requests_to(CAMPAIGN)] == [503, 503, 200]
    [stored] = [s for s in fake.active_schedules() if s.kind == "campaign"]
    assert ti.xcom_pull(task_ids="unavailable") == stored.schedule_id


def test_the_refusal_is_still_caught_as_its_braze_type(run):
    dag_run, fake = run

    ti = dag_run.get_task_instance("catches")
    assert ti.state == "success"
    assert ti.xcom_pull(task_ids="catches") == "refused: Invalid Canvas ID"
    assert [r.status for r in fake.requests_to(CANVAS)] == [400]
