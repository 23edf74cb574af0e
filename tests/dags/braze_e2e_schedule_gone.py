"""Test DAGs: cancels retried by Airflow after an earlier try's cancel was done but its answer lost.

Each request is tried once (``max_attempts=1``), so a lost answer fails the try and Airflow's retry is
what meets the schedule already gone.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import DAG

from airflow_braze_schedule.core.retry import RetryPolicy
from airflow_braze_schedule.operators import (
    BrazeBulkCreateScheduleOperator,
    BrazeCancelScheduleOperator,
    BrazeCreateScheduleOperator,
)

ONCE = RetryPolicy(max_attempts=1, max_rate_limit_wait=0.2)
SCHEDULE = {"time": "2099-01-02T09:00:00Z"}


def _dag(dag_id: str, **default_args: Any) -> DAG:
    return DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        default_args={"retries": 1, "retry_delay": timedelta(seconds=0), **default_args},
        render_template_as_native_obj=True,
    )


with _dag("braze_e2e_gone_cancel") as gone_cancel:
    create = BrazeCreateScheduleOperator(
        task_id="create",
        campaign_id="gone-campaign",
        recipients=[{"external_user_id": "u1"}],
        schedule=SCHEDULE,
    )
    create >> BrazeCancelScheduleOperator(
        task_id="cancel", schedule_id=create.output, request_retry_policy=ONCE
    )

with _dag("braze_e2e_gone_cancel_by_id") as gone_cancel_by_id:
    BrazeCancelScheduleOperator(
        task_id="cancel",
        schedule_id="{{ dag_run.conf['schedule_id'] }}",
        campaign_id="{{ dag_run.conf['campaign_id'] }}",
        request_retry_policy=ONCE,
    )

with _dag("braze_e2e_gone_group_cancel") as gone_group_cancel:
    bulk = BrazeBulkCreateScheduleOperator(
        task_id="bulk",
        campaign_id="gone-group",
        recipients=[{"external_user_id": f"gone-group/{n}"} for n in range(120)],
        schedule=SCHEDULE,
    )
    bulk >> BrazeCancelScheduleOperator(task_id="cancel", schedule_id=bulk.output, request_retry_policy=ONCE)
