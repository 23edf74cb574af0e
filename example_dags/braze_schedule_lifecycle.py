"""Schedule an API-triggered campaign, move it, cancel it.

The campaign is scheduled for 09:00 tomorrow in each user's local time. The move task changes only the
time: it is handed the create task's whole output, so it keeps ``in_local_time`` (Braze replaces the
whole schedule on update, and forgetting the flag would silently move the send to UTC). The cancel task
shows the other way to address a schedule: the ``schedule_id`` XCom key through a template.

The times come from ``next_send_time(dag_run, ...)`` (``airflow_braze_schedule.authoring``), which
reads when the run was due: it works however the run was started, including a run triggered from the
UI or with ``airflow dags trigger``, which has no logical date on Airflow 3 (``ds`` is undefined there).

Clearing a finished run runs it again: the create sees that the cancel task cancelled the schedule it
made before, so it schedules a new one (which the move and the cancel then address), rather than hand
out a cancelled ``schedule_id`` that Braze would answer 404 to.

Uses the Airflow connection ``braze_default`` (type ``braze``): host = your REST endpoint or instance
name (``US-01``), password = a REST API key with the ``campaigns.trigger.schedule.*`` permissions.
"""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import DAG

from airflow_braze_schedule.authoring import next_send_time
from airflow_braze_schedule.operators import (
    BrazeCancelScheduleOperator,
    BrazeCreateScheduleOperator,
    BrazeUpdateScheduleOperator,
)

with DAG(
    dag_id="braze_schedule_lifecycle",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"campaign_id": "winter-sale-api-campaign"},
    user_defined_macros={"next_send_time": next_send_time},
    tags=["braze", "example"],
    doc_md=__doc__,
) as dag:
    schedule_campaign = BrazeCreateScheduleOperator(
        task_id="schedule_campaign",
        campaign_id="{{ params.campaign_id }}",
        recipients=[
            {"external_user_id": "user-1001", "trigger_properties": {"first_name": "Ada"}},
            {"external_user_id": "user-1002", "trigger_properties": {"first_name": "Grace"}},
        ],
        trigger_properties={"sale_name": "Winter sale", "discount_percent": 20},
        schedule={"time": "{{ next_send_time(dag_run, '09:00', days_after=1) }}", "in_local_time": True},
    )

    move_to_ten = BrazeUpdateScheduleOperator(
        task_id="move_to_ten",
        schedule_id=schedule_campaign.output,  # the whole handle: kind, campaign_id and the original schedule
        schedule={"time": "{{ next_send_time(dag_run, '10:00', days_after=1) }}"},
    )

    cancel = BrazeCancelScheduleOperator(
        task_id="cancel",
        schedule_id="{{ ti.xcom_pull(task_ids='schedule_campaign', key='schedule_id') }}",
        campaign_id="{{ params.campaign_id }}",
    )

    schedule_campaign >> move_to_ten >> cancel
