"""A group's validation and send, for any bulk-capable operator: the bulk create and a group upsert call
these (neither inherits them from the other), a reconcile's groups through the upsert.

Only Airflow's exceptions are imported at module level; the core and the engine when a task runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException

from airflow_braze_schedule.fail_fast import _failing_fast_where_retries_cannot_help

if TYPE_CHECKING:
    from collections.abc import Iterator

    from airflow.providers.common.compat.sdk import Context

    from airflow_braze_schedule.core.audience import BulkPlan, Entry, EntrySource


def validated_plan_of(op: Any) -> tuple[BulkPlan, dict[str, Any], EntrySource, Any]:
    """Validate a bulk-capable operator's whole audience and request (nothing sent): the engine's
    :func:`~airflow_braze_schedule.engine.bulk.validated_bulk_plan` over its rendered arguments.

    ``op`` has the create's request fields (``REQUEST_FIELDS``), ``recipients_path``, ``chunk_size``,
    ``max_concurrency``, ``progress_interval``, ``on_unknown_outcome`` and a ``log``."""
    from airflow_braze_schedule.core.schedule import rendered_nothing
    from airflow_braze_schedule.engine.bulk import validated_bulk_plan

    path = op.recipients_path
    return validated_bulk_plan(
        {name: getattr(op, name) for name in op.REQUEST_FIELDS},
        from_file=None if rendered_nothing(path) else (lambda: _file_entries(path)),
        chunk_size=op.chunk_size,
        max_concurrency=op.max_concurrency,
        progress_interval=op.progress_interval,
        on_unknown_outcome=op.on_unknown_outcome,
        log=op.log,
    )


def _file_entries(path: Any) -> Iterator[Entry]:
    """The users of ``recipients_path``, read through Airflow's ``ObjectStoragePath``."""
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    from airflow_braze_schedule.core.audience import read_json_lines

    if not isinstance(path, ObjectStoragePath):
        path = ObjectStoragePath(str(path).strip())
    with path.open("r", encoding="utf-8") as stream:
        yield from read_json_lines(stream, name="recipients_path")


def send_group(
    op: Any,
    context: Context,
    plan: BulkPlan,
    base: dict[str, Any],
    source: EntrySource,
    now: Any,
    *,
    emit: bool = True,
    push: bool = True,
) -> dict[str, Any]:
    """Send the plan's chunks (the engine's :class:`~airflow_braze_schedule.engine.bulk.BulkSend`) with
    the task's ledger; ``emit``: put the group on the task's event; ``push``: push its ids and, if
    incomplete, its handle to XCom (a reconcile's group does neither: the reconcile reports).

    ``op`` (a bulk create or an upsert) gives the hook, ``max_concurrency``, ``progress_interval``,
    ``on_unknown_outcome`` and ``ledger_key``; its ``requests_sent`` is set to the requests sent."""
    from airflow_braze_schedule.core.group import BulkLedger
    from airflow_braze_schedule.engine.bulk import LEDGER_WINDOW_PER_THREAD, BulkSend

    # Made here, from the connection: the pool's threads must not call into Airflow. The client is
    # shared by the threads: each has its own session, and all see one rate-limit state.
    client = op.hook.client
    store = context.get("task_state_store")
    ledger = BulkLedger(
        store,
        fingerprint=plan.fingerprint,
        chunks=plan.chunks,
        window=LEDGER_WINDOW_PER_THREAD * op.max_concurrency,
        try_number=context["ti"].try_number,
        resend_unknown=op.on_unknown_outcome == "resend",
        key=op.ledger_key,
    )
    with _failing_fast_where_retries_cannot_help(creates=True):
        earlier = ledger.earlier()
    bulk = BulkSend(
        client,
        plan,
        base,
        source,
        now,
        ledger=ledger,
        max_concurrency=op.max_concurrency,
        progress_interval=op.progress_interval,
        log=op.log,
    )
    try:
        report, failure = bulk.run(earlier)
    finally:
        op.requests_sent = bulk.requests_sent
    if store is not None:
        op.log.info("Bookkeeping: %s task_state_store writes, %.2f s.", ledger.writes, ledger.write_seconds)
    return _finish(op, context, plan, report, failure, has_store=store is not None, emit=emit, push=push)


def _finish(
    op: Any,
    context: Context,
    plan: BulkPlan,
    report: Any,
    failure: BaseException | None,
    *,
    has_store: bool,
    emit: bool = True,
    push: bool = True,
) -> dict[str, Any]:
    """Push the group's ids, and its handle if incomplete; emit it (``emit``); fail the task if incomplete."""
    from airflow_braze_schedule.engine.bulk import group_handle

    complete = report.complete and failure is None
    handle = group_handle(plan, report.chunks(), complete=complete)
    # Pushed first, so the ids survive whatever fails after this.
    if push:
        context["ti"].xcom_push(key="schedule_ids", value=handle.schedule_ids)
    if complete:
        op.log.info(
            "Braze scheduled the %s send for %s recipients in %s schedules.",
            plan.kind.value,
            f"{plan.recipients:,}",
            f"{len(handle.chunks):,}",
        )
        if emit:  # a keyed create emits its own event, with the key
            op._emit_group(context, handle.to_xcom(), "create", "scheduled")
        return handle.to_xcom()
    from airflow.providers.common.compat.sdk import XCOM_RETURN_KEY

    if push:
        context["ti"].xcom_push(key=XCOM_RETURN_KEY, value=handle.to_xcom())
    what = f"Bulk create of the {plan.kind.value} send ({plan.template.method} {plan.template.path})"
    op.log.error("%s", report.summary(what=what, limit=None))
    message = report.summary(what=what)
    if failure is not None:
        message = f"{failure}\n{message}"
    if has_store and report.retry_may_help and failure is None:
        raise AirflowException(message)
    raise AirflowFailException(message)
