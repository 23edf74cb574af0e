"""A bulk send: one schedule per chunk of users, sent concurrently, each exactly once; no Airflow.

What a try sends is kept in a chunk ledger (:class:`~airflow_braze_schedule.core.group.BulkLedger`, over
a key-value store: Airflow's ``task_state_store``, filled in by the operator), so a retry resumes: chunks
an earlier try created are not sent again, chunks whose answer never came are reported, never resent
blindly. The operator (:class:`~airflow_braze_schedule.operators.bulk.BrazeBulkCreateScheduleOperator`)
validates the audience, builds the ledger and the client from the task's context, calls :meth:`BulkSend.run`,
then pushes the group's handle and emits the event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from datetime import datetime

    from airflow_braze_schedule.core.audience import BulkPlan, Chunk, Entry, EntrySource
    from airflow_braze_schedule.core.client import BrazeClient
    from airflow_braze_schedule.core.endpoints import ScheduleKind
    from airflow_braze_schedule.core.fanout import Progress
    from airflow_braze_schedule.core.group import BulkLedger, BulkReport, EarlierOutcomes, GroupHandle
    from airflow_braze_schedule.engine.ports import Log

#: Chunks marked ``sending`` by one ledger write, per request in flight: few enough writes to cost little
#: against the sends (benchmark 5e), while a dead worker leaves at most this many unknown.
LEDGER_WINDOW_PER_THREAD = 8


class BulkSend:
    """Sends a validated bulk plan's chunks, ``max_concurrency`` at a time, through one client.

    :param client: shared by the threads (each has its own session; all see one rate-limit state).
    :param ledger: the chunk ledger of this send (see the module's docstring).
    :param progress_interval: seconds between progress lines (done of total, rate, time left).
    """

    def __init__(
        self,
        client: BrazeClient,
        plan: BulkPlan,
        base: dict[str, Any],
        source: EntrySource,
        now: Any,
        *,
        ledger: BulkLedger,
        max_concurrency: int,
        progress_interval: float,
        log: Log,
    ) -> None:
        self.client = client
        self.plan = plan
        self.base = base
        self.source = source
        self.now = now
        self.ledger = ledger
        self.max_concurrency = max_concurrency
        self.progress_interval = progress_interval
        self.log = log
        #: Requests sent so far (chunks created or answered otherwise), for a reconcile's count.
        self.requests_sent = 0

    def run(self, earlier: EarlierOutcomes) -> tuple[BulkReport, BaseException | None]:
        """Send every chunk ``earlier`` (what the ledger holds from earlier tries) leaves to send; return
        the report and the error that stopped the send (reading the audience failed, or it changed)."""
        from airflow_braze_schedule.core.audience import (
            AudienceChangedError,
            Sender,
            chunked,
        )
        from airflow_braze_schedule.core.errors import (
            BrazeApiError,
            BrazeAuthenticationError,
            BrazeError,
            BrazeNotFoundError,
            BrazeOutcomeUnknownError,
            BrazePermissionError,
            BrazeRateLimitError,
            BrazeUnreachableError,
        )
        from airflow_braze_schedule.core.fanout import FanOut, Progress, Ticker
        from airflow_braze_schedule.core.group import BulkReport, ChunkFailure, ChunkSchedule
        from airflow_braze_schedule.core.retry import airflow_may_retry

        plan, base, source, now = self.plan, self.base, self.source, self.now
        client, ledger, log = self.client, self.ledger, self.log
        report = BulkReport(plan.chunks, plan.recipients)
        for position, (schedule_id, dispatch_id) in earlier.created.items():
            report.created[position] = ChunkSchedule(position, schedule_id, dispatch_id, plan.sizes[position])
        if earlier.created or earlier.unknown:
            log.warning(
                "Resuming: an earlier try created %s chunks (not sent again) and left %s with an unknown outcome "
                "(not resent); %s chunks to send.",
                f"{len(earlier.created):,}",
                f"{len(earlier.unknown):,}",
                f"{plan.chunks - len(earlier.created) - len(earlier.unknown):,}",
            )
        ledger.begin(earlier)

        progress = Progress(total=plan.chunks, recipients_total=plan.recipients)
        progress.done = len(report.created)
        progress.recipients = sum(chunk.recipients for chunk in report.created.values())
        restore_sleep = _count_waits(client, progress)
        seen = [0]

        def to_send() -> Iterator[Chunk]:
            for chunk in chunked(source(), plan.chunk_size):
                seen[0] += 1
                if chunk.position in earlier.created:
                    continue
                if chunk.position in earlier.unknown:
                    report.unknown.append(
                        ChunkFailure(
                            chunk.position,
                            len(chunk.users),
                            _where(chunk),
                            "an earlier try sent it and never recorded Braze's answer",
                            users=chunk.describe_users(),
                        )
                    )
                    progress.done += 1
                    progress.failed += 1
                    continue
                yield chunk
            if seen[0] != plan.chunks:
                raise AudienceChangedError(
                    "audience",
                    f"has {seen[0]:,} chunks now and had {plan.chunks:,} when validated: it changed while the task ran",
                    "an audience that stays the same until the task ends",
                )

        sender = Sender(plan, base, now)

        def send(chunk: Chunk) -> dict[str, Any]:
            return client.send(sender.request(chunk))

        def on_done(chunk: Chunk, answer: dict[str, Any] | None, error: BaseException | None) -> None:
            progress.done += 1
            progress.requests += 1
            if (
                error is None
                and answer is not None
                and isinstance(answer.get("schedule_id"), str)
                and answer["schedule_id"]
            ):
                dispatch_id = answer.get("dispatch_id")
                dispatch_id = dispatch_id if isinstance(dispatch_id, str) else None
                report.created[chunk.position] = ChunkSchedule(
                    chunk.position, answer["schedule_id"], dispatch_id, len(chunk.users)
                )
                ledger.created(chunk.position, answer["schedule_id"], dispatch_id)
                progress.recipients += len(chunk.users)
                return
            progress.failed += 1
            where = _where(chunk)
            if (
                error is None
                or isinstance(error, BrazeOutcomeUnknownError)
                or not isinstance(error, BrazeError)
            ):
                reason = (
                    f"Braze answered {answer!r} with no schedule_id"
                    if error is None
                    else str(error)
                    if isinstance(error, BrazeError)
                    else f"{type(error).__name__}: {error}"
                )
                ledger.unknown(chunk.position)
                report.unknown.append(
                    ChunkFailure(
                        chunk.position, len(chunk.users), where, reason, users=chunk.describe_users()
                    )
                )
                if not isinstance(error, BrazeError | type(None)):
                    report.stopped_by = report.stopped_by or reason
                return
            # A 4xx/5xx answer, an unreachable Braze, or a chunk that failed its check before sending:
            # nothing was created.
            ledger.refused(chunk.position, str(error))
            retryable = isinstance(error, BrazeApiError | BrazeUnreachableError) and airflow_may_retry(
                error, creates=True
            )
            report.refused.append(
                ChunkFailure(chunk.position, len(chunk.users), where, str(error), retryable=retryable)
            )
            if isinstance(
                error,
                BrazeAuthenticationError
                | BrazePermissionError
                | BrazeNotFoundError
                | BrazeRateLimitError
                | BrazeUnreachableError
                | AudienceChangedError,
            ):
                # Every other chunk would meet the same answer: stop sending.
                report.stopped_by = report.stopped_by or str(error)

        def report_progress() -> None:
            ledger.flush()
            log.info("Progress: %s", progress.line())

        ticker = Ticker(self.progress_interval, report_progress)

        def tick() -> None:
            ledger.flush()
            ticker.tick()

        log.info(
            "Sending %s chunks, %s at a time.",
            f"{plan.chunks - len(earlier.created) - len(earlier.unknown):,}",
            self.max_concurrency,
        )
        fan_out = FanOut(send, concurrency=self.max_concurrency, ahead=self.max_concurrency)
        failure: BaseException | None = None
        try:
            fan_out.run(
                to_send(),
                before=lambda chunk: ledger.sending(chunk.position),
                on_done=on_done,
                tick=tick,
                stop=lambda: report.stopped_by is not None,
            )
        except Exception as error:  # reading the audience failed, or it changed between the passes
            failure = error
            report.stopped_by = report.stopped_by or str(error)
        finally:
            restore_sleep()
            ledger.finish(report.not_sent)
            self.requests_sent = progress.requests
        log.info("Progress: %s", progress.line())
        return report, failure


def _where(chunk: Chunk) -> str:
    if not chunk.labels:
        return "no users"
    if len(chunk.labels) == 1:
        return chunk.labels[0]
    last = chunk.labels[-1].rsplit(" ", 1)[-1] if " line " in chunk.labels[-1] else chunk.labels[-1]
    return f"{chunk.labels[0]} to {last}"


def _count_waits(client: BrazeClient, progress: Progress) -> Callable[[], None]:
    """Count the client's waits (rate-limit resets, back-off) for the progress line; returns the undo."""
    original = client._sleep

    def sleep(seconds: float) -> None:
        progress.waits += 1
        progress.waited_seconds += seconds
        original(seconds)

    client._sleep = sleep

    def restore() -> None:
        client._sleep = original

    return restore


# --- validating a bulk send (the bulk create's and a group upsert's one rule) --------------------------


def bulk_audience(lists: dict[str, Any], kind: ScheduleKind, *, from_file: EntrySource | None) -> EntrySource:
    """Where a bulk send's users come from: ``lists`` (the user fields given, by name) or ``from_file``
    (the users of ``recipients_path``, None if none is given), never both; each call reads them afresh."""
    from airflow_braze_schedule.core.audience import list_entries
    from airflow_braze_schedule.core.endpoints import ScheduleKind
    from airflow_braze_schedule.core.errors import BrazeValidationError

    if from_file is not None:
        if lists:
            raise BrazeValidationError(
                "recipients_path",
                f"is given together with {', '.join(lists)}",
                "the users either in a file or in a list, not both",
            )
        return from_file
    users_field = "recipients" if kind is not ScheduleKind.MESSAGE else "external_user_ids / user_aliases"
    allowed = ("recipients",) if kind is not ScheduleKind.MESSAGE else ("external_user_ids", "user_aliases")
    misplaced = sorted(set(lists) - set(allowed))
    if misplaced:
        raise BrazeValidationError(
            misplaced[0],
            f"is not accepted by {kind.value} schedules",
            f"{users_field}, or recipients_path",
        )
    if not lists:
        raise BrazeValidationError(
            users_field,
            "is missing: a bulk create needs a list of users",
            f"{users_field}, or recipients_path",
        )

    def entries() -> Iterator[Entry]:
        for name in allowed:
            if name in lists:
                yield from list_entries(name, lists[name])

    return entries


def validated_bulk_plan(
    fields: dict[str, Any],
    *,
    from_file: EntrySource | None,
    chunk_size: Any,
    max_concurrency: Any,
    progress_interval: float,
    on_unknown_outcome: Any,
    log: Log,
) -> tuple[BulkPlan, dict[str, Any], EntrySource, datetime]:
    """Validate a bulk send's whole audience and request (nothing sent): ``fields`` are the create's
    request fields, users included. Return the plan, the fields every chunk shares, the audience's
    source and the moment validated against."""
    from datetime import UTC, datetime

    from airflow_braze_schedule.core.audience import USER_FIELDS, make_plan
    from airflow_braze_schedule.core.errors import BrazeValidationError
    from airflow_braze_schedule.core.fanout import Ticker
    from airflow_braze_schedule.core.ledger import check_on_unknown_outcome
    from airflow_braze_schedule.core.payload import kind_for

    check_on_unknown_outcome(on_unknown_outcome)
    if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1:
        raise BrazeValidationError(
            "max_concurrency", f"{max_concurrency!r} is not a number of requests", "1 or more"
        )
    base = {name: value for name, value in fields.items() if name not in USER_FIELDS}
    kind = kind_for(
        canvas_id=fields.get("canvas_id"),
        campaign_id=fields.get("campaign_id"),
        messages=fields.get("messages"),
    )
    lists = {name: fields[name] for name in USER_FIELDS if fields.get(name) is not None}
    source = bulk_audience(lists, kind, from_file=from_file)
    now = datetime.now(tz=UTC)
    checked = [0, 0]

    def validating(chunk: Chunk, _: Any) -> None:
        checked[0] += 1
        checked[1] += len(chunk.users)
        ticker.tick()

    ticker = Ticker(
        progress_interval,
        lambda: log.info("Validating: %s chunks, %s recipients so far", f"{checked[0]:,}", f"{checked[1]:,}"),
    )
    plan = make_plan(base, kind, source, chunk_size=chunk_size, now=now, on_chunk=validating)
    for note in plan.template.notes:
        log.warning("%s", note)
    log.info("Validated %s.", plan.describe())
    return plan, base, source, now


def group_handle(plan: BulkPlan, chunks: tuple[Any, ...], **flags: Any) -> GroupHandle:
    """The group handle of a bulk plan's chunks (``flags``: ``complete``, ``dry_run``)."""
    from airflow_braze_schedule.core.group import GroupHandle

    assert plan.template.body is not None
    return GroupHandle(
        kind=plan.kind,
        schedule=plan.schedule,
        recipients=plan.recipients,
        chunk_size=plan.chunk_size,
        chunks=chunks,
        campaign_id=plan.template.body.get("campaign_id"),
        canvas_id=plan.template.body.get("canvas_id"),
        **flags,
    )
