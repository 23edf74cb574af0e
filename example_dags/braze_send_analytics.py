"""Schedule an API-triggered campaign under its own send id, wait for the send, load its figures.

1. ``create_send_id``: a send id for today's send of the campaign (``POST /sends/id/create``; Braze allows
   100 new ones a day per workspace). Braze keeps analytics per send id, so this send's figures can be
   told apart from the campaign's other sends.
2. ``schedule_campaign``: the campaign, ``send_delay_seconds`` after the task starts (an hour by default),
   under that send id.
3. ``wait_for_send``: :class:`~airflow_braze_schedule.sensors.braze.BrazeScheduledSendSensor`, deferred:
   the worker slot is free until the send has gone out, then the triggerer asks ``/sends/data_series``
   every five minutes until Braze reports figures (for at most a day; Braze keeps them 14 days).
4. ``load_to_warehouse``: one row per day and channel. Here the rows are logged and returned; put your
   warehouse's hook in its place (for example ``PostgresHook().insert_rows(...)``).

Uses the Airflow connection ``braze_default`` (type ``braze``), whose REST API key needs the
``sends.id.create``, ``campaigns.trigger.schedule.create`` and ``sends.data_series`` permissions.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pendulum
from airflow.providers.common.compat.sdk import DAG, task

from airflow_braze_schedule.operators import BrazeCreateScheduleOperator
from airflow_braze_schedule.sensors.braze import BrazeScheduledSendSensor


def seconds_from_now(seconds: int) -> str:
    """A UTC time ``seconds`` from when the template is rendered, i.e. when the task starts."""
    return (datetime.now(UTC) + timedelta(seconds=int(seconds))).strftime("%Y-%m-%dT%H:%M:%SZ")


with DAG(
    dag_id="braze_send_analytics",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"campaign_id": "spring-sale-api-campaign", "send_delay_seconds": 3600},
    tags=["braze", "example"],
    doc_md=__doc__,
    user_defined_macros={"seconds_from_now": seconds_from_now},
) as dag:

    @task
    def create_send_id(campaign_id: str) -> str:
        from airflow_braze_schedule.hooks.braze import BrazeHook

        return BrazeHook().create_send_id(campaign_id, f"spring-sale-{datetime.now(UTC):%Y%m%d}")

    send_id = create_send_id("{{ params.campaign_id }}")

    schedule_campaign = BrazeCreateScheduleOperator(
        task_id="schedule_campaign",
        campaign_id="{{ params.campaign_id }}",
        send_id=send_id,
        recipients=[{"external_user_id": "user-1001"}, {"external_user_id": "user-1002"}],
        schedule="{{ seconds_from_now(params.send_delay_seconds) }}",
    )

    wait_for_send = BrazeScheduledSendSensor(task_id="wait_for_send", schedule_id=schedule_campaign.output)

    @task
    def load_to_warehouse(figures: dict) -> list[dict]:
        rows = [
            {
                "send_id": figures["send_id"],
                "day": day["time"],
                "channel": channel,
                "sent": variation.get("sent", 0),
                "delivered": variation.get("delivered", 0),
            }
            for day in figures["data"] or []
            for channel, variations in day["messages"].items()
            for variation in variations
        ]
        for row in rows:
            print("warehouse row:", row)
        return rows

    load_to_warehouse(wait_for_send.output)
