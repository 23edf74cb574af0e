"""The example DAGs and the XCom hand-over, run for real with dag.test() against the fake Braze.

The examples must run however they are started: triggered by hand without a logical date (Airflow 3's
manual runs, from the UI, ``airflow dags trigger`` or the REST API), with a logical date (a scheduled
run, ``airflow dags test``), and for an old interval (a backfill); their cancels are teardowns that
undo the send only after a failure; and a cleared run never hands out a schedule it cancelled.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from airflow_braze_schedule.authoring import next_send_time
from tests.helpers import (
    HAS_RUNS_WITHOUT_LOGICAL_DATE,
    HAS_TASK_STATE_STORE,
    dated_run,
    rerunning,
    task_states,
)

pytestmark = pytest.mark.usefixtures("airflow_db")


def _xcom(dag_run, task_id: str, key: str = "return_value"):
    return dag_run.get_task_instance(task_id).xcom_pull(task_ids=task_id, key=key)


@dataclass(frozen=True)
class ExampleSend:
    """What an example DAG's create task asks of Braze, and when (``next_send_time`` arguments)."""

    create_task: str
    path: str
    at: str
    days_after: int
    designator: str = ""
    min_lead: timedelta = timedelta(hours=1)


EXAMPLE_SENDS = {
    "braze_schedule_lifecycle.py": ExampleSend(
        "schedule_campaign", "/campaigns/trigger/schedule/create", "09:00", 2
    ),
    "braze_canvas_daily.py": ExampleSend(
        "schedule_canvas", "/canvas/trigger/schedule/create", "08:00", 0, "Z"
    ),
    "braze_message_optimal_time.py": ExampleSend("schedule_digest", "/messages/schedule/create", "00:00", 3),
    "braze_taskflow.py": ExampleSend(
        "schedule_win_back", "/campaigns/trigger/schedule/create", "10:00", 1, min_lead=timedelta(hours=24)
    ),
    "braze_mapped_audiences.py": ExampleSend(
        "schedule_chunk", "/canvas/trigger/schedule/create", "16:00", 1, "Z"
    ),
}
DAILY_EXAMPLES = ["braze_canvas_daily.py", "braze_taskflow.py", "braze_mapped_audiences.py"]


def _check_send_times(dag_run, fake_braze, file_name: str) -> list[str]:
    """Every create of the example asked for the time ``next_send_time`` gives for this run, as of the
    moment the create rendered its templates (between its start and its end); returns those times."""
    send = EXAMPLE_SENDS[file_name]
    creates = fake_braze.requests_to(send.path)
    assert creates, f"{file_name} sent no create"
    expected = {
        next_send_time(dag_run, send.at, days_after=send.days_after, min_lead=send.min_lead, now=moment)
        + send.designator
        for ti in dag_run.get_task_instances()
        if ti.task_id == send.create_task
        for moment in (ti.start_date, ti.end_date)
    }
    times = [create.json["schedule"]["time"] for create in creates]
    assert set(times) <= expected
    now = datetime.now(tz=UTC).replace(tzinfo=None)
    assert all(datetime.fromisoformat(time.rstrip("Z")) > now for time in times)  # Braze takes no past
    return times


# --- However they are started --------------------------------------------------------------------


@pytest.mark.skipif(not HAS_RUNS_WITHOUT_LOGICAL_DATE, reason="Airflow 2 gives every run a logical date")
@pytest.mark.parametrize("file_name", sorted(EXAMPLE_SENDS))
def test_every_example_runs_when_triggered_without_a_logical_date(run_dag, fake_braze, file_name):
    """As from the UI, ``airflow dags trigger`` or the REST API on Airflow 3: ``ds``, ``logical_date`` and
    ``data_interval_end`` are undefined in such a run's templates."""
    dag_run = run_dag(file_name, logical_date=None)

    assert dag_run.logical_date is None
    assert dag_run.data_interval_end is None
    assert dag_run.state == "success", task_states(dag_run)
    _check_send_times(dag_run, fake_braze, file_name)
    assert {r.status for r in fake_braze.received} == {200}


@pytest.mark.parametrize("file_name", DAILY_EXAMPLES)
def test_every_daily_example_runs_for_an_old_interval_as_a_backfill_does(run_dag, fake_braze, file_name):
    """A backfilled run covers an interval long past: the send goes out at the next time still ahead."""
    interval_start = datetime.now(tz=UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
        days=40
    )
    dag_run = run_dag(file_name, **dated_run(interval_start, run_after=interval_start + timedelta(days=1)))

    assert dag_run.state == "success", task_states(dag_run)
    times = _check_send_times(dag_run, fake_braze, file_name)
    assert all(time[:10] >= datetime.now(tz=UTC).strftime("%Y-%m-%d") for time in times)


@pytest.mark.slow  # a whole `airflow dags test` process; make test-install runs the CLI too
def test_airflow_dags_test_runs_the_canvas_example_and_its_teardown(fake_braze):
    """The CLI, in a child process that reaches the fake Braze through the connection in the environment:
    the failed check fails the run (exit code 1), and the teardown cancelled the send."""
    conf = json.dumps({"simulate_bad_data": True})
    command = [sys.executable, "-m", "airflow", "dags", "test", "braze_canvas_daily", "-c", conf]
    done = subprocess.run(
        command, env=os.environ.copy(), capture_output=True, text=True, check=False, timeout=300
    )

    assert done.returncode == 1, (done.stdout + done.stderr)[-3000:]
    [create] = fake_braze.requests_to("/canvas/trigger/schedule/create")
    [delete] = fake_braze.requests_to("/canvas/trigger/schedule/delete")
    [stored] = fake_braze.schedules.values()
    assert create.json["schedule"]["time"].endswith("T08:00:00Z")
    assert (delete.json["schedule_id"], delete.status) == (stored.schedule_id, 200)
    assert fake_braze.active_schedules() == []


# --- The examples' stories -----------------------------------------------------------------------


def test_lifecycle_schedules_moves_and_cancels_one_campaign_send(run_dag, fake_braze):
    dag_run = run_dag("braze_schedule_lifecycle.py")

    assert task_states(dag_run) == {
        "schedule_campaign": "success",
        "move_to_ten": "success",
        "cancel": "success",
    }
    [create] = fake_braze.requests_to("/campaigns/trigger/schedule/create")
    [update] = fake_braze.requests_to("/campaigns/trigger/schedule/update")
    [delete] = fake_braze.requests_to("/campaigns/trigger/schedule/delete")
    [stored] = fake_braze.schedules.values()
    assert create.json["schedule"]["in_local_time"] is True
    assert create.json["schedule"]["time"].endswith("T09:00:00")  # wall clock, no designator
    assert update.json["schedule_id"] == delete.json["schedule_id"] == stored.schedule_id
    assert update.json["campaign_id"] == delete.json["campaign_id"] == "winter-sale-api-campaign"
    # Braze replaces the schedule on update: the handle made the update keep local time.
    assert update.json["schedule"] == {
        "time": create.json["schedule"]["time"].replace("T09", "T10"),
        "in_local_time": True,
        "at_optimal_time": False,
    }
    assert stored.status == "cancelled"
    _check_send_times(dag_run, fake_braze, "braze_schedule_lifecycle.py")
    handle = _xcom(dag_run, "schedule_campaign")
    assert handle["schedule_id"] == stored.schedule_id
    assert handle["kind"] == "campaign"
    assert handle["campaign_id"] == "winter-sale-api-campaign"
    assert handle["dispatch_id"] == stored.dispatch_id
    assert _xcom(dag_run, "schedule_campaign", "schedule_id") == stored.schedule_id
    assert _xcom(dag_run, "move_to_ten")["schedule"]["time"].endswith("T10:00:00")
    assert _xcom(dag_run, "cancel")["cancelled"] is True
    assert _xcom(dag_run, "cancel", "cancelled_schedule_id") == stored.schedule_id  # what a clear reads


def test_canvas_pipeline_keeps_the_send_when_the_data_check_passes(run_dag, fake_braze):
    dag_run = run_dag("braze_canvas_daily.py")

    assert dag_run.state == "success"
    assert task_states(dag_run) == {
        "find_recipients": "success",
        "schedule_canvas": "success",
        "check_data": "success",
        "cancel_canvas_send": "skipped",
    }
    [create] = fake_braze.requests_to("/canvas/trigger/schedule/create")
    assert create.json["canvas_id"] == "onboarding-canvas"
    assert [r["external_user_id"] for r in create.json["recipients"]] == [
        "user-2001",
        "user-2002",
        "user-2003",
    ]
    assert create.json["recipients"][0]["context"]["city"] == "Lisbon"
    assert create.json["recipients"][0]["context"]["signup_day"] == _day_before_due(dag_run)
    _check_send_times(dag_run, fake_braze, "braze_canvas_daily.py")
    # The teardown ran and skipped itself: nothing upstream failed, so the send stays scheduled.
    assert [s.status for s in fake_braze.schedules.values()] == ["scheduled"]
    assert fake_braze.requests_to("/canvas/trigger/schedule/delete") == []


def test_canvas_pipeline_fails_the_run_and_cancels_its_send_when_the_data_check_fails(run_dag, fake_braze):
    dag_run = run_dag("braze_canvas_daily.py", run_conf={"simulate_bad_data": True})

    # The check decides the run's state; the teardown that cancelled does not make it green.
    assert dag_run.state == "failed"
    assert task_states(dag_run) == {
        "find_recipients": "success",
        "schedule_canvas": "success",
        "check_data": "failed",
        "cancel_canvas_send": "success",
    }
    [stored] = fake_braze.schedules.values()
    [delete] = fake_braze.requests_to("/canvas/trigger/schedule/delete")
    assert delete.json == {"canvas_id": "onboarding-canvas", "schedule_id": stored.schedule_id}
    assert fake_braze.active_schedules() == []


def test_canvas_teardown_does_not_run_when_the_create_failed(run_dag, fake_braze):
    """Nothing was scheduled, so there is nothing to cancel: the teardown needs its setup's success."""
    from airflow_braze_schedule.testing import Status

    fake_braze.inject(Status(400), path="/canvas/trigger/schedule/create")
    dag_run = run_dag("braze_canvas_daily.py")

    assert dag_run.state == "failed"
    states = task_states(dag_run)
    assert states["schedule_canvas"] == "failed"
    assert states["check_data"] == "upstream_failed"
    assert states["cancel_canvas_send"] == "upstream_failed"
    assert fake_braze.schedules == {}
    assert fake_braze.requests_to("/canvas/trigger/schedule/delete") == []


def _day_before_due(dag_run) -> str:
    from airflow_braze_schedule.authoring import run_due_at

    return (run_due_at(dag_run) - timedelta(days=1)).strftime("%Y-%m-%d")


def test_optimal_time_message_goes_out_as_a_date_without_designator(run_dag, fake_braze):
    dag_run = run_dag("braze_message_optimal_time.py")

    assert task_states(dag_run) == {"schedule_digest": "success"}
    [create] = fake_braze.requests_to("/messages/schedule/create")
    assert create.json["segment_id"] == "weekly-digest-readers"
    assert create.json["schedule"]["at_optimal_time"] is True
    assert create.json["schedule"]["time"].endswith("T00:00:00")
    [send_time] = _check_send_times(dag_run, fake_braze, "braze_message_optimal_time.py")
    assert create.json["messages"]["email"]["subject"] == f"Your week in review ({send_time[:10]})"
    assert "recipients" not in create.json
    assert _xcom(dag_run, "schedule_digest")["kind"] == "message"


def test_schedule_id_crosses_xcom_in_all_three_forms(run_dag, fake_braze):
    dag_run = run_dag("braze_e2e_xcom_forms.py")

    assert set(task_states(dag_run).values()) == {"success"}
    [stored] = fake_braze.schedules.values()
    updates = fake_braze.requests_to("/messages/schedule/update")
    [delete] = fake_braze.requests_to("/messages/schedule/delete")
    assert [u.json["schedule_id"] for u in updates] == [stored.schedule_id] * 2
    assert delete.json == {"schedule_id": stored.schedule_id}
    # Form 1 (the handle) kept in_local_time although the task did not repeat it.
    assert updates[0].json["schedule"]["in_local_time"] is True
    assert updates[1].json["messages"]["sms"]["body"] == "Doors open at 11:00"
    assert stored.status == "cancelled"
    # The create's templated fields rendered (params inside messages and schedule).
    assert fake_braze.requests_to("/messages/schedule/create")[0].json["messages"]["sms"]["body"] == (
        "Doors open at 09:00"
    )


@pytest.mark.parametrize(
    ("dag_id", "task_id", "expected"),
    [
        ("braze_e2e_past_time", "create", "has already passed in every time zone"),
        ("braze_e2e_missing_xcom", "cancel", "schedule_id: is 'None'"),
        ("braze_e2e_wrong_kind", "create", "recipients: is not accepted by message schedules"),
    ],
)
def test_bad_input_fails_before_any_request_and_without_retries(
    run_dag_logged, fake_braze, dag_id, task_id, expected
):
    run = run_dag_logged("braze_e2e_failures.py", dag_id)
    dag_run = run.dag_run

    ti = dag_run.get_task_instance(task_id)
    assert ti.state == "failed"
    assert ti.try_number == 1  # retries=2, but AirflowFailException skips them
    assert fake_braze.received == []
    assert expected in run.logs[task_id]


# --- Cleared after a cancel --------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(tz=UTC).replace(microsecond=0)


@pytest.mark.skipif(not HAS_TASK_STATE_STORE, reason="needs task_state_store (Airflow 3.3+)")
def test_clearing_a_finished_lifecycle_run_schedules_anew_instead_of_reusing_the_cancelled_send(
    run_dag_logged, fake_braze
):
    first = run_dag_logged("braze_schedule_lifecycle.py", **dated_run(_now())).dag_run
    [cancelled] = fake_braze.schedules.values()
    assert cancelled.status == "cancelled"

    with rerunning(first):
        run = run_dag_logged("braze_schedule_lifecycle.py", **dated_run(first.logical_date))
    again = run.dag_run

    assert again.run_id == first.run_id  # the same run, cleared
    assert again.get_task_instance("schedule_campaign").try_number == 2
    assert again.state == "success", task_states(again)
    assert len(fake_braze.requests_to("/campaigns/trigger/schedule/create")) == 2
    [new] = [s for s in fake_braze.schedules.values() if s.schedule_id != cancelled.schedule_id]
    # The move and the cancel of the cleared run addressed the new schedule; none got a 404.
    assert [u.json["schedule_id"] for u in fake_braze.requests_to("/campaigns/trigger/schedule/update")] == [
        cancelled.schedule_id,
        new.schedule_id,
    ]
    assert {r.status for r in fake_braze.received} == {200}
    assert (cancelled.status, new.status) == ("cancelled", "cancelled")
    assert _xcom(again, "schedule_campaign")["schedule_id"] == new.schedule_id
    log = run.logs["schedule_campaign"]
    assert (
        f"An earlier try of this task created schedule_id {cancelled.schedule_id}, and task cancel of this "
        "DAG run cancelled it since; creating a new schedule." in log
    )
    assert log.count("Sending to Braze: POST /campaigns/trigger/schedule/create") == 1


@pytest.mark.skipif(HAS_TASK_STATE_STORE, reason="the degraded behaviour of Airflow before 3.3")
def test_without_task_state_store_a_cleared_lifecycle_run_refuses_to_create_again(run_dag_logged, fake_braze):
    first = run_dag_logged("braze_schedule_lifecycle.py", **dated_run(_now())).dag_run

    with rerunning(first):
        run = run_dag_logged("braze_schedule_lifecycle.py", **dated_run(first.logical_date))

    assert run.dag_run.run_id == first.run_id
    assert task_states(run.dag_run)["schedule_campaign"] == "failed"
    assert len(fake_braze.requests_to("/campaigns/trigger/schedule/create")) == 1
    assert (
        "no task_state_store (Airflow 3.3+) to tell whether an earlier try created a schedule" in run.output
    )
    assert "Sending to Braze" not in run.logs["schedule_campaign"]


@pytest.mark.skipif(not HAS_TASK_STATE_STORE, reason="needs task_state_store (Airflow 3.3+)")
def test_clearing_a_run_whose_send_is_live_returns_that_send_and_sends_nothing(run_dag_logged, fake_braze):
    first = run_dag_logged("braze_canvas_daily.py", **dated_run(_now())).dag_run
    [live] = fake_braze.schedules.values()

    with rerunning(first):
        run = run_dag_logged("braze_canvas_daily.py", **dated_run(first.logical_date))

    assert run.dag_run.state == "success"
    assert run.dag_run.get_task_instance("schedule_canvas").try_number == 2
    assert len(fake_braze.requests_to("/canvas/trigger/schedule/create")) == 1
    assert [s.status for s in fake_braze.schedules.values()] == ["scheduled"]
    assert _xcom(run.dag_run, "schedule_canvas")["schedule_id"] == live.schedule_id
    log = run.logs["schedule_canvas"]
    assert (
        f"Not sending: an earlier try of this task already created this schedule (schedule_id={live.schedule_id})"
        in log
    )
    assert "Sending to Braze" not in log


@pytest.mark.skipif(not HAS_TASK_STATE_STORE, reason="needs task_state_store (Airflow 3.3+)")
@pytest.mark.slow  # several DAG runs; `make test-slow`
def test_clearing_a_run_whose_teardown_cancelled_its_send_schedules_a_new_send(run_dag_logged, fake_braze):
    bad_data = {"simulate_bad_data": True}
    first = run_dag_logged("braze_canvas_daily.py", run_conf=bad_data, **dated_run(_now())).dag_run
    [cancelled] = fake_braze.schedules.values()

    with rerunning(first):  # the run keeps its conf: the check fails again
        run = run_dag_logged("braze_canvas_daily.py", **dated_run(first.logical_date))

    assert run.dag_run.state == "failed"
    assert len(fake_braze.requests_to("/canvas/trigger/schedule/create")) == 2
    deletes = fake_braze.requests_to("/canvas/trigger/schedule/delete")
    assert len({d.json["schedule_id"] for d in deletes}) == 2  # each run cancelled its own send
    assert {d.status for d in deletes} == {200}
    assert fake_braze.active_schedules() == []
    assert "cancel_canvas_send of this DAG run cancelled it since" in run.logs["schedule_canvas"]
    assert cancelled.schedule_id in run.logs["schedule_canvas"]


def test_bulk_audience_schedules_every_recipient_once(run_dag, fake_braze):
    dag_run = run_dag("braze_bulk_audience.py")

    assert task_states(dag_run) == {
        "build_audience": "success",
        "schedule_audience": "success",
        "check_send": "success",
        "cancel_on_failure": "skipped",
    }
    creates = fake_braze.requests_to("/campaigns/trigger/schedule/create")
    users = [r["external_user_id"] for c in creates for r in c.json["recipients"]]
    assert sorted(users) == sorted(f"user-{100_000 + n}" for n in range(12_000))
    assert {c.json["schedule"]["in_local_time"] for c in creates} == {True}
    group = _xcom(dag_run, "schedule_audience")
    assert len(group["chunks"]) == 240
    ours = [s for s in fake_braze.schedules.values() if s.campaign_id == "spring-loyalty-api-campaign"]
    assert {c["schedule_id"] for c in group["chunks"]} == {s.schedule_id for s in ours}


def test_bulk_audience_cancels_the_whole_group_when_the_check_fails(run_dag, fake_braze):
    dag_run = run_dag("braze_bulk_audience.py", run_conf={"simulate_bad_data": True})

    states = task_states(dag_run)
    assert states["check_send"] == "failed"
    assert states["cancel_on_failure"] == "success"
    ours = [s for s in fake_braze.schedules.values() if s.campaign_id == "spring-loyalty-api-campaign"]
    assert len(ours) == 240
    assert {s.status for s in ours} == {"cancelled"}
