"""Test DAG for the fault campaign: 20 sends, each created, moved and cancelled, across the three kinds.

Each send targets one unique user (``<run_id>/<n>``) so that every schedule the fake Braze holds can be
traced back to the send it was meant for.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.common.compat.sdk import DAG

from airflow_braze_schedule.core.retry import RetryPolicy
from airflow_braze_schedule.operators import (
    BrazeCancelScheduleOperator,
    BrazeCreateScheduleOperator,
    BrazeUpdateScheduleOperator,
)

SENDS = 20
# Short waits keep the campaign fast; the rules are the ones real runs use.
FAST = RetryPolicy(max_attempts=3, backoff_initial=0.01, backoff_max=0.05, jitter=0.05, max_rate_limit_wait=2)


def _target(n: int) -> dict:
    user = f"{{{{ run_id }}}}/{n}"
    if n % 3 == 0:
        return {
            "messages": {"sms": {"subscription_group_id": "sg", "body": "hi"}},
            "external_user_ids": [user],
        }
    if n % 3 == 1:
        return {"campaign_id": "campaign-1", "recipients": [{"external_user_id": user}]}
    return {"canvas_id": "canvas-1", "recipients": [{"external_user_id": user}]}


with DAG(
    dag_id="braze_e2e_fault_campaign",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=0)},
) as dag:
    for n in range(SENDS):
        create = BrazeCreateScheduleOperator(
            task_id=f"create_{n}",
            schedule={"time": "{{ macros.ds_add(ds, 2) }}T09:00:00", "in_local_time": True},
            request_retry_policy=FAST,
            **_target(n),
        )
        update = BrazeUpdateScheduleOperator(
            task_id=f"update_{n}",
            schedule_id=create.output,
            schedule={"time": "{{ macros.ds_add(ds, 2) }}T10:00:00"},
            request_retry_policy=FAST,
        )
        cancel = BrazeCancelScheduleOperator(
            task_id=f"cancel_{n}", schedule_id=create.output, request_retry_policy=FAST
        )
        create >> update >> cancel
