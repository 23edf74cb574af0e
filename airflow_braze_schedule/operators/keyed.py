"""Schedules that outlive the DAG run: upsert and reconcile by ``schedule_key``.

A *schedule key* is your name for one send ("order-4711/reminder"). The registry
(:mod:`airflow_braze_schedule.registry`) remembers, per Braze connection, which schedule serves each key,
so any DAG run, of any DAG, can find it again:

* :class:`BrazeUpsertScheduleOperator` makes one key's send what it should be: created if missing, left
  alone if unchanged (no request at all), updated if only its schedule changed, replaced (cancel, then
  create) if anything else changed;
* :class:`BrazeReconcileSchedulesOperator` does the same for a whole scope (a key prefix) at once, and
  cancels what is no longer desired;
* the update and cancel operators take ``schedule_key=`` instead of ``schedule_id``.

Every change is written to the registry before its request goes out and after its answer comes back, so a
retried or cleared task finishes the job instead of sending twice.

Only ``BaseOperator`` and the schedule operators' module are imported at parse time.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_braze_schedule.engine.groups import DEFAULT_MAX_CONCURRENCY, DEFAULT_PROGRESS_INTERVAL
from airflow_braze_schedule.events import emit_changes
from airflow_braze_schedule.fail_fast import _failing_fast_where_retries_cannot_help
from airflow_braze_schedule.operators.braze import (
    DEFAULT_CONN_ID,
    BrazeCreateScheduleOperator,
    _BrazeScheduleOperator,
)
from airflow_braze_schedule.operators.by_key import (
    closing_registries,
    keyed_steps_of,
    keyed_task_result,
    open_registry_of,
    upsert_group_by_key,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.providers.common.compat.sdk import Context

    from airflow_braze_schedule.core.payload import BrazeRequest
    from airflow_braze_schedule.engine.group_steps import GroupMember
    from airflow_braze_schedule.engine.keyed_steps import KeyedSteps
    from airflow_braze_schedule.registry.store import ScheduleRegistry

#: The task_state_store key under which a keyed task notes when its last successful try ended: changes it
#: recorded up to then were reported on its event (see :func:`changes_left_unreported`).
REPORTED_UNTIL_KEY = "braze_schedule_changes_reported_until"
#: History lines that record a change Braze made (an update or cancel refused as too late is not one).
_CHANGE_LINES = ("create", "update", "cancel", "replace_cancelled")


class KeyedOperatorMixin:
    """Opening the registry and the steps; shared by the upsert and reconcile operators.

    Expects ``braze_conn_id``, ``registry_conn_id``, ``registry_table``, ``best_effort_window``,
    ``freeze_window`` and ``on_unknown_outcome`` attributes, and the hook of :class:`_BrazeScheduleOperator`.
    """

    braze_conn_id: str
    registry_conn_id: str | None
    registry_table: str | None
    best_effort_window: timedelta
    freeze_window: timedelta
    log: Any

    @staticmethod
    def _registry_on_asset(arguments: dict[str, Any]) -> bool:
        """Upsert and reconcile are always keyed (an upsert's ``schedule_key`` may come from ``expand()``,
        out of ``partial()``'s sight): the asset is needed whenever no ``registry_conn_id`` is given."""
        return arguments.get("registry_conn_id") is None

    def open_registry(self, context: Context) -> ScheduleRegistry:
        return open_registry_of(self, context)

    def keyed_steps(self, context: Context, registry: ScheduleRegistry) -> KeyedSteps:
        """The steps this task changes keys by (tests override it to stop a worker between two steps)."""
        return keyed_steps_of(self, context, registry)


def _earlier_change(entry: Any, actor: Any, reported_until: str | None) -> str | None:
    """The change this task (its DAG run and task id) last recorded for a key and did not report: the
    trailing history lines written by it, after ``reported_until``, read as one action."""
    from airflow_braze_schedule.core.registry_model import REFUSED_TOO_LATE

    own: list[str] = []
    for line in reversed(entry.history):
        if (line.get("dag_id"), line.get("run_id"), line.get("task_id")) != (
            actor.dag_id,
            actor.run_id,
            actor.task_id,
        ):
            break
        if reported_until is not None and str(line.get("at") or "") <= reported_until:
            break
        if line.get("action") in _CHANGE_LINES and line.get("outcome") != REFUSED_TOO_LATE:
            own.append(line["action"])
    if not own:
        return None
    own.reverse()
    if own[-1] == "create" and len(own) > 1 and own[-2] in ("cancel", "replace_cancelled"):
        return "replace"
    return "cancel" if own[-1] == "replace_cancelled" else own[-1]


def changes_left_unreported(
    context: Any, entries: Any, *, reported: set[str], registry: ScheduleRegistry | None = None
) -> list[dict[str, Any]]:
    """Changes an earlier try of this task recorded but never reported, to report on this try's event.

    Airflow registers a task's asset event only when the task succeeds, so the changes a failed try made
    were never heard of; the retry then finds those keys unchanged. A key whose last history lines were
    written by this same task in this DAG run (an earlier try, or this one settling an earlier try's job)
    and that this try did not change again is reported with its original action and
    ``"reported_late": true``. A try that succeeds notes when in its ``task_state_store`` (Airflow 3.3+),
    so a cleared task does not report its earlier successful try's changes again; without the store, a
    cleared task reports them again, marked ``reported_late``.

    :param entries: the registry entries this try considered (after settling).
    :param reported: the keys this try's event already carries.
    :param registry: where ``entries`` were listed from: a listing holds each entry's last history line
        only, and telling a replace from a create needs the lines before it (read for those keys only).
    """
    from airflow_braze_schedule.engine.keyed_steps import change_of
    from airflow_braze_schedule.operators.by_key import actor_from_context

    actor = actor_from_context(context)
    if actor.task_id is None:
        return []
    store = context.get("task_state_store")
    reported_until = store.get(REPORTED_UNTIL_KEY) if store is not None else None
    own = [
        entry
        for entry in entries
        if entry is not None
        and entry.schedule_key not in reported
        and _earlier_change(entry, actor, reported_until) is not None
    ]
    if registry is not None:
        registry.complete_histories(own)
    late: list[dict[str, Any]] = []
    for entry in own:
        action = _earlier_change(entry, actor, reported_until)
        if action is not None:
            late.append({**change_of(entry, action), "reported_late": True})
    return late


def note_changes_reported(context: Any) -> None:
    """At the end of a successful try: its changes, and those reported late, are on its event."""
    from airflow_braze_schedule.core.ledger import RETENTION
    from airflow_braze_schedule.core.registry_model import utc_now

    store = context.get("task_state_store")
    if store is not None:
        store.set(REPORTED_UNTIL_KEY, utc_now().isoformat(), retention=RETENTION)


class BrazeUpsertScheduleOperator(KeyedOperatorMixin, _BrazeScheduleOperator):
    """Make the send under ``schedule_key`` be the one described, whatever was there before.

    Takes the create operator's arguments (Braze's request fields) and a ``schedule_key``:

    * no live schedule under the key: create it and record it;
    * the very same request as recorded: send nothing, return the recorded handle;
    * only the schedule changed: update it (keeping ``in_local_time`` / ``at_optimal_time`` as created
      unless given);
    * anything else changed (recipients, properties, messages, the campaign or Canvas): replace it: cancel
      the old schedule, then create the new one. Each half is recorded before it is sent, so a retry after
      a failure between the two finishes the job rather than sending twice or never.

    An audience larger than one request takes (over 50 recipients, or external_user_ids and user_aliases
    together; or ``recipients_path``), or a key that holds a bulk create's group, is upserted as a group,
    with the bulk create's arguments (``chunk_size``, ``max_concurrency``...): created as a bulk create
    does; left alone if the whole audience and request are the same; every schedule of the group updated
    if only the schedule changed; otherwise the old group (or schedule) cancelled, then the new group
    created, each half recorded before it is sent as for a single replace. The result is then the group
    handle with ``schedule_key``, ``action``, ``state`` and ``outcome``. The decision is
    :func:`~airflow_braze_schedule.core.plan.plan_group`, the one reconcile makes for a group.

    A change that falls within ``freeze_window`` of the send is not made (the result says
    ``"action": "frozen"`` and why). Returns the handle (update and cancel accept it) with ``schedule_key``,
    ``action`` (``create``, ``unchanged``, ``update``, ``replace``, ``frozen``), ``state`` and ``outcome``.

    It shares no code with the create operators by inheritance: its request is built and validated by the
    core (:func:`~airflow_braze_schedule.core.payload.build_create_request`), a group's by the engine
    (:func:`~airflow_braze_schedule.engine.bulk.validated_bulk_plan`), the rules the create operators use.

    :param schedule: as for :class:`~airflow_braze_schedule.operators.braze.BrazeCreateScheduleOperator`,
        like each of Braze's request fields below. (templated)
    :param messages: a request field. (templated)
    :param campaign_id: a request field. (templated)
    :param canvas_id: a request field. (templated)
    :param recipients: a request field; any number of recipients (a group beyond 50). (templated)
    :param audience: a request field. (templated)
    :param broadcast: a request field. (templated)
    :param external_user_ids: a request field; any number (a group beyond 50). (templated)
    :param user_aliases: a request field; any number (a group beyond 50). (templated)
    :param segment_id: a request field. (templated)
    :param send_id: a request field. (templated)
    :param trigger_properties: a request field. (templated)
    :param context: a request field. (templated)
    :param canvas_entry_properties: a request field. (templated)
    :param override_messaging_limits: a request field. (templated)
    :param recipient_subscription_state: a request field. (templated)
    :param on_unknown_outcome: as for the create operator. (templated)
    :param recipients_path: as for :class:`~airflow_braze_schedule.operators.bulk.BrazeBulkCreateScheduleOperator`:
        the audience in a JSON Lines file (a group). (templated)
    :param chunk_size: a group's users per schedule, 1 to 50 (default 50).
    :param max_concurrency: a group's requests in flight at once (default 8).
    :param progress_interval: seconds between a group's progress lines (default 10).
    :param schedule_key: your name for this send, unique per Braze connection, e.g.
        ``"order-4711/reminder"``. (templated)
    :param registry_conn_id: an Airflow SQL connection to keep the registry in (any ``DbApiHook``). Default:
        the ``asset_state_store`` of ``braze://<braze_conn_id>/schedules`` (Airflow 3.3+).
    :param registry_table: the SQL registry's table name. Default ``braze_schedule_registry``.
    :param freeze_window: how close to the send (timedelta or seconds) the schedule is left as it is.
        Default 15 minutes.
    :param best_effort_window: how close to the send a change is reported as ``best_effort``. Default 1 hour.

    ``braze_conn_id`` must be given literally (not templated): it names the registry and the asset.
    """

    REQUEST_FIELDS: ClassVar[tuple[str, ...]] = BrazeCreateScheduleOperator.REQUEST_FIELDS
    template_fields: Sequence[str] = (
        *REQUEST_FIELDS,
        "braze_conn_id",
        "on_unknown_outcome",
        "schedule_key",
        "recipients_path",
    )
    #: The task_state_store key of a group create's ledger; None: the default. A reconcile gives each
    #: group's its own.
    ledger_key: str | None = None
    #: Requests the last group send sent (chunks created or answered otherwise), for a reconcile's count.
    requests_sent: int = 0

    def __init__(
        self,
        *,
        schedule: Any,
        messages: dict[str, Any] | None = None,
        campaign_id: str | None = None,
        canvas_id: str | None = None,
        recipients: list[dict[str, Any]] | None = None,
        audience: dict[str, Any] | None = None,
        broadcast: bool | None = None,
        external_user_ids: list[str] | None = None,
        user_aliases: list[dict[str, str]] | None = None,
        segment_id: str | None = None,
        send_id: str | None = None,
        trigger_properties: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
        canvas_entry_properties: dict[str, Any] | None = None,
        override_messaging_limits: bool | None = None,
        recipient_subscription_state: str | None = None,
        on_unknown_outcome: str = "fail",
        recipients_path: Any = None,
        chunk_size: int = 50,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        progress_interval: float = DEFAULT_PROGRESS_INTERVAL,
        schedule_key: str,
        registry_conn_id: str | None = None,
        registry_table: str | None = None,
        freeze_window: timedelta | float = timedelta(minutes=15),
        best_effort_window: timedelta | float = timedelta(hours=1),
        braze_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            braze_conn_id=braze_conn_id,
            schedule_key=schedule_key,
            registry_conn_id=registry_conn_id,
            registry_table=registry_table,
            **kwargs,
        )
        # Braze's request fields, under Braze's names (the create operator's arguments).
        self.schedule = schedule
        self.messages = messages
        self.campaign_id = campaign_id
        self.canvas_id = canvas_id
        self.recipients = recipients
        self.audience = audience
        self.broadcast = broadcast
        self.external_user_ids = external_user_ids
        self.user_aliases = user_aliases
        self.segment_id = segment_id
        self.send_id = send_id
        self.trigger_properties = trigger_properties
        self.context = context
        self.canvas_entry_properties = canvas_entry_properties
        self.override_messaging_limits = override_messaging_limits
        self.recipient_subscription_state = recipient_subscription_state
        self.on_unknown_outcome = on_unknown_outcome
        # A group's (the bulk create's arguments).
        self.recipients_path = recipients_path
        self.chunk_size = chunk_size
        self.max_concurrency = max_concurrency
        self.progress_interval = progress_interval
        self.freeze_window = freeze_window  # type: ignore[assignment]
        self.best_effort_window = best_effort_window  # type: ignore[assignment]

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_braze_schedule.core.ledger import check_on_unknown_outcome
        from airflow_braze_schedule.core.plan import Action
        from airflow_braze_schedule.core.registry_model import check_schedule_key, check_window

        with _failing_fast_where_retries_cannot_help(creates=True), closing_registries(self):
            key = check_schedule_key(self.schedule_key)
            check_on_unknown_outcome(self.on_unknown_outcome)
            self.freeze_window = check_window("freeze_window", self.freeze_window)
            self.best_effort_window = check_window("best_effort_window", self.best_effort_window)
            dry_run = self._is_dry_run()
            registry = self.open_registry(context)
            steps = self.keyed_steps(context, registry)
            recorded = registry.get(key)
            if self._as_group(recorded):
                return upsert_group_by_key(self, context, key, recorded, steps, dry_run=dry_run)
            fields = {name: getattr(self, name) for name in self.REQUEST_FIELDS}
            # Each request is logged as it goes out: an update, or a replace's delete then create, is
            # not the create request the plan is made from.
            steps.log_request = self._log_request
            plan = steps.plan(key, fields, dry_run=dry_run)
            self.log.info("schedule_key %r: %s (%s).", key, plan.action.value, plan.reason)
            if dry_run:
                for request in steps.requests_of(plan):
                    self._log_request(request, dry_run=True)
                return self._keyed_dry_run(
                    context,
                    {
                        "schedule_key": key,
                        "action": plan.action.value,
                        "reason": plan.reason,
                        "dry_run": True,
                    },
                )
            entry = steps.carry_out(plan)
            if entry is None:  # only for a plan that sends nothing and has no entry: cannot happen here
                raise AssertionError(f"no registry entry for {key!r} after {plan.action}")
            reason = plan.reason if plan.action in (Action.FROZEN, Action.UNCHANGED) else None
            if plan.action == Action.UPDATE:
                reason = entry.refusal_reason()
            # A change an earlier, failed try made (its event never registered) is reported now.
            late = [] if plan.sends else changes_left_unreported(context, [entry], reported=set())
            if late:
                self.log.info("schedule_key %r: reporting an earlier try's %s.", key, late[0]["action"])
            result = keyed_task_result(self, context, entry, plan.action.value, reason, report=late or None)
            note_changes_reported(context)
            return result

    def _as_group(self, recorded: Any) -> bool:
        """Whether this upsert is a group's: more users than one request takes, or a group recorded."""
        from airflow_braze_schedule.core.audience import USER_FIELDS
        from airflow_braze_schedule.core.plan import sends_as_group

        fields = {name: getattr(self, name) for name in (*USER_FIELDS, "recipients_path")}
        return sends_as_group(fields, recorded)


class ReconcileIncompleteError(RuntimeError):
    """Some keys of a reconcile failed in a way a retry may fix; everything that succeeded is recorded."""


def raise_for_failures(errors: dict[str, BaseException], total: int) -> None:
    """Fail the task after a partly failed reconcile: retried if every failure may pass, else not."""
    from airflow.providers.common.compat.sdk import AirflowFailException

    from airflow_braze_schedule.core.retry import airflow_may_retry

    first_key, first_error = next(iter(errors.items()))
    text = (
        f"{len(errors)} of {total} keys failed (first: {first_key!r}: {first_error}). Every change that "
        "succeeded is recorded, so a retry carries out only what is left"
    )

    def may_retry(error: BaseException) -> bool:  # a group's step may have failed the task's way already
        return not isinstance(error, AirflowFailException) and airflow_may_retry(error, creates=True)

    if all(may_retry(error) for error in errors.values()):
        raise ReconcileIncompleteError(text) from first_error
    raise AirflowFailException(text + "; some failures will not pass by retrying") from first_error


class BrazeReconcileSchedulesOperator(KeyedOperatorMixin, _BrazeScheduleOperator):
    """Make the sends under a scope (a key prefix) exactly the desired set.

    Given every send that should exist under ``scope``, it creates the missing ones, updates those whose
    schedule changed, replaces those that changed otherwise, cancels the registered ones no longer desired
    (only those still to be sent) and leaves the rest alone. It first computes and logs the plan (counts
    and keys per action); ``dry_run=True`` stops there. Requests go out concurrently (``max_workers``),
    each recorded in the registry before and after, so a retry finishes the job exactly once.

    A desired send larger than one request (over 50 users, or ``recipients_path``), or a key holding a bulk
    create's group, is a *group*, planned and carried out as :class:`BrazeUpsertScheduleOperator` does one
    (created, left, updated or replaced as a whole; cancelled whole when no longer desired), its
    ``max_concurrency`` being ``max_workers``. A group counts as one key in the plan and as one request per
    schedule in its ``requests_expected`` (listed under ``groups``).

    Returns ``{"plan": ..., "outcome": ...}``: the plan's counts and keys, and what was done (requests
    sent, per-key failures, best-effort and refused changes).

    :param scope: the key prefix this task owns, e.g. ``"orders/"``. Every desired key must start with it.
        (templated)
    :param desired: a list of ``{"schedule_key": ..., <create fields>}`` dicts. (templated)
    :param desired_path: or a JSON Lines file of such objects, one per line. (templated)
    :param max_workers: requests in flight at once. Default 8.
    :param registry_conn_id: as for :class:`BrazeUpsertScheduleOperator`.
    :param registry_table: as for :class:`BrazeUpsertScheduleOperator`.
    :param freeze_window: as for :class:`BrazeUpsertScheduleOperator`.
    :param best_effort_window: as for :class:`BrazeUpsertScheduleOperator`.
    :param on_unknown_outcome: as for the create operator: ``"resend"`` creates again a key whose earlier
        create went out unanswered (check Braze first). (not templated)
    :param braze_conn_id: the Airflow connection of type ``braze``; given literally (it names the registry).
    """

    template_fields: Sequence[str] = ("scope", "desired", "desired_path", "braze_conn_id")
    template_fields_renderers: ClassVar[dict[str, str]] = {"desired": "json"}

    def __init__(
        self,
        *,
        scope: str,
        desired: list[dict[str, Any]] | str | None = None,
        desired_path: str | None = None,
        max_workers: int = 8,
        registry_conn_id: str | None = None,
        registry_table: str | None = None,
        freeze_window: timedelta | float = timedelta(minutes=15),
        best_effort_window: timedelta | float = timedelta(hours=1),
        on_unknown_outcome: str = "fail",
        braze_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("schedule_key") is not None:
            raise TypeError(
                "BrazeReconcileSchedulesOperator takes no schedule_key: its keys are those of desired "
                "(each item's schedule_key) under scope"
            )
        super().__init__(
            braze_conn_id=braze_conn_id,
            registry_conn_id=registry_conn_id,
            registry_table=registry_table,
            **kwargs,
        )
        self.scope = scope
        self.desired = desired
        self.desired_path = desired_path
        self.max_workers = max_workers
        self.freeze_window = freeze_window  # type: ignore[assignment]
        self.best_effort_window = best_effort_window  # type: ignore[assignment]
        self.on_unknown_outcome = on_unknown_outcome

    def _desired_items(self) -> list[Any]:
        import json

        from airflow_braze_schedule.core.errors import BrazeValidationError

        if (self.desired is None) == (self.desired_path is None):
            raise BrazeValidationError("desired", "give desired or desired_path, one of the two", None)
        if self.desired_path is not None:
            items = []
            with open(self.desired_path, encoding="utf-8") as lines:
                for number, line in enumerate(lines, 1):
                    if line.strip():
                        try:
                            items.append(json.loads(line))
                        except ValueError as error:
                            raise BrazeValidationError(
                                "desired_path",
                                f"line {number} is not JSON ({error})",
                                "one JSON object per line",
                            ) from None
            return items
        value = self.desired
        if isinstance(value, str):  # a template rendered to text
            value = json.loads(value)
        if not isinstance(value, list):
            raise BrazeValidationError("desired", f"is a {type(value).__name__}", "a list of dicts")
        return value

    def desired_fields(self) -> dict[str, dict[str, Any]]:
        """The desired sends' create fields, by key (keys checked, each given once)."""
        from airflow_braze_schedule.core.errors import BrazeValidationError
        from airflow_braze_schedule.core.registry_model import check_schedule_key

        desired: dict[str, dict[str, Any]] = {}
        for number, item in enumerate(self._desired_items(), 1):
            if not isinstance(item, dict):
                raise BrazeValidationError(f"desired[{number}]", f"is a {type(item).__name__}", "a dict")
            fields = dict(item)
            key = check_schedule_key(fields.pop("schedule_key", None), f"desired[{number}].schedule_key")
            if key in desired:
                raise BrazeValidationError(
                    f"desired[{number}].schedule_key", f"{key!r} is given twice", "unique keys"
                )
            desired[key] = fields
        return desired

    @staticmethod
    def desired_requests(
        desired: dict[str, dict[str, Any]], registered: dict[str, Any]
    ) -> dict[str, BrazeRequest]:
        """Every desired send validated (nothing is sent if one breaks a rule), as its key's request."""
        from airflow_braze_schedule.engine.reconcile import desired_requests

        return desired_requests(desired, registered)

    def _group_member(self, key: str, fields: dict[str, Any]) -> GroupMember:
        """A desired send sent as a group: validated whole (nothing sent) through a bulk-capable operator
        of its own (its fields, its key's ledger), which sends through this task's hook."""
        from airflow_braze_schedule.core.errors import BrazeValidationError
        from airflow_braze_schedule.engine.reconcile import naming_desired_item
        from airflow_braze_schedule.operators.keyed_groups import validated_member

        allowed = {*BrazeUpsertScheduleOperator.REQUEST_FIELDS, "recipients_path", "chunk_size"}
        unknown = sorted(set(fields) - allowed)
        if unknown:
            raise BrazeValidationError(
                f"desired[{key!r}].{unknown[0]}",
                "is not a field of a send",
                "the create operator's request fields, recipients_path or chunk_size",
            )
        member = BrazeUpsertScheduleOperator(
            task_id=self.task_id,
            schedule_key=key,
            braze_conn_id=self.braze_conn_id,
            dry_run=self.braze_dry_run,
            on_unknown_outcome=self.on_unknown_outcome,
            max_concurrency=self.max_workers,
            **fields,
        )
        member.hook = self.hook  # one client: one rate-limit state for every request of the task
        with naming_desired_item(key):
            return validated_member(member)

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_braze_schedule.core.ledger import check_on_unknown_outcome
        from airflow_braze_schedule.core.plan import check_scope
        from airflow_braze_schedule.core.registry_model import check_window
        from airflow_braze_schedule.engine.reconcile import carry_out_plan, plan_reconcile
        from airflow_braze_schedule.operators.keyed_groups import group_steps

        with _failing_fast_where_retries_cannot_help(creates=True), closing_registries(self):
            check_on_unknown_outcome(self.on_unknown_outcome)
            self.freeze_window = check_window("freeze_window", self.freeze_window)
            self.best_effort_window = check_window("best_effort_window", self.best_effort_window)
            desired_fields = self.desired_fields()
            scope = check_scope(self.scope, desired_fields)
            registry = self.open_registry(context)
            steps = self.keyed_steps(context, registry)
            groups = group_steps(steps, self, context, quiet=True)
            dry_run = self._is_dry_run()
            reconcile = plan_reconcile(
                scope,
                registry,
                desired_fields,
                groups=groups,
                member=self._group_member,
                freeze_window=self.freeze_window,
                dry_run=dry_run,
                log=self.log,
            )
            plan, blocked = reconcile.plan, reconcile.blocked
            plan_json = reconcile.to_json()
            if dry_run:
                self.log.info("Dry run: the plan above was NOT carried out.")
                planned = [{"schedule_key": k.schedule_key, "action": k.action.value} for k in plan.keys]
                emit_changes(self, context, planned, dry_run=True, scope=scope)
                return {"plan": plan_json, "outcome": None, "dry_run": True}
            outcome, changes, errors = carry_out_plan(
                plan,
                steps,
                max_workers=self.max_workers,
                log=self.log,
                groups=groups,
                members=reconcile.members,
            )
            errors = {**blocked, **errors}
            # Changes an earlier, failed try made were never heard of (its event was not registered).
            late = changes_left_unreported(
                context,
                reconcile.registered.values(),
                reported={change["schedule_key"] for change in changes},
                registry=registry,
            )
            if late:
                self.log.info(
                    "Reporting %d changes an earlier try made: %s.",
                    len(late),
                    ", ".join(f"{change['schedule_key']} ({change['action']})" for change in late[:20]),
                )
            emit_changes(self, context, changes + late, scope=scope)
            self.log.info(
                "Reconcile of %r done: %d requests sent; %s.",
                scope,
                outcome["requests_sent"],
                ", ".join(
                    f"{name} {len(outcome[name])}"
                    for name in ("done", "failed", "best_effort", "refused_too_late")
                ),
            )
            if errors:
                raise_for_failures(errors, len(plan.keys) + len(blocked))
            note_changes_reported(context)
            return {
                "plan": plan_json,
                "outcome": {**outcome, "reported_late": [c["schedule_key"] for c in late]},
            }
