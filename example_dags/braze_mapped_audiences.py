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
time to cancel (the send is for 16:00 UTC the day after the run was due, or the next 16:00 still
ahead for a backfill or a late run), and the cancels undo the send only if something upstream
failed: the check, or the scheduling of some chunk. Other reasons to cancel every chunk: the offer
was withdrawn, or the content has a mistake.

The cancels are a teardown of the mapped create (``.as_teardown(setups=schedule_chunk)``): they run
once at least one chunk was scheduled and everything between is done, and they do not decide the run's
state, so a failed check fails the run. A teardown runs whether or not anything failed, so its
``pre_execute=skip_unless_upstream_failed`` hook skips it unless a task upstream of it failed in this
run: when the check passes, the chunks stay scheduled. See ``braze_canvas_daily`` for the same
pattern without mapping.

Trigger a run with ``{"simulate_bad_data": true}`` to see every chunk cancelled.

In production, put the Braze tasks in an Airflow pool (``pool="braze"`` in ``partial``, see the README)
so a large fan-out cannot use up the workspace's rate limit that other systems share.
"""

from __future__ import annotations

import pendulum
from airflow.providers.common.compat.sdk import DAG, Param, task

from airflow_braze_schedule.authoring import next_send_time, run_due_at, skip_unless_upstream_failed
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
    user_defined_macros={"next_send_time": next_send_time, "run_due_at": run_due_at},
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
        context={"promotion_day": "{{ run_due_at(dag_run) | ds }}"},
        schedule={"time": "{{ next_send_time(dag_run, '16:00', days_after=1) }}Z"},
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

    cancel_all_chunks = (
        BrazeCancelScheduleOperator.partial(
            task_id="cancel_all_chunks",
            pre_execute=skip_unless_upstream_failed,
        )
        .expand(schedule_id=schedule_chunk.output)
        .as_teardown(setups=schedule_chunk)
    )

    check_launch(collect_schedule_ids(schedule_chunk.output), users) >> cancel_all_chunks
