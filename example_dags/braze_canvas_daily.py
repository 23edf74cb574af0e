"""A daily pipeline: schedule a Canvas for users computed upstream, cancel it if a later data check fails.

``find_recipients`` stands in for a query against your warehouse; it returns at most 50 recipients
(Braze's limit per request). The Canvas goes out at 08:00 UTC on the day the run is due (for a daily
run, the morning after the day it covers), which leaves time for the data check; a run triggered by
hand, a backfill or a late run sends at the next 08:00 UTC at least an hour away. The time comes from
``next_send_time(dag_run, ...)``, which works for every kind of run: manual runs on Airflow 3 have no
logical date, so ``ds`` and ``data_interval_end`` are undefined in their templates.

**Cancelling as a teardown.** ``cancel_canvas_send`` is a teardown of ``schedule_canvas``
(``.as_teardown(setups=schedule_canvas)``), which gives two things a plain ``one_failed`` cancel
cannot:

* the run's state is decided by the data check, not by the cancel: a failed check fails the run, even
  though the cancel that undid the send succeeded (teardowns do not count towards the run's state);
* the cancel runs only if the create succeeded (nothing to cancel otherwise), once every task between
  them is done.

A teardown runs whether its upstream failed or not, so by itself it would cancel every send. Its
``pre_execute=skip_unless_upstream_failed`` hook reads the states of the tasks upstream of it in this
run and skips the cancel unless one of them failed: a run whose check passes leaves the Canvas
scheduled, with the teardown skipped. (A short-circuit task cannot do this: Airflow never skips
teardowns from a short-circuit.)

Clearing a run clears its setup and teardown too: the create then returns the send it scheduled
before (Airflow 3.3+) or, if the teardown cancelled that send, schedules a new one.

Trigger a run with ``{"simulate_bad_data": true}`` to see the cancellation.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_braze_schedule.authoring import next_send_time, run_due_at, skip_unless_upstream_failed
from airflow_braze_schedule.operators import BrazeCancelScheduleOperator, BrazeCreateScheduleOperator

with DAG(
    dag_id="braze_canvas_daily",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "canvas_id": Param("onboarding-canvas", type="string"),
        "simulate_bad_data": Param(False, type="boolean"),
    },
    user_defined_macros={"next_send_time": next_send_time, "run_due_at": run_due_at},
    tags=["braze", "example"],
    doc_md=__doc__,
) as dag:

    @task
    def find_recipients(dag_run=None) -> list[dict]:
        """Users who signed up the day before the run, with per-user Canvas context (from the warehouse, in real life)."""
        signup_day = (run_due_at(dag_run) - timedelta(days=1)).strftime("%Y-%m-%d")
        signups = [("user-2001", "Lisbon"), ("user-2002", "Osaka"), ("user-2003", "Quito")]
        return [
            {"external_user_id": user, "context": {"city": city, "signup_day": signup_day}}
            for user, city in signups
        ]

    schedule_canvas = BrazeCreateScheduleOperator(
        task_id="schedule_canvas",
        canvas_id="{{ params.canvas_id }}",
        recipients=find_recipients(),
        context={"campaign_day": "{{ run_due_at(dag_run) | ds }}"},
        schedule={"time": "{{ next_send_time(dag_run, '08:00') }}Z"},
    )

    @task
    def check_data(params: dict | None = None) -> None:
        """A data-quality gate that runs after scheduling, while there is still time to cancel."""
        if params and params.get("simulate_bad_data"):
            raise ValueError("Row count dropped 80% since yesterday: the recipients list is not trustworthy")

    cancel_canvas_send = BrazeCancelScheduleOperator(
        task_id="cancel_canvas_send",
        schedule_id=schedule_canvas.output,
        pre_execute=skip_unless_upstream_failed,
    ).as_teardown(setups=schedule_canvas)

    schedule_canvas >> check_data() >> cancel_canvas_send
