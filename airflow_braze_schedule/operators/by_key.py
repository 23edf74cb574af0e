"""The keyed paths of the create, update, cancel and bulk create operators (given a ``schedule_key``),
and what every keyed task opens: its registry and the steps that change it.

The operators in :mod:`.braze` and :mod:`.bulk` call these from ``execute()`` when given a key; the upsert
and reconcile operators (:mod:`.keyed`) use the same registry, steps and group paths. See :mod:`.keyed` for
what a schedule key is.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from airflow_braze_schedule.events import emit_changes
from airflow_braze_schedule.fail_fast import _failing_fast_where_retries_cannot_help

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_braze_schedule.core.registry_model import Actor
    from airflow_braze_schedule.engine.keyed_steps import KeyedSteps
    from airflow_braze_schedule.operators.braze import BrazeCreateScheduleOperator
    from airflow_braze_schedule.registry.store import ScheduleRegistry


# --- what every keyed task opens --------------------------------------------------------------------------


def open_registry_of(op: Any, context: Context) -> ScheduleRegistry:
    """The registry of the task's Braze connection: its ``registry_conn_id`` and ``registry_table``, or the
    asset's ``asset_state_store``; closed when the keyed step that opened it ends (:func:`closing_registries`)."""
    from airflow_braze_schedule.registry import DEFAULT_TABLE, open_registry

    registry = open_registry(
        context,
        braze_conn_id=op.braze_conn_id,
        registry_conn_id=op.registry_conn_id,
        registry_table=op.registry_table or DEFAULT_TABLE,
    )
    # In the instance's __dict__: not an operator attribute Airflow should see (templating, serialising).
    op.__dict__.setdefault("_registries_opened", []).append(registry)
    return registry


@contextmanager
def closing_registries(op: Any) -> Iterator[None]:
    """Close the registries ``op`` opens inside, however the step ends: an asset-store writer hands its
    slot on, so writer slots grow with the tasks writing at once, not with every task ever run."""
    try:
        yield
    finally:
        for registry in op.__dict__.pop("_registries_opened", []):
            with suppress(Exception):  # a registry that cannot close loses a slot, never a key
                registry.close()


def actor_from_context(context: Any) -> Actor:
    """The DAG run and task making a change, from a task's context."""
    from airflow_braze_schedule.core.registry_model import Actor

    if not context:
        return Actor()
    ti = context.get("ti")
    dag_id = getattr(ti, "dag_id", None)
    task_id = getattr(ti, "task_id", None)
    return Actor(dag_id=dag_id, run_id=context.get("run_id"), task_id=task_id)


def keyed_steps_of(op: Any, context: Context, registry: ScheduleRegistry) -> KeyedSteps:
    """The steps that change the task's keys, with its ``on_unknown_outcome``, ``best_effort_window`` and
    ``freeze_window`` where it has them (the defaults where not)."""
    from airflow_braze_schedule.core.registry_model import (
        DEFAULT_BEST_EFFORT_WINDOW,
        DEFAULT_FREEZE_WINDOW,
        check_window,
    )
    from airflow_braze_schedule.engine.keyed_steps import KeyedSteps

    best_effort = getattr(op, "best_effort_window", None)
    freeze = getattr(op, "freeze_window", None)
    return KeyedSteps(
        registry,
        op.hook.send,
        actor_from_context(context),
        op.log,
        on_unknown_outcome=getattr(op, "on_unknown_outcome", "fail"),
        best_effort_window=DEFAULT_BEST_EFFORT_WINDOW
        if best_effort is None
        else check_window("best_effort_window", best_effort),
        freeze_window=DEFAULT_FREEZE_WINDOW if freeze is None else check_window("freeze_window", freeze),
    )


# --- create, update and cancel given a schedule_key (called from the operators in braze.py) ---------------


def keyed_task_result(
    op: Any,
    context: Context,
    entry: Any,
    action: str,
    reason: str | None = None,
    *,
    report: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """What a keyed task on one schedule returns (the handle with key, action, state and outcome), having
    pushed its ``schedule_id``, logged it and put it on the task's event (or ``report`` instead, when
    other changes are to be reported: an earlier try's)."""
    from airflow_braze_schedule.engine.keyed_steps import keyed_result

    result = keyed_result(entry, action, reason=reason)
    if entry.schedule_id:
        context["ti"].xcom_push(key="schedule_id", value=entry.schedule_id)
    op.log.info(
        "schedule_key %r: %s; schedule_id=%s state=%s outcome=%s%s",
        entry.schedule_key,
        action,
        entry.schedule_id,
        result["state"],
        result["outcome"],
        f" ({reason})" if reason else "",
    )
    emit_changes(op, context, report or [result])
    return result


def _steps(op: Any, context: Context) -> tuple[ScheduleRegistry, KeyedSteps]:
    registry = open_registry_of(op, context)
    return registry, keyed_steps_of(op, context, registry)


def create_by_key(op: BrazeCreateScheduleOperator, context: Context) -> dict[str, Any]:
    """A create given a ``schedule_key``: create and record; the same request again returns the recorded
    handle; a different request under a live key is refused (that is what upsert is for)."""
    from airflow_braze_schedule.core.ledger import check_on_unknown_outcome
    from airflow_braze_schedule.core.plan import Action
    from airflow_braze_schedule.core.registry_model import check_schedule_key
    from airflow_braze_schedule.engine.keyed_steps import ScheduleKeyConflictError

    with _failing_fast_where_retries_cannot_help(creates=True), closing_registries(op):
        key = check_schedule_key(op.schedule_key)
        check_on_unknown_outcome(op.on_unknown_outcome)
        _, steps = _steps(op, context)
        dry_run = op._is_dry_run()
        plan = steps.plan(key, {name: getattr(op, name) for name in op.REQUEST_FIELDS}, dry_run=dry_run)
        request = plan.request
        assert request is not None
        if dry_run:
            op._log_request(request, dry_run=True)
            return {"schedule_key": key, "action": plan.action.value, "reason": plan.reason, "dry_run": True}
        if plan.action == Action.UNCHANGED:
            assert plan.entry is not None
            return keyed_task_result(
                op, context, plan.entry, "unchanged", "the same request is already scheduled"
            )
        if plan.action != Action.CREATE:
            assert plan.entry is not None
            raise ScheduleKeyConflictError(
                f"schedule_key {key!r} already has a live schedule (schedule_id {plan.entry.schedule_id}) made "
                "from a different request. Not creating a second one: use BrazeUpsertScheduleOperator to "
                "change it, or cancel it first (BrazeCancelScheduleOperator(schedule_key=...))"
            )
        op._log_request(request)
        entry = steps.carry_out(plan)
        return keyed_task_result(op, context, entry, "create")


def _existing_entry(op: Any, context: Context) -> tuple[Any, KeyedSteps, str]:
    from airflow_braze_schedule.core.registry_model import check_schedule_key

    key = check_schedule_key(op.schedule_key)
    if op.schedule_id is not None:
        from airflow_braze_schedule.core.errors import BrazeValidationError

        raise BrazeValidationError("schedule_key", "is given with a schedule_id", "one of the two")
    registry, steps = _steps(op, context)
    entry = registry.require(key)
    if entry.pending and not op._is_dry_run():
        from airflow_braze_schedule.operators.keyed_groups import group_steps

        entry = group_steps(steps, op, context).settle(entry)  # a single schedule's job: the single steps'
    return entry, steps, key


def update_by_key(op: Any, context: Context) -> dict[str, Any]:
    """An update given a ``schedule_key``: found through the registry, from any DAG, and recorded."""
    with _failing_fast_where_retries_cannot_help(creates=False), closing_registries(op):
        entry, steps, key = _existing_entry(op, context)
        if entry.handle is None or entry.state == "cancelled":
            return keyed_task_result(
                op, context, entry, "none", f"schedule_key {key!r} is cancelled: nothing to update"
            )
        if "chunks" in entry.handle:  # a bulk create's group
            return _change_group_by_key(op, context, entry, steps, "update")
        request = steps.update_request(entry, op.schedule, op.messages)
        dry_run = op._is_dry_run()
        op._log_request(request, dry_run=dry_run)
        if dry_run:
            return {**(entry.handle or {}), "schedule_key": key, "action": "update", "dry_run": True}
        entry = steps.update(entry, request)
        reason = entry.refusal_reason()
        return keyed_task_result(op, context, entry, "update", reason)


def cancel_by_key(op: Any, context: Context) -> dict[str, Any]:
    """A cancel given a ``schedule_key``: a cancelled key is a no-op that says so."""
    with _failing_fast_where_retries_cannot_help(creates=False), closing_registries(op):
        entry, steps, key = _existing_entry(op, context)
        if entry.handle is None or entry.state == "cancelled":
            op.log.warning("schedule_key %r is already cancelled: nothing to do.", key)
            result = keyed_task_result(
                op, context, entry, "none", f"schedule_key {key!r} is already cancelled"
            )
            return {**result, "cancelled": True}
        if "chunks" in entry.handle:  # a bulk create's group
            return _change_group_by_key(op, context, entry, steps, "cancel")
        request = steps.cancel_request(entry)
        dry_run = op._is_dry_run()
        op._log_request(request, dry_run=dry_run)
        if dry_run:
            return {
                **(entry.handle or {}),
                "schedule_key": key,
                "action": "cancel",
                "cancelled": False,
                "dry_run": True,
            }
        entry = steps.cancel(entry)
        reason = entry.refusal_reason()
        result = keyed_task_result(op, context, entry, "cancel", reason)
        return {**result, "cancelled": entry.state == "cancelled"}


# --- a bulk create's group of schedules under one key (the bulk operator and update/cancel by key) ------


def _group_result(
    op: Any, context: Context, entry: Any, action: str, reason: str | None = None
) -> dict[str, Any]:
    """What a keyed task on a group returns (the group handle, key, action, state, outcome) and emits; a
    key still holding a single schedule (a change to a group frozen or refused) returns as one does."""
    from airflow_braze_schedule.engine.keyed_steps import change_of, keyed_result

    if "chunks" not in (entry.handle or {}):
        return keyed_task_result(op, context, entry, action, reason)
    result = keyed_result(entry, action, reason=reason)
    op.log.info(
        "schedule_key %r: %s of a group of %s schedules; state=%s outcome=%s%s",
        entry.schedule_key,
        action,
        len((entry.handle or {}).get("chunks") or []),
        result["state"],
        result["outcome"],
        f" ({reason})" if reason else "",
    )
    emit_changes(op, context, [change_of(entry, action)])
    return result


def bulk_create_by_key(op: Any, context: Context, fingerprint: str, send: Any) -> dict[str, Any]:
    """A bulk create given a ``schedule_key``: the group is recorded under the key once every chunk is
    created. The same audience and request again under a live key sends nothing and returns the recorded
    group; a different one is refused (cancel the key first). The bulk create's own ledger makes a retry
    resume rather than resend, so the registry is written once, after the sends.

    :param fingerprint: of the whole audience and request (the bulk plan's).
    :param send: sends every chunk and returns the group handle (raises if some chunk failed).
    """
    from airflow_braze_schedule.core.registry_model import SCHEDULED, RegistryEntry, check_schedule_key
    from airflow_braze_schedule.engine.keyed_steps import ScheduleKeyConflictError

    key = check_schedule_key(op.schedule_key)
    _, steps = _steps(op, context)
    entry = steps.registry.get(key)
    if entry is not None and entry.is_live():
        if entry.fingerprint == fingerprint and "chunks" in (entry.handle or {}):
            return _group_result(
                op, context, entry, "unchanged", "the same audience and request is scheduled"
            )
        raise ScheduleKeyConflictError(
            f"schedule_key {key!r} already has a live schedule made from a different request. Not creating "
            "a second one: cancel it first (BrazeCancelScheduleOperator(schedule_key=...))"
        )
    handle = send()
    entry = steps.record(
        entry or RegistryEntry(key),
        "create",
        note=f"a group of {len(handle.get('chunks') or [])} schedules",
        handle=handle,
        fingerprint=fingerprint,
        content_fingerprint=None,
        state=SCHEDULED,
        outcome=None,
        pending=None,
    )
    return _group_result(op, context, entry, "create")


def _change_group_by_key(op: Any, context: Context, entry: Any, steps: Any, action: str) -> dict[str, Any]:
    """Update or cancel every schedule of the group recorded under a key, each step recorded."""
    from airflow_braze_schedule.core.group import GroupHandle
    from airflow_braze_schedule.operators.keyed_groups import group_steps

    if op._is_dry_run():
        changed = op.change_group(context, GroupHandle.from_xcom(entry.handle), action)
        return {**changed, "schedule_key": entry.schedule_key, "action": action, "dry_run": True}
    groups = group_steps(steps, op, context)
    entry = groups.update(entry, op, None) if action == "update" else groups.cancel(entry)
    result = _group_result(op, context, entry, action, entry.refusal_reason())
    return {**result, "cancelled": entry.state == "cancelled"} if action == "cancel" else result


def upsert_group_by_key(
    op: Any, context: Context, key: str, entry: Any, steps: Any, *, dry_run: bool
) -> dict[str, Any]:
    """An upsert whose send is (or was) a group of schedules; see :class:`BrazeUpsertScheduleOperator`.

    Decided by :func:`~airflow_braze_schedule.core.plan.plan_group` (the rule reconcile uses too) and
    carried out by :class:`~airflow_braze_schedule.engine.group_steps.GroupSteps`: the registry says
    what is under way before each step, so a retry, or another task, finishes it rather than sending
    twice.
    """
    from airflow_braze_schedule.core.plan import Action, plan_group
    from airflow_braze_schedule.operators.keyed_groups import group_steps, validated_member

    member = validated_member(op)
    groups = group_steps(steps, op, context)
    if entry is not None and entry.pending and not dry_run:
        entry = groups.settle(entry)
    plan = plan_group(key, entry, member.send(), freeze_window=steps.freeze_window)
    op.log.info(
        "schedule_key %r: %s of a group (%s); %s; %d requests to send.",
        key,
        plan.action.value,
        plan.reason,
        member.plan.describe(),
        plan.requests(),
    )
    if dry_run:
        op.log.info("Dry run: the plan above was NOT carried out: nothing sent to Braze.")
        return op._keyed_dry_run(
            context,
            {
                "schedule_key": key,
                "action": plan.action.value,
                "reason": plan.reason,
                "requests_expected": plan.requests(),
                "dry_run": True,
            },
        )
    if not plan.sends or plan.action == Action.RESUME:
        return _group_result(op, context, entry, plan.action.value, plan.reason)
    entry = groups.carry_out(plan, member)
    return _group_result(op, context, entry, plan.action.value, entry.refusal_reason())
