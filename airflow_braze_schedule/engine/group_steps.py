"""A send made of a group of schedules under one key: the steps of upsert, reconcile, update and cancel;
no Airflow.

A bulk create's group (one schedule per chunk of at most 50 users) is created, moved, cancelled or
replaced as a whole, through a :class:`~airflow_braze_schedule.engine.ports.GroupSender` (the operators'
is :class:`~airflow_braze_schedule.operators.keyed_groups.TaskGroupSender`: a create is the engine's
:class:`~airflow_braze_schedule.engine.bulk.BulkSend` with the task's ledger, an update or cancel
:func:`~airflow_braze_schedule.engine.groups.change_group_schedules`). As for a
single schedule (:mod:`~airflow_braze_schedule.engine.keyed_steps`), the registry holds the intent
before the requests go out, and a later try *settles* it first:

* ``group_create``: the group's creates were under way. The bulk create's ledger (in the task's
  ``task_state_store``, under a name of its own per key) lets a retry of the same task resume without
  sending a chunk twice. Another task cannot know which chunks exist, so it refuses (unless
  ``on_unknown_outcome="resend"``).
* ``group_update``: some schedules may have moved. The recorded fingerprint is forgotten, so the next plan
  moves every schedule to the time desired then (an update is idempotent).
* ``group_cancel``, and ``group_replace`` while ``cancelling``: the old send is cancelled again; a schedule
  Braze no longer has was cancelled by the earlier try. A replace's create then follows from the plan.
* ``group_replace`` while ``creating``: the old send is cancelled and the create never began.

Updates and cancels land as a single schedule's do (:func:`late_change_outcome`): ``applied``,
``best_effort``, or ``refused_too_late`` (then nothing is sent).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_braze_schedule.core.endpoints import ScheduleKind
from airflow_braze_schedule.core.group import BULK_LEDGER_KEY, GroupHandle
from airflow_braze_schedule.core.plan import Action, GroupSend, holds_group
from airflow_braze_schedule.core.registry_model import (
    APPLIED,
    CANCELLED,
    REFUSED_TOO_LATE,
    SCHEDULED,
    UPDATED,
    RegistryEntry,
)
from airflow_braze_schedule.engine.keyed_steps import KeyedOutcomeUnknownError, log_settling

if TYPE_CHECKING:
    from datetime import datetime

    from airflow_braze_schedule.core.audience import BulkPlan, EntrySource
    from airflow_braze_schedule.core.plan import KeyPlan
    from airflow_braze_schedule.engine.keyed_steps import KeyedSteps
    from airflow_braze_schedule.engine.ports import GroupSender


def ledger_key(schedule_key: str) -> str:
    """The bulk create ledger's name for a key's group: distinct per key, short whatever the key."""
    return f"{BULK_LEDGER_KEY}@{hashlib.sha256(schedule_key.encode()).hexdigest()[:16]}"


@dataclass
class GroupMember:
    """A desired group send: what the sender sends it with (the operators': a bulk-capable operator, its
    fields and ledger), and the bulk plan its whole audience was validated into (nothing sent)."""

    operator: Any  # the operators': a BrazeUpsertScheduleOperator
    plan: BulkPlan
    base: dict[str, Any]
    source: EntrySource
    now: datetime

    def send(self) -> GroupSend:
        return GroupSend(self.plan.fingerprint, self.plan.content_fingerprint, self.plan.chunks)


class GroupSteps:
    """Creates, updates, cancels and replaces a group under a key, recording each step.

    :param steps: the single-schedule steps (registry, actor, windows, ``on_unknown_outcome``).
    :param sender: sends a group's requests (see the module's docstring).
    :param task: the ``(run_id, task_id)`` of the task: an intent it left is its own to resume.
    :param quiet: the sender reports no change of the group's own (no XCom, no event): a reconcile
        reports every change of the task at once, and its XCom is its plan and outcome.
    """

    def __init__(
        self, steps: KeyedSteps, sender: GroupSender, *, task: tuple[Any, Any], quiet: bool = False
    ) -> None:
        self.steps = steps
        self.sender = sender
        self.task = task
        self.report = not quiet
        #: Requests sent so far (a change of a group sends one per schedule).
        self.sent = 0

    # --- what a change will do ----------------------------------------------------------------------

    def late_change(self, entry: RegistryEntry, action: str) -> tuple[str, str | None]:
        """How an ``update`` or ``cancel`` of the key's send lands (the single schedule's rule)."""
        handle = entry.handle or {}
        return self.steps.late_change(
            entry, handle.get("schedule"), ScheduleKind(str(handle.get("kind"))), action
        )

    def _refused(self, entry: RegistryEntry, action: str, reason: str | None) -> RegistryEntry:
        return self.steps.record(entry, action, note=reason, outcome=REFUSED_TOO_LATE)

    def cancel_held(self, entry: RegistryEntry) -> str | None:
        """Cancel every schedule the key's send is made of (a group's, or its single one)."""
        if "chunks" in (entry.handle or {}):
            group = GroupHandle.from_xcom(entry.handle or {})
            self.sent += len(group.chunks)
            self.sender.change(group, "cancel", None, not_found_is_cancelled=True, report=self.report)
            return None
        self.sent += 1
        _, note = self.steps.send_cancel(self.steps.cancel_request(entry))
        return note

    # --- the steps ----------------------------------------------------------------------------------

    def create(self, schedule_key: str, entry: RegistryEntry | None, member: GroupMember) -> RegistryEntry:
        plan = member.plan
        entry = self.steps.intend(
            entry or RegistryEntry(schedule_key), {"op": "group_create", "fingerprint": plan.fingerprint}
        )
        try:
            handle = self.sender.create(member, ledger_key(schedule_key), report=self.report)
        finally:
            self.sent += self.sender.requests_sent
        return self.steps.record(
            entry,
            "create",
            note=f"a group of {len(handle.get('chunks') or [])} schedules",
            handle=handle,
            fingerprint=plan.fingerprint,
            content_fingerprint=plan.content_fingerprint,
            state=SCHEDULED,
            outcome=None,
            pending=None,
        )

    def update(
        self, entry: RegistryEntry, operator: Any, fingerprints: tuple[str, str] | None
    ) -> RegistryEntry:
        """Move every schedule of the group to ``operator``'s schedule (the sender reads it).

        :param fingerprints: the desired send's (whole, without the schedule), or None where the audience
            is not known (an update by key): the recorded one no longer matches then.
        """
        outcome, reason = self.late_change(entry, "update")
        if outcome == REFUSED_TOO_LATE:
            return self._refused(entry, "update", reason)
        entry = self.steps.intend(entry, {"op": "group_update", "outcome": outcome})
        group = GroupHandle.from_xcom(entry.handle or {})
        self.sent += len(group.chunks)
        changed = self.sender.change(group, "update", operator, report=self.report)
        full, content = fingerprints or (None, entry.content_fingerprint)
        return self.steps.record(
            entry,
            "update",
            handle=changed,
            fingerprint=full,
            content_fingerprint=content,
            state=UPDATED,
            outcome=outcome,
            pending=None,
        )

    def cancel(self, entry: RegistryEntry) -> RegistryEntry:
        outcome, reason = self.late_change(entry, "cancel")
        if outcome == REFUSED_TOO_LATE:
            return self._refused(entry, "cancel", reason)
        entry = self.steps.intend(entry, {"op": "group_cancel", "outcome": outcome})
        note = self.cancel_held(entry)
        return self.steps.record(entry, "cancel", note=note, state=CANCELLED, outcome=outcome, pending=None)

    def replace(self, entry: RegistryEntry, member: GroupMember) -> RegistryEntry:
        """Cancel the key's send (a group or a single schedule), then create the new group; each half is
        recorded before it is sent."""
        outcome, reason = self.late_change(entry, "cancel")
        if outcome == REFUSED_TOO_LATE:
            return self._refused(entry, "cancel", reason)
        entry = self.steps.intend(
            entry,
            {
                "op": "group_replace",
                "stage": "cancelling",
                "fingerprint": member.plan.fingerprint,
                "outcome": outcome,
            },
        )
        note = self.cancel_held(entry)
        entry = self.steps.record(
            entry,
            "replace_cancelled",
            note=note or "the old send is cancelled; the new group is next",
            state=CANCELLED,
            outcome=outcome,
            pending={**(entry.pending or {}), "stage": "creating"},
        )
        return self.create(entry.schedule_key, entry, member)

    def carry_out(self, plan: KeyPlan, member: GroupMember | None) -> RegistryEntry | None:
        """Do what a group key's plan says; ``member`` is the desired group (None for a cancel)."""
        if plan.sends:
            self.steps.log.info(
                "schedule_key %r: %s of a group: %d requests.",
                plan.schedule_key,
                plan.action.value,
                plan.requests(),
            )
        if plan.action == Action.CANCEL:
            assert plan.entry is not None
            return self.cancel(plan.entry)
        if plan.action not in (Action.CREATE, Action.UPDATE, Action.REPLACE):
            return plan.entry
        assert member is not None
        if plan.action == Action.CREATE:
            return self.create(plan.schedule_key, plan.entry, member)
        assert plan.entry is not None
        if plan.action == Action.UPDATE:
            return self.update(
                plan.entry, member.operator, (member.plan.fingerprint, member.plan.content_fingerprint)
            )
        return self.replace(plan.entry, member)

    # --- an earlier try's job ----------------------------------------------------------------------

    def settle(self, entry: RegistryEntry) -> RegistryEntry:
        """Finish or clear what an earlier try left under way under a group key (see the module's
        docstring); a single schedule's job is the single steps'."""
        pending = entry.pending
        if not pending:
            return entry
        if not holds_group(entry):
            return self.steps.settle(entry)
        op, stage = pending.get("op"), pending.get("stage")
        same_task = (pending.get("run_id"), pending.get("task_id")) == tuple(self.task)
        if op == "group_create" and same_task:
            self.steps.log.warning(
                "schedule_key %r: this task's earlier try left the group's create under way; resuming it "
                "(chunks it created are not sent again).",
                entry.schedule_key,
            )
            return entry
        log_settling(self.steps.log, entry)
        if op == "group_create":
            if not self.steps.resend:
                raise KeyedOutcomeUnknownError(
                    f"schedule_key {entry.schedule_key!r}: an earlier try (task {pending.get('task_id')!r}, run "
                    f"{pending.get('run_id')!r}) sent a group's creates at {pending.get('at')} and never recorded "
                    "the group. Schedules may exist whose ids are unknown, so this try does not send again. Check "
                    "Braze for the send; to create it anyway, set on_unknown_outcome='resend'"
                )
            return self.steps.record(
                entry, "create_abandoned", note="resent after an unknown outcome", pending=None
            )
        if op == "group_update":
            return self.steps.record(
                entry,
                "update_interrupted",
                note="some schedules of the group may have moved: the send is planned anew",
                fingerprint=None,
                pending=None,
            )
        if op == "group_cancel" or stage == "cancelling":
            note = self.cancel_held(entry)
            return self.steps.record(
                entry,
                "cancel",
                note=note or "finished the earlier try's cancel",
                state=CANCELLED,
                outcome=pending.get("outcome", APPLIED),
                pending=None,
            )
        return self.steps.record(entry, "replace_resumed", pending=None)  # the plan creates the new group
