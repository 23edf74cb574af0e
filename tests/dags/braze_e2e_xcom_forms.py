"""Test DAG: one create, then each of the three ways downstream tasks can address its schedule."""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import DAG

from airflow_braze_schedule.operators import (
    BrazeCancelScheduleOperator,
    BrazeCreateScheduleOperator,
    BrazeUpdateScheduleOperator,
)

with DAG(
    dag_id="braze_e2e_xcom_forms",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
) as dag:
    create = BrazeCreateScheduleOperator(
        task_id="create",
        messages={"sms": {"subscription_group_id": "sg-1", "body": "Doors open at {{ params.hour }}:00"}},
        external_user_ids=["user-1", "user-2"],
        schedule={"time": "{{ macros.ds_add(ds, 2) }}T{{ params.hour }}:00:00", "in_local_time": True},
        params={"hour": "09"},
    )
    # 1. The whole handle: the update keeps in_local_time without repeating it.
    update_with_handle = BrazeUpdateScheduleOperator(
        task_id="update_with_handle",
        schedule_id=create.output,
        schedule={"time": "{{ macros.ds_add(ds, 2) }}T10:00:00"},
    )
    # 2. The schedule_id XCom key through XComArg: a bare id, so the full schedule is given.
    update_with_key = BrazeUpdateScheduleOperator(
        task_id="update_with_key",
        schedule_id=create.output["schedule_id"],
        schedule={"time": "{{ macros.ds_add(ds, 2) }}T11:00:00", "in_local_time": True},
        messages={"sms": {"subscription_group_id": "sg-1", "body": "Doors open at 11:00"}},
    )
    # 3. Jinja.
    cancel_with_template = BrazeCancelScheduleOperator(
        task_id="cancel_with_template",
        schedule_id="{{ ti.xcom_pull(task_ids='create', key='schedule_id') }}",
    )
    create >> update_with_handle >> update_with_key >> cancel_with_template
