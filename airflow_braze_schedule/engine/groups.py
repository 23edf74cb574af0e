"""Updating or cancelling every schedule of a group (a bulk create's chunks) concurrently; no Airflow.

Only the standard library is imported at module level: the bulk operator's module takes its defaults
from here at DAG parse time. The operators' side (pushing the group's ids to XCom, putting the change on the asset event, turning
errors no retry can fix into a failed task) is ``_BrazeScheduleOperator.change_group`` in
:mod:`airflow_braze_schedule.operators.braze`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_braze_schedule.core.group import ChunkSchedule, GroupHandle
    from airflow_braze_schedule.core.payload import BrazeRequest
    from airflow_braze_schedule.engine.ports import Log, Send

#: Requests of one group in flight at once, and seconds between progress lines (the bulk create's too).
DEFAULT_MAX_CONCURRENCY = 8
DEFAULT_PROGRESS_INTERVAL = 10.0


class BrazeGroupChangeError(Exception):
    """Some schedules of a group could not be updated or cancelled (the others were); a retry redoes it."""


def change_group_schedules(
    send: Send,
    group: GroupHandle,
    action: str,
    *,
    log: Log,
    dry_run: bool,
    retried: bool,
    schedule: Any = None,
    messages: Any = None,
    not_found_is_cancelled: bool = False,
) -> GroupHandle:
    """Update or cancel every schedule of ``group``, concurrently, as the single operators do for one
    schedule; return the group handle updated (or marked cancelled).

    :param send: sends one request (called only when not a dry run).
    :param action: ``"update"`` (to ``schedule``, and ``messages``) or ``"cancel"``.
    :param retried: this is a retry: a schedule Braze no longer has was cancelled by the earlier try.
    :param not_found_is_cancelled: a schedule Braze no longer has (404, or 400 on some servers) counts
        as cancelled even on a first try (a keyed cancel finishing what another task began).
    :raises BrazeGroupChangeError: some schedules were not changed (the rest were).
    """
    from dataclasses import replace

    from airflow_braze_schedule.core.errors import schedule_already_gone
    from airflow_braze_schedule.core.fanout import FanOut, Progress, Ticker
    from airflow_braze_schedule.core.handle import schedule_for_update
    from airflow_braze_schedule.core.payload import build_delete_request, build_update_request

    if action == "update":
        schedule = schedule_for_update(schedule, group.schedule)

        def build(schedule_id: str) -> BrazeRequest:
            return build_update_request(
                group.kind, schedule_id, owner_id=group.owner_id, schedule=schedule, messages=messages
            )
    else:

        def build(
            schedule_id: str,
        ) -> BrazeRequest:  # the group's ids are its bulk create's, as Braze took them
            return build_delete_request(
                group.kind, schedule_id, owner_id=group.owner_id, addressed_as_created=True
            )

    # Every request is validated before the first goes out.
    requests = [(chunk, build(chunk.schedule_id)) for chunk in group.chunks]
    example = requests[0][1] if requests else build("placeholder")
    for note in example.notes:
        log.warning("%s", note)
    verb = "updated" if action == "update" else "cancelled"
    log.info(
        "%s %s schedules of the %s group (%s recipients); each request like: %s",
        "Dry run, NOT sending:" if dry_run else "Sending:",
        f"{len(requests):,}",
        group.kind.value,
        f"{group.recipients:,}",
        example.describe()[:4000],
    )
    if action == "update" and example.body is not None:
        new_schedule = example.body.get("schedule", group.schedule)
    else:
        new_schedule = group.schedule
    if not dry_run and requests:
        progress = Progress(total=len(requests), recipients_total=group.recipients)
        failures: list[str] = []

        def on_done(item: Any, _: Any, error: BaseException | None) -> None:
            chunk, request = item
            progress.done += 1
            progress.requests += 1
            if error is None:
                progress.recipients += chunk.recipients
                return
            if (
                action == "cancel"
                and (retried or not_found_is_cancelled)
                and schedule_already_gone(error, addressed_as_created=request.addressed_as_created)
            ):
                log.warning(
                    "Braze no longer holds schedule %s (it answered %s: %s): an earlier try cancelled "
                    "it, or someone else did, or it was sent.",
                    chunk.schedule_id,
                    error.status_code,
                    error.message,
                )
                return
            progress.failed += 1
            failures.append(f"  chunk {chunk.position}, schedule_id {chunk.schedule_id}: {error}")

        ticker = Ticker(DEFAULT_PROGRESS_INTERVAL, lambda: log.info("Progress: %s", progress.line()))

        def send_one(item: tuple[ChunkSchedule, BrazeRequest]) -> dict[str, Any]:
            return send(item[1])

        FanOut(send_one, concurrency=DEFAULT_MAX_CONCURRENCY).run(
            requests, before=lambda item: None, on_done=on_done, tick=ticker.tick, stop=lambda: False
        )
        log.info("Progress: %s", progress.line())
        if failures:
            message = (
                f"{len(failures):,} of {len(requests):,} schedules of the group were not {verb}:\n"
                + "\n".join(failures[:50])
                + (f"\n  … and {len(failures) - 50:,} more (see the log)" if len(failures) > 50 else "")
            )
            log.error("%s", "\n".join(failures))
            raise BrazeGroupChangeError(message)
        log.info("Braze %s all %s schedules of the group.", verb, f"{len(requests):,}")
    updated = group.with_schedule(new_schedule)
    if action == "cancel" and not dry_run:
        updated = replace(updated, cancelled=True)
    return updated
