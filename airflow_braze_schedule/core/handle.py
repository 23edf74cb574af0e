"""The handle a create task returns, and how update and cancel tasks find their schedule from it.

The handle is a plain JSON-serialisable dict in XCom:
``{"schedule_id", "dispatch_id", "kind", "campaign_id" | "canvas_id", "send_id"?, "schedule"}``.
Update and cancel accept it whole (``schedule_id=create.output``), so the user repeats no ids, or a bare
``schedule_id``; the sensor reads the send's analytics key (``campaign_id``, ``send_id``) from it.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from typing import Any

from airflow_braze_schedule.core.endpoints import ENDPOINTS, ScheduleKind
from airflow_braze_schedule.core.errors import BrazeValidationError
from airflow_braze_schedule.core.payload import check_schedule_id, kind_for
from airflow_braze_schedule.core.schedule import SCHEDULE_KEYS, BrazeSchedule


@dataclass(frozen=True)
class ScheduleHandle:
    """What identifies a schedule made through the API.

    :param schedule_id: Braze's id of the schedule: the only handle on the send.
    :param kind: message, campaign or Canvas.
    :param dispatch_id: Braze's dispatch id of the send, if it gave one.
    :param campaign_id: the API-triggered campaign, or the campaign a message schedule is attributed to.
    :param canvas_id: the API-triggered Canvas.
    :param send_id: the send id the schedule was made with, the key of its analytics by send.
    :param schedule: the schedule object as last sent, so an update can keep its mode.
    :param dry_run: the schedule was only validated and logged, never sent: nothing exists in Braze.
    """

    schedule_id: str
    kind: ScheduleKind
    dispatch_id: str | None = None
    campaign_id: str | None = None
    canvas_id: str | None = None
    schedule: dict[str, Any] | None = None
    dry_run: bool = False
    send_id: str | None = None

    @property
    def owner_id(self) -> str | None:
        """The ``campaign_id`` or ``canvas_id`` that update and delete must repeat; None for messages."""
        owner_field = ENDPOINTS[self.kind].owner_field
        return getattr(self, owner_field) if owner_field else None

    def to_xcom(self) -> dict[str, Any]:
        """The handle as a JSON-serialisable dict."""
        value: dict[str, Any] = {
            "schedule_id": self.schedule_id,
            "dispatch_id": self.dispatch_id,
            "kind": self.kind.value,
        }
        for name in ("campaign_id", "canvas_id", "send_id"):
            if getattr(self, name) is not None:
                value[name] = getattr(self, name)
        value["schedule"] = self.schedule
        if self.dry_run:
            value["dry_run"] = True
        return value

    @classmethod
    def from_xcom(cls, value: dict[str, Any]) -> ScheduleHandle:
        """Read a handle back from its dict form."""
        try:
            kind = ScheduleKind(str(value.get("kind")))
        except ValueError:
            raise BrazeValidationError(
                "schedule_id",
                f"the handle's kind {value.get('kind')!r} is not one of message, campaign, canvas",
                "the create task's output, unchanged",
            ) from None
        schedule = value.get("schedule")
        return cls(
            schedule_id=check_schedule_id(value.get("schedule_id")),
            kind=kind,
            dispatch_id=value.get("dispatch_id"),
            campaign_id=value.get("campaign_id"),
            canvas_id=value.get("canvas_id"),
            schedule=schedule if isinstance(schedule, dict) else None,
            dry_run=value.get("dry_run") is True,
            send_id=value.get("send_id"),
        )


def _as_mapping(value: Any) -> Any:
    """A handle that went through a Jinja template arrives as its text (JSON or Python repr); read it back."""
    if isinstance(value, str) and value.strip().startswith("{"):
        text = value.strip()
        try:
            return json.loads(text)
        except ValueError:
            pass
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            raise BrazeValidationError(
                "schedule_id",
                f"{value[:80]!r} looks like a handle but cannot be read",
                "a schedule_id or a handle",
            ) from None
    return value


def resolve_schedule(
    schedule_id: Any, *, campaign_id: Any = None, canvas_id: Any = None, messages: Any = None
) -> ScheduleHandle:
    """Find the schedule an update or cancel addresses.

    ``schedule_id`` is a bare id or a create task's handle. Given a handle, its kind and owner id are
    used, and a ``campaign_id`` / ``canvas_id`` passed beside it must agree. Given a bare id, the kind
    rule decides: ``canvas_id`` means a Canvas schedule, ``campaign_id`` (without ``messages``) an
    API-triggered campaign, and neither a message schedule.
    """
    value = _as_mapping(schedule_id)
    if isinstance(value, dict):
        handle = ScheduleHandle.from_xcom(value)
        for field_name, given in (("campaign_id", campaign_id), ("canvas_id", canvas_id)):
            if given is not None and given != getattr(handle, field_name):
                raise BrazeValidationError(
                    field_name,
                    f"{given!r} does not match the handle's {field_name} {getattr(handle, field_name)!r} "
                    f"({handle.kind.value} schedule)",
                    f"no {field_name}: the handle already says which schedule this is",
                )
        return handle
    bare_id = check_schedule_id(value)
    if campaign_id is None and canvas_id is None:
        return ScheduleHandle(bare_id, ScheduleKind.MESSAGE)
    kind = kind_for(canvas_id=canvas_id, campaign_id=campaign_id, messages=messages)
    return ScheduleHandle(bare_id, kind, campaign_id=campaign_id, canvas_id=canvas_id)


def schedule_for_update(update: Any, original: dict[str, Any] | None) -> Any:
    """The schedule object to send on update, keeping the original's mode unless the caller sets it.

    Braze replaces the whole schedule object on update, so an update that leaves out ``in_local_time``
    silently moves a local-time send to UTC. When the caller sets neither ``in_local_time`` nor
    ``at_optimal_time``, both are taken from the schedule as created (if known).
    """
    if update is None or original is None or isinstance(update, BrazeSchedule):
        return update
    if not isinstance(update, dict):
        update = {"time": update}
    if any(key in update for key in SCHEDULE_KEYS[1:]):
        return update
    inherited = {key: original[key] for key in SCHEDULE_KEYS[1:] if key in original}
    return {**update, **inherited}
