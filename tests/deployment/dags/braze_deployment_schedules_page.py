"""Keyed sends for the schedules page to show: three reminders under ``<params.prefix>/``, sent 3 hours,
20 hours and 3 days after the run (so "next 24 hours" holds two of them)."""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import DAG

from airflow_braze_schedule.assets import schedules_asset
from airflow_braze_schedule.operators import BrazeUpsertScheduleOperator

HOURS_AHEAD = {"store-1": 3, "store-2": 20, "store-3": 72}

with DAG(
    dag_id="deployment_schedules_page",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"prefix": "page"},
    tags=["braze", "deployment-test"],
    doc_md=__doc__,
):
    BrazeUpsertScheduleOperator.partial(
        task_id="upsert_reminder",
        campaign_id="page-reminder-campaign",
        # A mapped operator's outlets are what partial() is given: the registry lives on this asset.
        outlets=[schedules_asset("braze_default")],
    ).expand_kwargs(
        [
            {
                "schedule_key": "{{ params.prefix }}/" + store + "/reminder",
                "recipients": [{"external_user_id": f"user-page-{n}"}],
                "schedule": {
                    "time": "{{ (dag_run.run_after + macros.timedelta(hours="
                    + str(hours)
                    + ")).strftime('%Y-%m-%dT%H:%M:00Z') }}"
                },
            }
            for n, (store, hours) in enumerate(HOURS_AHEAD.items())
        ]
    )
