"""Creates under real Airflow task retries, rate-limit deferral and dry runs, against the fake Braze."""

from __future__ import annotations

import json

import pytest

from airflow_braze_schedule.testing import DropAfterProcessing, RateLimited
from tests.helpers import HAS_TASK_STATE_STORE, records_holding, task_states

pytestmark = pytest.mark.usefixtures("airflow_db")
DAGS = "braze_e2e_retries.py"


NO_STORE = "no task_state_store (Airflow 3.3+) to tell whether an earlier try created a schedule"
SENDING_CREATE = "Sending to Braze: POST /campaigns/trigger/schedule/create"


@pytest.mark.skipif(not HAS_TASK_STATE_STORE, reason="needs task_state_store (Airflow 3.3+)")
def test_a_retry_returns_the_schedule_an_earlier_try_created(run_dag_logged, fake_braze):
    run = run_dag_logged(DAGS, "braze_e2e_retry_after_create")
    dag_run = run.dag_run

    ti = dag_run.get_task_instance("create")
    assert ti.state == "success"
    assert ti.try_number == 2
    [stored] = fake_braze.schedules.values()  # one schedule, not two
    assert len(fake_braze.requests_to("/campaigns/trigger/schedule/create")) == 1
    assert ti.xcom_pull(task_ids="create")["schedule_id"] == stored.schedule_id
    assert ti.xcom_pull(task_ids="create", key="schedule_id") == stored.schedule_id
    # The log says "Sending" for the one request that went out, and why the retry sent none.
    log = run.logs["create"]
    assert log.count(SENDING_CREATE) == 1
    assert log.index(SENDING_CREATE) < log.index(
        f"Not sending: an earlier try of this task already created this schedule (schedule_id={stored.schedule_id})"
    )


@pytest.mark.skipif(not HAS_TASK_STATE_STORE, reason="needs task_state_store (Airflow 3.3+)")
def test_a_retry_after_an_unrecorded_answer_refuses_to_resend(run_dag_logged, fake_braze):
    run = run_dag_logged(DAGS, "braze_e2e_lost_answer")
    dag_run = run.dag_run

    ti = dag_run.get_task_instance("create")
    assert ti.state == "failed"
    assert ti.try_number == 2  # the first try's RuntimeError was retried; the second refused
    assert len(fake_braze.schedules) == 1
    assert len(fake_braze.requests_to("/campaigns/trigger/schedule/create")) == 1
    assert "never recorded Braze's answer" in run.output
    assert run.logs["create"].count(SENDING_CREATE) == 1  # the first try's; the refusal sent nothing


@pytest.mark.skipif(HAS_TASK_STATE_STORE, reason="the degraded behaviour of Airflow before 3.3")
@pytest.mark.parametrize("dag_id", ["braze_e2e_retry_after_create", "braze_e2e_lost_answer"])
def test_without_task_state_store_a_retried_create_refuses_to_send(run_dag_logged, fake_braze, dag_id):
    run = run_dag_logged(DAGS, dag_id)
    dag_run = run.dag_run

    ti = dag_run.get_task_instance("create")
    assert ti.state == "failed"
    assert len(fake_braze.requests_to("/campaigns/trigger/schedule/create")) == 1  # the first try's only
    assert len(fake_braze.schedules) == 1
    assert NO_STORE in run.output
    # The first try's; the refusal sent nothing.
    assert records_holding(run.logs["create"], "Sending to Braze: POST") == 1


def test_a_create_whose_answer_is_lost_fails_without_retries(run_dag_logged, fake_braze):
    fake_braze.inject(DropAfterProcessing(), path="/canvas/trigger/schedule/create")

    run = run_dag_logged(DAGS, "braze_e2e_dropped_connection")
    dag_run = run.dag_run

    ti = dag_run.get_task_instance("create")
    assert ti.state == "failed"
    assert ti.try_number == 1
    assert len(fake_braze.requests_to("/canvas/trigger/schedule/create")) == 1  # never resent
    [stored] = fake_braze.schedules.values()  # Braze did create it: that is why resending is wrong
    assert stored.canvas_id == "canvas-1"
    log = run.output
    assert "Braze may have created this schedule" in log
    assert "POST /canvas/trigger/schedule/create" in log


def test_a_long_rate_limit_defers_the_task_and_resumes_after_the_reset(run_dag_logged, fake_braze):
    fake_braze.inject(RateLimited(reset_in=2), path="/campaigns/trigger/schedule/create")

    run = run_dag_logged(DAGS, "braze_e2e_rate_limit_deferral")
    dag_run = run.dag_run

    assert task_states(dag_run) == {"create": "success"}
    assert [r.status for r in fake_braze.requests_to("/campaigns/trigger/schedule/create")] == [429, 200]
    assert len(fake_braze.schedules) == 1
    assert "deferring until" in run.output


def test_dry_run_sends_nothing_and_marks_the_handle(run_dag_logged, fake_braze):
    run = run_dag_logged(DAGS, "braze_e2e_dry_run")
    dag_run = run.dag_run

    assert set(task_states(dag_run).values()) == {"success"}
    assert fake_braze.received == []
    handle = dag_run.get_task_instance("create").xcom_pull(task_ids="create")
    assert handle["dry_run"] is True
    assert handle["schedule_id"].startswith("dry-run-")
    assert dag_run.get_task_instance("cancel").xcom_pull(task_ids="cancel")["cancelled"] is False
    log = run.output
    assert (
        'Dry run: validated, NOT sent to Braze: POST /campaigns/trigger/schedule/create {"broadcast": true'
        in log
    )
    assert "Dry run: validated, NOT sent to Braze: POST /campaigns/trigger/schedule/delete" in log


def test_the_connection_can_make_a_whole_environment_dry(run_dag, fake_braze, monkeypatch):
    conn = fake_braze.airflow_connection()
    conn["extra"]["dry_run"] = True
    monkeypatch.setenv("AIRFLOW_CONN_BRAZE_DEFAULT", json.dumps(conn))

    dag_run = run_dag("braze_schedule_lifecycle.py")

    assert set(task_states(dag_run).values()) == {"success"}
    assert fake_braze.received == []
    assert (
        dag_run.get_task_instance("schedule_campaign").xcom_pull(task_ids="schedule_campaign")["dry_run"]
        is True
    )
