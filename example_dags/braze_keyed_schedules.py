"""Schedules that outlive the DAG run: keyed sends, upserted, reconciled, cancelled from another DAG.

Four DAGs on one Braze connection (``braze_default``), sharing its schedule registry (Airflow 3.3+:
nothing to set up; older lines: add ``registry_conn_id="<a SQL connection>"`` to every Braze task):

* ``braze_keyed_daily_digest`` runs daily and upserts the next Monday's send, keyed by its date
  (``digest/2027-03-01``): the first run creates it, later runs send nothing while the digest stays the
  same, and a run after the send time changed (the Variable ``braze_example_digest_hour``) updates it,
  keeping its local-time flag. Once that Monday is less than a day ahead in the earliest time zone, runs
  turn to the Monday after, under its own key, and leave the week's send as it is.
* ``braze_keyed_order_reminders`` runs daily and reconciles the reminders of every open order (the
  Variable ``braze_example_orders``, a JSON list of ``{"order_id", "user", "remind_on"}``): new orders
  get a reminder, changed ones are updated or replaced, orders gone from the list are cancelled.
* ``braze_keyed_order_shipped`` cancels one order's reminder by key (``params.order_id``), from a DAG that
  never saw its schedule_id.
* ``braze_keyed_schedule_changes`` is scheduled on the connection's Braze asset: each change above (and
  every other create, update and cancel through ``braze_default``, keyed or not) emits an event, and this
  DAG reads the events back (``handles_from_events``; dry runs' are left out); here it cancels the
  reminders of orders the Variable ``braze_example_shipped`` lists as shipped.

Send times come from the data (the orders, the digest's weekday), never from the run's dates, so the
DAGs do the same however a run is started: by the scheduler, by hand, or as a backfill.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import DAG, Variable, task

from airflow_braze_schedule.assets import schedules_asset
from airflow_braze_schedule.operators import (
    BrazeCancelScheduleOperator,
    BrazeReconcileSchedulesOperator,
    BrazeUpsertScheduleOperator,
)

START = pendulum.datetime(2026, 1, 1, tz="UTC")
REMINDER_CAMPAIGN = "order-reminder-api-campaign"
DEFAULT_ORDERS = '[{"order_id": "4711", "user": "user-1001", "remind_on": "2027-03-01"}]'

with DAG(
    dag_id="braze_keyed_daily_digest",
    schedule="@daily",
    start_date=START,
    catchup=False,
    max_active_runs=1,  # two runs upserting one key at once could both create it
    tags=["braze", "example", "keyed"],
    doc_md=__doc__,
) as digest_dag:

    @task(multiple_outputs=True)
    def next_monday() -> dict[str, Any]:
        """The next Monday's digest at the digest hour, each user's local time, and its key.

        A local-time send begins in the earliest time zone (UTC+14) 14 hours before that hour in UTC,
        and Braze advises setting it 24 hours ahead of that; from then on the Monday after is the one to
        set. A key per Monday leaves the week's send, already set, to go out as it is.
        """
        hour = int(Variable.get("braze_example_digest_hour", 9))
        now = pendulum.now("UTC")
        monday = now.next(pendulum.MONDAY).at(hour)
        if monday.subtract(hours=14 + 24) < now:
            monday = monday.add(weeks=1)
        return {
            "schedule_key": f"digest/{monday.to_date_string()}",
            "schedule": {"time": monday.format("YYYY-MM-DDTHH:mm:ss"), "in_local_time": True},
        }

    digest = next_monday()

    BrazeUpsertScheduleOperator(
        task_id="upsert_digest",
        schedule_key=digest["schedule_key"],
        messages={
            "email": {
                "app_id": "digest-app",
                "subject": "Your week",
                "body": "Here is your week.",
            }
        },
        segment_id="weekly-digest-readers",
        broadcast=True,
        schedule=digest["schedule"],
    )

with DAG(
    dag_id="braze_keyed_order_reminders",
    schedule="@daily",
    start_date=START,
    catchup=False,
    max_active_runs=1,  # two reconciles of one scope at once could both create a reminder
    tags=["braze", "example", "keyed"],
) as reminders_dag:

    @task
    def desired_reminders() -> list[dict[str, Any]]:
        """One reminder per open order, at 10:00 local time on its remind_on day."""
        orders = Variable.get("braze_example_orders", DEFAULT_ORDERS, deserialize_json=True)
        return [
            {
                "schedule_key": f"orders/{order['order_id']}/reminder",
                "campaign_id": REMINDER_CAMPAIGN,
                "recipients": [
                    {"external_user_id": order["user"], "trigger_properties": {"order_id": order["order_id"]}}
                ],
                "schedule": {"time": f"{order['remind_on']}T10:00:00", "in_local_time": True},
            }
            for order in orders
        ]

    BrazeReconcileSchedulesOperator(
        task_id="reconcile_reminders", scope="orders/", desired=desired_reminders()
    )

with DAG(
    dag_id="braze_keyed_order_shipped",
    schedule=None,
    start_date=START,
    catchup=False,
    params={"order_id": "4711"},
    tags=["braze", "example", "keyed"],
) as shipped_dag:
    BrazeCancelScheduleOperator(
        task_id="cancel_reminder", schedule_key="orders/{{ params.order_id }}/reminder"
    )

with DAG(
    dag_id="braze_keyed_schedule_changes",
    schedule=[schedules_asset("braze_default")],
    start_date=START,
    catchup=False,
    tags=["braze", "example", "keyed"],
) as changes_dag:

    @task
    def reminders_of_shipped_orders(triggering_asset_events=None) -> list[str]:
        """The keys of the reminders the triggering events announced, for orders shipped since."""
        from airflow_braze_schedule.events import handles_from_events

        shipped = set(Variable.get("braze_example_shipped", "[]", deserialize_json=True))
        changed = handles_from_events(triggering_asset_events, actions=("create", "update", "replace"))
        # Reminder keys are "orders/<order_id>/reminder"; a change made without a key has None.
        keys = [handle["schedule_key"] or "" for handle in changed]
        return sorted({key for key in keys if key.startswith("orders/") and key.split("/")[1] in shipped})

    # By key rather than by handle, so the registry records the cancel too.
    BrazeCancelScheduleOperator.partial(task_id="cancel_shipped").expand(
        schedule_key=reminders_of_shipped_orders()
    )
