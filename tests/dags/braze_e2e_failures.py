"""Test DAGs: inputs that must fail before any request, without Airflow retries."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.common.compat.sdk import DAG, task

from airflow_braze_schedule.operators import BrazeCancelScheduleOperator, BrazeCreateScheduleOperator

_DEFAULTS = {"retries": 2, "retry_delay": timedelta(seconds=0)}

with DAG(
    dag_id="braze_e2e_past_time",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args=_DEFAULTS,
) as past_time:
    BrazeCreateScheduleOperator(
        task_id="create",
        campaign_id="campaign-1",
        broadcast=True,
        schedule={"time": "{{ macros.ds_add(ds, -2) }}T09:00:00", "in_local_time": True},
    )

with DAG(
    dag_id="braze_e2e_missing_xcom",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args=_DEFAULTS,
) as missing_xcom:

    @task
    def pushes_nothing() -> None:
        return None

    nothing = pushes_nothing()
    cancel = BrazeCancelScheduleOperator(
        task_id="cancel",
        schedule_id="{{ ti.xcom_pull(task_ids='pushes_nothing', key='schedule_id') }}",
        campaign_id="campaign-1",
    )
    nothing >> cancel

with DAG(
    dag_id="braze_e2e_wrong_kind",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args=_DEFAULTS,
) as wrong_kind:
    BrazeCreateScheduleOperator(
        task_id="create",
        messages={"email": {"app_id": "a", "subject": "s", "body": "b"}},
        recipients=[{"external_user_id": "user-1"}],
        schedule="{{ macros.ds_add(ds, 2) }}T09:00:00Z",
    )
