"""TaskFlow: a ``@task`` picks the recipients, the operator schedules the campaign, a ``@task`` audits it.

``find_lapsed_customers`` stands in for a warehouse query: customers whose last order is 60 days old
(at most 50, Braze's limit per request; see ``braze_mapped_audiences`` for more), each with
``trigger_properties`` that personalise the campaign. Its return value goes straight into
``BrazeCreateScheduleOperator(recipients=...)``: Airflow passes it through XCom and adds the dependency.

The campaign goes out at 10:00 in each user's local time on the day after the run was due (for a daily
run, the day after its data interval ends), or the next day at 10:00 still ahead for a backfill or a
late run. ``next_send_time(dag_run, ...)`` and ``run_due_at(dag_run)`` (``airflow_braze_schedule.authoring``)
read when the run was due, which every run has: a run triggered by hand on Airflow 3 has no logical
date, so ``ds`` and ``data_interval_end`` are undefined in its templates.

``record_schedule`` receives ``schedule_win_back.output``, the schedule's handle: a dict with
``schedule_id``, ``dispatch_id``, ``kind``, ``campaign_id`` and the schedule as sent. It turns it into a
row for an audit table: which run scheduled which send, when, for how many users, and the
``schedule_id``, which is the only way to move or cancel the send later (Braze has no API to list
schedules). Here the row is printed and returned (so it lands in XCom); in real life, insert it with
your database's hook.

Uses the Airflow connection ``braze_default`` (type ``braze``), with a REST API key holding the
``campaigns.trigger.schedule.create`` permission.
"""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_braze_schedule.authoring import next_send_time, run_due_at
from airflow_braze_schedule.operators import BrazeCreateScheduleOperator

with DAG(
    dag_id="braze_taskflow",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "campaign_id": Param("win-back-api-campaign", type="string"),
        "discount_percent": Param(15, type="integer", minimum=1, maximum=90),
    },
    user_defined_macros={"next_send_time": next_send_time, "run_due_at": run_due_at},
    tags=["braze", "example"],
    doc_md=__doc__,
) as dag:

    @task
    def find_lapsed_customers(params: dict | None = None) -> list[dict]:
        """Customers whose last order is 60 days old, with what to say to each (a warehouse query, in real life)."""
        lapsed = [
            ("user-3001", "Ada", "running shoes"),
            ("user-3002", "Grace", "rain jacket"),
            ("user-3003", "Katherine", "trail socks"),
        ]
        discount = (params or {}).get("discount_percent", 15)
        return [
            {
                "external_user_id": user_id,
                "trigger_properties": {
                    "first_name": first_name,
                    "last_product": product,
                    "discount_percent": discount,
                    "coupon_code": f"BACK{discount}-{user_id[-4:]}",
                },
            }
            for user_id, first_name, product in lapsed
        ]

    recipients = find_lapsed_customers()

    schedule_win_back = BrazeCreateScheduleOperator(
        task_id="schedule_win_back",
        campaign_id="{{ params.campaign_id }}",
        recipients=recipients,
        trigger_properties={"computed_for": "{{ run_due_at(dag_run) | ds }}"},
        schedule={"time": "{{ next_send_time(dag_run, '10:00', days_after=1) }}", "in_local_time": True},
    )

    @task
    def record_schedule(handle: dict, recipients: list[dict], run_id: str | None = None) -> dict:
        """The audit row for this send (insert it into your audit table with a database hook)."""
        row = {
            "run_id": run_id,
            "campaign_id": handle["campaign_id"],
            "schedule_id": handle["schedule_id"],
            "dispatch_id": handle["dispatch_id"],
            "send_time": handle["schedule"]["time"],
            "in_local_time": handle["schedule"]["in_local_time"],
            "recipient_count": len(recipients),
        }
        print(f"Audit row: {row}")
        return row

    record_schedule(schedule_win_back.output, recipients)
