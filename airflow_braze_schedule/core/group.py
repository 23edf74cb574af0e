"""The group handle of a bulk create, and the ledger that makes each chunk's create happen at most once.

The group handle is a JSON-serialisable dict in XCom::

    {"kind": "campaign", "campaign_id": "...", "schedule": {...}, "recipients": 2001, "chunk_size": 50,
     "chunks": [{"position": 0, "schedule_id": "...", "dispatch_id": "...", "recipients": 50}, ...]}

``chunks`` is what tells it from a single schedule's handle. Update and cancel accept it whole and apply
the change to every schedule of the group.

The bulk ledger is the create ledger's idea (see :mod:`~airflow_braze_schedule.core.ledger`) for many
creates at once, written in batches so that its cost stays small against the sends themselves: one
write marks a whole *window* of chunks ``sending`` before the first of them goes out, and carries the
outcomes answered since the write before. A later try replays the records and knows for each chunk:
created (keep its schedule_id, never resend), not created (a 4xx/5xx answer, or never sent: send), or
unknown (marked ``sending`` with no outcome, or sent without an answer: never resent blindly). A header
key holds the fingerprint of the whole audience and request; a retry that finds another one refuses to
resume.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from airflow_braze_schedule.core.endpoints import ENDPOINTS, ScheduleKind
from airflow_braze_schedule.core.errors import BrazeValidationError
from airflow_braze_schedule.core.handle import ScheduleHandle, _as_mapping
from airflow_braze_schedule.core.ledger import RETENTION, EarlierAttemptError, StateStore

BULK_LEDGER_KEY = "braze_bulk_create"


@dataclass(frozen=True)
class ChunkSchedule:
    """One chunk's schedule in a group handle.

    :param position: the chunk's place in the audience, from 0.
    :param schedule_id: Braze's id of the chunk's schedule.
    :param dispatch_id: Braze's dispatch id, if it gave one.
    :param recipients: how many users the chunk named.
    """

    position: int
    schedule_id: str
    dispatch_id: str | None
    recipients: int

    def to_xcom(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "schedule_id": self.schedule_id,
            "dispatch_id": self.dispatch_id,
            "recipients": self.recipients,
        }


@dataclass(frozen=True)
class GroupHandle:
    """The schedules a bulk create made for one send, one per chunk of its audience.

    :param kind: message, campaign or Canvas.
    :param schedule: the schedule object as last sent (every chunk shares it).
    :param recipients: the users of the whole audience.
    :param chunk_size: users per chunk.
    :param chunks: the chunks' schedules, by position; on a failed create, only those created.
    :param complete: False on the handle a failed create leaves: some chunks have no schedule.
    """

    kind: ScheduleKind
    schedule: dict[str, Any] | None
    recipients: int
    chunk_size: int
    chunks: tuple[ChunkSchedule, ...]
    campaign_id: str | None = None
    canvas_id: str | None = None
    dry_run: bool = False
    complete: bool = True
    cancelled: bool = False

    @property
    def schedule_ids(self) -> list[str]:
        return [chunk.schedule_id for chunk in self.chunks]

    def member(self, chunk: ChunkSchedule) -> ScheduleHandle:
        """The single-schedule handle of one chunk, for the update and delete rules."""
        return ScheduleHandle(
            schedule_id=chunk.schedule_id,
            kind=self.kind,
            dispatch_id=chunk.dispatch_id,
            campaign_id=self.campaign_id,
            canvas_id=self.canvas_id,
            schedule=self.schedule,
            dry_run=self.dry_run,
        )

    def to_xcom(self) -> dict[str, Any]:
        value: dict[str, Any] = {"kind": self.kind.value}
        for name in ("campaign_id", "canvas_id"):
            if getattr(self, name) is not None:
                value[name] = getattr(self, name)
        value.update(
            schedule=self.schedule,
            recipients=self.recipients,
            chunk_size=self.chunk_size,
            chunks=[chunk.to_xcom() for chunk in self.chunks],
        )
        for flag in ("dry_run", "cancelled"):
            if getattr(self, flag):
                value[flag] = True
        if not self.complete:
            value["complete"] = False
        return value

    @classmethod
    def from_xcom(cls, value: dict[str, Any]) -> GroupHandle:
        try:
            kind = ScheduleKind(str(value.get("kind")))
            chunks = tuple(
                ChunkSchedule(
                    position=int(chunk["position"]),
                    schedule_id=str(chunk["schedule_id"]),
                    dispatch_id=chunk.get("dispatch_id"),
                    recipients=int(chunk.get("recipients") or 0),
                )
                for chunk in value["chunks"]
            )
        except (ValueError, KeyError, TypeError) as error:
            raise BrazeValidationError(
                "schedule_id",
                f"the group handle cannot be read ({type(error).__name__}: {error})",
                "the bulk create task's output, unchanged",
            ) from None
        schedule = value.get("schedule")
        return cls(
            kind=kind,
            schedule=schedule if isinstance(schedule, dict) else None,
            recipients=int(value.get("recipients") or 0),
            chunk_size=int(value.get("chunk_size") or 0),
            chunks=chunks,
            campaign_id=value.get("campaign_id"),
            canvas_id=value.get("canvas_id"),
            dry_run=value.get("dry_run") is True,
            complete=value.get("complete", True) is not False,
            cancelled=value.get("cancelled") is True,
        )

    def with_schedule(self, schedule: dict[str, Any] | None) -> GroupHandle:
        return replace(self, schedule=schedule)

    @property
    def owner_id(self) -> str | None:
        owner_field = ENDPOINTS[self.kind].owner_field
        return getattr(self, owner_field) if owner_field else None

    def to_event(self) -> dict[str, Any]:
        """The compact form an asset event carries: counts, and the schedule ids while they are few."""
        value: dict[str, Any] = {"kind": self.kind.value}
        if self.owner_id is not None:
            value[ENDPOINTS[self.kind].owner_field or "owner_id"] = self.owner_id
        value.update(
            schedule=self.schedule,
            recipients=self.recipients,
            chunk_size=self.chunk_size,
            schedule_ids_count=len(self.chunks),
        )
        if len(self.chunks) <= EVENT_SCHEDULE_IDS_LIMIT:
            value["schedule_ids"] = self.schedule_ids
        return value


#: An event names a group's schedule ids up to this many (a 10,000-user audience has 200 chunks);
#: beyond, it gives their count and the schedule_key is the way back to them.
EVENT_SCHEDULE_IDS_LIMIT = 200


def group_from_event(value: Any) -> dict[str, Any] | None:
    """The group handle (as update and cancel accept it) of an event's compact group form, or None when the
    event gave only the count of its schedule ids. Chunks' positions are their order; their sizes unknown."""
    if not isinstance(value, dict) or not isinstance(value.get("schedule_ids"), list):
        return None
    handle = {
        name: value[name]
        for name in ("kind", "campaign_id", "canvas_id", "schedule", "recipients", "chunk_size")
        if value.get(name) is not None
    }
    handle["chunks"] = [
        {"position": position, "schedule_id": schedule_id, "dispatch_id": None, "recipients": 0}
        for position, schedule_id in enumerate(value["schedule_ids"])
    ]
    return handle


def as_group_handle(value: Any) -> GroupHandle | None:
    """The group handle in ``value`` (a dict, or its text after a template), or None if it is none."""
    try:
        value = _as_mapping(value)
    except BrazeValidationError:
        return None
    if isinstance(value, dict) and "chunks" in value:
        return GroupHandle.from_xcom(value)
    return None


# --- the bulk ledger ------------------------------------------------------------------------------

SENDING = "s"  # marked before sending; no outcome recorded: unknown after a crash
UNKNOWN = "u"  # sent, and no answer came
CREATED = "c"  # ["c", schedule_id, dispatch_id]
REFUSED = "r"  # ["r", message]: Braze answered 4xx/5xx, or it was never reached: nothing created


@dataclass
class EarlierOutcomes:
    """What earlier tries did, by chunk position."""

    created: dict[int, tuple[str, str | None]] = field(default_factory=dict)
    unknown: set[int] = field(default_factory=set)
    #: Journal records the earlier tries wrote; this try's records follow them.
    records: int = 0


def _ranges_of(positions: list[int]) -> list[list[int]]:
    """Sorted positions as ``[first, last]`` ranges, to keep records small."""
    ranges: list[list[int]] = []
    for position in positions:
        if ranges and ranges[-1][1] == position - 1:
            ranges[-1][1] = position
        else:
            ranges.append([position, position])
    return ranges


class BulkLedger:
    """Records the progress of a bulk create in ``store`` (or nowhere, when there is no store).

    The store holds a header (the fingerprint of the whole audience and request) and a journal: records
    ``braze_bulk_create/0``, ``/1``, ... each written once. A record marks the next *window* of chunks as
    ``sending`` before the first of them goes out, and carries the outcomes answered since the record
    before (written with the next window's mark, every ``flush_interval`` seconds, and at the end). So a
    window of chunks costs one write. A later try replays the journal in order.

    :param store: the task's state store, or None where Airflow has none.
    :param fingerprint: the plan's fingerprint of the whole audience and request.
    :param chunks: how many chunks the plan has.
    :param window: chunks marked ``sending`` by one write: the most a dead worker can leave unknown.
    :param try_number: the task's try number (1 on the first try).
    :param resend_unknown: resend chunks whose outcome an earlier try left unknown.
    :param flush_interval: seconds after which answered outcomes are written even mid-window.
    :param key: the store key of the header, and the prefix of the journal's (default
        ``braze_bulk_create``): one per group where a task creates several (a reconcile).
    """

    def __init__(
        self,
        store: StateStore | None,
        *,
        fingerprint: str,
        chunks: int,
        window: int,
        try_number: int,
        resend_unknown: bool = False,
        flush_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        key: str | None = None,
    ) -> None:
        self.store = store
        self.key = key or BULK_LEDGER_KEY
        self.fingerprint = fingerprint
        self.chunks = chunks
        self.window = max(1, window)
        self.try_number = try_number
        self.resend_unknown = resend_unknown
        self.flush_interval = flush_interval
        self._clock = clock
        self._skip: set[int] = set()  # created or left unknown by earlier tries: never sent by this one
        self._marked_until = 0  # positions below this are marked (or skipped)
        self._outcomes: list[list[Any]] = []  # answered since the last record: [position, entry]
        self._next_record = 0
        self._last_write = clock()
        #: Writes made and seconds spent in them, for the bookkeeping's cost.
        self.writes = 0
        self.write_seconds = 0.0

    # --- reading what earlier tries did --------------------------------------------------------

    def earlier(self) -> EarlierOutcomes:
        """Replay what earlier tries did and check it allows this try to go on.

        :raises EarlierAttemptError: an earlier try worked on another audience or request and created
            something (or may have); or, without a store, this is a retry.
        """
        if self.store is None:
            if self.try_number > 1 and not self.resend_unknown:
                raise EarlierAttemptError(
                    f"This is try {self.try_number} of a bulk create, and this Airflow has no task_state_store "
                    "(Airflow 3.3+) to tell which chunks an earlier try created. Not sending again, so that no "
                    "chunk is scheduled twice. Check Braze (and the earlier try's log and XCom "
                    "'schedule_ids'); to send anyway, set on_unknown_outcome='resend' (or set retries=0 on "
                    "bulk create tasks and clear the task)"
                )
            return EarlierOutcomes()
        header = self.store.get(self.key)
        if not isinstance(header, dict):
            return EarlierOutcomes()
        states: dict[int, Any] = {}
        records = 0
        while isinstance(record := self.store.get(f"{self.key}/{records}"), dict):
            records += 1
            if record.get("fingerprint") != header.get("fingerprint"):
                continue  # left by a try of another audience, which created nothing
            for position, entry in record.get("outcomes") or []:
                states[int(position)] = entry
            for first, last in record.get("sending") or []:
                for position in range(int(first), int(last) + 1):
                    states[position] = SENDING
        outcomes = EarlierOutcomes(records=records)
        for position, entry in states.items():
            if isinstance(entry, list) and entry and entry[0] == CREATED:
                outcomes.created[position] = (str(entry[1]), entry[2])
            elif entry in (SENDING, UNKNOWN):
                outcomes.unknown.add(position)
        if header.get("fingerprint") != self.fingerprint:
            if outcomes.created or outcomes.unknown:
                ids = [schedule_id for schedule_id, _ in outcomes.created.values()]
                raise EarlierAttemptError(
                    f"An earlier try of this bulk create worked on another audience or request (it changed "
                    f"between tries): it created {len(ids)} schedules and left {len(outcomes.unknown)} chunks "
                    "with an unknown outcome. Not resuming with a different audience. Cancel the earlier "
                    "schedules (schedule_ids: "
                    + ", ".join(ids[:20])
                    + (" …" if len(ids) > 20 else "")
                    + ") or restore the audience, then clear the task"
                )
            return EarlierOutcomes(records=records)  # nothing was created: start afresh
        if self.resend_unknown:
            outcomes.unknown.clear()
        return outcomes

    # --- recording this try ----------------------------------------------------------------------

    def begin(self, earlier: EarlierOutcomes) -> None:
        """Write the header; this try's journal records follow the earlier tries'."""
        self._skip = set(earlier.created) | earlier.unknown
        self._next_record = earlier.records
        header = {
            "fingerprint": self.fingerprint,
            "chunks": self.chunks,
            "started": datetime.now(tz=UTC).isoformat(timespec="seconds"),
        }
        self._write(self.key, header)

    def sending(self, position: int) -> None:
        """Call before the chunk at ``position`` goes out. When it is not marked yet, one write marks
        the next window of chunks this try will send, with the outcomes answered so far."""
        if position < self._marked_until:
            return
        window = [p for p in range(position, min(position + self.window, self.chunks)) if p not in self._skip]
        self._marked_until = (window[-1] if window else position) + 1
        self._record(sending=_ranges_of(window))

    def created(self, position: int, schedule_id: str, dispatch_id: str | None) -> None:
        self._outcomes.append([position, [CREATED, schedule_id, dispatch_id]])

    def refused(self, position: int, message: str) -> None:
        self._outcomes.append([position, [REFUSED, message[:200]]])

    def unknown(self, position: int) -> None:
        self._outcomes.append([position, UNKNOWN])

    def flush(self) -> None:
        """Write the outcomes answered so far, if ``flush_interval`` has passed since the last write."""
        if self._outcomes and self._clock() - self._last_write >= self.flush_interval:
            self._record()

    def finish(self, never_sent: Iterable[int]) -> None:
        """Record the marked chunks this try did not send after all (it stopped early), and every
        outcome not yet written."""
        for position in never_sent:
            if position < self._marked_until and position not in self._skip:
                self._outcomes.append([position, None])
        if self._outcomes:
            self._record()

    def _record(self, sending: list[list[int]] | None = None) -> None:
        record: dict[str, Any] = {"fingerprint": self.fingerprint, "try": self.try_number}
        if self._outcomes:
            record["outcomes"] = self._outcomes
        if sending:
            record["sending"] = sending
        self._write(f"{self.key}/{self._next_record}", record)
        self._next_record += 1
        self._outcomes = []
        self._last_write = self._clock()

    def _write(self, key: str, value: dict[str, Any]) -> None:
        if self.store is None:
            return
        started = time.perf_counter()
        self.store.set(key, value, retention=RETENTION)
        self.write_seconds += time.perf_counter() - started
        self.writes += 1


# --- what a bulk run did, and the message when it did not do everything ----------------------------


@dataclass(frozen=True)
class ChunkFailure:
    """A chunk without a schedule at the end of a try.

    :param where: where its users came from (``recipients_path line 851 to line 900``).
    :param reason: Braze's answer, or why it was not sent.
    :param retryable: a later try may send it (nothing was created and the cause may pass).
    :param users: the users' identifiers, for a chunk whose outcome is unknown.
    """

    position: int
    recipients: int
    where: str
    reason: str
    retryable: bool = False
    users: str = ""


#: How many chunks of each sort the failure message names one by one; the log names them all.
MESSAGE_LIMIT = 25


@dataclass
class BulkReport:
    """The outcome of every chunk of one try of a bulk create."""

    total_chunks: int
    total_recipients: int
    created: dict[int, ChunkSchedule] = field(default_factory=dict)
    refused: list[ChunkFailure] = field(default_factory=list)
    unknown: list[ChunkFailure] = field(default_factory=list)
    stopped_by: str | None = None

    @property
    def failed(self) -> int:
        return len(self.refused) + len(self.unknown)

    @property
    def not_sent(self) -> list[int]:
        """Positions that have no outcome at all: the try stopped before sending them."""
        known = set(self.created) | {f.position for f in self.refused} | {f.position for f in self.unknown}
        return [position for position in range(self.total_chunks) if position not in known]

    @property
    def complete(self) -> bool:
        return len(self.created) == self.total_chunks

    @property
    def retry_may_help(self) -> bool:
        return any(f.retryable for f in self.refused) or bool(self.not_sent)

    def chunks(self) -> tuple[ChunkSchedule, ...]:
        return tuple(self.created[position] for position in sorted(self.created))

    def summary(self, *, what: str, limit: int | None = MESSAGE_LIMIT) -> str:
        """The failure message: what was created, and each chunk that was not, and why."""
        created_recipients = sum(chunk.recipients for chunk in self.created.values())
        lines = [
            f"{what}: {len(self.created):,} of {self.total_chunks:,} chunks created "
            f"({created_recipients:,} of {self.total_recipients:,} recipients); "
            f"{self.total_chunks - len(self.created):,} chunks have no schedule."
        ]

        def listed(items: list[Any], describe: Callable[[Any], str]) -> None:
            shown = items if limit is None else items[:limit]
            lines.extend(f"  {describe(item)}" for item in shown)
            if len(items) > len(shown):
                lines.append(f"  … and {len(items) - len(shown):,} more (the task log lists them all)")

        if self.refused:
            lines.append(
                f"Refused ({len(self.refused):,} chunks; Braze created nothing for them"
                + ("; a retry sends the retryable ones again" if self.retry_may_help else "")
                + "):"
            )
            listed(
                self.refused,
                lambda f: f"chunk {f.position} ({f.where}, {f.recipients} recipients): {f.reason}",
            )
        if self.unknown:
            lines.append(
                f"Outcome unknown ({len(self.unknown):,} chunks: sent, and no answer came back, so Braze may have "
                "scheduled them; they are not resent. Check Braze for these recipients before sending them again):"
            )
            listed(
                self.unknown,
                lambda f: f"chunk {f.position} ({f.where}; {f.reason}): recipients {f.users}",
            )
        not_sent = self.not_sent
        if not_sent:
            cause = f" (the task stopped after: {self.stopped_by})" if self.stopped_by else ""
            lines.append(f"Not sent{cause}: {len(not_sent):,} chunks: {_ranges(not_sent)}")
        ids = [chunk.schedule_id for chunk in self.chunks()]
        if ids:
            shown_ids = ids if limit is None else ids[: limit * 4]
            more = f" … and {len(ids) - len(shown_ids):,} more" if len(ids) > len(shown_ids) else ""
            lines.append(
                f"Created schedules ({len(ids):,}; all of them are in XCom 'schedule_ids', and the group handle "
                f"in 'return_value', for a cleanup task): {', '.join(shown_ids)}{more}"
            )
        return "\n".join(lines)


def _ranges(positions: list[int]) -> str:
    """``[1, 2, 3, 7]`` as ``1-3, 7`` (chunk positions)."""
    parts: list[str] = []
    start = previous = positions[0]
    for position in [*positions[1:], None]:
        if position is not None and position == previous + 1:
            previous = position
            continue
        parts.append(f"{start}" if start == previous else f"{start}-{previous}")
        if position is not None:
            start = previous = position
    return ", ".join(parts)
