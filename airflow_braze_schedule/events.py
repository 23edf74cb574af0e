"""Reacting to keyed schedule changes: read a Braze asset event back into handles.

Every create, update and cancel made with a ``schedule_key`` (single, upsert, reconcile) emits an event on
its connection's asset, ``braze://<conn_id>/schedules`` (:func:`~airflow_braze_schedule.assets.schedules_asset`).
The event's ``extra`` lists the changes: ``changes`` is a list of ``{"schedule_key", "action", "state",
"outcome", "schedule_id", "kind", "campaign_id" | "canvas_id", "schedule"}`` (the first 50; ``changes_total``
says how many there were), and a single change is also given whole as ``schedule_key`` and ``handle``.
A bulk create's group (and its update or cancel) is one change with ``group``: ``kind``, the owner id,
``schedule``, ``recipients``, ``chunk_size``, ``schedule_ids_count`` and, up to 200, ``schedule_ids``;
it reads back as a group handle (or not at all when only the count was carried: use its key instead).

A DAG scheduled on the asset turns them back into handles the update and cancel operators accept::

    from airflow_braze_schedule.assets import schedules_asset
    from airflow_braze_schedule.events import handles_from_events

    with DAG("react", schedule=[schedules_asset("braze_default")], ...):

        @task
        def changed(triggering_asset_events=None):
            return handles_from_events(triggering_asset_events, actions=("create", "update", "replace"))

        BrazeCancelScheduleOperator.partial(task_id="cancel").expand(schedule_id=changed())
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: The handle's fields as the create operator returns them (update and cancel read these).
HANDLE_FIELDS = ("schedule_id", "dispatch_id", "kind", "campaign_id", "canvas_id", "schedule")


def _extras(events: Any) -> Iterable[dict[str, Any]]:
    """The ``extra`` dicts of an event, a list of events, or a task's ``triggering_asset_events``."""
    if events is None:
        return
    if isinstance(events, Mapping) and ("changes" in events or "handle" in events):
        yield dict(events)  # an extra itself
        return
    if isinstance(events, Mapping) or hasattr(events, "values"):
        for value in events.values():
            yield from _extras(value)
        return
    if isinstance(events, list | tuple):
        for event in events:
            yield from _extras(event)
        return
    extra = getattr(events, "extra", None)
    if isinstance(extra, Mapping):
        yield dict(extra)


def handles_from_events(events: Any, *, actions: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The handles (with their ``schedule_key`` and ``action``) of the changes the events carry.

    :param events: a task's ``triggering_asset_events``, a list of asset events, one event, or an
        event's ``extra``.
    :param actions: keep only these actions (``create``, ``update``, ``replace``, ``cancel``,
        ``unchanged``, ``frozen``, ``none``); default all but ``unchanged`` and ``none``.
    :return: one dict per change, in event order; the update and cancel operators accept each as
        ``schedule_id``.
    """
    wanted = set(actions) if actions is not None else None
    handles = []
    for extra in _extras(events):
        for change in extra.get("changes") or []:
            action = change.get("action")
            if wanted is not None and action not in wanted:
                continue
            if wanted is None and action in ("unchanged", "none"):
                continue
            if isinstance(change.get("group"), dict):  # a bulk create's group of schedules
                from airflow_braze_schedule.core.group import group_from_event

                group = group_from_event(change["group"])
                if group is None:  # too many schedule ids to carry: the key finds them
                    continue
                handle = group
            elif not change.get("schedule_id"):
                continue
            else:
                handle = {name: change[name] for name in HANDLE_FIELDS if change.get(name) is not None}
            handle["schedule_key"] = change.get("schedule_key")
            handle["action"] = action
            handles.append(handle)
    return handles
