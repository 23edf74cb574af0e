"""Schedule an email to a segment at each user's optimal time, three days from now.

A message schedule carries its content in ``messages`` (here an email; push, SMS, webhook and Content
Card objects work the same way). With ``at_optimal_time`` Braze uses only the date: every user gets the
message at their own best time that day. Braze advises scheduling optimal-time sends 48 hours ahead.
"""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import DAG

from airflow_braze_schedule.operators import BrazeCreateScheduleOperator

with DAG(
    dag_id="braze_message_optimal_time",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"segment_id": "weekly-digest-readers", "email_app_id": "email-app-id"},
    tags=["braze", "example"],
    doc_md=__doc__,
) as dag:
    schedule_digest = BrazeCreateScheduleOperator(
        task_id="schedule_digest",
        segment_id="{{ params.segment_id }}",
        broadcast=True,  # everyone in the segment: Braze requires it when no users are named
        recipient_subscription_state="opted_in",
        messages={
            "email": {
                "app_id": "{{ params.email_app_id }}",
                "from": "Digest <digest@example.com>",
                "subject": "Your week in review ({{ macros.ds_add(ds, 3) }})",
                "body": "<p>Here is what happened this week.</p>",
            }
        },
        schedule={"time": "{{ macros.ds_add(ds, 3) }}", "at_optimal_time": True},
    )
