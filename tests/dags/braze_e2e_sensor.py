"""Test DAGs: schedule a send a few seconds ahead, wait for it with the sensor, hand its figures on.

Each DAG is built by one factory so they differ only where the test says: the kind scheduled and how the
sensor waits (deferred to its trigger, or poking in reschedule mode).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pendulum
from airflow.providers.common.compat.sdk import DAG, task

from airflow_braze_schedule.operators import BrazeCreateScheduleOperator
from airflow_braze_schedule.sensors.braze import BrazeScheduledSendSensor

# Rendered when the create runs, so the create still sees a future time; near enough for a test.
LEAD_SECONDS = 2


def seconds_from_now(seconds: int) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


@task(multiple_outputs=False)  # one XCom: Airflow 3.0 cannot push a None under a key of its own
def load(figures: dict) -> dict:
    """What a warehouse load would take: one row per day and channel."""
    rows = [
        {"day": day["time"], "channel": channel, "sent": variation["sent"]}
        for day in figures["data"] or []
        for channel, variations in day["messages"].items()
        for variation in variations
    ]
    return {"rows": rows, "analytics": figures["analytics"], "reason": figures["reason"]}


def _dag(dag_id: str, *, kind: str = "campaign", **sensor_kwargs) -> DAG:
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        user_defined_macros={"seconds_from_now": seconds_from_now},
    ) as dag:
        when = f"{{{{ seconds_from_now({LEAD_SECONDS}) }}}}"
        if kind == "campaign":
            create = BrazeCreateScheduleOperator(
                task_id="create",
                campaign_id="spring-api-campaign",
                send_id="spring-send-1",
                recipients=[
                    {"external_user_id": "u1"},
                    {"external_user_id": "u2"},
                    {"external_user_id": "u3"},
                ],
                schedule=when,
            )
        else:
            create = BrazeCreateScheduleOperator(
                task_id="create", canvas_id="spring-canvas", broadcast=True, schedule=when
            )
        wait = BrazeScheduledSendSensor(
            task_id="wait_for_send", schedule_id=create.output, poke_interval=1, **sensor_kwargs
        )
        load(wait.output)
    return dag


deferred = _dag("braze_e2e_sensor_deferred")
rescheduled = _dag("braze_e2e_sensor_rescheduled", deferrable=False, mode="reschedule")
canvas = _dag("braze_e2e_sensor_canvas", kind="canvas")

with DAG(
    dag_id="braze_e2e_sensor_expired",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
) as expired:
    # A bare schedule_id with what the sensor needs beside it; the send went out 20 days ago.
    BrazeScheduledSendSensor(
        task_id="wait_for_send",
        schedule_id="a-schedule-from-last-month",
        schedule={"time": "{{ macros.ds_add(ds, -20) }}T09:00:00Z"},
        campaign_id="spring-api-campaign",
        send_id="spring-send-1",
        retries=2,
    )

with DAG(
    dag_id="braze_e2e_sensor_no_figures",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    user_defined_macros={"seconds_from_now": seconds_from_now},
) as no_figures:
    # A send Braze never reports (the fake holds no schedule with this send id): the wait times out.
    BrazeScheduledSendSensor(
        task_id="wait_for_send",
        schedule_id="a-schedule-braze-never-sent",
        schedule="{{ seconds_from_now(1) }}",
        campaign_id="spring-api-campaign",
        send_id="never-sent-1",
        figures_timeout=3,
        poke_interval=1,
    )
