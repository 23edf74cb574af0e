"""Keyed schedules: what the registry remembers about each ``schedule_key``, and how that changes.

A *schedule key* is a name the user chooses for one send ("order-4711/reminder"), unique within a Braze
workspace (one Airflow connection). The registry maps each key to a :class:`RegistryEntry`: the handle of
the schedule that currently serves the key, the fingerprint of the create request that made it, its
state, the outcome of the last change, an *intent* written before every request (so a retry after a
crash finishes the job instead of repeating or forgetting it), and the history of changes with the DAG
run that made each.

States: ``scheduled`` (created), ``updated`` (its schedule was changed), ``cancelled``, and
``presumed_sent``, which is never stored: an entry reads as presumed sent once its send time has passed
in every time zone (the core's delivery window, :meth:`BrazeSchedule.delivery_window`).

Outcomes of a change, said plainly: ``applied``; ``best_effort`` (Braze may apply a change close to or
during the send to "all, some, or none" of the users); ``refused_too_late`` (nothing was sent to Braze,
with the reason). This module is pure: no Airflow import.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_braze_schedule.core.endpoints import ScheduleKind
from airflow_braze_schedule.core.errors import BrazeValidationError
from airflow_braze_schedule.core.ledger import fingerprint
from airflow_braze_schedule.core.schedule import BrazeSchedule, rendered_nothing

if TYPE_CHECKING:
    from airflow_braze_schedule.core.payload import BrazeRequest

SCHEDULED = "scheduled"
UPDATED = "updated"
CANCELLED = "cancelled"
PRESUMED_SENT = "presumed_sent"
STATES = (SCHEDULED, UPDATED, CANCELLED, PRESUMED_SENT)

APPLIED = "applied"
BEST_EFFORT = "best_effort"
REFUSED_TOO_LATE = "refused_too_late"
OUTCOMES = (APPLIED, BEST_EFFORT, REFUSED_TOO_LATE)

#: How close to the send a change is only best effort, unless the caller says otherwise.
DEFAULT_BEST_EFFORT_WINDOW = timedelta(hours=1)
#: How close to the send upsert and reconcile stop changing a schedule, unless the caller says otherwise.
DEFAULT_FREEZE_WINDOW = timedelta(minutes=15)

MAX_KEY_LENGTH = 400

#: The fields of a history line, in order: what :meth:`RegistryEntry.record` writes, what the SQL store's
#: history table has a column for, and what the schedules page shows of a change.
HISTORY_FIELDS = (
    "seq",
    "at",
    "action",
    "state",
    "outcome",
    "schedule_id",
    "dag_id",
    "run_id",
    "task_id",
    "note",
)


def check_schedule_key(value: Any, field_name: str = "schedule_key") -> str:
    """A schedule key is a non-empty string of printable characters, at most 400 of them."""
    if isinstance(value, str) and value.strip() and rendered_nothing(value):
        raise BrazeValidationError(
            field_name, f"is {value!r}; a template that rendered nothing gives this", "a schedule key"
        )
    if not isinstance(value, str) or not value.strip():
        raise BrazeValidationError(
            field_name, f"{value!r} is not a schedule key", 'a non-empty string such as "order-4711/reminder"'
        )
    if len(value) > MAX_KEY_LENGTH or not value.isprintable() or value != value.strip():
        raise BrazeValidationError(
            field_name,
            f"{value[:80]!r} has surrounding spaces, unprintable characters or more than {MAX_KEY_LENGTH} characters",
            'a short printable name such as "order-4711/reminder"',
        )
    return value


def utc_now() -> datetime:
    return datetime.now(UTC)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Actor:
    """Who made a change: the DAG run and task (all None outside Airflow, e.g. a user's script)."""

    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {"dag_id": self.dag_id, "run_id": self.run_id, "task_id": self.task_id}


def request_fingerprints(request: BrazeRequest) -> tuple[str, str]:
    """The fingerprint of the whole create request, and of everything but its schedule.

    The second one tells "only the time changed" (an update will do) from "the send itself changed"
    (recipients, properties, messages: it must be replaced). The first is made from the second and the
    schedule, so an update can say what the request now is without its body.
    """
    body = request.body or {}
    without_schedule = dataclasses.replace(request, body={k: v for k, v in body.items() if k != "schedule"})
    content = fingerprint(without_schedule)
    return with_schedule(content, body.get("schedule")), content


def with_schedule(content_fingerprint: str, schedule: Any) -> str:
    """The whole request's fingerprint, from its content fingerprint and the schedule object as sent."""
    canonical = json.dumps([content_fingerprint, schedule], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:24]


def delivery_window(schedule: dict[str, Any] | None) -> tuple[datetime, datetime] | None:
    """When a schedule object delivers (first and last UTC instants), or None if it is unknown."""
    if not schedule:
        return None
    try:
        return BrazeSchedule.parse(schedule).delivery_window()
    except BrazeValidationError:
        return None


def late_change_outcome(
    schedule: dict[str, Any] | None,
    *,
    kind: ScheduleKind | str,
    action: str,
    now: datetime | None = None,
    best_effort_window: timedelta = DEFAULT_BEST_EFFORT_WINDOW,
) -> tuple[str, str | None]:
    """How a change (``"update"`` or ``"cancel"``) of a schedule sent as ``schedule`` will land.

    :return: the outcome and, unless ``applied``, the reason in words.
    """
    window = delivery_window(schedule)
    if window is None:
        return APPLIED, None
    now = now or utc_now()
    first, last = window
    sent_as = BrazeSchedule.parse(schedule)
    if last <= now:
        return REFUSED_TOO_LATE, (
            f"its send time {sent_as.time_string} ({sent_as.mode} time) has passed"
            + ("" if sent_as.mode == "utc" else " in every time zone")
            + "; the send is over, so nothing was sent to Braze"
        )
    if action == "update" and sent_as.mode == "local" and kind != ScheduleKind.MESSAGE and first <= now:
        return REFUSED_TOO_LATE, (
            f"Braze does not apply updates to a local-time {kind} schedule once its time "
            f"({sent_as.time_string}) has passed in any time zone, and it has; nothing was sent to Braze"
        )
    if first <= now:
        return BEST_EFFORT, (
            f"the {sent_as.mode}-time send ({sent_as.time_string}) has begun in the earliest time zones: Braze "
            f"applies this {action} with best effort, to all, some or none of the users"
        )
    if first - now <= best_effort_window:
        return BEST_EFFORT, (
            f"the send begins at {first:%Y-%m-%dT%H:%M:%SZ}, within {best_effort_window} of now: Braze applies "
            f"a {action} this close to the send with best effort, to all, some or none of the users"
        )
    return APPLIED, None


def check_window(name: str, value: Any) -> timedelta:
    """A window (``freeze_window``, ``best_effort_window``) as a timedelta: given as one or in seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = timedelta(seconds=value)
    if not isinstance(value, timedelta) or value < timedelta(0):
        raise BrazeValidationError(name, f"{value!r} is not a duration", "a timedelta or seconds, 0 or more")
    return value


@dataclass(slots=True)
class RegistryEntry:
    """What the registry holds for one schedule key (JSON-serialisable through :meth:`to_json`).

    An entry read by key (``ScheduleRegistry.get``, ``get_many``) carries its whole history. An entry
    from a listing (``scope``, ``query``) carries only its last history line, and says so with
    ``partial_history``: a listing of many keys must not hold every key's history. Writing such an entry
    loses nothing: the registry joins its lines to the stored ones first (``ScheduleRegistry.put_many``).

    :param schedule_key: the user's name for the send.
    :param handle: the handle (``ScheduleHandle.to_xcom()``) of the schedule serving the key, or None
        before its first create has been answered.
    :param fingerprint: of the create request that made it (and the schedule as last set).
    :param content_fingerprint: of that create request without its schedule.
    :param state: ``scheduled``, ``updated`` or ``cancelled``; None while the first create is pending.
    :param outcome: how the last update or cancel landed (``applied``, ``best_effort``, ``refused_too_late``).
    :param pending: the intent written before a request and cleared once its answer is recorded; a retry
        that finds one knows what was under way.
    :param history: one dict per change, oldest first.
    :param partial_history: ``history`` holds only the newest lines (the entry came from a listing); not
        stored.
    """

    schedule_key: str
    handle: dict[str, Any] | None = None
    fingerprint: str | None = None
    content_fingerprint: str | None = None
    state: str | None = None
    outcome: str | None = None
    pending: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    updated_at: str | None = None
    partial_history: bool = field(default=False, repr=False, compare=False)

    # --- reading ----------------------------------------------------------------------------------

    @property
    def schedule_id(self) -> str | None:
        return self.handle.get("schedule_id") if self.handle else None

    @property
    def schedule(self) -> dict[str, Any] | None:
        return self.handle.get("schedule") if self.handle else None

    def effective_state(self, now: datetime | None = None) -> str | None:
        """The stored state, or ``presumed_sent`` once a live schedule's time has passed everywhere."""
        if self.state in (SCHEDULED, UPDATED):
            window = delivery_window(self.schedule)
            if window is not None and window[1] <= (now or utc_now()):
                return PRESUMED_SENT
        return self.state

    def is_live(self, now: datetime | None = None) -> bool:
        """A schedule serves this key and has not been sent or cancelled."""
        return self.handle is not None and self.effective_state(now) in (SCHEDULED, UPDATED)

    def send_starts(self) -> datetime | None:
        window = delivery_window(self.schedule)
        return window[0] if window else None

    def refusal_reason(self) -> str | None:
        """Why the key's last change was refused as too late (nothing was sent), or None if it was not."""
        last = self.history[-1] if self.history else {}
        if last.get("outcome") != REFUSED_TOO_LATE:
            return None
        return str(last.get("note") or "refused: too late for Braze to apply")

    # --- changing -----------------------------------------------------------------------------------

    def record(
        self,
        action: str,
        actor: Actor,
        *,
        now: datetime | None = None,
        note: str | None = None,
        **changes: Any,
    ) -> RegistryEntry:
        """Apply ``changes`` to the entry's fields and add a line to its history."""
        for name, value in changes.items():
            if not hasattr(self, name):
                raise AttributeError(name)
            setattr(self, name, value)
        at = _stamp(now or utc_now())
        self.updated_at = at
        line: dict[str, Any] = {
            "seq": self.history[-1].get("seq", len(self.history) - 1) + 1 if self.history else 0,
            "at": at,
            "action": action,
            "state": self.state,
            "schedule_id": self.schedule_id,
            **actor.to_json(),
        }
        if self.outcome is not None and action in ("update", "cancel"):
            line["outcome"] = self.outcome
        if note:
            line["note"] = note
        self.history.append(line)
        return self

    def intend(self, intent: dict[str, Any], actor: Actor, *, now: datetime | None = None) -> RegistryEntry:
        """Write what is about to be sent, before sending it."""
        return self.record(
            "intent:" + str(intent.get("op")),
            actor,
            now=now,
            pending={**intent, "at": _stamp(now or utc_now()), **actor.to_json()},
        )

    # --- storing -------------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The stored fields (never ``partial_history``), copied: the value is the caller's to keep."""
        value = dataclasses.asdict(self)
        del value["partial_history"]
        return value

    @classmethod
    def from_json(cls, value: Any) -> RegistryEntry:
        if isinstance(value, str):
            value = json.loads(value)
        if not isinstance(value, dict) or not isinstance(value.get("schedule_key"), str):
            raise ValueError(f"not a registry entry: {str(value)[:200]!r}")
        return cls(**{k: v for k, v in value.items() if k in _STORED_FIELDS})

    @classmethod
    def listed(
        cls, value: Any, shared: dict[Any, Any] | None = None, *, compact: bool = True
    ) -> RegistryEntry:
        """An entry as a listing gives it: its last history line only, marked ``partial_history``.

        :param shared: a dict kept across one listing's entries, see :func:`listed_value`.
        :param compact: False if ``value`` already comes from :func:`listed_value`.
        """
        if isinstance(value, str):
            value = json.loads(value)
        if not isinstance(value, dict) or not isinstance(value.get("schedule_key"), str):
            raise ValueError(f"not a registry entry: {str(value)[:200]!r}")
        if compact:
            value = listed_value(value, {} if shared is None else shared)
        get = value.get
        return cls(
            schedule_key=value["schedule_key"],
            handle=get("handle"),
            fingerprint=get("fingerprint"),
            content_fingerprint=get("content_fingerprint"),
            state=get("state"),
            outcome=get("outcome"),
            pending=get("pending"),
            history=get("history") or [],
            updated_at=get("updated_at"),
            partial_history=True,
        )

    def summary(self, now: datetime | None = None) -> dict[str, Any]:
        """The entry as users read it: key, state (with ``presumed_sent``), outcome, handle, last change."""
        return {
            "schedule_key": self.schedule_key,
            "state": self.effective_state(now),
            "outcome": self.outcome,
            "schedule_id": self.schedule_id,
            "handle": self.handle,
            "pending": self.pending,
            "updated_at": self.updated_at,
            "last_change": self.history[-1] if self.history else None,
        }


#: Fields of an entry, or of a history line, whose text differs from key to key: never shared.
_OWN_TEXT = frozenset({"schedule_key", "schedule_id", "fingerprint", "content_fingerprint", "note"})


def listed_value(value: dict[str, Any], shared: dict[Any, Any]) -> dict[str, Any]:
    """An entry's JSON as a listing keeps it: its last history line only, and small.

    A listing holds many entries at once, and parsed JSON holds its own copy of every text (the same few
    DAG runs, tasks, actions, instants and states again and again): each repeated text is held once in
    ``shared``, one dict for a whole listing. A history line without a seq (lines once had none) gets
    its place in the history as one. ``value`` itself keeps its history (a store may hold it); the dicts
    in it only have texts swapped for equal ones.
    """
    history = value.get("history") or []
    last = history[-1] if history else None
    value = dict(value)
    _share(value, shared)
    handle = value.get("handle")
    if isinstance(handle, dict):
        _share(handle, shared)
        if isinstance(handle.get("schedule"), dict):
            _share(handle["schedule"], shared)
    if last is not None:
        if "seq" not in last:
            last = {"seq": len(history) - 1, **last}
        _share(last, shared)
        if isinstance(handle, dict) and last.get("schedule_id") == handle.get("schedule_id"):
            last["schedule_id"] = handle.get("schedule_id")  # one text for both
    value["history"] = [last] if last is not None else []
    return value


def _share(value: dict[str, Any], shared: dict[Any, Any]) -> None:
    """The texts of ``value`` that repeat from key to key, replaced by the one copy in ``shared``."""
    for name, item in value.items():
        if type(item) is str and name not in _OWN_TEXT:
            value[name] = shared.setdefault(item, item)


#: The fields :meth:`RegistryEntry.to_json` stores and :meth:`RegistryEntry.from_json` reads.
_STORED_FIELDS = frozenset(f.name for f in dataclasses.fields(RegistryEntry)) - {"partial_history"}
