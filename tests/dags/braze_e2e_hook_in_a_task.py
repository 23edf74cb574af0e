"""Test DAG: plain ``@task(retries=2)`` functions calling ``BrazeHook``, as a TaskFlow user writes them.

Each task uses its own endpoint, so the test can make the fake Braze answer each one differently in a
single run: ``refused`` schedules a message (the test makes Braze refuse it with 400), ``unavailable``
an API-triggered campaign (503 twice, then success), and ``catches`` an API-triggered Canvas (400,
caught in the task as ``BrazeBadRequestError``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import DAG, task

from airflow_braze_schedule.core.retry import RetryPolicy

DAG_ID = "braze_e2e_hook_in_a_task"
EMAIL = {"email": {"app_id": "app-1", "subject": "Hello", "body": "<p>Hi</p>"}}
# One HTTP try per task try, so that the fake's log tells the task's tries apart.
ONE_TRY = RetryPolicy.never()
RETRIES = {"retries": 2, "retry_delay": timedelta(seconds=0)}


def _in_2_days(ds: str) -> dict[str, str]:
    return {"time": f"{pendulum.parse(ds).add(days=2).to_date_string()}T09:00:00Z"}


@task(**RETRIES)
def refused(ds: Any = None) -> str:
    from airflow_braze_schedule.hooks.braze import BrazeHook

    hook = BrazeHook(retry_policy=ONE_TRY)
    answer = hook.schedule_message(schedule=_in_2_days(ds), external_user_ids=["user-1"], messages=EMAIL)
    return str(answer["schedule_id"])


@task(**RETRIES)
def unavailable(ds: Any = None) -> str:
    from airflow_braze_schedule.hooks.braze import BrazeHook

    hook = BrazeHook(retry_policy=ONE_TRY)
    return str(hook.schedule_campaign("campaign-1", schedule=_in_2_days(ds), broadcast=True)["schedule_id"])


@task(**RETRIES)
def catches(ds: Any = None) -> str:
    from airflow_braze_schedule.core.errors import BrazeBadRequestError
    from airflow_braze_schedule.hooks.braze import BrazeHook

    try:
        BrazeHook(retry_policy=ONE_TRY).schedule_canvas("canvas-1", schedule=_in_2_days(ds), broadcast=True)
    except BrazeBadRequestError as error:
        return f"refused: {error.message}"
    return "scheduled"


with DAG(
    dag_id=DAG_ID, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False
) as dag:
    refused()
    unavailable()
    catches()
