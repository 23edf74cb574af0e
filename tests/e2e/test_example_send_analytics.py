"""The send-analytics example DAG, run for real with dag.test() against the fake Braze, the send a few
seconds ahead instead of an hour."""

from __future__ import annotations

import pytest

from tests.helpers import task_states

pytestmark = pytest.mark.usefixtures("airflow_db")


def test_send_analytics_schedules_waits_and_loads_the_figures(run_dag, fake_braze):
    dag_run = run_dag("braze_send_analytics.py", run_conf={"send_delay_seconds": 2})

    assert task_states(dag_run) == dict.fromkeys(
        ("create_send_id", "schedule_campaign", "wait_for_send", "load_to_warehouse"), "success"
    )
    [send_id] = fake_braze.send_ids
    assert fake_braze.send_ids[send_id] == "spring-sale-api-campaign"
    [create] = fake_braze.requests_to("/campaigns/trigger/schedule/create")
    assert create.json["send_id"] == send_id
    [stored] = fake_braze.schedules.values()
    day = stored.schedule["time"][:10]
    rows = dag_run.get_task_instance("load_to_warehouse").xcom_pull(task_ids="load_to_warehouse")
    assert rows == [{"send_id": send_id, "day": day, "channel": "email", "sent": 2, "delivered": 2}]
