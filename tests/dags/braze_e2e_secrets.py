"""Test DAG: everything that could show the REST API key, for ``tests/e2e/test_secrets.py`` to search.

A schedule's whole life (create, move, cancel), then three sends Braze rejects, and a task that shows
what a DAG author can print of the hook. The test points the connections at a fake Braze with long,
distinctive keys, runs this DAG, and searches the task logs, the XComs, the rendered template fields and
the metadata database for the keys.

* ``braze_default``: the fake Braze and its key.
* ``braze_wrong_key``: the same fake with another key, which it answers with 401.
* ``rejected_request`` and ``rejected_with_a_page``: the test makes the fake answer 400 with a body that
  echoes the ``Authorization`` header, as a misbehaving proxy may (JSON ``errors``, and an HTML page).
"""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import DAG, task

from airflow_braze_schedule.operators import (
    BrazeCancelScheduleOperator,
    BrazeCreateScheduleOperator,
    BrazeUpdateScheduleOperator,
)

DAG_ID = "braze_e2e_secrets"
WRONG_KEY_CONN_ID = "braze_wrong_key"
IN_2_DAYS = "{{ macros.ds_add(ds, 2) }}"


@task
def show_hook() -> dict[str, str]:
    """What a DAG author may log or return about the hook: its repr, its settings, its session."""
    from airflow.providers.common.compat.sdk import redact

    from airflow_braze_schedule.hooks.braze import BrazeHook

    hook = BrazeHook()
    hook.log.info("The hook: %r", hook)
    hook.log.info("Its settings: %r, as text: %s", hook.settings, hook.settings)
    # A careless log line would show the header. On a worker, Airflow masks the key in it because the hook
    # registered the key with the secrets masker; dag.test() prints task logs without that masking, so
    # the masker is asked directly what a worker's log would show.
    masked = redact(f"Authorization: {hook.session.headers['Authorization']}")
    hook.log.info("The header it sends, as a worker would log it: %s", masked)
    return {"hook": repr(hook), "settings": repr(hook.settings), "header": str(masked)}


with DAG(
    dag_id=DAG_ID,
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"campaign_id": "secret-test-campaign"},
) as dag:
    schedule_campaign = BrazeCreateScheduleOperator(
        task_id="schedule_campaign",
        campaign_id="{{ params.campaign_id }}",
        recipients=[
            {"external_user_id": "user-1001", "trigger_properties": {"first_name": "Ada"}},
            {"external_user_id": "user-1002", "trigger_properties": {"first_name": "Grace"}},
        ],
        trigger_properties={"sale_name": "Winter sale"},
        schedule={"time": f"{IN_2_DAYS}T09:00:00", "in_local_time": True},
    )
    move = BrazeUpdateScheduleOperator(
        task_id="move",
        schedule_id=schedule_campaign.output,
        schedule={"time": f"{IN_2_DAYS}T10:00:00"},
    )
    cancel = BrazeCancelScheduleOperator(
        task_id="cancel",
        schedule_id="{{ ti.xcom_pull(task_ids='schedule_campaign', key='schedule_id') }}",
        campaign_id="{{ params.campaign_id }}",
    )
    schedule_campaign >> move >> cancel

    rejected_key = BrazeCreateScheduleOperator(
        task_id="rejected_key",
        braze_conn_id=WRONG_KEY_CONN_ID,
        campaign_id="{{ params.campaign_id }}",
        broadcast=True,
        schedule=f"{IN_2_DAYS}T09:00:00Z",
    )
    rejected_request = BrazeCreateScheduleOperator(
        task_id="rejected_request",
        canvas_id="secret-test-canvas",
        context={"plan": "gold"},
        broadcast=True,
        schedule=f"{IN_2_DAYS}T09:00:00Z",
    )
    rejected_with_a_page = BrazeCancelScheduleOperator(task_id="rejected_with_a_page", schedule_id="sched-1")
    show_hook()
