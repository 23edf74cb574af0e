"""A large audience in one task: a personalised campaign send for 12,000 users, and its cleanup.

``build_audience`` computes the audience (a warehouse query in real life) and writes it as a JSON Lines
file, one recipient object per line, with each user's personalisation in ``trigger_properties``. It
writes under Airflow's object storage (``file://`` here, ``s3://...`` or ``gs://...`` in production,
through ``ObjectStoragePath``) and returns the file's URL.

``schedule_audience`` (:class:`BrazeBulkCreateScheduleOperator`) reads the file, validates every
recipient before sending anything, and schedules one Braze schedule per chunk of 50 users (240 here),
eight at a time. It returns one *group handle* holding every chunk's ``schedule_id``.

``check_send`` runs after scheduling, while there is still time to cancel (the send is for 09:00 local
time the day after the run). ``cancel_on_failure`` cancels the whole group if anything upstream failed
(trigger rule ``one_failed``): the check, or the scheduling itself. A bulk create that fails part-way
still leaves its group handle, with the chunks it created, in XCom for this cleanup.

Every date comes from the run itself (``run_after``), never from a logical date, so the DAG works
however it is started: on a schedule, by hand, through the API, or by ``airflow dags test``.
Trigger a run with ``{"simulate_bad_data": true}`` to see the whole group cancelled.
"""

from __future__ import annotations

import json
import re
import tempfile
from datetime import timedelta
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import DAG, ObjectStoragePath, Param, TriggerRule, task

from airflow_braze_schedule.operators import BrazeBulkCreateScheduleOperator, BrazeCancelScheduleOperator

AUDIENCE_SIZE = 12_000
# Object storage for the audience file; a bucket in production (``s3://my-bucket/braze/``).
AUDIENCE_ROOT = f"file://{tempfile.gettempdir()}/braze_audiences"

with DAG(
    dag_id="braze_bulk_audience",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "campaign_id": Param("spring-loyalty-api-campaign", type="string"),
        "simulate_bad_data": Param(False, type="boolean"),
    },
    tags=["braze", "example"],
    doc_md=__doc__,
) as dag:

    @task(multiple_outputs=True)
    def build_audience(**context: Any) -> dict[str, str]:
        """Write the audience file; return its URL and the send time (09:00 local, the day after the run)."""
        dag_run = context["dag_run"]
        run_after = pendulum.instance(getattr(dag_run, "run_after", None) or dag_run.start_date)
        folder = ObjectStoragePath(AUDIENCE_ROOT)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{dag_run.dag_id}-{re.sub(r'[^A-Za-z0-9_.-]', '_', dag_run.run_id)}.jsonl"
        tiers = ["silver", "gold", "platinum"]
        with path.open("w") as out:
            for n in range(AUDIENCE_SIZE):
                recipient = {
                    "external_user_id": f"user-{100_000 + n}",
                    "trigger_properties": {"tier": tiers[n % 3], "points": 100 + n % 900},
                }
                out.write(json.dumps(recipient) + "\n")
        send_day = (run_after + timedelta(days=1)).date()
        return {"path": str(path), "send_time": f"{send_day.isoformat()}T09:00:00"}

    audience = build_audience()

    schedule_audience = BrazeBulkCreateScheduleOperator(
        task_id="schedule_audience",
        campaign_id="{{ params.campaign_id }}",
        recipients_path=audience["path"],
        trigger_properties={"campaign": "spring loyalty"},
        schedule={"time": audience["send_time"], "in_local_time": True},
        max_concurrency=8,
    )

    @task
    def check_send(group: dict[str, Any], **context: Any) -> None:
        """Whatever must hold before the send goes out (here: every recipient has a schedule)."""
        if context["params"]["simulate_bad_data"]:
            raise ValueError("the audience failed the data check: cancelling the send")
        scheduled = sum(chunk["recipients"] for chunk in group["chunks"])
        if scheduled != group["recipients"]:
            raise ValueError(f"{scheduled} of {group['recipients']} recipients scheduled")

    cancel_on_failure = BrazeCancelScheduleOperator(
        task_id="cancel_on_failure",
        schedule_id=schedule_audience.output,  # the whole group: every chunk's schedule
        trigger_rule=TriggerRule.ONE_FAILED,
    )

    check = check_send(schedule_audience.output)
    [schedule_audience, check] >> cancel_on_failure
