"""Operators for Braze schedules: create, update and cancel messages, API-triggered campaigns and Canvases.

The operators are thin: they render their templates, let the core validate the request (nothing is
sent if a Braze rule is broken), send it through :class:`~airflow_braze_schedule.hooks.braze.BrazeHook`,
and hand the schedule's handle on through XCom.

Only ``BaseOperator`` is imported at module level: the hook, ``requests`` and the core are imported when
a task runs, so a DAG file that uses these operators parses fast.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import AirflowFailException, BaseOperator, conf

from airflow_braze_schedule.fail_fast import _failing_fast_where_retries_cannot_help
from airflow_braze_schedule.links import BrazeDashboardLink

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from airflow.providers.common.compat.sdk import Context

    from airflow_braze_schedule.core.errors import BrazeRateLimitError
    from airflow_braze_schedule.core.group import GroupHandle
    from airflow_braze_schedule.core.handle import ScheduleHandle
    from airflow_braze_schedule.core.ledger import CreateLedger
    from airflow_braze_schedule.core.payload import BrazeRequest
    from airflow_braze_schedule.core.retry import RetryPolicy
    from airflow_braze_schedule.hooks.braze import BrazeHook

DEFAULT_CONN_ID = "braze_default"  # BrazeHook.default_conn_name, without importing the hook at parse time
#: The XCom key under which a cancel records the schedule_id it cancelled.
CANCELLED_XCOM_KEY = "cancelled_schedule_id"
_LOGGED_BODY_LIMIT = 4000

_JSON_RENDERERS = {
    name: "json"
    for name in (
        "schedule",
        "messages",
        "recipients",
        "audience",
        "external_user_ids",
        "user_aliases",
        "trigger_properties",
        "context",
        "canvas_entry_properties",
        "schedule_id",
    )
}


class _BrazeScheduleOperator(BaseOperator):
    """What the three operators share: the connection, the hook, dry runs, sending, and logging.

    :param braze_conn_id: the Airflow connection of type ``braze``. (templated)
    :param dry_run: validate and log the exact request, send nothing; a create returns a handle marked
        ``"dry_run": true``. Default: the connection's ``dry_run`` extra, else False.
    :param request_retry_policy: how the hook retries one HTTP request; see
        :class:`~airflow_braze_schedule.core.retry.RetryPolicy`. (Airflow's own ``retries`` and
        ``retry_policy`` govern retries of the whole task.)
    :param deferrable: when Braze's rate limit resets later than the policy's ``max_rate_limit_wait``,
        defer until the reset instead of failing (needs a triggerer). Default: ``[operators]
        default_deferrable``.
    :param emit_asset_event: declare the connection's asset ``braze://<braze_conn_id>/schedules`` as an
        outlet, so the task emits an event on it carrying its change (see
        :mod:`airflow_braze_schedule.events`). Default: yes on Airflow 3.3+; before, only when True
        (a local run there of an undeployed DAG fails or warns on an asset Airflow does not know yet;
        pass True in deployments). False leaves it out, except on a keyed task whose registry is that
        asset's ``asset_state_store`` (no ``registry_conn_id``). A templated ``braze_conn_id`` names no
        asset at parse time: no event then.
    :param schedule_key: a keyed create, update or cancel's key (see those operators). An upsert requires
        one; a reconcile takes none (its keys are those of ``desired`` under its ``scope``).
    """

    ui_color = "#e8d5ff"
    template_fields_renderers: ClassVar[dict[str, str]] = _JSON_RENDERERS
    # The campaign or Canvas in the Braze dashboard, from the handle the task returns.
    operator_extra_links = (BrazeDashboardLink(),)

    def __init__(
        self,
        *,
        braze_conn_id: str = DEFAULT_CONN_ID,
        dry_run: bool | None = None,
        request_retry_policy: RetryPolicy | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        emit_asset_event: bool | None = None,
        schedule_key: str | None = None,
        registry_conn_id: str | None = None,
        registry_table: str | None = None,
        **kwargs: Any,
    ) -> None:
        wanted = {
            "emit_asset_event": emit_asset_event,
            "schedule_key": schedule_key,
            "registry_conn_id": registry_conn_id,
        }
        if self._declares_schedules_asset(wanted):
            from airflow_braze_schedule.assets import with_schedules_outlet

            kwargs = with_schedules_outlet(braze_conn_id, kwargs)
        super().__init__(**kwargs)
        # Keyed tasks only; the subclasses document them.
        self.schedule_key = schedule_key
        self.registry_conn_id = registry_conn_id
        self.registry_table = registry_table
        self.emit_asset_event = emit_asset_event
        self.braze_conn_id = braze_conn_id
        # Not self.dry_run / self.retry_policy: BaseOperator already has a dry_run() method and, since
        # Airflow 3.3, a retry_policy for task retries.
        self.braze_dry_run = dry_run
        self.request_retry_policy = request_retry_policy
        self.deferrable = deferrable

    @classmethod
    def partial(cls, **kwargs: Any) -> Any:
        """As ``BaseOperator.partial``; the mapped task declares the schedules asset as ``__init__`` does
        (``__init__`` runs only when each mapped task runs, too late for the scheduler to know it)."""
        if cls._declares_schedules_asset(kwargs):
            from airflow_braze_schedule.assets import with_schedules_outlet

            kwargs = with_schedules_outlet(kwargs.get("braze_conn_id", DEFAULT_CONN_ID), kwargs)
        return super().partial(**kwargs)

    @classmethod
    def _declares_schedules_asset(cls, arguments: dict[str, Any]) -> bool:
        """Whether a task made with these keyword arguments declares its connection's schedules asset as an
        outlet: to emit its change event there, or because its keyed registry lives in that asset's
        ``asset_state_store``. The one rule, for ``__init__`` and ``partial()``."""
        from airflow_braze_schedule.assets import declares_schedules_asset

        return declares_schedules_asset(arguments.get("emit_asset_event")) or cls._registry_on_asset(
            arguments
        )

    @staticmethod
    def _registry_on_asset(arguments: dict[str, Any]) -> bool:
        """Whether the task is keyed with its registry in the asset's ``asset_state_store``."""
        return arguments.get("schedule_key") is not None and arguments.get("registry_conn_id") is None

    @cached_property
    def hook(self) -> BrazeHook:
        from airflow_braze_schedule.hooks.braze import BrazeHook

        return BrazeHook(braze_conn_id=self.braze_conn_id, retry_policy=self.request_retry_policy)

    def _is_dry_run(self) -> bool:
        """The operator's ``dry_run`` if set, else the connection's ``dry_run`` extra."""
        return self.braze_dry_run if self.braze_dry_run is not None else self.hook.settings.dry_run

    def _log_request(self, request: BrazeRequest, *, dry_run: bool = False) -> None:
        for note in request.notes:
            self.log.warning("%s", note)
        if dry_run:
            self.log.info("Dry run: validated, NOT sent to Braze: %s", request.describe())
            return
        text = request.describe()
        if len(text) > _LOGGED_BODY_LIMIT:
            text = text[:_LOGGED_BODY_LIMIT] + f"… ({len(text)} characters in all)"
        self.log.info("Sending to Braze: %s", text)

    def _send(self, request: BrazeRequest, *, ledger: CreateLedger | None = None) -> dict[str, Any]:
        """Send through the hook. Where Braze's answer proves nothing was sent, record it in the ledger;
        on a rate limit too long to wait for in the worker, defer until it resets (if deferrable)."""
        from airflow_braze_schedule.core.errors import (
            BrazeApiError,
            BrazeRateLimitError,
            BrazeUnreachableError,
        )

        try:
            return self.hook.send(request)
        except (BrazeApiError, BrazeUnreachableError) as error:  # Braze: a 4xx/5xx answer means nothing sent
            if ledger is not None:
                ledger.not_sent()
            if isinstance(error, BrazeRateLimitError):
                self._defer_until_reset(error)
            raise

    def _defer_until_reset(self, error: BrazeRateLimitError) -> None:
        """Free the worker slot until the rate limit resets, then run ``execute`` again.

        When to resume is the retry policy's answer (the reset plus jitter, so tasks resume apart)."""
        import time

        import pendulum

        if not self.deferrable:
            return
        resume_at = self.hook.retry_policy.resume_at(error, now=time.time())
        if resume_at is None:
            return
        try:
            from airflow.providers.standard.triggers.temporal import DateTimeTrigger
        except ImportError:  # Airflow 2
            from airflow.triggers.temporal import DateTimeTrigger  # type: ignore[no-redef]

        moment = pendulum.from_timestamp(resume_at)
        self.log.warning(
            "Braze's rate limit is used up until %s; deferring until %s.", error.rate_limit, moment
        )
        self.defer(trigger=DateTimeTrigger(moment=moment), method_name="execute_after_rate_limit")

    def execute_after_rate_limit(self, context: Context, event: Any = None) -> Any:
        """Resume after a rate-limit deferral: nothing was sent before it, so run the task again."""
        return self.execute(context)

    def _push_schedule_id(self, context: Context, handle: ScheduleHandle) -> None:
        context["ti"].xcom_push(key="schedule_id", value=handle.schedule_id)

    def _emit(
        self,
        context: Context,
        result: dict[str, Any],
        action: str,
        *,
        state: str | None,
        dry_run: bool,
        outcome: str | None = None,
    ) -> dict[str, Any]:
        """Put this task's change (its handle, and its ``schedule_key`` or None) on its asset event;
        return ``result`` unchanged."""
        from airflow_braze_schedule.events import emit_changes, handle_change

        change = handle_change(result, action, state=state, schedule_key=self.schedule_key, outcome=outcome)
        emit_changes(self, context, [change], dry_run=dry_run)
        return result

    def _emit_group(
        self,
        context: Context,
        group: dict[str, Any],
        action: str,
        state: str | None,
        *,
        dry_run: bool = False,
    ) -> None:
        """Put a bulk create's group change (its compact form) on this task's asset event."""
        from airflow_braze_schedule.events import emit_changes, group_change

        change = group_change(group, self.schedule_key, action, state)
        if dry_run:  # nothing was applied
            change["outcome"] = None
        emit_changes(self, context, [change], dry_run=dry_run)

    def change_group(
        self,
        context: Context,
        group: GroupHandle,
        action: str,
        *,
        not_found_is_cancelled: bool = False,
        report: bool = True,
    ) -> dict[str, Any]:
        """Update or cancel every schedule of a bulk create's group (the engine's
        :func:`~airflow_braze_schedule.engine.groups.change_group_schedules`), then push its schedule ids
        and put the change on this task's asset event; return the group handle as XCom holds it. An update
        applies this operator's ``schedule`` and ``messages``.

        :param report: push the ids and emit the event; False inside a reconcile, which reports every
            change of the task at once.
        """
        from airflow_braze_schedule.engine.groups import change_group_schedules

        with _failing_fast_where_retries_cannot_help(creates=False):
            dry_run = group.dry_run or self._is_dry_run()
            updated = change_group_schedules(
                lambda request: self.hook.client.send(request),
                group,
                action,
                log=self.log,
                dry_run=dry_run,
                retried=context["ti"].try_number > 1,
                schedule=getattr(self, "schedule", None),
                messages=getattr(self, "messages", None),
                not_found_is_cancelled=not_found_is_cancelled,
            )
            if report:
                context["ti"].xcom_push(key="schedule_ids", value=updated.schedule_ids)
                state = None if dry_run else "cancelled" if action == "cancel" else "updated"
                self._emit_group(context, updated.to_xcom(), action, state, dry_run=dry_run)
            return updated.to_xcom()

    def _keyed_dry_run(self, context: Context, result: dict[str, Any]) -> dict[str, Any]:
        """A keyed task's result, its event marked where it was a dry run (the keyed code emits the rest)."""
        if result.get("dry_run") is not True:
            return result
        if "chunks" in result:  # a group under a key
            self._emit_group(context, result, str(result.get("action")), None, dry_run=True)
            return result
        return self._emit(context, result, str(result.get("action")), state=None, dry_run=True)


class BrazeCreateScheduleOperator(_BrazeScheduleOperator):
    """Schedule a Braze message, API-triggered campaign or API-triggered Canvas for a future time.

    The arguments carry Braze's request fields under Braze's names. Which endpoint is used follows from
    them (the *kind rule*): ``canvas_id`` means an API-triggered Canvas; ``messages`` means a message
    schedule (a ``campaign_id`` beside it only attributes the send to that campaign); ``campaign_id``
    without ``messages`` means an API-triggered campaign. Anything else is refused before any request.

    The task returns the schedule's handle, a JSON-serialisable dict pushed as ``return_value``:
    ``schedule_id``, ``dispatch_id``, ``kind``, ``campaign_id`` or ``canvas_id`` where there is one, and
    ``schedule`` as sent. ``schedule_id`` is also pushed under its own XCom key, so downstream tasks can use
    ``create.output`` (the whole handle), ``create.output["schedule_id"]``, or
    ``{{ ti.xcom_pull(task_ids='create', key='schedule_id') }}``.

    .. seealso:: Braze's docs for ``/messages/schedule/create``, ``/campaigns/trigger/schedule/create``
        and ``/canvas/trigger/schedule/create``.

    :param schedule: the schedule object, ``{"time": ..., "in_local_time": ..., "at_optimal_time": ...}``,
        or just the time. ``time`` is an ISO 8601 string or a datetime. (templated)
    :param messages: message schedules: the channel objects (``apple_push``, ``email``, ...). (templated)
    :param campaign_id: an API-triggered campaign, or the campaign a message schedule is attributed to. (templated)
    :param canvas_id: an API-triggered Canvas. (templated)
    :param recipients: campaigns and Canvases: up to 50 recipient objects. (templated)
    :param audience: a connected audience object. (templated)
    :param broadcast: ``True`` to send to the whole segment the campaign or Canvas targets; excludes a
        list of users. (templated)
    :param external_user_ids: message schedules: up to 50 external user ids. (templated)
    :param user_aliases: message schedules: user alias objects. (templated)
    :param segment_id: message schedules: a segment to send to. (templated)
    :param send_id: messages and campaigns: a send id for analytics. (templated)
    :param trigger_properties: campaigns: personalisation for every recipient, at most 50 KB. (templated)
    :param context: Canvases: Canvas context (entry properties), at most 50 KB. (templated)
    :param canvas_entry_properties: Canvases: the older name of ``context``; give one of the two. (templated)
    :param override_messaging_limits: message schedules: ignore frequency capping. (templated)
    :param recipient_subscription_state: message schedules: ``opted_in``, ``subscribed`` or ``all``. (templated)
    :param braze_conn_id: the Airflow connection of type ``braze``. (templated)
    :param on_unknown_outcome: what a retry does when an earlier try sent this create and its answer never
        came (so a schedule may exist that cannot be identified): ``"fail"`` (default) refuses to send again;
        ``"resend"`` sends anyway, once you have checked Braze. (templated)
    :param schedule_key: your name for this send (e.g. ``"order-4711/reminder"``): the create is recorded in
        the schedule registry under it, so any DAG can update or cancel it by key. A live key made from a
        different request is refused (use :class:`~airflow_braze_schedule.operators.keyed.BrazeUpsertScheduleOperator`);
        the same request again returns the recorded handle. (templated)
    :param registry_conn_id: with ``schedule_key``: an Airflow SQL connection to keep the registry in.
        Default: the ``asset_state_store`` of ``braze://<braze_conn_id>/schedules`` (Airflow 3.3+).
    :param registry_table: with ``registry_conn_id``: the table's name (default ``braze_schedule_registry``).

    The arguments all three operators share (``dry_run``, ``request_retry_policy``, ``deferrable``) are
    described on :class:`_BrazeScheduleOperator`.

    Retries: on Airflow 3.3+, the create records its progress in the task's ``task_state_store``. A retried
    try returns the schedule an earlier try created instead of creating another, and refuses to resend a
    create whose outcome is unknown. Without ``task_state_store``, a retry refuses to send at all (see
    ``on_unknown_outcome``).

    Clears: a cleared run finds the schedule its earlier run created the same way. If a cancel task
    downstream in the same run cancelled that schedule since, the create schedules anew (and says so)
    instead of returning a handle Braze would answer 404 to.
    """

    REQUEST_FIELDS: ClassVar[tuple[str, ...]] = (
        "schedule",
        "messages",
        "campaign_id",
        "canvas_id",
        "recipients",
        "audience",
        "broadcast",
        "external_user_ids",
        "user_aliases",
        "segment_id",
        "send_id",
        "trigger_properties",
        "context",
        "canvas_entry_properties",
        "override_messaging_limits",
        "recipient_subscription_state",
    )
    template_fields: Sequence[str] = (*REQUEST_FIELDS, "braze_conn_id", "on_unknown_outcome", "schedule_key")

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
        braze_conn_id: str = DEFAULT_CONN_ID,
        on_unknown_outcome: str = "fail",
        schedule_key: str | None = None,
        registry_conn_id: str | None = None,
        registry_table: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            braze_conn_id=braze_conn_id,
            schedule_key=schedule_key,
            registry_conn_id=registry_conn_id,
            registry_table=registry_table,
            **kwargs,
        )
        self.on_unknown_outcome = on_unknown_outcome
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

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_braze_schedule.core.errors import BrazeOutcomeUnknownError
        from airflow_braze_schedule.core.ledger import CreateLedger, check_on_unknown_outcome, fingerprint
        from airflow_braze_schedule.core.payload import build_create_request

        if self.schedule_key is not None:
            from airflow_braze_schedule.operators.by_key import create_by_key

            return self._keyed_dry_run(context, create_by_key(self, context))
        with _failing_fast_where_retries_cannot_help(creates=True):
            check_on_unknown_outcome(self.on_unknown_outcome)
            request = build_create_request({name: getattr(self, name) for name in self.REQUEST_FIELDS})
            assert request.kind is not None
            assert request.body is not None
            if self._is_dry_run():
                self._log_request(request, dry_run=True)
                handle = self._handle(request, f"dry-run-{fingerprint(request)}", None, dry_run=True)
                self._push_schedule_id(context, handle)
                return self._emit(context, handle.to_xcom(), "create", state=None, dry_run=True)

            ledger = CreateLedger(
                context.get("task_state_store"),
                request,
                try_number=context["ti"].try_number,
                on_unknown_outcome=self.on_unknown_outcome,
            )
            earlier = ledger.existing(cancelled_by=_cancels_downstream(context, self.task_id))
            if earlier is not None:
                self.log.warning(
                    "Not sending: an earlier try of this task already created this schedule "
                    "(schedule_id=%s), and no cancel task of this DAG run cancelled it; returning it "
                    "instead of creating a second one.",
                    earlier.schedule_id,
                )
                self._push_schedule_id(context, earlier)
                return self._emit(context, earlier.to_xcom(), "create", state="scheduled", dry_run=False)
            if ledger.cancelled_earlier is not None:
                self.log.warning(
                    "An earlier try of this task created schedule_id %s, and %s cancelled it since; "
                    "creating a new schedule.",
                    ledger.cancelled_earlier.handle.schedule_id,
                    ledger.cancelled_earlier.cancelled_by,
                )

            # Logged only now that the ledger allows sending: a returned or refused create sends nothing.
            self._log_request(request)
            ledger.sending()
            try:
                answer = self._send(request, ledger=ledger)
            except BrazeOutcomeUnknownError as error:
                raise AirflowFailException(self._outcome_unknown_message(str(error), request)) from error
            schedule_id = answer.get("schedule_id")
            if not isinstance(schedule_id, str) or not schedule_id:
                raise AirflowFailException(
                    self._outcome_unknown_message(f"Braze answered {answer!r} with no schedule_id", request)
                )
            handle = self._handle(request, schedule_id, answer.get("dispatch_id"))
            # Recorded and pushed first, so the id survives whatever fails after this.
            ledger.created(handle)
            self._push_schedule_id(context, handle)
            self.log.info(
                "Braze scheduled the %s send: schedule_id=%s dispatch_id=%s",
                handle.kind.value,
                handle.schedule_id,
                handle.dispatch_id,
            )
            return self._emit(context, handle.to_xcom(), "create", state="scheduled", dry_run=False)

    @staticmethod
    def _handle(
        request: BrazeRequest, schedule_id: str, dispatch_id: Any, *, dry_run: bool = False
    ) -> ScheduleHandle:
        from airflow_braze_schedule.core.handle import ScheduleHandle

        assert request.kind is not None
        assert request.body is not None
        return ScheduleHandle(
            schedule_id=schedule_id,
            kind=request.kind,
            dispatch_id=dispatch_id if isinstance(dispatch_id, str) else None,
            campaign_id=request.body.get("campaign_id"),
            canvas_id=request.body.get("canvas_id"),
            schedule=request.body["schedule"],
            dry_run=dry_run,
            send_id=request.body.get("send_id"),
        )

    def _outcome_unknown_message(self, what: str, request: BrazeRequest) -> str:
        return (
            f"{what}. Braze may have created this schedule, but its schedule_id is unknown, so Airflow "
            "cannot update or cancel it, and Braze offers no API to look it up. The task is failed without "
            "retries so that the send is not scheduled twice. Check the Braze dashboard (or the recipients) "
            "for the send before running this task again. The request was: "
            f"{request.describe()[:_LOGGED_BODY_LIMIT]}"
        )


class _ExistingScheduleOperator(_BrazeScheduleOperator):
    """Update and cancel: both address a schedule by ``schedule_id``, the create task's handle, or a key.

    Results carry ``outcome``: ``applied``; ``best_effort`` (within ``best_effort_window`` of the send, or
    once a local-time send has begun somewhere, Braze applies it to all, some or none of the users); or
    ``refused_too_late`` with its ``reason`` (the send is over, or Braze ignores updates of a local-time
    campaign or Canvas once its time has passed somewhere): then nothing is sent.

    :param schedule_id: the create task's handle (``create.output``), a bulk create's group
        handle (every schedule of the group is changed), or a ``schedule_id`` string. (templated)
    :param campaign_id: with a bare ``schedule_id`` of an API-triggered campaign: its campaign. (templated)
    :param canvas_id: with a bare ``schedule_id`` of an API-triggered Canvas: its Canvas. (templated)
    :param schedule_key: instead of ``schedule_id``: the key the schedule was recorded under, found through
        the registry from any DAG. An unknown key fails; a cancelled one is a no-op that says so. (templated)
    :param registry_conn_id: with ``schedule_key``: the Airflow SQL connection the registry is kept in.
        Default: the ``asset_state_store`` of ``braze://<braze_conn_id>/schedules`` (Airflow 3.3+).
    :param registry_table: with ``registry_conn_id``: the table's name (default ``braze_schedule_registry``).
    :param best_effort_window: how close to the send (timedelta or seconds) a change counts as
        ``best_effort``. Default one hour.
    """

    def __init__(
        self,
        *,
        schedule_id: str | dict[str, Any] | None = None,
        campaign_id: str | None = None,
        canvas_id: str | None = None,
        schedule_key: str | None = None,
        registry_conn_id: str | None = None,
        registry_table: str | None = None,
        best_effort_window: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            schedule_key=schedule_key,
            registry_conn_id=registry_conn_id,
            registry_table=registry_table,
            **kwargs,
        )
        self.best_effort_window = best_effort_window
        self.schedule_id = schedule_id
        self.campaign_id = campaign_id
        self.canvas_id = canvas_id

    def _late_change(self, target: ScheduleHandle, action: str) -> dict[str, Any]:
        """How this change will land, said plainly: ``outcome`` (``applied``, ``best_effort``,
        ``refused_too_late``: nothing is sent) and ``reason``, logged unless applied."""
        from airflow_braze_schedule.core.registry_model import DEFAULT_BEST_EFFORT_WINDOW, check_window
        from airflow_braze_schedule.engine.keyed_steps import judge_late_change

        window = self.best_effort_window
        outcome, reason = judge_late_change(
            f"schedule {target.schedule_id}",
            target.schedule,
            target.kind,
            action,
            best_effort_window=DEFAULT_BEST_EFFORT_WINDOW
            if window is None
            else check_window("best_effort_window", window),
            log=self.log,
        )
        return {"outcome": outcome, "reason": reason} if reason else {"outcome": outcome}

    def _group_change(self, context: Context, action: str) -> dict[str, Any] | None:
        """Given a bulk create's group handle, change every schedule of the group (see operators/bulk.py)."""
        from airflow_braze_schedule.core.group import as_group_handle

        group = as_group_handle(self.schedule_id)
        if group is None:
            return None
        return self.change_group(context, group, action)

    def _target(self, messages: Any = None) -> ScheduleHandle:
        from airflow_braze_schedule.core.handle import resolve_schedule

        return resolve_schedule(
            self.schedule_id, campaign_id=self.campaign_id, canvas_id=self.canvas_id, messages=messages
        )


class BrazeUpdateScheduleOperator(_ExistingScheduleOperator):
    """Change a Braze schedule's time (and, for message schedules, its messages).

    Braze replaces the whole schedule object on update: an update that leaves ``in_local_time`` out moves
    a local-time send to UTC. So when ``schedule_id`` is the create task's handle and this update sets
    neither ``in_local_time`` nor ``at_optimal_time``, both are kept from the schedule as created. The
    schedule that is sent is logged. Campaign and Canvas schedules only take a new ``schedule``; once a
    local-time one has begun in the earliest time zone, Braze silently ignores updates, so the update is
    refused (cancel it and create a new one instead).

    Returns the updated handle (the same dict as the create task's, with the new ``schedule``) and pushes
    ``schedule_id`` under its own XCom key.

    :param schedule_id: the create task's handle (``create.output``), a bulk create's group
        handle (every schedule of the group is changed), or a ``schedule_id`` string. (templated)
    :param schedule: the new schedule object, or just the new time. (templated)
    :param messages: message schedules only: the new messages, replacing the old ones. (templated)
    :param campaign_id: with a bare ``schedule_id`` of an API-triggered campaign: its campaign. (templated)
    :param canvas_id: with a bare ``schedule_id`` of an API-triggered Canvas: its Canvas. (templated)
    :param braze_conn_id: the Airflow connection of type ``braze``. (templated)
    """

    template_fields: Sequence[str] = (
        "schedule_id",
        "schedule",
        "messages",
        "campaign_id",
        "canvas_id",
        "braze_conn_id",
        "schedule_key",
    )

    def __init__(
        self,
        *,
        schedule_id: str | dict[str, Any] | None = None,
        schedule: Any = None,
        messages: dict[str, Any] | None = None,
        campaign_id: str | None = None,
        canvas_id: str | None = None,
        braze_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            schedule_id=schedule_id,
            campaign_id=campaign_id,
            canvas_id=canvas_id,
            braze_conn_id=braze_conn_id,
            **kwargs,
        )
        self.schedule = schedule
        self.messages = messages

    def execute(self, context: Context) -> dict[str, Any]:
        from dataclasses import replace

        from airflow_braze_schedule.core.handle import schedule_for_update
        from airflow_braze_schedule.core.payload import build_update_request

        if self.schedule_key is not None:
            from airflow_braze_schedule.operators.by_key import update_by_key

            return self._keyed_dry_run(context, update_by_key(self, context))
        if (group_result := self._group_change(context, "update")) is not None:
            return group_result
        with _failing_fast_where_retries_cannot_help(creates=False):
            target = self._target(self.messages)
            schedule = schedule_for_update(self.schedule, target.schedule)
            if schedule is not None and target.schedule is None:
                self.log.info(
                    "The original schedule is unknown (a bare schedule_id was given), so the schedule is sent "
                    "as given: Braze replaces it whole, and a flag left out is false."
                )
            request = build_update_request(
                target.kind,
                target.schedule_id,
                owner_id=target.owner_id,
                schedule=schedule,
                messages=self.messages,
                original=target.schedule,  # so an update Braze would silently skip is refused
            )
            # A dry-run handle names a schedule that does not exist: never send for it.
            dry_run = target.dry_run or self._is_dry_run()
            outcome = self._late_change(target, "update")
            if outcome["outcome"] == "refused_too_late":  # nothing sent: the schedule stands as it was
                self._push_schedule_id(context, target)
                result = {**target.to_xcom(), **outcome}
                return self._emit(
                    context, result, "update", state=None, dry_run=dry_run, outcome=outcome["outcome"]
                )
            self._log_request(request, dry_run=dry_run)
            if not dry_run:
                self._send(request)
                self.log.info("Braze updated the %s schedule %s.", target.kind.value, target.schedule_id)
            assert request.body is not None
            handle = replace(target, schedule=request.body.get("schedule", target.schedule))
            self._push_schedule_id(context, handle)
            result = {**handle.to_xcom(), **outcome}
            return self._emit(
                context,
                result,
                "update",
                state=None if dry_run else "updated",
                dry_run=dry_run,
                outcome=None if dry_run else outcome["outcome"],
            )


class BrazeCancelScheduleOperator(_ExistingScheduleOperator):
    """Cancel a Braze schedule before it is sent.

    Braze applies cancellations close to the send time with best effort: some users may still get it.

    Returns the handle with ``"cancelled": True``, and records the cancelled ``schedule_id`` under the
    XCom key ``cancelled_schedule_id``: when the run is cleared, the create upstream reads it and
    schedules anew rather than return the cancelled schedule.

    :param schedule_id: the create task's handle (``create.output``), a bulk create's group
        handle (every schedule of the group is changed), or a ``schedule_id`` string. (templated)
    :param campaign_id: with a bare ``schedule_id`` of an API-triggered campaign: its campaign. (templated)
    :param canvas_id: with a bare ``schedule_id`` of an API-triggered Canvas: its Canvas. (templated)
    :param braze_conn_id: the Airflow connection of type ``braze``. (templated)
    """

    template_fields: Sequence[str] = (
        "schedule_id",
        "campaign_id",
        "canvas_id",
        "braze_conn_id",
        "schedule_key",
    )

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_braze_schedule.core.payload import build_delete_request

        if self.schedule_key is not None:
            from airflow_braze_schedule.operators.by_key import cancel_by_key

            return self._keyed_dry_run(context, cancel_by_key(self, context))
        if (group_result := self._group_change(context, "cancel")) is not None:
            return group_result

        with _failing_fast_where_retries_cannot_help(creates=False):
            target = self._target()
            request = build_delete_request(
                target.kind,
                target.schedule_id,
                owner_id=target.owner_id,
                addressed_as_created=isinstance(self.schedule_id, dict),  # a create's handle, not by hand
            )
            dry_run = target.dry_run or self._is_dry_run()
            outcome = self._late_change(target, "cancel")
            if outcome["outcome"] == "refused_too_late":  # nothing sent: the schedule stands as it was
                result = {**target.to_xcom(), "cancelled": False, **outcome}
                return self._emit(
                    context, result, "cancel", state=None, dry_run=dry_run, outcome=outcome["outcome"]
                )
            self._log_request(request, dry_run=dry_run)
            gone = None
            if not dry_run:
                gone = self._send_cancel(context, request, target)
                if gone is None:
                    self.log.info(
                        "Braze cancelled the %s schedule %s.", target.kind.value, target.schedule_id
                    )
                # Read by the create when its run is cleared, so it does not hand this schedule out again.
                context["ti"].xcom_push(key=CANCELLED_XCOM_KEY, value=target.schedule_id)
            result = {**target.to_xcom(), "cancelled": not dry_run, **outcome}
            if gone is not None:
                result["reason"] = "; ".join(filter(None, (gone, outcome.get("reason"))))
            return self._emit(
                context,
                result,
                "cancel",
                state=None if dry_run else "cancelled",
                dry_run=dry_run,
                outcome=None if dry_run else outcome["outcome"],
            )

    def _send_cancel(self, context: Context, request: BrazeRequest, target: ScheduleHandle) -> str | None:
        """Send the delete; on a retry, Braze no longer holding the schedule means it is done (returns why).

        An earlier try may have cancelled it and been lost before recording the answer, so a retry that
        finds the schedule gone is done; a first try fails, as an unknown schedule_id is worth seeing.
        Only a create's handle names the schedule as Braze accepted it (see ``schedule_already_gone``): a
        bare schedule_id may name the wrong campaign or kind, and then still fails.
        """
        from airflow_braze_schedule.core.errors import BrazeApiError, schedule_already_gone

        try:
            self._send(request)
        except BrazeApiError as error:
            if context["ti"].try_number <= 1 or not schedule_already_gone(
                error, addressed_as_created=request.addressed_as_created
            ):
                raise
            gone = (
                f"Braze no longer holds schedule {target.schedule_id} (it answered {error.status_code}: "
                f"{error.message}): an earlier try of this task or someone else cancelled it, or it was sent"
            )
            self.log.warning("%s; this retry counts it as cancelled.", gone)
            return gone
        return None


def _cancels_downstream(context: Context, task_id: str) -> Callable[[ScheduleHandle], str | None]:
    """Which cancel task of this DAG run cancelled a schedule, if one did.

    Every ``BrazeCancelScheduleOperator`` records the ``schedule_id`` it cancelled under the XCom key
    ``cancelled_schedule_id``. Clearing a finished run leaves those records in place until each cancel
    runs again, after the create it depends on, so a cleared create can still read them. Only the
    cancels downstream of the create are asked: only they can have been handed its schedule.
    """

    def cancelled_by(handle: ScheduleHandle) -> str | None:
        dag = context["dag"]
        downstream = dag.get_task(task_id).get_flat_relative_ids(upstream=False)
        for cancel_id in sorted(t for t in downstream if _is_cancel(dag.get_task(t))):
            recorded = context["ti"].xcom_pull(task_ids=[cancel_id], key=CANCELLED_XCOM_KEY) or []
            if handle.schedule_id in recorded:
                return f"task {cancel_id} of this DAG run"
        return None

    return cancelled_by


def _is_cancel(task: Any) -> bool:
    operator_class = getattr(task, "operator_class", None)  # a mapped task's
    if not isinstance(operator_class, type):
        operator_class = type(task)
    return issubclass(operator_class, BrazeCancelScheduleOperator)
