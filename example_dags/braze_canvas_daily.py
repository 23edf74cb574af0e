"""A daily pipeline: schedule a Canvas for users computed upstream, cancel it if a later data check fails.

``find_recipients`` stands in for a query against your warehouse; it returns at most 50 recipients
(Braze's limit per request). The Canvas is scheduled for 08:00 UTC the next morning, which leaves time
for the data check. If the check fails, ``cancel_canvas_send`` runs (trigger rule ``one_failed``) and
cancels exactly the send scheduled in this run, addressed by the create task's output.

Trigger a run with ``{"simulate_bad_data": true}`` to see the cancellation.
"""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param, TriggerRule, task

from airflow_braze_schedule.operators import BrazeCancelScheduleOperator, BrazeCreateScheduleOperator

with DAG(
    dag_id="braze_canvas_daily",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "canvas_id": Param("onboarding-canvas", type="string"),
        "simulate_bad_data": Param(False, type="boolean"),
    },
    tags=["braze", "example"],
    doc_md=__doc__,
) as dag:

    @task
    def find_recipients(ds: str | None = None) -> list[dict]:
        """Users who signed up yesterday, with per-user Canvas context (from the warehouse, in real life)."""
        signups = [("user-2001", "Lisbon"), ("user-2002", "Osaka"), ("user-2003", "Quito")]
        return [
            {"external_user_id": user, "context": {"city": city, "signup_day": ds}} for user, city in signups
        ]

    schedule_canvas = BrazeCreateScheduleOperator(
        task_id="schedule_canvas",
        canvas_id="{{ params.canvas_id }}",
        recipients=find_recipients(),
        context={"campaign_day": "{{ ds }}"},
        schedule={"time": "{{ macros.ds_add(ds, 1) }}T08:00:00Z"},
    )

    @task
    def check_data(params: dict | None = None) -> None:
        """A data-quality gate that runs after scheduling, while there is still time to cancel."""
        if params and params.get("simulate_bad_data"):
            raise ValueError("Row count dropped 80% since yesterday: the recipients list is not trustworthy")

    cancel_canvas_send = BrazeCancelScheduleOperator(
        task_id="cancel_canvas_send",
        schedule_id=schedule_canvas.output,
        trigger_rule=TriggerRule.ONE_FAILED,
    )

    schedule_canvas >> check_data() >> cancel_canvas_send
