"""Large audiences in one task: one schedule per chunk of 50 users, sent concurrently, each exactly once.

Only the operators' base module is imported here at module level; the core, the hook and the threads
are imported when a task runs, so a DAG file using this operator parses fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from airflow_braze_schedule.engine.groups import DEFAULT_MAX_CONCURRENCY, DEFAULT_PROGRESS_INTERVAL
from airflow_braze_schedule.operators.braze import (
    BrazeCreateScheduleOperator,
    _failing_fast_where_retries_cannot_help,
)
from airflow_braze_schedule.operators.group_send import send_group, validated_plan_of

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.providers.common.compat.sdk import Context

    from airflow_braze_schedule.core.audience import BulkPlan, EntrySource


class BrazeBulkCreateScheduleOperator(BrazeCreateScheduleOperator):
    """Schedule one send for an audience of any size: one Braze schedule per chunk of at most 50 users.

    For API-triggered campaigns and Canvases (``recipients``) and message schedules (``external_user_ids``
    and/or ``user_aliases``). It takes every argument of :class:`BrazeCreateScheduleOperator`; the user
    list may be any length, and comes from a list, a template, an upstream task's XCom, or a JSON Lines
    file (``recipients_path``).

    Every chunk is validated with the same rules as a single create before the first request goes out:
    a bad recipient on line 137,412 fails the task with nothing sent, naming the line and the field. A
    file is read twice, streamed (once to validate, once to send), so memory stays flat; the sending
    pass checks each chunk against what was validated.

    Chunks go out in input order, ``max_concurrency`` at a time, through the hook's shared rate-limit
    handling. Progress is logged every ``progress_interval`` seconds.

    Returns the *group handle* (see :mod:`airflow_braze_schedule.core.group`): ``kind``, ``campaign_id`` or
    ``canvas_id``, ``schedule`` as sent, ``recipients``, ``chunk_size`` and, per chunk, ``position``,
    ``schedule_id``, ``dispatch_id`` and ``recipients``. The list of schedule ids is also pushed under the
    XCom key ``schedule_ids``. :class:`BrazeUpdateScheduleOperator` and :class:`BrazeCancelScheduleOperator`
    accept the group handle as ``schedule_id`` and change every schedule of the group.

    When some chunks fail (Braze refuses one chunk, say), the others are still sent; then the task fails,
    naming each chunk without a schedule and why (and, where the outcome is unknown, its recipients).
    Before failing it pushes ``schedule_ids`` and the partial group handle (``"complete": false``) as the
    task's ``return_value``, so a cleanup task can cancel what was created.

    Retries: on Airflow 3.3+, the task records each chunk's progress in its ``task_state_store`` in
    batches: one write marks a window of ``8 x max_concurrency`` chunks *sending* before the first of them
    goes out, and carries the outcomes answered since the write before (outcomes are also written every
    5 s, and at the end). A retried, resumed or cleared try never creates a second schedule for a
    chunk an earlier try created, never resends a chunk whose outcome is unknown (unless
    ``on_unknown_outcome="resend"``), and sends only the chunks never sent or refused. It refuses to
    resume if the audience or the request changed between tries. Without ``task_state_store``, a retry
    refuses to send at all (as the create operator's does). A bulk create never defers: rate-limit waits
    happen in the worker.

    :param recipients_path: a JSON Lines file of the audience, one user per line: a recipient object for
        campaigns and Canvases; an external_user_id string or a user alias object for message
        schedules. A path or URL read through Airflow's ``ObjectStoragePath`` (``file://``, ``s3://``...),
        or an ``ObjectStoragePath``. Excludes the user lists. (templated)
    :param chunk_size: users per schedule, 1 to 50 (default 50).
    :param max_concurrency: requests in flight at once (default 8).
    :param progress_interval: seconds between progress lines (default 10).
    """

    template_fields: Sequence[str] = (*BrazeCreateScheduleOperator.template_fields, "recipients_path")
    USER_FIELDS: ClassVar[tuple[str, ...]] = ("recipients", "external_user_ids", "user_aliases")
    #: The task_state_store key of the create's ledger; None: the default. A task creating several
    #: groups (a reconcile) gives each its own.
    ledger_key: str | None = None
    #: Requests the last :func:`~airflow_braze_schedule.operators.group_send.send_group` of this operator
    #: sent (chunks created or answered otherwise), for a reconcile's count.
    requests_sent: int = 0

    def __init__(
        self,
        *,
        recipients_path: Any = None,
        chunk_size: int = 50,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        progress_interval: float = DEFAULT_PROGRESS_INTERVAL,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.recipients_path = recipients_path
        self.chunk_size = chunk_size
        self.max_concurrency = max_concurrency
        self.progress_interval = progress_interval

    # --- execute -----------------------------------------------------------------------------------

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_braze_schedule.operators.by_key import closing_registries

        with _failing_fast_where_retries_cannot_help(creates=True), closing_registries(self):
            plan, base, source, now = validated_plan_of(self)
            if self._is_dry_run():
                return self._dry_run(context, plan, base, source, now)
            if plan.chunks == 0:
                self.log.warning("The audience is empty: nothing to schedule.")
            if self.schedule_key is not None:
                from airflow_braze_schedule.operators.by_key import bulk_create_by_key

                return bulk_create_by_key(
                    self,
                    context,
                    plan.fingerprint,
                    lambda: send_group(self, context, plan, base, source, now, emit=False),
                )
            return send_group(self, context, plan, base, source, now)

    def _dry_run(
        self, context: Context, plan: BulkPlan, base: dict[str, Any], source: EntrySource, now: Any
    ) -> dict[str, Any]:
        from airflow_braze_schedule.core.audience import chunk_request, chunked
        from airflow_braze_schedule.core.group import ChunkSchedule
        from airflow_braze_schedule.engine.bulk import group_handle

        first = next(iter(chunked(source(), plan.chunk_size)), None)
        example = chunk_request(base, plan.kind, first, now=now) if first is not None else plan.template
        self.log.info(
            "Dry run: validated, NOT sent to Braze: %s. The first request: %s",
            plan.describe(),
            example.describe()[:4000],
        )
        chunks = tuple(
            ChunkSchedule(position, f"dry-run-{digest}", None, size)
            for position, (digest, size) in enumerate(zip(plan.digests, plan.sizes, strict=True))
        )
        handle = group_handle(plan, chunks, dry_run=True)
        context["ti"].xcom_push(key="schedule_ids", value=handle.schedule_ids)
        self._emit_group(context, handle.to_xcom(), "create", None, dry_run=True)
        return handle.to_xcom()
