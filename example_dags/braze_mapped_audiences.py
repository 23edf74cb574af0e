"""Dynamic task mapping: one Canvas schedule per chunk of 50 users, and cancelling all of them at once.

Braze takes at most 50 recipients per schedule request. ``load_users`` returns the day's audience (120
users here; a warehouse query in real life) and ``chunk_recipients`` splits it into lists of at most 50
recipient objects. ``schedule_chunk`` is mapped over those lists with
``BrazeCreateScheduleOperator.partial(...).expand(recipients=...)``: one task instance, one Braze
request and one ``schedule_id`` per chunk (three here: 50, 50 and 20 users). Everything given to
``partial`` (the Canvas, the schedule, the shared context) is the same for every chunk.

The mapped task's ``.output`` is the list of all the chunks' handles:

* ``collect_schedule_ids`` receives it whole and returns every ``schedule_id`` of the send, e.g. for
  an audit table (the ids are the only handle on the sends: Braze cannot list them later);
* ``cancel_all_chunks`` is mapped over it with
  ``BrazeCancelScheduleOperator.partial(...).expand(schedule_id=...)``: one cancel per handle, each
  addressing exactly the schedule one chunk created.

When to cancel them all: the send is one campaign split only because of Braze's request limit, so it
should go out whole or not at all. Here ``check_launch`` runs after scheduling, while there is still
time to cancel (the send is for 16:00 UTC the day after the data interval ends), and the cancels run
only if something upstream failed (trigger rule ``one_failed``): the check, or the scheduling itself.
Other reasons to cancel every chunk: the offer was withdrawn, or the content has a mistake.

Trigger a run with ``{"simulate_bad_data": true}`` to see every chunk cancelled.

In production, put the Braze tasks in an Airflow pool (``pool="braze"`` in ``partial``, see the README)
so a large fan-out cannot use up the workspace's rate limit that other systems share.
"""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param, TriggerRule, task

from airflow_braze_schedule.operators import BrazeCancelScheduleOperator, BrazeCreateScheduleOperator

BRAZE_MAX_RECIPIENTS = 50  # per schedule request

with DAG(
    dag_id="braze_mapped_audiences",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "canvas_id": Param("loyalty-tier-canvas", type="string"),
        "simulate_bad_data": Param(False, type="boolean"),
    },
    tags=["braze", "example"],
    doc_md=__doc__,
) as dag:

    @task
    def load_users() -> list[dict]:
        """The day's audience: users who reached a new loyalty tier (from the warehouse, in real life)."""
        tiers = ["silver", "gold", "platinum"]
        return [{"user_id": f"user-{5000 + n}", "tier": tiers[n % 3]} for n in range(120)]

    @task
    def chunk_recipients(users: list[dict]) -> list[list[dict]]:
        """Recipient objects in lists of at most 50, one list per Braze request."""
        recipients = [{"external_user_id": u["user_id"], "context": {"new_tier": u["tier"]}} for u in users]
        return [
            recipients[start : start + BRAZE_MAX_RECIPIENTS]
            for start in range(0, len(recipients), BRAZE_MAX_RECIPIENTS)
        ]

    users = load_users()

    schedule_chunk = BrazeCreateScheduleOperator.partial(
        task_id="schedule_chunk",
        canvas_id="{{ params.canvas_id }}",
        context={"promotion_day": "{{ ds }}"},
        schedule={"time": "{{ macros.ds_add(data_interval_end | ds, 1) }}T16:00:00Z"},
        max_active_tis_per_dag=4,  # at most four requests in flight from this fan-out
    ).expand(recipients=chunk_recipients(users))

    @task
    def collect_schedule_ids(handles: list[dict]) -> list[str]:
        """Every schedule_id of this send, in chunk order (store them in your audit table)."""
        schedule_ids = [handle["schedule_id"] for handle in handles]
        print(f"Scheduled {len(schedule_ids)} chunks: {schedule_ids}")
        return schedule_ids

    @task
    def check_launch(schedule_ids: list[str], users: list[dict], params: dict | None = None) -> None:
        """A last data check after scheduling: cancelling is still possible."""
        if params and params.get("simulate_bad_data"):
            raise ValueError("The loyalty tiers were computed from a stale snapshot: cancelling the send")
        print(f"{len(users)} users in {len(schedule_ids)} schedules: the send stays scheduled")

    cancel_all_chunks = BrazeCancelScheduleOperator.partial(
        task_id="cancel_all_chunks",
        trigger_rule=TriggerRule.ONE_FAILED,
    ).expand(schedule_id=schedule_chunk.output)

    check_launch(collect_schedule_ids(schedule_chunk.output), users) >> cancel_all_chunks
