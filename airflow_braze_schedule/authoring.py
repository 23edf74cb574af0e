"""Helpers for DAGs that schedule Braze sends: a send time every kind of run can compute, and a cancel
teardown that cancels only after a failure.

**Send times.** A send is scheduled relative to its run, but the fields that say when a run is
(``ds``, ``logical_date``, ``data_interval_end``) are missing from Airflow 3's manual runs: a run
triggered from the UI, with ``airflow dags trigger`` or through the REST API has no logical date, and
a template using them fails with ``UndefinedError``. :func:`run_due_at` reads the moment every run has,
on every Airflow line, and :func:`next_send_time` turns it into a send time that is still ahead, also
for a backfill or a late run re-processing an old interval. Give both to the DAG's templates::

    DAG(..., user_defined_macros={"next_send_time": next_send_time, "run_due_at": run_due_at})
    schedule={"time": "{{ next_send_time(dag_run, '08:00', days_after=1) }}Z"}

**Cancel only after a failure.** A cancel task made a teardown of its create
(``cancel.as_teardown(setups=create)``) runs whenever the create succeeded, whatever the tasks between
them did, and does not decide the run's state. Give it ``pre_execute=skip_unless_upstream_failed`` to
cancel only when something upstream failed.

Nothing from Airflow is imported at module level, so a DAG file importing this parses fast.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, time, timedelta
from typing import Any

#: States of a task instance that mean it failed (itself, or because something it needed did).
FAILED_STATES = frozenset({"failed", "upstream_failed"})


def run_due_at(dag_run: Any) -> datetime:
    """When ``dag_run`` was due to run, in UTC: the one moment every run has, on every Airflow line.

    Airflow 3 gives every run ``run_after``: for a scheduled or backfilled run, the end of its data
    interval; for a manual run, when it was triggered. Airflow 2 has no ``run_after`` but always a
    logical date: a scheduled run is due at the end of its data interval and a manual one at its logical
    date (when it was triggered), so the later of the two.
    """
    run_after = getattr(dag_run, "run_after", None)
    if run_after is not None:
        return _utc(run_after)
    moments = [getattr(dag_run, name, None) for name in ("logical_date", "data_interval_end")]
    known = [_utc(moment) for moment in moments if moment is not None]
    if not known:
        raise ValueError(f"{dag_run!r} has neither run_after nor a logical date: not a DAG run")
    return max(known)


def next_send_time(
    dag_run: Any,
    at: str,
    *,
    days_after: int = 0,
    min_lead: timedelta = timedelta(hours=1),
    now: datetime | None = None,
) -> str:
    """The wall-clock time ``at`` on the day ``days_after`` days after the run was due, as
    ``YYYY-MM-DDTHH:MM:SS``: append ``Z`` for a UTC send, or send it as it is with ``in_local_time``.

    When that is less than ``min_lead`` ahead (taken as UTC), as for a backfill or a late run of an old
    interval, the first later day at ``at`` that is far enough ahead: Braze cannot schedule the past.

    :param dag_run: the run (``dag_run`` in templates and in a task's context).
    :param at: the time of day, ``"HH:MM"`` or ``"HH:MM:SS"``.
    :param days_after: days from the day the run was due (in UTC) to the day of the send.
    :param min_lead: how far ahead of now the send must be at least.
    :param now: the current time (for tests); default: the clock.
    """
    try:
        time_of_day = time.fromisoformat(at)
    except ValueError as error:
        raise ValueError(f"at={at!r}: {error}; expected a time of day such as '08:00'") from None
    if time_of_day.tzinfo is not None:
        raise ValueError(f"at={at!r}: expected a wall-clock time without offset, such as '08:00'")
    send_day = run_due_at(dag_run).date() + timedelta(days=days_after)
    send = datetime.combine(send_day, time_of_day, tzinfo=UTC)
    earliest = _utc(now or datetime.now(tz=UTC)) + min_lead
    if send < earliest:
        send += timedelta(days=math.ceil((earliest - send) / timedelta(days=1)))
    return send.replace(tzinfo=None).isoformat(timespec="seconds")


def skip_unless_upstream_failed(context: Any) -> None:
    """A ``pre_execute`` hook: skip the task unless a task upstream of it failed in this run.

    Meant for a cancel made a teardown of its create: the teardown runs once the create succeeded
    and every task between them is done, failed or not, so this hook is what makes it cancel only
    after a failure. A successful run skips it and the send stays scheduled.
    """
    from airflow.providers.common.compat.sdk import AirflowSkipException

    task_id = context["task"].task_id
    upstream_ids = sorted(context["dag"].get_task(task_id).get_flat_relative_ids(upstream=True))
    failed = sorted(name for name, state in _states(context, upstream_ids).items() if state in FAILED_STATES)
    if not failed:
        raise AirflowSkipException(
            f"Nothing upstream of {task_id} failed ({len(upstream_ids)} tasks checked): nothing to undo"
        )
    context["task"].log.info("Upstream of %s, these failed: %s; going on.", task_id, ", ".join(failed))


def _states(context: Any, task_ids: list[str]) -> dict[str, str | None]:
    """The states of ``task_ids`` in this run, by task id (``<task_id>_<map_index>`` for mapped ones)."""
    ti = context["ti"]
    if hasattr(ti, "get_task_states"):  # Airflow 3: through the Execution API
        by_run = ti.get_task_states(dag_id=ti.dag_id, task_ids=task_ids, run_ids=[ti.run_id])
        return {name: _state_name(state) for name, state in by_run.get(ti.run_id, {}).items()}
    # Airflow 2: the worker reads the metadata database.
    return {
        (other.task_id if other.map_index < 0 else f"{other.task_id}_{other.map_index}"): _state_name(
            other.state
        )
        for other in context["dag_run"].get_task_instances()
        if other.task_id in task_ids
    }


def _state_name(state: Any) -> str | None:
    return None if state is None else str(getattr(state, "value", state))


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
