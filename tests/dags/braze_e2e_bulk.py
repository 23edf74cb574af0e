"""Test DAGs of the bulk create: audiences from a list, from XCom and from a file; chunk boundaries;
group update and cancel; a fault campaign; a worker that crashes mid-run.

Every audience's users are unique (``<campaign>/<n>``), so the schedules the fake Braze holds can be
traced back to the users they were meant for.
"""

from __future__ import annotations

import json
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import DAG, task

from airflow_braze_schedule.core.retry import RetryPolicy
from airflow_braze_schedule.operators import (
    BrazeBulkCreateScheduleOperator,
    BrazeCancelScheduleOperator,
    BrazeUpdateScheduleOperator,
)

SCHEDULE = {"time": "2099-01-02T09:00:00", "in_local_time": True}
FAST = RetryPolicy(max_attempts=3, backoff_initial=0.01, backoff_max=0.05, jitter=0.05, max_rate_limit_wait=2)
BOUNDARIES = (0, 1, 49, 50, 51, 2001)
FAULT_CAMPAIGN_USERS = 5000
CRASH_USERS = 3000
# The header and the first window's mark: the worker dies marking the second window, the first in flight.
WRITES_BEFORE_DEATH = 2


def recipients(owner: str, count: int, *, canvas: bool = False) -> list[dict[str, Any]]:
    """``count`` recipients ``<owner>/<n>``, personalised (Canvases take ``context``, campaigns
    ``trigger_properties``)."""
    key = "context" if canvas else "trigger_properties"
    return [{"external_user_id": f"{owner}/{n}", key: {"n": n}} for n in range(count)]


def write_audience(owner: str, count: int, *, canvas: bool = False) -> str:
    """A JSON Lines file of ``count`` recipients, in a fresh temporary folder."""
    path = Path(tempfile.mkdtemp(prefix="braze_bulk_")) / f"{owner}.jsonl"
    with path.open("w") as out:
        for recipient in recipients(owner, count, canvas=canvas):
            out.write(json.dumps(recipient) + "\n")
    return str(path)


def _dag(dag_id: str, **kwargs: Any) -> DAG:
    return DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        **kwargs,
    )


# --- three sources, then update and cancel of each group ----------------------------------------------

with _dag("braze_e2e_bulk_sources") as sources:

    @task
    def audience() -> list[dict[str, Any]]:
        return recipients("from-xcom", 2500, canvas=True)

    @task
    def audience_file() -> str:
        return write_audience("from-file", 2500)

    from_list = BrazeBulkCreateScheduleOperator(
        task_id="from_list",
        campaign_id="from-list",
        schedule=SCHEDULE,
        recipients=recipients("from-list", 2500),
    )
    from_xcom = BrazeBulkCreateScheduleOperator(
        task_id="from_xcom", canvas_id="from-xcom", schedule=SCHEDULE, recipients=audience()
    )
    from_file = BrazeBulkCreateScheduleOperator(
        task_id="from_file", campaign_id="from-file", schedule=SCHEDULE, recipients_path=audience_file()
    )
    messages = BrazeBulkCreateScheduleOperator(
        task_id="messages",
        messages={"sms": {"subscription_group_id": "sg", "body": "hi"}},
        schedule=SCHEDULE,
        external_user_ids=[f"messages/{n}" for n in range(120)],
        user_aliases=[{"alias_name": f"messages/a{n}", "alias_label": "crm"} for n in range(30)],
    )
    for create in (from_list, from_xcom, from_file, messages):
        update = BrazeUpdateScheduleOperator(
            task_id=f"update_{create.task_id}",
            schedule_id=create.output,
            schedule={"time": "2099-01-03T10:00:00"},
        )
        cancel = BrazeCancelScheduleOperator(task_id=f"cancel_{create.task_id}", schedule_id=update.output)
        create >> update >> cancel


# --- chunk boundaries, from a list and from a file -------------------------------------------------

with _dag("braze_e2e_bulk_boundaries") as boundaries:

    @task
    def write_files() -> dict[str, str]:
        return {str(count): write_audience(f"file-{count}", count) for count in BOUNDARIES}

    files = write_files()
    for count in BOUNDARIES:
        BrazeBulkCreateScheduleOperator(
            task_id=f"list_{count}",
            campaign_id=f"list-{count}",
            schedule=SCHEDULE,
            recipients=recipients(f"list-{count}", count),
        )
        files >> BrazeBulkCreateScheduleOperator(
            task_id=f"file_{count}",
            campaign_id=f"file-{count}",
            schedule=SCHEDULE,
            recipients_path=f"{{{{ ti.xcom_pull(task_ids='write_files')['{count}'] }}}}",
        )


# --- dry run, and a bad recipient deep in a file ------------------------------------------------------

with _dag("braze_e2e_bulk_checks") as checks:

    @task
    def bad_file() -> str:
        path = write_audience("bad", 3000)
        lines = Path(path).read_text().splitlines()
        lines[2718] = json.dumps({"user_alias": {"alias_name": "x"}})  # line 2,719: no alias_label
        Path(path).write_text("\n".join(lines) + "\n")
        return path

    BrazeBulkCreateScheduleOperator(
        task_id="bad_recipient", campaign_id="bad", schedule=SCHEDULE, recipients_path=bad_file()
    )
    BrazeBulkCreateScheduleOperator(
        task_id="dry_run",
        campaign_id="dry",
        schedule=SCHEDULE,
        recipients=recipients("dry", 120),
        dry_run=True,
    )


# --- Braze refuses one chunk: the others are created, the task fails naming it -------------------------

with _dag("braze_e2e_bulk_refused") as refused:
    BrazeBulkCreateScheduleOperator(
        task_id="create",
        campaign_id="refused",
        schedule=SCHEDULE,
        recipients=recipients("refused", 500),
        request_retry_policy=FAST,
    )


# --- a fault campaign with Airflow retries ---------------------------------------------------------

with _dag(
    "braze_e2e_bulk_faults", default_args={"retries": 4, "retry_delay": timedelta(seconds=0)}
) as faults:

    @task
    def fault_audience() -> str:
        return write_audience("faults", FAULT_CAMPAIGN_USERS, canvas=True)

    BrazeBulkCreateScheduleOperator(
        task_id="create",
        canvas_id="faults",
        schedule=SCHEDULE,
        recipients_path=fault_audience(),
        # Two tries per request: some chunks run out of them, so Airflow's retries have work to resume.
        request_retry_policy=RetryPolicy(
            max_attempts=2, backoff_initial=0.01, jitter=0.05, max_rate_limit_wait=2
        ),
        max_concurrency=8,
        progress_interval=1.0,
    )


# --- a worker that dies mid-run ------------------------------------------------------------------------


class WorkerDied(Exception):
    """What the first try meets when its worker dies: nothing more reaches the task_state_store."""


class _DyingStore:
    """The task's store, until the worker dies after ``writes`` writes: then every write fails."""

    def __init__(self, store: Any, writes: int) -> None:
        self._store = store
        self._left = writes

    def get(self, key: str, default: Any = None) -> Any:
        return self._store.get(key, default)

    def set(self, key: str, value: Any, **kwargs: Any) -> None:
        if self._left <= 0:
            raise WorkerDied("the worker died")
        self._left -= 1
        self._store.set(key, value, **kwargs)


class DiesOnFirstTry(BrazeBulkCreateScheduleOperator):
    """On its first try the worker dies after a few ledger writes (chunks sent, some answers unrecorded)."""

    def execute(self, context: Any) -> dict[str, Any]:
        if context["ti"].try_number == 1 and context.get("task_state_store") is not None:
            context["task_state_store"] = _DyingStore(context["task_state_store"], WRITES_BEFORE_DEATH)
        return super().execute(context)


with _dag("braze_e2e_bulk_crash", default_args={"retries": 1, "retry_delay": timedelta(seconds=0)}) as crash:
    DiesOnFirstTry(
        task_id="create",
        campaign_id="crash",
        schedule=SCHEDULE,
        recipients=recipients("crash", CRASH_USERS),
        max_concurrency=4,
    )
