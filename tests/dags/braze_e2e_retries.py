"""Test DAGs: creates under Airflow task retries, rate-limit deferral, and dry runs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import DAG

from airflow_braze_schedule.core.retry import RetryPolicy
from airflow_braze_schedule.operators import (
    BrazeCancelScheduleOperator,
    BrazeCreateScheduleOperator,
    BrazeUpdateScheduleOperator,
)

_RETRIES = {"retries": 2, "retry_delay": timedelta(seconds=0)}
_SCHEDULE = {"time": "{{ macros.ds_add(ds, 2) }}T09:00:00Z"}
_FAST = RetryPolicy(max_attempts=2, backoff_initial=0.01, jitter=0.01, max_rate_limit_wait=0.2)


class CreateThenFailOnce(BrazeCreateScheduleOperator):
    """A later step of the same task fails after the schedule was created (first try only)."""

    def execute(self, context: Any) -> dict[str, Any]:
        handle = super().execute(context)
        if context["ti"].try_number == 1:
            raise RuntimeError("a later step of the same task failed")
        return handle


class LoseAnswerOnce(BrazeCreateScheduleOperator):
    """The worker dies between Braze's answer and recording it (first try only)."""

    def execute(self, context: Any) -> dict[str, Any]:
        self._first_try = context["ti"].try_number == 1
        return super().execute(context)

    def _send(self, request: Any, **kwargs: Any) -> dict[str, Any]:
        answer = super()._send(request, **kwargs)
        if self._first_try:
            raise RuntimeError("worker lost before the answer was recorded")
        return answer


def _dag(dag_id: str) -> DAG:
    return DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        default_args=_RETRIES,
    )


with _dag("braze_e2e_retry_after_create") as retry_after_create:
    CreateThenFailOnce(task_id="create", campaign_id="campaign-1", broadcast=True, schedule=_SCHEDULE)

with _dag("braze_e2e_lost_answer") as lost_answer:
    LoseAnswerOnce(task_id="create", campaign_id="campaign-1", broadcast=True, schedule=_SCHEDULE)

with _dag("braze_e2e_dropped_connection") as dropped_connection:
    BrazeCreateScheduleOperator(task_id="create", canvas_id="canvas-1", broadcast=True, schedule=_SCHEDULE)

with _dag("braze_e2e_rate_limit_deferral") as rate_limit_deferral:
    BrazeCreateScheduleOperator(
        task_id="create",
        campaign_id="campaign-1",
        broadcast=True,
        schedule=_SCHEDULE,
        request_retry_policy=_FAST,
        deferrable=True,
    )

with _dag("braze_e2e_dry_run") as dry_run:
    create = BrazeCreateScheduleOperator(
        task_id="create", campaign_id="campaign-1", broadcast=True, schedule=_SCHEDULE, dry_run=True
    )
    update = BrazeUpdateScheduleOperator(
        task_id="update", schedule_id=create.output, schedule={"time": "{{ macros.ds_add(ds, 3) }}T09:00:00Z"}
    )
    cancel = BrazeCancelScheduleOperator(task_id="cancel", schedule_id=create.output)
    create >> update >> cancel
