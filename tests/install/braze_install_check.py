"""The DAG a freshly installed provider must run: schedule an API-triggered campaign, then cancel it.

Copied into the dags folder of a virtualenv built by ``test_install_like_a_user.py``; the connection
``braze_default`` points at the fake Braze started from that virtualenv.
"""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import DAG

from airflow_braze_schedule.operators import BrazeCancelScheduleOperator, BrazeCreateScheduleOperator

with DAG(
    dag_id="braze_install_check",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
):
    schedule_campaign = BrazeCreateScheduleOperator(
        task_id="schedule_campaign",
        campaign_id="install-check-campaign",
        recipients=[{"external_user_id": "install-check-user"}],
        # Three days on: a local-time send's earliest zone (UTC+14) is then over 24 hours ahead at any
        # hour of the run, so Braze's 24-hour advice logs no warning (two days warned after 19:00 UTC).
        schedule={"time": "{{ macros.ds_add(ds, 3) }}T09:00:00", "in_local_time": True},
    )
    cancel = BrazeCancelScheduleOperator(task_id="cancel", schedule_id=schedule_campaign.output)

    schedule_campaign >> cancel
