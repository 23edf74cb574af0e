"""DAGs for the deployment tests' scenarios that the example DAGs do not play.

Each takes its ``campaign_id`` from the run's conf, so every test run has requests of its own in the
fake Braze. The send goes out the day after the run was triggered (``dag_run.run_after``: runs triggered
without a logical date have no ``ds``), at 09:00 UTC: the same request on every try of a run.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.common.compat.sdk import DAG

from airflow_braze_schedule.core.retry import RetryPolicy
from airflow_braze_schedule.operators import BrazeCreateScheduleOperator

SEND_TIME = "{{ (dag_run.run_after + macros.timedelta(days=1)).strftime('%Y-%m-%d') }}T09:00:00Z"
RECIPIENTS = [{"external_user_id": "user-7001"}, {"external_user_id": "user-7002"}]


def scenario(dag_id: str, doc: str) -> DAG:
    return DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        params={"campaign_id": "deployment-campaign"},
        tags=["braze", "deployment-test"],
        doc_md=doc,
    )


with scenario(
    "deployment_rate_limited_create",
    "A create that meets a rate limit resetting later than its policy waits: it defers to the triggerer.",
):
    BrazeCreateScheduleOperator(
        task_id="create",
        campaign_id="{{ params.campaign_id }}",
        recipients=RECIPIENTS,
        schedule={"time": SEND_TIME},
        deferrable=True,
        request_retry_policy=RetryPolicy(max_rate_limit_wait=1.0),
    )

with scenario(
    "deployment_create_with_retries",
    "A create with an Airflow retry: killing its first try mid-request must not make the retry resend.",
):
    BrazeCreateScheduleOperator(
        task_id="create",
        braze_conn_id="braze_patient",  # the fake with a 120 s timeout: a slow answer is not a lost one
        campaign_id="{{ params.campaign_id }}",
        recipients=RECIPIENTS,
        schedule={"time": SEND_TIME},
        retries=1,
        retry_delay=timedelta(seconds=1),
    )

with scenario(
    "deployment_mapped_creates",
    "Six mapped creates, one per chunk of recipients, for the Celery workers to share.",
):
    BrazeCreateScheduleOperator.partial(
        task_id="create_chunk",
        campaign_id="{{ params.campaign_id }}",
        schedule={"time": SEND_TIME},
    ).expand(recipients=[[{"external_user_id": f"user-80{n}{m}"} for m in range(3)] for n in range(6)])
