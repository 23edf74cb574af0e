"""Test DAGs: schedule a send a few seconds ahead, wait for it with the sensor, hand its figures on.

Each DAG is built by one factory so they differ only where the test says: the kind scheduled and how the
sensor waits (deferred to its trigger, poked, or rescheduled).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pendulum
from airflow.providers.common.compat.sdk import DAG, task

from airflow_braze_schedule.operators import BrazeCancelScheduleOperator, BrazeCreateScheduleOperator
from airflow_braze_schedule.sensors.braze import BrazeScheduledSendSensor

# Rendered when the create runs, so the create still sees a future time; near enough for a test.
LEAD_SECONDS = 3


def seconds_from_now(seconds: int) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


@task
def load(figures: dict) -> dict:
    """What a warehouse load would take: one row per day and channel."""
    rows = [
        {"day": day["time"], "channel": channel, "sent": variation["sent"]}
        for day in figures["data"] or []
        for channel, variations in day["messages"].items()
        for variation in variations
    ]
    return {"rows": rows, "analytics": figures["analytics"], "reason": figures["reason"]}


def _dag(dag_id: str, *, kind: str = "campaign", cancel_first: bool = False, **sensor_kwargs) -> DAG:
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
        if cancel_first:
            create >> BrazeCancelScheduleOperator(task_id="cancel", schedule_id=create.output) >> wait
        load(wait.output)
    return dag


deferred = _dag("braze_e2e_sensor_deferred")
poked = _dag("braze_e2e_sensor_poked", deferrable=False, mode="poke")
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

# Cancelled before its time, the send never happens and Braze reports nothing: the wait times out.
no_figures = _dag("braze_e2e_sensor_no_figures", cancel_first=True, figures_timeout=3)
