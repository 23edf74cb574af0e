"""Test DAGs for a bulk create's group under a schedule key, and for the group's asset events.

The send's details come from the run's conf. Update and cancel by key are the keyed test DAGs'
(``braze_e2e_keyed.py``): a group recorded under a key is found there like a single schedule.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import DAG

from airflow_braze_schedule.assets import schedules_asset
from airflow_braze_schedule.core.retry import RetryPolicy
from airflow_braze_schedule.operators import (
    BrazeBulkCreateScheduleOperator,
    BrazeUpdateScheduleOperator,
    BrazeUpsertScheduleOperator,
)

FAST = RetryPolicy(max_attempts=3, backoff_initial=0.01, backoff_max=0.05, jitter=0.01, max_rate_limit_wait=2)
SQL_REGISTRY = "braze_registry_sql"


def _dag(dag_id: str, **default_args: Any) -> DAG:
    return DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        default_args={"retries": 0, **default_args},
        render_template_as_native_obj=True,
    )


class CrashBetweenGroupCancelAndCreate(BrazeUpsertScheduleOperator):
    """A group's replace whose worker dies right after the old group's cancel is recorded (first try only)."""

    def keyed_steps(self, context, registry):
        steps = super().keyed_steps(context, registry)
        if context["ti"].try_number == 1:
            record = steps.record

            def record_then_crash(entry, action, **changes):
                entry = record(entry, action, **changes)
                if action == "replace_cancelled":
                    raise SystemExit("worker lost between the cancel and the create of a group")
                return entry

            steps.record = record_then_crash
        return steps


for registry_name, registry_conn_id in (("asset", None), ("sql", SQL_REGISTRY)):
    with _dag(f"braze_e2e_keyed_bulk_create_{registry_name}") as bulk_dag:
        BrazeBulkCreateScheduleOperator(
            task_id="bulk",
            schedule_key="{{ dag_run.conf['key'] }}",
            campaign_id="{{ dag_run.conf['campaign_id'] }}",
            recipients="{{ dag_run.conf['recipients'] }}",
            schedule="{{ dag_run.conf['schedule'] }}",
            registry_conn_id=registry_conn_id,
            request_retry_policy=FAST,
        )
    globals()[f"bulk_{registry_name}"] = bulk_dag

    for name, operator, retries, more in (
        ("upsert", BrazeUpsertScheduleOperator, {}, {}),
        ("upsert_dry", BrazeUpsertScheduleOperator, {}, {"dry_run": True}),
        ("crash", CrashBetweenGroupCancelAndCreate, {"retries": 1, "retry_delay": timedelta(seconds=0)}, {}),
    ):
        with _dag(f"braze_e2e_keyed_bulk_{name}_{registry_name}", **retries) as upsert_dag:
            operator(
                task_id="upsert",
                schedule_key="{{ dag_run.conf['key'] }}",
                campaign_id="{{ dag_run.conf['campaign_id'] }}",
                recipients="{{ dag_run.conf['recipients'] }}",
                schedule="{{ dag_run.conf['schedule'] }}",
                registry_conn_id=registry_conn_id,
                request_retry_policy=FAST,
                **more,
            )
        globals()[f"{name}_{registry_name}"] = upsert_dag
del bulk_dag, upsert_dag  # each DAG once, under its own name

# A group handle given whole (read back from an asset event), not by key; it emits an event too.
with _dag("braze_e2e_keyed_bulk_update_by_handle") as update_by_handle:
    BrazeUpdateScheduleOperator(
        task_id="update",
        schedule_id="{{ dag_run.conf['handle'] }}",
        schedule="{{ dag_run.conf['schedule'] }}",
        outlets=[schedules_asset("braze_default")],
        request_retry_policy=FAST,
    )
