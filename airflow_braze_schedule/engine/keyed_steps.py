"""Carrying out keyed changes: each request preceded by its intent in the registry, followed by its result.

Braze has no idempotency key and no lookup of API-made schedules, so the registry is the memory that
makes retries safe. Before each request the intent is written (``pending``); after the answer, the
result, with the intent cleared. A later try that finds an intent *settles* it first:

* ``update`` and ``cancel`` are idempotent: the request is sent again (a cancel answered that the
  schedule is gone, 404 or 400, was done by the earlier try: :func:`~airflow_braze_schedule.core.errors.schedule_already_gone`);
* ``replace`` (cancel the old schedule, then create the new one) records each half: ``cancelling`` is
  settled by cancelling again; ``old_cancelled`` means the create never started, so it is made now;
* ``create`` whose answer never came is the one case that cannot be settled: a schedule may exist whose
  id is unknown. It is reported and not resent, unless ``on_unknown_outcome="resend"``.

Only the calling thread touches the registry; :meth:`KeyedSteps.send` may run on worker threads. Steps
write through ``writes``: the registry itself, or, while a reconcile carries out its plan
(:meth:`KeyedSteps.recording_to`), a :class:`~airflow_braze_schedule.engine.recorder.BatchedRecorder`
that writes a wave's intents and results in one batch.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

from airflow_braze_schedule.core.errors import (
    BrazeApiError,
    BrazeError,
    BrazeOutcomeUnknownError,
    BrazeUnreachableError,
    schedule_already_gone,
)
from airflow_braze_schedule.core.handle import ScheduleHandle, schedule_for_update
from airflow_braze_schedule.core.ledger import EarlierAttemptError
from airflow_braze_schedule.core.payload import (
    build_create_request,
    build_delete_request,
    build_update_request,
)
from airflow_braze_schedule.core.plan import Action, KeyPlan, plan_key
from airflow_braze_schedule.core.registry_model import (
    APPLIED,
    CANCELLED,
    DEFAULT_BEST_EFFORT_WINDOW,
    DEFAULT_FREEZE_WINDOW,
    REFUSED_TOO_LATE,
    SCHEDULED,
    UPDATED,
    Actor,
    RegistryEntry,
    late_change_outcome,
    request_fingerprints,
    with_schedule,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from datetime import timedelta
    from logging import Logger

    from airflow_braze_schedule.core.payload import BrazeRequest
    from airflow_braze_schedule.engine.ports import RegistryStore


class _Writes(Protocol):
    def put(self, entry: RegistryEntry) -> RegistryEntry: ...


def judge_late_change(
    subject: str, schedule: Any, kind: Any, action: str, *, best_effort_window: timedelta, log: Any
) -> tuple[str, str | None]:
    """How an ``update`` or ``cancel`` of a schedule will land (the rule:
    :func:`~airflow_braze_schedule.core.registry_model.late_change_outcome`), said plainly in the log
    unless it is simply applied. Every update and cancel, keyed or not, single or group, asks here.

    :param subject: what the log line is about, e.g. ``schedule_key 'k'`` or ``schedule s-1``.
    :return: ``(outcome, reason)``: ``applied``, ``best_effort`` or ``refused_too_late`` (send nothing).
    """
    outcome, reason = late_change_outcome(
        schedule, kind=kind, action=action, best_effort_window=best_effort_window
    )
    if reason:
        log.warning("%s: %s %s: %s", subject, action, outcome.replace("_", " "), reason)
    return outcome, reason


def log_settling(log: Any, entry: RegistryEntry) -> None:
    """Say that an earlier try left a job under way under the key, and that it is settled first."""
    pending = entry.pending or {}
    stage = pending.get("stage")
    log.warning(
        "schedule_key %r: an earlier try (%s, run %s) left %r%s under way; settling it first.",
        entry.schedule_key,
        pending.get("task_id"),
        pending.get("run_id"),
        pending.get("op"),
        f" ({stage})" if stage else "",
    )


def keyed_request(fields: dict[str, Any], entry: RegistryEntry | None) -> BrazeRequest:
    """The create request for a key's desired send.

    A flag the desired schedule leaves out (``in_local_time``, ``at_optimal_time``) keeps the value the
    key's live schedule has, as an update keeps it; so "move to 10:00" given as a bare time stays a
    local-time send, and the same input gives the same request run after run.
    """
    if entry is not None and entry.is_live() and fields.get("schedule") is not None:
        fields = {**fields, "schedule": schedule_for_update(fields["schedule"], entry.schedule)}
    return build_create_request(fields)


class KeyedOutcomeUnknownError(EarlierAttemptError):
    """A keyed create went out and its answer never came: a schedule may exist that nobody can name."""


class ScheduleKeyConflictError(EarlierAttemptError):
    """A create names a key that already has a live schedule made from a different request."""


def handle_of(entry: RegistryEntry) -> ScheduleHandle:
    assert entry.handle is not None
    return ScheduleHandle.from_xcom(entry.handle)


def keyed_result(entry: RegistryEntry, action: str, *, reason: str | None = None) -> dict[str, Any]:
    """What a keyed task returns: the handle (update and cancel accept it), the key, and what happened."""
    result: dict[str, Any] = dict(entry.handle or {})
    result.update(
        {
            "schedule_key": entry.schedule_key,
            "action": action,
            "state": entry.effective_state(),
            "outcome": entry.outcome if action in ("update", "cancel", "replace") else None,
        }
    )
    if reason:
        result["reason"] = reason
    return result


def change_of(entry: RegistryEntry, action: str) -> dict[str, Any]:
    """The change a key's entry reports on the task's event: a group's in its compact form (see
    :func:`~airflow_braze_schedule.events.group_change`), a single schedule's as :func:`keyed_result`."""
    if "chunks" not in (entry.handle or {}):
        return keyed_result(entry, action)
    from airflow_braze_schedule.events import group_change

    result = keyed_result(entry, action)
    return group_change(entry.handle or {}, entry.schedule_key, action, result["state"], result["outcome"])


class KeyedSteps:
    """Creates, updates, cancels and replaces under schedule keys, recording each step.

    :param registry: the workspace's registry.
    :param send: sends one validated request (the hook's ``send``).
    :param actor: who is making the changes (written into the history).
    :param log: where to say what happens.
    :param on_unknown_outcome: ``"fail"`` or ``"resend"``, as for the create operator.
    :param best_effort_window: how close to the send a change is only best effort.
    :param freeze_window: how close to the send upsert and reconcile leave a schedule alone.
    :param log_request: called with each request just before it is sent (an upsert logs it so); None for
        a reconcile, whose requests are too many to log one by one.
    """

    def __init__(
        self,
        registry: RegistryStore,
        send: Callable[[BrazeRequest], dict[str, Any]],
        actor: Actor,
        log: Logger,
        *,
        on_unknown_outcome: str = "fail",
        best_effort_window: timedelta = DEFAULT_BEST_EFFORT_WINDOW,
        freeze_window: timedelta = DEFAULT_FREEZE_WINDOW,
        log_request: Callable[[BrazeRequest], None] | None = None,
    ) -> None:
        self.registry = registry
        self.writes: _Writes = registry
        self.send = send
        self.actor = actor
        self.log = log
        self.resend = on_unknown_outcome == "resend"
        self.best_effort_window = best_effort_window
        self.freeze_window = freeze_window
        self.log_request = log_request

    def announce(self, request: BrazeRequest) -> None:
        """Say what is about to be sent, where the caller asked for it (``log_request``)."""
        if self.log_request is not None:
            self.log_request(request)

    @contextmanager
    def recording_to(self, writes: _Writes) -> Iterator[None]:
        """Write intents and results through ``writes`` (a batching recorder) for the ``with`` block."""
        self.writes = writes
        try:
            yield
        finally:
            self.writes = self.registry

    # --- intents and results (calling thread) --------------------------------------------------------

    def intend(self, entry: RegistryEntry, intent: dict[str, Any]) -> RegistryEntry:
        return self.writes.put(entry.intend(intent, self.actor))

    def record(
        self, entry: RegistryEntry, action: str, *, note: str | None = None, **changes: Any
    ) -> RegistryEntry:
        return self.writes.put(entry.record(action, self.actor, note=note, **changes))

    # --- create --------------------------------------------------------------------------------------

    def begin_create(self, key: str, entry: RegistryEntry | None, request: BrazeRequest) -> RegistryEntry:
        full, _ = request_fingerprints(request)
        entry = entry or RegistryEntry(key)
        replacing = entry.schedule_id if entry.state == CANCELLED else None
        return self.intend(
            entry, {"op": "create", "fingerprint": full, "path": request.path, "replacing": replacing}
        )

    def finish_create(
        self, entry: RegistryEntry, request: BrazeRequest, answer: dict[str, Any]
    ) -> RegistryEntry:
        schedule_id = answer.get("schedule_id")
        if not isinstance(schedule_id, str) or not schedule_id:
            raise BrazeOutcomeUnknownError(
                method=request.method,
                path=request.path,
                reason=f"Braze answered {answer!r} with no schedule_id",
            )
        assert request.kind is not None
        assert request.body is not None
        handle = ScheduleHandle(
            schedule_id=schedule_id,
            kind=request.kind,
            dispatch_id=answer.get("dispatch_id") if isinstance(answer.get("dispatch_id"), str) else None,
            campaign_id=request.body.get("campaign_id"),
            canvas_id=request.body.get("canvas_id"),
            schedule=request.body["schedule"],
        )
        full, content = request_fingerprints(request)
        return self.record(
            entry,
            "create",
            handle=handle.to_xcom(),
            fingerprint=full,
            content_fingerprint=content,
            state=SCHEDULED,
            outcome=None,
            pending=None,
        )

    def failed(self, entry: RegistryEntry, error: BaseException) -> RegistryEntry:
        """After an answer proving nothing was done (a 4xx/5xx, or Braze unreachable): clear the intent."""
        if isinstance(error, BrazeOutcomeUnknownError):
            return entry  # the intent stays: the next try settles it
        if isinstance(error, BrazeApiError | BrazeUnreachableError):
            op = (entry.pending or {}).get("op")
            return self.record(entry, f"{op}_failed", note=str(error)[:300], pending=None)
        return entry

    def create(self, key: str, entry: RegistryEntry | None, request: BrazeRequest) -> RegistryEntry:
        entry = self.begin_create(key, entry, request)
        self.announce(request)
        try:
            answer = self.send(request)
        except BrazeError as error:
            self.failed(entry, error)
            raise
        return self.finish_create(entry, request, answer)

    # --- update --------------------------------------------------------------------------------------

    def update_request(self, entry: RegistryEntry, schedule: Any, messages: Any = None) -> BrazeRequest:
        handle = handle_of(entry)
        return build_update_request(
            handle.kind,
            handle.schedule_id,
            owner_id=handle.owner_id,
            schedule=schedule_for_update(schedule, handle.schedule),
            messages=messages,
        )

    def late_change(
        self, entry: RegistryEntry, schedule: Any, kind: Any, action: str
    ) -> tuple[str, str | None]:
        """How an ``update`` or ``cancel`` of the key's send lands (see :func:`judge_late_change`)."""
        return judge_late_change(
            f"schedule_key {entry.schedule_key!r}",
            schedule,
            kind,
            action,
            best_effort_window=self.best_effort_window,
            log=self.log,
        )

    def begin_update(self, entry: RegistryEntry, request: BrazeRequest) -> tuple[RegistryEntry, bool]:
        """Write the intent, unless the change is refused as too late (then record that). True: send it."""
        handle = handle_of(entry)
        outcome, reason = self.late_change(entry, handle.schedule, handle.kind, "update")
        if outcome == REFUSED_TOO_LATE:
            return self.record(entry, "update", note=reason, outcome=outcome), False
        assert request.body is not None
        intent: dict[str, Any] = {"op": "update", "schedule": request.body.get("schedule")}
        if "messages" in request.body:
            intent["messages"] = request.body["messages"]
        intent["outcome"] = outcome
        return self.intend(entry, intent), True

    def finish_update(self, entry: RegistryEntry, request: BrazeRequest) -> RegistryEntry:
        assert request.body is not None
        pending = entry.pending or {}
        handle = dict(entry.handle or {})
        if "schedule" in request.body:
            handle["schedule"] = request.body["schedule"]
        changes: dict[str, Any] = {
            "handle": handle,
            "state": UPDATED,
            "outcome": pending.get("outcome", APPLIED),
        }
        if entry.content_fingerprint and "schedule" in request.body:
            changes["fingerprint"] = with_schedule(entry.content_fingerprint, request.body["schedule"])
        return self.record(entry, "update", pending=None, **changes)

    def update(self, entry: RegistryEntry, request: BrazeRequest) -> RegistryEntry:
        entry, go = self.begin_update(entry, request)
        if not go:
            return entry
        self.announce(request)
        try:
            self.send(request)
        except BrazeError as error:
            self.failed(entry, error)
            raise
        return self.finish_update(entry, request)

    # --- cancel --------------------------------------------------------------------------------------

    def cancel_request(self, entry: RegistryEntry) -> BrazeRequest:
        """The delete of the key's schedule, named by the ids the registry recorded from its create."""
        handle = handle_of(entry)
        return build_delete_request(
            handle.kind, handle.schedule_id, owner_id=handle.owner_id, addressed_as_created=True
        )

    def begin_cancel(
        self, entry: RegistryEntry, *, replacing: str | None = None
    ) -> tuple[RegistryEntry, bool]:
        handle = handle_of(entry)
        outcome, reason = self.late_change(entry, handle.schedule, handle.kind, "cancel")
        if outcome == REFUSED_TOO_LATE:
            return self.record(entry, "cancel", note=reason, outcome=outcome), False
        intent: dict[str, Any] = {"op": "cancel", "outcome": outcome}
        if replacing is not None:
            intent = {"op": "replace", "stage": "cancelling", "fingerprint": replacing, "outcome": outcome}
        return self.intend(entry, intent), True

    def send_cancel(self, request: BrazeRequest) -> tuple[dict[str, Any], str | None]:
        """Send a delete; Braze answering that it no longer holds the schedule (404, or 400 on some
        servers) means it is already gone: cancelled by an earlier try or someone else, or sent."""
        self.announce(request)
        try:
            return self.send(request), None
        except BrazeApiError as error:
            if not schedule_already_gone(error, addressed_as_created=request.addressed_as_created):
                raise
            self.log.warning(
                "%s: Braze no longer holds schedule %s (it answered %s: %s); counted as cancelled.",
                request.path,
                (request.body or {}).get("schedule_id"),
                error.status_code,
                error.message,
            )
            return {"message": "success"}, (
                f"Braze no longer had this schedule (answered {error.status_code}: {error.message}): "
                "it was already cancelled or sent"
            )

    def finish_cancel(self, entry: RegistryEntry, note: str | None = None) -> RegistryEntry:
        pending = entry.pending or {}
        next_pending = None
        if pending.get("op") == "replace":
            next_pending = {**pending, "stage": "old_cancelled"}
        return self.record(
            entry,
            "cancel",
            note=note,
            state=CANCELLED,
            outcome=pending.get("outcome", APPLIED),
            pending=next_pending,
        )

    def cancel(self, entry: RegistryEntry) -> RegistryEntry:
        return self._cancel(entry)[0]

    def _cancel(self, entry: RegistryEntry, *, replacing: str | None = None) -> tuple[RegistryEntry, bool]:
        """Cancel the key's schedule, recorded before and after; False if refused as too late (nothing
        sent). ``replacing``: the fingerprint of the request a replace creates next."""
        entry, go = self.begin_cancel(entry, replacing=replacing)
        if not go:
            return entry, False
        try:
            _, note = self.send_cancel(self.cancel_request(entry))
        except BrazeError as error:
            self.failed(entry, error)
            raise
        return self.finish_cancel(entry, note), True

    # --- replace, settle, and one key's plan ----------------------------------------------------------

    def replace(self, entry: RegistryEntry, request: BrazeRequest) -> RegistryEntry:
        full, _ = request_fingerprints(request)
        entry, cancelled = self._cancel(entry, replacing=full)
        return self.create(entry.schedule_key, entry, request) if cancelled else entry

    def settle(self, entry: RegistryEntry) -> RegistryEntry:
        """Finish or clear what an earlier try left under way (see the module's docstring)."""
        pending = entry.pending
        if not pending:
            return entry
        op, stage = pending.get("op"), pending.get("stage")
        log_settling(self.log, entry)
        if op == "create":
            if not self.resend:
                raise KeyedOutcomeUnknownError(
                    f"schedule_key {entry.schedule_key!r}: an earlier try (task {pending.get('task_id')!r}, run "
                    f"{pending.get('run_id')!r}) sent a create ({pending.get('path')}) at {pending.get('at')} and "
                    "never recorded Braze's answer. A schedule may exist whose schedule_id is unknown, so this try "
                    "does not send again. Check Braze for the send; to create it anyway, set "
                    "on_unknown_outcome='resend'"
                )
            return self.record(
                entry, "create_abandoned", note="resent after an unknown outcome", pending=None
            )
        if op == "update":
            request = self.update_request(entry, pending.get("schedule"), pending.get("messages"))
            self.announce(request)
            self.send(request)
            return self.finish_update(entry, request)
        if op == "cancel" or (op == "replace" and stage == "cancelling"):
            _, note = self.send_cancel(self.cancel_request(entry))
            entry = self.finish_cancel(entry, note)
        if entry.pending and entry.pending.get("op") == "replace":
            # The old schedule is cancelled and the new one was never sent: the caller's plan creates it.
            entry = self.record(entry, "replace_resumed", pending=None)
        return entry

    def plan(self, key: str, fields: dict[str, Any], *, dry_run: bool = False) -> KeyPlan:
        """Settle the key's earlier job (unless a dry run), build its request, and plan it."""
        entry = self.registry.get(key)
        if entry is not None and entry.pending and not dry_run:
            entry = self.settle(entry)
        if entry is not None and "chunks" in (entry.handle or {}) and entry.is_live():
            raise ScheduleKeyConflictError(
                f"schedule_key {key!r} holds a bulk create's group of {len(entry.handle['chunks'])} "  # type: ignore[index]
                "schedules, which only upsert and update or cancel by key change: upsert it "
                "(BrazeUpsertScheduleOperator(schedule_key=...)), or update or cancel it by key"
            )
        return plan_key(key, entry, keyed_request(fields, entry), freeze_window=self.freeze_window)

    def requests_of(self, plan: KeyPlan) -> list[BrazeRequest]:
        """The requests carrying out one key's plan would send, in order (what a dry run shows)."""
        if plan.action == Action.CREATE:
            assert plan.request is not None
            return [plan.request]
        if plan.action == Action.UPDATE:
            assert plan.entry is not None
            assert plan.request is not None
            assert plan.request.body is not None
            return [self.update_request(plan.entry, plan.request.body["schedule"])]
        if plan.action == Action.REPLACE:
            assert plan.entry is not None
            assert plan.request is not None
            return [self.cancel_request(plan.entry), plan.request]
        if plan.action == Action.CANCEL:
            assert plan.entry is not None
            return [self.cancel_request(plan.entry)]
        return []

    def carry_out(self, plan: KeyPlan) -> RegistryEntry | None:
        """Do what one key's plan says (sequentially), returning the entry as recorded."""
        if plan.action == Action.CREATE:
            assert plan.request is not None
            return self.create(plan.schedule_key, plan.entry, plan.request)
        if plan.action == Action.UPDATE:
            assert plan.entry is not None
            assert plan.request is not None
            assert plan.request.body is not None
            request = self.update_request(plan.entry, plan.request.body["schedule"])
            return self.update(plan.entry, request)
        if plan.action == Action.REPLACE:
            assert plan.entry is not None
            assert plan.request is not None
            return self.replace(plan.entry, plan.request)
        if plan.action == Action.CANCEL:
            assert plan.entry is not None
            return self.cancel(plan.entry)
        return plan.entry
