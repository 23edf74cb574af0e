"""Schedule an email to a segment at each user's optimal time, three days from now.

A message schedule carries its content in ``messages`` (here an email; push, SMS, webhook and Content
Card objects work the same way). With ``at_optimal_time`` Braze uses only the date: every user gets the
message at their own best time that day. Braze advises scheduling optimal-time sends 48 hours ahead.

The date comes from ``next_send_time(dag_run, ...)`` (``airflow_braze_schedule.authoring``): three days
after the run was due, for every kind of run (a manual run on Airflow 3 has no logical date, so ``ds``
is undefined in its templates).
"""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import DAG

from airflow_braze_schedule.authoring import next_send_time
from airflow_braze_schedule.operators import BrazeCreateScheduleOperator

with DAG(
    dag_id="braze_message_optimal_time",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"segment_id": "weekly-digest-readers", "email_app_id": "email-app-id"},
    user_defined_macros={"next_send_time": next_send_time},
    tags=["braze", "example"],
    doc_md=__doc__,
) as dag:
    schedule_digest = BrazeCreateScheduleOperator(
        task_id="schedule_digest",
        segment_id="{{ params.segment_id }}",
        recipient_subscription_state="opted_in",
        messages={
            "email": {
                "app_id": "{{ params.email_app_id }}",
                "from": "Digest <digest@example.com>",
                "subject": "Your week in review ({{ next_send_time(dag_run, '00:00', days_after=3)[:10] }})",
                "body": "<p>Here is what happened this week.</p>",
            }
        },
        schedule={"time": "{{ next_send_time(dag_run, '00:00', days_after=3) }}", "at_optimal_time": True},
    )
