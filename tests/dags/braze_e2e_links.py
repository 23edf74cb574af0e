"""Test DAG: one task per kind of schedule, so each one's dashboard link can be read after a real run."""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import DAG

from airflow_braze_schedule.operators import (
    BrazeCancelScheduleOperator,
    BrazeCreateScheduleOperator,
    BrazeUpdateScheduleOperator,
)

LATER = "{{ macros.ds_add(ds, 2) }}T09:00:00Z"
SMS = {"sms": {"subscription_group_id": "sg-1", "body": "Doors open at 09:00"}}
# A send attributed to a campaign names the campaign's message variation (Braze requires it).
ATTRIBUTED_SMS = {"sms": {**SMS["sms"], "message_variation_id": "sms-variation-1"}}

with DAG(
    dag_id="braze_e2e_links",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
) as dag:
    campaign = BrazeCreateScheduleOperator(
        task_id="campaign", campaign_id="spring-api-campaign", broadcast=True, schedule=LATER
    )
    moved = BrazeUpdateScheduleOperator(
        task_id="moved", schedule_id=campaign.output, schedule="{{ macros.ds_add(ds, 3) }}T09:00:00Z"
    )
    cancelled = BrazeCancelScheduleOperator(task_id="cancelled", schedule_id=campaign.output)
    campaign >> moved >> cancelled

    BrazeCreateScheduleOperator(task_id="canvas", canvas_id="spring-canvas", broadcast=True, schedule=LATER)
    BrazeCreateScheduleOperator(
        task_id="attributed_message",
        campaign_id="spring-tracking-campaign",
        messages=ATTRIBUTED_SMS,
        external_user_ids=["user-1"],
        schedule=LATER,
    )
    BrazeCreateScheduleOperator(
        task_id="plain_message", messages=SMS, external_user_ids=["user-1"], schedule=LATER
    )
    # No handle in XCom: one that is not pushed, and one never made (the task fails before any request).
    BrazeCreateScheduleOperator(
        task_id="not_pushed", canvas_id="spring-canvas", broadcast=True, schedule=LATER, do_xcom_push=False
    )
    BrazeCreateScheduleOperator(
        task_id="failed", canvas_id="spring-canvas", broadcast=True, schedule="2020-01-01T00:00:00Z"
    )
