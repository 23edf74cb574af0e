"""Reacting to schedule changes: the Braze asset events, and reading them back into handles.

Every create, update and cancel (single or bulk, with or without a ``schedule_key``; upsert and reconcile
too) declares its connection's asset, ``braze://<conn_id>/schedules``
(:func:`~airflow_braze_schedule.assets.schedules_asset`), as an outlet, so Airflow emits an event on it
when the task succeeds. The event's ``extra`` says what changed: ``changes`` is a list of
``{"schedule_key", "action", "state", "outcome", "schedule_id", "kind", "campaign_id" | "canvas_id",
"schedule"}`` (the first 50; ``changes_total`` says how many there were; ``schedule_key`` is None for a
task without one), and a single change is also given whole as ``schedule_key`` and ``handle``.
A bulk create's group (and its update or cancel) is one change with ``group``: ``kind``, the owner id,
``schedule``, ``recipients``, ``chunk_size``, ``schedule_ids_count`` and, up to 200, ``schedule_ids``;
it reads back as a group handle (or not at all when only the count was carried: use its key instead).

What else the extra says:

* a dry run (the operator's or the connection's ``dry_run``, or an update or cancel given a dry-run
  handle) still emits, since Airflow emits for every successful task with outlets; its extra has
  ``"dry_run": true``, ``"sent": false`` and a ``note``, and :func:`handles_from_events` leaves it out
  unless ``include_dry_run=True`` (its handles then carry ``"dry_run": true``, so an update or cancel
  given one sends nothing);
* an update or cancel Braze would not honour any more has ``"outcome": "refused_too_late"`` (nothing was
  sent: the schedule stands as it was); a cancel of a key already cancelled has ``"action": "none"``,
  which :func:`handles_from_events` leaves out by default.

``emit_asset_event=False`` on an operator leaves the asset out (no event), except on a keyed task whose
registry is the asset's ``asset_state_store`` (no ``registry_conn_id``): that one needs the outlet. A
templated ``braze_conn_id`` names no asset when the DAG is parsed, so such a task emits nothing.

A DAG scheduled on the asset turns the events back into handles the update and cancel operators accept::

    from airflow_braze_schedule.assets import schedules_asset
    from airflow_braze_schedule.events import handles_from_events

    with DAG("react", schedule=[schedules_asset("braze_default")], ...):

        @task
        def changed(triggering_asset_events=None):
            return handles_from_events(triggering_asset_events, actions=("create", "update", "replace"))

        BrazeCancelScheduleOperator.partial(task_id="cancel").expand(schedule_id=changed())

Only the standard library is imported here at module level: DAG files import this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

#: The handle's fields as the create operator returns them (update and cancel read these).
HANDLE_FIELDS = ("schedule_id", "dispatch_id", "kind", "campaign_id", "canvas_id", "schedule")
#: An event's ``extra`` lists the changes up to this many; beyond, only counts and the first ones.
EVENT_KEYS_LIMIT = 50
#: What a dry run's event says, for whoever reads it in the UI.
DRY_RUN_NOTE = "dry run: validated and logged, nothing was sent to Braze"


def _is_extra(events: Mapping[Any, Any]) -> bool:
    """Whether a mapping is an event's ``extra`` (keyed by strings) rather than Airflow's
    ``triggering_asset_events`` (keyed by assets, whose ``in`` refuses a string with a TypeError)."""
    try:
        return "changes" in events or "handle" in events
    except TypeError:
        return False


def _extras(events: Any) -> Iterable[dict[str, Any]]:
    """The ``extra`` dicts of an event, a list of events, or a task's ``triggering_asset_events``."""
    if events is None:
        return
    if isinstance(events, Mapping) and _is_extra(events):
        yield dict(events)
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


def handles_from_events(
    events: Any, *, actions: Iterable[str] | None = None, include_dry_run: bool = False
) -> list[dict[str, Any]]:
    """The handles (with their ``schedule_key`` and ``action``) of the changes the events carry.

    :param events: a task's ``triggering_asset_events``, a list of asset events, one event, or an
        event's ``extra``.
    :param actions: keep only these actions (``create``, ``update``, ``replace``, ``cancel``,
        ``unchanged``, ``frozen``, ``none``); default all but ``unchanged`` and ``none``.
    :param include_dry_run: also read dry runs' events; their handles carry ``"dry_run": true`` (they
        name nothing that exists in Braze, and an update or cancel given one sends nothing).
    :return: one dict per change, in event order; the update and cancel operators accept each as
        ``schedule_id``.
    """
    wanted = set(actions) if actions is not None else None
    handles = []
    for extra in _extras(events):
        dry_run = extra.get("dry_run") is True
        if dry_run and not include_dry_run:
            continue
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
            if dry_run:
                handle["dry_run"] = True
            handle["schedule_key"] = change.get("schedule_key")
            handle["action"] = action
            handles.append(handle)
    return handles


# --- emitting (called from the operators while their task runs) -------------------------------------------


def handle_change(
    handle: Mapping[str, Any],
    action: str,
    *,
    state: str | None,
    schedule_key: str | None = None,
    outcome: str | None = None,
) -> dict[str, Any]:
    """One single schedule's change, as the event's ``changes`` list it (see the module's docstring)."""
    return {**handle, "schedule_key": schedule_key, "action": action, "state": state, "outcome": outcome}


def emit_changes(
    operator: Any, context: Context, changes: list[dict[str, Any]], *, dry_run: bool = False, **more: Any
) -> None:
    """Put the changes on the event the task emits on its connection's schedules asset (the task's
    ``braze_conn_id`` names it).

    Nothing happens where the task does not declare that outlet (``emit_asset_event=False``, a templated
    ``braze_conn_id``). A dry run's extra says so (``dry_run``, ``sent``, ``note``), and so does each
    handle it carries. ``more`` goes into the extra as it is (a reconcile's ``scope``).
    """
    braze_conn_id = operator.braze_conn_id
    events = context.get("outlet_events")
    if events is None or "{{" in braze_conn_id:
        return
    extra = event_extra(braze_conn_id, changes, **more)
    if dry_run:
        extra.update(dry_run=True, sent=False, note=DRY_RUN_NOTE)
        if isinstance(extra.get("handle"), dict):
            extra["handle"] = {**extra["handle"], "dry_run": True}
    from airflow_braze_schedule.assets import schedules_asset

    try:
        events[schedules_asset(braze_conn_id)].extra = extra
    except (KeyError, TypeError, AttributeError) as error:  # not declared, or an older Airflow
        operator.log.debug("No schedules asset event to annotate: %s", error)


def event_extra(braze_conn_id: str, changes: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
    """The ``extra`` of a change event: what changed, by key, compact when there are many changes.

    Each change carries ``schedule_key``, ``action`` and the handle's ``schedule_id``, ``kind``, owner id
    and ``schedule``; :func:`handles_from_events` reads them back.
    """
    keep = (
        "schedule_key",
        "action",
        "state",
        "outcome",
        "schedule_id",
        "kind",
        "campaign_id",
        "canvas_id",
        "reported_late",
    )
    keep_whole = (*keep, "schedule", "group")
    compact = [
        {name: change[name] for name in keep_whole if change.get(name) is not None}
        for change in changes[:EVENT_KEYS_LIMIT]
    ]
    extra: dict[str, Any] = {"braze_conn_id": braze_conn_id, "changes": compact, **more}
    if len(changes) > EVENT_KEYS_LIMIT:
        extra["changes_total"] = len(changes)
        extra["changes_truncated"] = True
    if len(changes) == 1 and isinstance(changes[0].get("group"), dict):
        extra["schedule_key"] = changes[0].get("schedule_key")
        extra["handle"] = changes[0]["group"]
    elif len(changes) == 1:
        extra["schedule_key"] = changes[0].get("schedule_key")
        extra["handle"] = {
            name: changes[0][name] for name in HANDLE_FIELDS if changes[0].get(name) is not None
        }
    return extra


def group_change(
    group: dict[str, Any], key: str | None, action: str, state: str | None, outcome: str | None = None
) -> dict[str, Any]:
    """One change of a group, as :func:`event_extra` takes it: the key and the group's compact form.

    :param outcome: how an update or cancel landed, where known (a keyed change); else ``applied``.
    """
    from airflow_braze_schedule.core.group import GroupHandle

    return {
        "schedule_key": key,
        "action": action,
        "state": state,
        "outcome": (outcome or "applied") if action in ("update", "cancel") else None,
        "kind": group.get("kind"),
        "group": GroupHandle.from_xcom(group).to_event(),
    }
