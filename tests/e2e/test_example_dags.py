"""The example DAGs and the XCom hand-over, run for real with dag.test() against the fake Braze."""

from __future__ import annotations

import pytest

from tests.helpers import task_states

pytestmark = pytest.mark.usefixtures("airflow_db")


def _xcom(dag_run, task_id: str, key: str = "return_value"):
    return dag_run.get_task_instance(task_id).xcom_pull(task_ids=task_id, key=key)


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
    handle = _xcom(dag_run, "schedule_campaign")
    assert handle["schedule_id"] == stored.schedule_id
    assert handle["kind"] == "campaign"
    assert handle["campaign_id"] == "winter-sale-api-campaign"
    assert handle["dispatch_id"] == stored.dispatch_id
    assert _xcom(dag_run, "schedule_campaign", "schedule_id") == stored.schedule_id
    assert _xcom(dag_run, "move_to_ten")["schedule"]["time"].endswith("T10:00:00")
    assert _xcom(dag_run, "cancel")["cancelled"] is True


def test_canvas_pipeline_keeps_the_send_when_the_data_check_passes(run_dag, fake_braze):
    dag_run = run_dag("braze_canvas_daily.py")

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
    assert create.json["schedule"]["time"].endswith("T08:00:00Z")
    assert [s.status for s in fake_braze.schedules.values()] == ["scheduled"]


def test_canvas_pipeline_cancels_its_send_when_the_data_check_fails(run_dag, fake_braze):
    dag_run = run_dag("braze_canvas_daily.py", run_conf={"simulate_bad_data": True})

    states = task_states(dag_run)
    assert states["check_data"] == "failed"
    assert states["cancel_canvas_send"] == "success"
    [stored] = fake_braze.schedules.values()
    [delete] = fake_braze.requests_to("/canvas/trigger/schedule/delete")
    assert delete.json == {"canvas_id": "onboarding-canvas", "schedule_id": stored.schedule_id}
    assert stored.status == "cancelled"


def test_optimal_time_message_goes_out_as_a_date_without_designator(run_dag, fake_braze):
    dag_run = run_dag("braze_message_optimal_time.py")

    assert task_states(dag_run) == {"schedule_digest": "success"}
    [create] = fake_braze.requests_to("/messages/schedule/create")
    assert create.json["segment_id"] == "weekly-digest-readers"
    assert create.json["schedule"]["at_optimal_time"] is True
    assert create.json["schedule"]["time"].endswith("T00:00:00")
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
