"""``braze_schedule_admin``: cancel one keyed send by its key, from the "Braze schedules" page or by hand.

The page's Cancel button triggers this DAG through Airflow's own REST API with the user's own session,
so only users allowed to trigger it can cancel, and each run records who triggered it. By hand:
Trigger DAG w/ config ``{"schedule_key": "order-4711/reminder"}``, or
``airflow dags trigger braze_schedule_admin --conf '{"schedule_key": "order-4711/reminder"}'``.

It serves one Braze connection, ``BRAZE_CONN_ID`` (its registry, the asset store of
``braze://braze_default/schedules``, is declared when the DAG is parsed); copy the file with another
``dag_id`` and connection for another workspace. The registry is the one the schedules page reads:
``[braze_schedule] registry_conn_id`` when set (Airflow before 3.3 needs it), else the asset store.

It is never scheduled and is not paused when deployed: a cancel from the page runs at once.
"""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_braze_schedule.operators import BrazeCancelScheduleOperator

BRAZE_CONN_ID = "braze_default"


def _registry_conn_id() -> str | None:
    from airflow.configuration import conf

    return conf.get("braze_schedule", "registry_conn_id", fallback=None) or None


with DAG(
    dag_id="braze_schedule_admin",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    is_paused_upon_creation=False,
    params={
        "schedule_key": Param(type="string", minLength=1, description="the key of the send to cancel"),
        "braze_conn_id": Param(BRAZE_CONN_ID, type="string", enum=[BRAZE_CONN_ID]),
    },
    tags=["braze", "example", "maintenance"],
    doc_md=__doc__,
):

    @task
    def who_asked(**context) -> str:
        """Log who triggered the cancel (Airflow records it on the run too)."""
        run = context["dag_run"]
        who = getattr(run, "triggering_user_name", None) or "unknown"
        print(f"cancel of {context['params']['schedule_key']!r} asked by {who}")
        return who

    who_asked() >> BrazeCancelScheduleOperator(
        task_id="cancel_by_key",
        braze_conn_id=BRAZE_CONN_ID,
        schedule_key="{{ params.schedule_key }}",
        registry_conn_id=_registry_conn_id(),
    )
