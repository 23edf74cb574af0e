"""Test DAGs for the asset events every create, update and cancel emits, keyed or not.

The send's details, and the handle an update or cancel is given, come from the run's conf, so a test
can feed one run's event back into the next run (as a DAG scheduled on the asset would).
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import DAG

from airflow_braze_schedule.assets import declares_schedules_asset
from airflow_braze_schedule.core.retry import RetryPolicy
from airflow_braze_schedule.operators import (
    BrazeBulkCreateScheduleOperator,
    BrazeCancelScheduleOperator,
    BrazeCreateScheduleOperator,
    BrazeReconcileSchedulesOperator,
    BrazeUpdateScheduleOperator,
    BrazeUpsertScheduleOperator,
)

FAST = RetryPolicy(max_attempts=3, backoff_initial=0.01, backoff_max=0.05, jitter=0.01, max_rate_limit_wait=2)
CAMPAIGN = "{{ dag_run.conf['campaign_id'] }}"
SCHEDULE = "{{ dag_run.conf['schedule'] }}"
HANDLE = "{{ dag_run.conf['handle'] }}"
# Before Airflow 3.3 the asset is declared only when asked, as a deployed DAG there would.
ASKED = {} if declares_schedules_asset(None) else {"emit_asset_event": True}


def _dag(dag_id: str) -> DAG:
    return DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        default_args={"retries": 0, **ASKED},
        render_template_as_native_obj=True,
    )


def _create(**kwargs: Any) -> BrazeCreateScheduleOperator:
    return BrazeCreateScheduleOperator(
        task_id="create",
        campaign_id=CAMPAIGN,
        recipients=[{"external_user_id": "events-user"}],
        schedule=SCHEDULE,
        request_retry_policy=FAST,
        **kwargs,
    )


with _dag("braze_e2e_events_create") as create_dag:
    _create()

with _dag("braze_e2e_events_create_dry_run") as create_dry_run_dag:
    _create(dry_run=True)

with _dag("braze_e2e_events_create_no_event") as create_no_event_dag:
    _create(emit_asset_event=False)

with _dag("braze_e2e_events_update") as update_dag:
    BrazeUpdateScheduleOperator(
        task_id="update", schedule_id=HANDLE, schedule=SCHEDULE, request_retry_policy=FAST
    )

with _dag("braze_e2e_events_cancel") as cancel_dag:
    BrazeCancelScheduleOperator(task_id="cancel", schedule_id=HANDLE, request_retry_policy=FAST)

with _dag("braze_e2e_events_bulk") as bulk_dag:
    BrazeBulkCreateScheduleOperator(
        task_id="bulk",
        campaign_id=CAMPAIGN,
        recipients="{{ dag_run.conf['recipients'] }}",
        schedule=SCHEDULE,
        request_retry_policy=FAST,
    )

with _dag("braze_e2e_events_bulk_dry_run") as bulk_dry_run_dag:
    BrazeBulkCreateScheduleOperator(
        task_id="bulk",
        campaign_id=CAMPAIGN,
        recipients="{{ dag_run.conf['recipients'] }}",
        schedule=SCHEDULE,
        dry_run=True,
    )

# Keyed, in the asset_state_store registry (Airflow 3.3+): a dry run's event is marked too.
with _dag("braze_e2e_events_keyed_dry_run") as keyed_dry_run_dag:
    _create(schedule_key="{{ dag_run.conf['key'] }}", dry_run=True)

with _dag("braze_e2e_events_upsert_dry_run") as upsert_dry_run_dag:
    BrazeUpsertScheduleOperator(
        task_id="upsert",
        schedule_key="{{ dag_run.conf['key'] }}",
        campaign_id=CAMPAIGN,
        recipients=[{"external_user_id": "events-user"}],
        schedule=SCHEDULE,
        dry_run=True,
    )

with _dag("braze_e2e_events_reconcile_dry_run") as reconcile_dry_run_dag:
    BrazeReconcileSchedulesOperator(
        task_id="reconcile",
        scope="{{ dag_run.conf['scope'] }}",
        desired="{{ dag_run.conf['desired'] }}",
        dry_run=True,
    )
