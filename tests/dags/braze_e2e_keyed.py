"""Test DAGs for keyed schedules: upsert, update and cancel by key, reconcile, on either registry.

The send's details come from the run's conf (``dag.test(run_conf=...)``), so one DAG file serves every
case; ``registry`` in the conf picks nothing: the registry is fixed per DAG (asset store or SQL).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.common.compat.sdk import DAG

from airflow_braze_schedule.assets import declares_schedules_asset
from airflow_braze_schedule.core.retry import RetryPolicy
from airflow_braze_schedule.operators import BrazeCancelScheduleOperator, BrazeUpdateScheduleOperator
from airflow_braze_schedule.operators.keyed import (
    BrazeReconcileSchedulesOperator,
    BrazeUpsertScheduleOperator,
)

FAST = RetryPolicy(max_attempts=3, backoff_initial=0.01, backoff_max=0.05, jitter=0.01, max_rate_limit_wait=2)
SQL_REGISTRY = "braze_registry_sql"  # the tests point this connection at SQLite or PostgreSQL

# Before Airflow 3.3 the asset is declared only when asked, as a deployed DAG there would.
_ARGS = {"retries": 0, **({} if declares_schedules_asset(None) else {"emit_asset_event": True})}


def _dag(dag_id: str, **kwargs) -> DAG:
    return DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        default_args={**_ARGS, **kwargs},
        render_template_as_native_obj=True,
    )


for registry_name, registry_conn_id in (("asset", None), ("sql", SQL_REGISTRY)):
    with _dag(f"braze_e2e_keyed_upsert_{registry_name}") as upsert_dag:
        BrazeUpsertScheduleOperator(
            task_id="upsert",
            schedule_key="{{ dag_run.conf['key'] }}",
            campaign_id="{{ dag_run.conf.get('campaign_id', 'campaign-1') }}",
            recipients="{{ dag_run.conf['recipients'] }}",
            trigger_properties="{{ dag_run.conf.get('properties') }}",
            schedule="{{ dag_run.conf['schedule'] }}",
            registry_conn_id=registry_conn_id,
            request_retry_policy=FAST,
        )
    globals()[f"upsert_{registry_name}"] = upsert_dag

    with _dag(f"braze_e2e_keyed_update_{registry_name}") as update_dag:
        BrazeUpdateScheduleOperator(
            task_id="update",
            schedule_key="{{ dag_run.conf['key'] }}",
            schedule="{{ dag_run.conf['schedule'] }}",
            registry_conn_id=registry_conn_id,
            request_retry_policy=FAST,
        )
    globals()[f"update_{registry_name}"] = update_dag

    with _dag(f"braze_e2e_keyed_cancel_{registry_name}") as cancel_dag:
        BrazeCancelScheduleOperator(
            task_id="cancel",
            schedule_key="{{ dag_run.conf['key'] }}",
            registry_conn_id=registry_conn_id,
            request_retry_policy=FAST,
        )
    globals()[f"cancel_{registry_name}"] = cancel_dag

    with _dag(
        f"braze_e2e_keyed_reconcile_{registry_name}", retries=3, retry_delay=timedelta(seconds=0)
    ) as reconcile_dag:
        BrazeReconcileSchedulesOperator(
            task_id="reconcile",
            scope="{{ dag_run.conf['scope'] }}",
            desired_path="{{ dag_run.conf['desired_path'] }}",
            registry_conn_id=registry_conn_id,
            request_retry_policy=FAST,
            max_workers=8,
        )
    globals()[f"reconcile_{registry_name}"] = reconcile_dag

del upsert_dag, update_dag, cancel_dag, reconcile_dag


class CrashBetweenCancelAndCreate(BrazeUpsertScheduleOperator):
    """A replace whose worker dies right after the old schedule's cancel is recorded (first try only)."""

    def keyed_steps(self, context, registry):
        steps = super().keyed_steps(context, registry)
        if context["ti"].try_number == 1:
            finish_cancel = steps.finish_cancel

            def finish_then_crash(entry, note=None):
                entry = finish_cancel(entry, note)
                raise SystemExit("worker lost between the cancel and the create of a replace")

            steps.finish_cancel = finish_then_crash
        return steps


for registry_name, registry_conn_id in (("asset", None), ("sql", SQL_REGISTRY)):
    with _dag(
        f"braze_e2e_keyed_crash_{registry_name}", retries=1, retry_delay=timedelta(seconds=0)
    ) as crash_dag:
        CrashBetweenCancelAndCreate(
            task_id="upsert",
            schedule_key="{{ dag_run.conf['key'] }}",
            campaign_id="campaign-1",
            recipients="{{ dag_run.conf['recipients'] }}",
            schedule="{{ dag_run.conf['schedule'] }}",
            registry_conn_id=registry_conn_id,
            request_retry_policy=FAST,
        )
    globals()[f"crash_{registry_name}"] = crash_dag

del crash_dag


for registry_name, registry_conn_id in (("asset", None), ("sql", SQL_REGISTRY)):
    with _dag(f"braze_e2e_keyed_reconcile_dry_{registry_name}") as dry_dag:
        BrazeReconcileSchedulesOperator(
            task_id="reconcile",
            scope="{{ dag_run.conf['scope'] }}",
            desired="{{ dag_run.conf['desired'] }}",
            dry_run=True,
            registry_conn_id=registry_conn_id,
        )
    globals()[f"reconcile_dry_{registry_name}"] = dry_dag

del dry_dag
