"""What the schedules page, its API and the CLI show of a registry entry: one shape for all three.

Only what the registry records, and less: the handle's ids and schedule, counts for a group, the last
change and the history. Never a request's body (recipients, trigger properties, messages), never the
pending intent whole (it may carry messages), never anything of the connection but its dashboard host.
A group's audience is not stored at all: a group shows how many recipients it had, in how many
schedules, and their ids. Pure: no Airflow import.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow_braze_schedule.core.errors import BrazeValidationError
from airflow_braze_schedule.core.registry_model import (
    BEST_EFFORT,
    HISTORY_FIELDS,
    REFUSED_TOO_LATE,
    RegistryEntry,
)
from airflow_braze_schedule.core.schedule import BrazeSchedule

#: The maintenance DAG the page's cancel button triggers (example_dags/braze_schedule_admin.py).
ADMIN_DAG_ID = "braze_schedule_admin"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


def _send_time(schedule: Any) -> dict[str, Any]:
    """The schedule as sent (``time`` and whose clock: ``utc``, ``local`` or ``optimal``) and its window."""
    if not isinstance(schedule, dict):
        return {"send_time": None, "time_mode": None, "send_starts": None, "send_ends": None}
    try:
        parsed = BrazeSchedule.parse(schedule)
    except BrazeValidationError:
        return {"send_time": schedule.get("time"), "time_mode": None, "send_starts": None, "send_ends": None}
    first, last = parsed.delivery_window()
    return {
        "send_time": parsed.time_string,
        "time_mode": parsed.mode,
        "send_starts": _iso(first),
        "send_ends": _iso(last),
    }


def flags(entry: RegistryEntry) -> list[dict[str, str]]:
    """What needs a person's eye: a create whose answer was lost, a change left half-done, a late change."""
    found = []
    pending = entry.pending or {}
    if pending.get("op") == "create":
        found.append(
            {
                "code": "create_answer_lost",
                "message": f"a create was sent at {pending.get('at')} by task {pending.get('task_id')!r} of run "
                f"{pending.get('run_id')!r} and Braze's answer was never recorded: a schedule may exist whose "
                "id is unknown (or that task is still running). Check Braze before creating it again.",
            }
        )
    elif pending:
        found.append(
            {
                "code": "change_unfinished",
                "message": f"a {pending.get('op')} begun at {pending.get('at')} by task {pending.get('task_id')!r} "
                "has not recorded its answer; the next keyed task on this key finishes it",
            }
        )
    if entry.outcome == REFUSED_TOO_LATE:
        found.append({"code": REFUSED_TOO_LATE, "message": entry.refusal_reason() or "refused: too late"})
    elif entry.outcome == BEST_EFFORT:
        found.append(
            {
                "code": BEST_EFFORT,
                "message": "the last change came close to or during the send: Braze applied it to all, some or "
                "none of the users",
            }
        )
    handle = entry.handle or {}
    if handle.get("complete") is False:
        found.append({"code": "group_incomplete", "message": "not every schedule of the group was created"})
    if handle.get("dry_run"):
        found.append({"code": "dry_run", "message": "recorded by a dry run: nothing exists in Braze"})
    return found


def _schedule_ids(handle: dict[str, Any]) -> dict[str, Any]:
    chunks = handle.get("chunks")
    if isinstance(chunks, list):
        ids = [str(chunk.get("schedule_id")) for chunk in chunks if isinstance(chunk, dict)]
        return {
            "group": True,
            "count": len(ids),
            "ids": ids,
            "recipients": handle.get("recipients"),
            "chunk_size": handle.get("chunk_size"),
        }
    schedule_id = handle.get("schedule_id")
    return {"group": False, "count": 1 if schedule_id else 0, "ids": [schedule_id] if schedule_id else []}


def _change(line: dict[str, Any] | None) -> dict[str, Any] | None:
    if not line:
        return None
    return {name: line.get(name) for name in HISTORY_FIELDS if name in line}


def entry_view(
    entry: RegistryEntry, *, now: datetime | None = None, dashboard_url: str | None = None
) -> dict[str, Any]:
    """One entry as the page, the API and the CLI show it."""
    handle = entry.handle or {}
    return {
        "schedule_key": entry.schedule_key,
        "state": entry.effective_state(now),
        "outcome": entry.outcome,
        "kind": handle.get("kind"),
        "campaign_id": handle.get("campaign_id"),
        "canvas_id": handle.get("canvas_id"),
        **_send_time(handle.get("schedule")),
        "schedule_ids": _schedule_ids(handle),
        "last_change": _change(entry.history[-1] if entry.history else None),
        "updated_at": entry.updated_at,
        "flags": flags(entry),
        "dashboard_url": dashboard_url,
    }


def entry_detail(
    entry: RegistryEntry, *, now: datetime | None = None, dashboard_url: str | None = None
) -> dict[str, Any]:
    """An entry with its whole history, oldest first: give it an entry read by key (``registry.get``),
    since a listed one (``partial_history``) holds its last line only."""
    return {
        **entry_view(entry, now=now, dashboard_url=dashboard_url),
        "history": [_change(line) for line in entry.history],
    }
