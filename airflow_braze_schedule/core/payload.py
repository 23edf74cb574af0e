"""Request rules for the three schedule kinds (braze-api.md §2 and §4), checked before anything is sent.

The kind rule: ``canvas_id`` means an API-triggered Canvas; ``messages`` means a message schedule (a
``campaign_id`` beside it only attributes the send to that campaign, and each message object then names
its ``message_variation_id``); ``campaign_id`` without ``messages`` means an API-triggered campaign.
Anything else is refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from typing import Any

from airflow_braze_schedule.core.endpoints import ENDPOINTS, SCHEDULED_BROADCASTS_PATH, Action, ScheduleKind
from airflow_braze_schedule.core.errors import BrazeValidationError
from airflow_braze_schedule.core.schedule import BrazeSchedule, rendered_nothing

MAX_USERS_PER_REQUEST = 50  # external ids + aliases, or recipients (braze-api.md §4.2)
# trigger_properties and Canvas context: "50 KB" (§4.2, §2.7), measured as UTF-8 bytes of the object's
# compact JSON (§12.11). Braze does not say whether KB means 1,000 or 1,024 bytes: the smaller reading is
# used, so that nothing accepted here can be refused by Braze for its size.
MAX_PROPERTIES_BYTES = 50_000
MAX_BODY_BYTES = 4 * 1024 * 1024  # "Most endpoints accept request bodies up to 4 MB" (§6.1)
MAX_SEND_ID_LENGTH = 64
MESSAGE_CHANNELS = frozenset(
    {"apple_push", "android_push", "kindle_push", "web_push", "email", "webhook", "content_card", "sms"}
)
SUBSCRIPTION_STATES = ("opted_in", "subscribed", "all")
RECIPIENT_IDENTIFIERS = ("external_user_id", "user_alias", "braze_id", "email")
RECIPIENT_KEYS = frozenset(
    {
        *RECIPIENT_IDENTIFIERS,
        "prioritization",
        "trigger_properties",
        "context",
        "canvas_entry_properties",
        "send_to_existing_only",
        "attributes",
    }
)

#: The fields each create endpoint takes (braze-api.md §4.1).
CREATE_FIELDS: dict[ScheduleKind, frozenset[str]] = {
    ScheduleKind.MESSAGE: frozenset(
        {
            "schedule",
            "messages",
            "broadcast",
            "external_user_ids",
            "user_aliases",
            "audience",
            "segment_id",
            "campaign_id",
            "send_id",
            "override_messaging_limits",
            "recipient_subscription_state",
        }
    ),
    ScheduleKind.CAMPAIGN: frozenset(
        {"schedule", "campaign_id", "send_id", "recipients", "audience", "broadcast", "trigger_properties"}
    ),
    ScheduleKind.CANVAS: frozenset(
        {"schedule", "canvas_id", "recipients", "audience", "broadcast", "context", "canvas_entry_properties"}
    ),
}
ALL_CREATE_FIELDS = frozenset().union(*CREATE_FIELDS.values())
#: Who a send can go to, per kind, short of broadcast=True (braze-api.md §4.1).
AUDIENCE_FIELDS: dict[ScheduleKind, tuple[str, ...]] = {
    ScheduleKind.MESSAGE: ("external_user_ids", "user_aliases", "segment_id", "audience"),
    ScheduleKind.CAMPAIGN: ("recipients", "audience"),
    ScheduleKind.CANVAS: ("recipients", "audience"),
}

# Why a field is refused on a kind, where there is something better to say than "not accepted".
_MISPLACED_HINTS = {
    ("recipients", ScheduleKind.MESSAGE): "external_user_ids or user_aliases (Braze removed recipients here)",
    ("send_id", ScheduleKind.CANVAS): "no send_id: Braze's Canvas schedule endpoint has none",
    ("trigger_properties", ScheduleKind.CANVAS): "context, the Canvas equivalent",
    ("context", ScheduleKind.CAMPAIGN): "trigger_properties, the campaign equivalent",
    ("canvas_entry_properties", ScheduleKind.CAMPAIGN): "trigger_properties, the campaign equivalent",
    ("messages", ScheduleKind.CANVAS): "no messages: a Canvas's content lives in Braze",
}


@dataclass(frozen=True)
class BrazeRequest:
    """A validated request, ready for the hook to send.

    :param action: what the call does (an :class:`~airflow_braze_schedule.core.endpoints.Action`, or its
        value as a string); it decides whether the request may be resent after a lost answer.
    :param notes: advice worth logging (lead times, a dropped offset), from the schedule rules.
    :param addressed_as_created: a delete naming the schedule exactly as Braze accepted its create (the
        ids a create's handle or a registry entry records); see
        :func:`~airflow_braze_schedule.core.errors.schedule_already_gone`.
    """

    method: str
    path: str
    action: Action
    body: dict[str, Any] | None = None
    params: dict[str, str] | None = None
    kind: ScheduleKind | None = None
    schedule: BrazeSchedule | None = None
    notes: list[str] = field(default_factory=list)
    addressed_as_created: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.action, Action):
            object.__setattr__(self, "action", Action(self.action))

    @cached_property
    def payload(self) -> bytes:
        """The body as compact JSON, serialised once (``NaN`` and ``Infinity`` are not JSON)."""
        return json.dumps(self.body, separators=(",", ":"), allow_nan=False).encode()

    @property
    def idempotent(self) -> bool:
        """Sending it twice does no more than sending it once (see :class:`Action`)."""
        return self.action.idempotent

    def describe(self) -> str:
        """The request as it would go out, for logs. It never holds the API key (that is a header)."""
        text = f"{self.method} {self.path}"
        if self.params:
            text += "?" + "&".join(f"{k}={v}" for k, v in self.params.items())
        if self.body is not None:
            text += " " + json.dumps(self.body, sort_keys=True)
        return text


def kind_for(*, canvas_id: Any = None, campaign_id: Any = None, messages: Any = None) -> ScheduleKind:
    """Apply the kind rule (see the module docstring)."""
    if canvas_id is not None and campaign_id is not None:
        raise BrazeValidationError(
            "campaign_id",
            "is set together with canvas_id",
            "one of them: a schedule is for a campaign or a Canvas",
        )
    if canvas_id is not None:
        return ScheduleKind.CANVAS
    if messages is not None:
        return ScheduleKind.MESSAGE
    if campaign_id is not None:
        return ScheduleKind.CAMPAIGN
    raise BrazeValidationError(
        "canvas_id / campaign_id / messages",
        "none is set, so there is nothing to schedule",
        "canvas_id for an API-triggered Canvas, campaign_id for an API-triggered campaign, "
        "or messages for a message schedule",
    )


# --- field checks -------------------------------------------------------------------------------


def _is_identifier(value: Any) -> bool:
    return isinstance(value, str) and not rendered_nothing(value)


def _identifier(name: str, value: Any) -> str:
    if not _is_identifier(value):
        raise BrazeValidationError(name, f"{value!r} is not an identifier", "a non-empty string")
    return value


def _boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise BrazeValidationError(
            name, f"{value!r} ({type(value).__name__}) is not a boolean", "true or false"
        )
    return value


def _object(name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BrazeValidationError(name, f"{type(value).__name__} is not an object", "a dict (JSON object)")
    return value


def _json_size(name: str, value: Any) -> int:
    """Bytes of ``value`` as compact UTF-8 JSON: "é" counts 2 bytes, not the 6 of its escape ``\\u00e9``."""
    try:
        return len(json.dumps(value, separators=(",", ":"), allow_nan=False, ensure_ascii=False).encode())
    except (TypeError, ValueError) as exc:
        raise BrazeValidationError(
            name, f"cannot be sent as JSON ({exc})", "strings, numbers, booleans, lists and dicts only"
        ) from None


def _properties(name: str, value: Any, *, size_checked_later: bool = False) -> dict[str, Any]:
    _object(name, value)
    if size_checked_later:  # see build_create_request
        return value
    size = _json_size(name, value)
    if size > MAX_PROPERTIES_BYTES:
        raise BrazeValidationError(
            name, f"is {size} bytes of UTF-8 JSON", f"at most {MAX_PROPERTIES_BYTES} bytes (Braze's 50 KB)"
        )
    return value


def _user_alias(name: str, value: Any) -> None:
    alias = _object(name, value)
    for key in ("alias_name", "alias_label"):
        if not isinstance(alias.get(key), str) or not alias[key]:
            raise BrazeValidationError(
                f"{name}.{key}",
                "is missing",
                'a user alias object {"alias_name": "...", "alias_label": "..."}',
            )


def _list(name: str, value: Any) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise BrazeValidationError(name, f"{type(value).__name__} is not a list", "a list")
    if not value:
        raise BrazeValidationError(name, "is empty", "at least one entry, or leave the field out")
    if len(value) > MAX_USERS_PER_REQUEST:
        raise BrazeValidationError(
            name,
            f"has {len(value)} entries",
            f"at most {MAX_USERS_PER_REQUEST} per request; split the users over several schedules",
        )
    return list(value)


# recipients[0] ... recipients[49], formatted once (_list has checked there are at most 50).
_RECIPIENT_NAMES = tuple(f"recipients[{i}]" for i in range(MAX_USERS_PER_REQUEST))
# A recipient's personalisation fields, and the one kind of schedule that takes each.
_RECIPIENT_PROPERTIES = (
    ("trigger_properties", ScheduleKind.CAMPAIGN),
    ("context", ScheduleKind.CANVAS),
    ("canvas_entry_properties", ScheduleKind.CANVAS),
)


def _recipient(name: str, value: Any, kind: ScheduleKind, *, size_checked_later: bool = False) -> None:
    recipient = _object(name, value)
    if not RECIPIENT_KEYS.issuperset(recipient):  # cheaper than the set difference when all is well
        unknown = sorted(set(recipient) - RECIPIENT_KEYS)
        raise BrazeValidationError(
            f"{name}.{unknown[0]}", "is not a recipient field", ", ".join(sorted(RECIPIENT_KEYS))
        )
    given = [key for key in RECIPIENT_IDENTIFIERS if recipient.get(key) is not None]
    if len(given) != 1:
        problem = (
            "has no user identifier" if not given else f"has {len(given)} identifiers ({', '.join(given)})"
        )
        raise BrazeValidationError(name, problem, f"exactly one of {', '.join(RECIPIENT_IDENTIFIERS)}")
    if "user_alias" in given:
        _user_alias(f"{name}.user_alias", recipient["user_alias"])
    elif not _is_identifier(recipient[given[0]]):  # the field's name is only built for the error
        _identifier(f"{name}.{given[0]}", recipient[given[0]])
    if recipient.get("prioritization") is not None and not isinstance(recipient["prioritization"], list):
        raise BrazeValidationError(
            f"{name}.prioritization",
            "is not a list",
            'a list such as ["unidentified", "most_recently_updated"]',
        )
    if "email" in given and recipient.get("prioritization") is None:
        raise BrazeValidationError(
            f"{name}.prioritization",
            "is missing",
            'a prioritization list such as ["unidentified", "most_recently_updated"] '
            "(Braze requires it with email)",
        )
    for key, owner in _RECIPIENT_PROPERTIES:
        if recipient.get(key) is not None:
            if kind is not owner:
                raise BrazeValidationError(
                    f"{name}.{key}",
                    f"is not used by {kind.value} schedules",
                    "trigger_properties for campaigns, context for Canvases",
                )
            if not (size_checked_later and isinstance(recipient[key], dict)):
                _properties(f"{name}.{key}", recipient[key], size_checked_later=size_checked_later)
    if recipient.get("send_to_existing_only") is not None:
        existing_only = _boolean(f"{name}.send_to_existing_only", recipient["send_to_existing_only"])
        if "user_alias" in given:
            raise BrazeValidationError(
                f"{name}.send_to_existing_only",
                "cannot be used with user_alias",
                "an external_user_id, braze_id or email recipient",
            )
        if not existing_only and recipient.get("attributes") is None:
            raise BrazeValidationError(
                f"{name}.attributes",
                "is missing while send_to_existing_only is false",
                "an attributes object to create the user with",
            )
    if recipient.get("attributes") is not None:
        _object(f"{name}.attributes", recipient["attributes"])


def _messages(value: Any) -> dict[str, Any]:
    messages = _object("messages", value)
    if not messages:
        raise BrazeValidationError(
            "messages", "is empty", f"at least one of {', '.join(sorted(MESSAGE_CHANNELS))}"
        )
    for channel, payload in messages.items():
        if channel not in MESSAGE_CHANNELS:
            raise BrazeValidationError(
                f"messages.{channel}", "is not a channel Braze schedules", ", ".join(sorted(MESSAGE_CHANNELS))
            )
        _object(f"messages.{channel}", payload)
    return messages


def _check_message_variations(body: dict[str, Any]) -> None:
    """A message schedule attributed to a campaign names each message's variation (braze-api.md §12.3)."""
    if "campaign_id" not in body:
        return
    for channel, payload in body["messages"].items():
        variation = payload.get("message_variation_id")
        if not isinstance(variation, str) or rendered_nothing(variation):
            raise BrazeValidationError(
                f"messages.{channel}.message_variation_id",
                f"is missing while campaign_id {body['campaign_id']!r} attributes the send to a campaign "
                "(Braze answers 400 Message Variant Unspecified)",
                f"the id of the campaign's {channel} message variation, or no campaign_id",
            )


def _schedule(value: Any, now: datetime | None) -> tuple[BrazeSchedule, list[str]]:
    schedule = BrazeSchedule.parse(value)
    return schedule, schedule.check(now)


def _finish(request: BrazeRequest) -> BrazeRequest:
    """Last checks on the whole body: JSON-serialisable (naming the field that is not) and its size.

    The body is serialised once here; the hook sends these very bytes.
    """
    try:
        size = len(request.payload)
    except (TypeError, ValueError):
        for name, value in (request.body or {}).items():
            _json_size(name, value)  # names the field at fault
        raise
    if size > MAX_BODY_BYTES:
        raise BrazeValidationError(
            "body", f"is {size} bytes of JSON", f"at most {MAX_BODY_BYTES} bytes (4 MB)"
        )
    return request


# --- the three calls ----------------------------------------------------------------------------


def build_create_request(
    fields: Mapping[str, Any], *, kind: ScheduleKind | None = None, now: datetime | None = None
) -> BrazeRequest:
    """Validate a create and build its request. ``None`` values count as not given.

    :param fields: Braze's request fields, by Braze's names.
    :param kind: the endpoint to use; by default the kind rule picks it from the fields.
    :raises BrazeValidationError: naming the field at fault.
    """
    # Fast path: every trigger_properties / context object is a part of the body's JSON, so a body of at
    # most 50 KB proves them all within their limit (and serialisable) without serialising each one (50
    # recipients, 50 serialisations). Anything else (a bigger body, any error) takes every check in its
    # usual order, so the error raised, if any, is the same.
    try:
        request = _create_request(fields, kind, now, size_checked_later=True)
        if len(request.payload) <= MAX_PROPERTIES_BYTES:
            return request
    except Exception:  # the full pass below raises what it should
        pass
    return _create_request(fields, kind, now)


def _create_request(
    fields: Mapping[str, Any],
    kind: ScheduleKind | None,
    now: datetime | None,
    *,
    size_checked_later: bool = False,
) -> BrazeRequest:
    given = {name: value for name, value in fields.items() if value is not None}
    unknown = sorted(set(given) - ALL_CREATE_FIELDS)
    if unknown:
        raise BrazeValidationError(
            unknown[0], "is not a Braze schedule field", ", ".join(sorted(ALL_CREATE_FIELDS))
        )
    if kind is None:
        kind = kind_for(
            canvas_id=given.get("canvas_id"),
            campaign_id=given.get("campaign_id"),
            messages=given.get("messages"),
        )
    for name in sorted(set(given) - CREATE_FIELDS[kind]):
        hint = _MISPLACED_HINTS.get((name, kind), ", ".join(sorted(CREATE_FIELDS[kind])))
        raise BrazeValidationError(name, f"is not accepted by {kind.value} schedules", hint)
    owner_field = ENDPOINTS[kind].owner_field
    if owner_field and owner_field not in given:
        raise BrazeValidationError(
            owner_field, "is missing", f"the {owner_field} of the API-triggered {kind.value}"
        )
    if kind is ScheduleKind.MESSAGE and "messages" not in given:
        raise BrazeValidationError(
            "messages",
            "is missing: a message schedule sends the messages it is given (Braze answers 400 No message "
            "to send)",
            f"at least one of {', '.join(sorted(MESSAGE_CHANNELS))}",
        )

    body: dict[str, Any] = {}
    for name in ("campaign_id", "canvas_id", "segment_id"):
        if name in given:
            body[name] = _identifier(name, given[name])
    if "send_id" in given:
        body["send_id"] = check_send_id(given["send_id"])
    for name in ("broadcast", "override_messaging_limits"):
        if name in given:
            body[name] = _boolean(name, given[name])
    if "recipient_subscription_state" in given:
        state = given["recipient_subscription_state"]
        if state not in SUBSCRIPTION_STATES:
            raise BrazeValidationError(
                "recipient_subscription_state", f"{state!r} is not a state", " or ".join(SUBSCRIPTION_STATES)
            )
        body["recipient_subscription_state"] = state
    if "external_user_ids" in given:
        ids = _list("external_user_ids", given["external_user_ids"])
        for i, user_id in enumerate(ids):
            _identifier(f"external_user_ids[{i}]", user_id)
        body["external_user_ids"] = ids
    if "user_aliases" in given:
        aliases = _list("user_aliases", given["user_aliases"])
        for i, alias in enumerate(aliases):
            _user_alias(f"user_aliases[{i}]", alias)
        body["user_aliases"] = aliases
    users = len(body.get("external_user_ids", [])) + len(body.get("user_aliases", []))
    if users > MAX_USERS_PER_REQUEST:
        raise BrazeValidationError(
            "external_user_ids + user_aliases",
            f"name {users} users",
            f"at most {MAX_USERS_PER_REQUEST} per request",
        )
    if "recipients" in given:
        recipients = _list("recipients", given["recipients"])
        for i, recipient in enumerate(recipients):
            _recipient(_RECIPIENT_NAMES[i], recipient, kind, size_checked_later=size_checked_later)
        body["recipients"] = recipients
    if "audience" in given:
        audience = _object("audience", given["audience"])
        if not audience:
            raise BrazeValidationError("audience", "is empty", "a connected audience object, or leave it out")
        body["audience"] = audience
    if "context" in given and "canvas_entry_properties" in given:
        raise BrazeValidationError(
            "canvas_entry_properties", "is set together with context (its newer name)", "only context"
        )
    for name in ("trigger_properties", "context", "canvas_entry_properties"):
        if name in given:
            body[name] = _properties(name, given[name], size_checked_later=size_checked_later)
    if "messages" in given:
        body["messages"] = _messages(given["messages"])
        _check_message_variations(body)
    _check_audience(kind, body)
    schedule, notes = _schedule(given.get("schedule"), now)
    body["schedule"] = schedule.to_payload()
    return _finish(
        BrazeRequest(
            "POST", ENDPOINTS[kind].create, Action.CREATE, body, kind=kind, schedule=schedule, notes=notes
        )
    )


def _check_audience(kind: ScheduleKind, body: dict[str, Any]) -> None:
    """Someone must receive the send; ``broadcast`` excludes a list of users, and a send that names no
    users needs it (§2.1, §2.4, §12.2)."""
    users = [name for name in ("recipients", "external_user_ids", "user_aliases") if name in body]
    broadcast = body.get("broadcast") is True
    if broadcast and users:
        raise BrazeValidationError(
            "broadcast",
            f"is true together with {users[0]}",
            "broadcast only to send to the whole segment, or a list of users without it",
        )
    groups = [name for name in ("segment_id", "audience") if name in body]
    if groups and not users and not broadcast:
        named = "recipients" if kind is not ScheduleKind.MESSAGE else "external_user_ids or user_aliases"
        raise BrazeValidationError(
            "broadcast",
            f"is not true, but the send names no users, only {' and '.join(groups)} (Braze requires "
            "broadcast=true then, and refuses the request without it)",
            f"broadcast=True to send to everyone in the {' and '.join(groups)}, or users in {named}",
        )
    targets = AUDIENCE_FIELDS[kind]
    if not broadcast and not any(name in body for name in targets):
        raise BrazeValidationError(
            "audience",
            "no one would receive this send",
            f"one of {', '.join(targets)}, or broadcast=True to send to the whole segment it targets",
        )


def check_send_id(value: Any) -> str:
    """A send id is ASCII and at most 64 characters (braze-api.md §5.1)."""
    send_id = _identifier("send_id", value)
    if not send_id.isascii() or len(send_id) > MAX_SEND_ID_LENGTH:
        raise BrazeValidationError(
            "send_id",
            f"{send_id!r} is not a valid send id",
            f"ASCII, at most {MAX_SEND_ID_LENGTH} characters",
        )
    return send_id


def check_schedule_id(value: Any) -> str:
    """A ``schedule_id`` must be a real id: not empty, not whitespace, not a rendered ``None``."""
    if rendered_nothing(value):
        raise BrazeValidationError(
            "schedule_id",
            f"is {value!r}: the create task's XCom is probably missing (did it run and succeed?)",
            "the schedule_id returned by the create call, or the create task's output",
        )
    if not isinstance(value, str):
        raise BrazeValidationError("schedule_id", f"{type(value).__name__} is not an id", "a string")
    if value != value.strip():
        raise BrazeValidationError("schedule_id", f"{value!r} has surrounding whitespace", "the id exactly")
    return value


def _owner(kind: ScheduleKind, owner_id: Any) -> dict[str, str]:
    owner_field = ENDPOINTS[kind].owner_field
    if owner_field is None:
        return {}
    if owner_id is None:
        raise BrazeValidationError(
            owner_field,
            "is missing",
            f"the {owner_field} the schedule was created with, or the create task's output",
        )
    return {owner_field: _identifier(owner_field, owner_id)}


def build_update_request(
    kind: ScheduleKind,
    schedule_id: Any,
    *,
    owner_id: Any = None,
    schedule: Any = None,
    messages: Any = None,
    original: Any = None,
    now: datetime | None = None,
) -> BrazeRequest:
    """Validate an update and build its request.

    Message schedules accept ``schedule`` and/or ``messages``; campaign and Canvas schedules accept only
    ``schedule``, which Braze requires. Braze replaces what is sent wholesale.

    :param original: the schedule as created (the handle's ``schedule``), if known. Braze silently skips
        an update of a local-time campaign or Canvas schedule once the original time has passed in any
        time zone (braze-api.md §12.5), so such an update is refused here.
    """
    body: dict[str, Any] = {**_owner(kind, owner_id), "schedule_id": check_schedule_id(schedule_id)}
    if kind is not ScheduleKind.MESSAGE and messages is not None:
        raise BrazeValidationError(
            "messages",
            f"cannot be updated on {kind.value} schedules",
            "only schedule; the content lives in Braze",
        )
    if schedule is None and messages is None:
        need = "schedule and/or messages" if kind is ScheduleKind.MESSAGE else "schedule"
        raise BrazeValidationError("schedule", "nothing to update", need)
    if original is not None and kind is not ScheduleKind.MESSAGE:
        _check_not_too_late_to_update(original, now)
    parsed: BrazeSchedule | None = None
    notes: list[str] = []
    if schedule is not None:
        parsed, notes = _schedule(schedule, now)
        body["schedule"] = parsed.to_payload()
    if messages is not None:
        body["messages"] = _messages(messages)
    return _finish(
        BrazeRequest(
            "POST", ENDPOINTS[kind].update, Action.UPDATE, body, kind=kind, schedule=parsed, notes=notes
        )
    )


def _check_not_too_late_to_update(original: Any, now: datetime | None) -> None:
    """Refuse an update Braze would answer with success and not apply (braze-api.md §12.5)."""
    try:
        was = BrazeSchedule.parse(original)
    except BrazeValidationError:
        return  # not a schedule this package made: nothing is known about it
    if was.in_local_time and was.send_has_begun(now):
        raise BrazeValidationError(
            "schedule",
            f"cannot change this send any more: it was scheduled in local time for {was.time_string}, which "
            "the earliest time zone (UTC+14) has already reached, and Braze then does not apply updates "
            "(it answers success and keeps the old schedule)",
            "cancel this schedule and create a new one (BrazeCancelScheduleOperator, then "
            "BrazeCreateScheduleOperator); users in zones the send has reached may already have it",
        )


def build_delete_request(
    kind: ScheduleKind, schedule_id: Any, *, owner_id: Any = None, addressed_as_created: bool = False
) -> BrazeRequest:
    """Validate a delete (cancel) and build its request.

    :param addressed_as_created: the ids come from the create's handle or a registry entry, not by hand.
    """
    body = {**_owner(kind, owner_id), "schedule_id": check_schedule_id(schedule_id)}
    return BrazeRequest(
        "POST",
        ENDPOINTS[kind].delete,
        Action.DELETE,
        body,
        kind=kind,
        addressed_as_created=addressed_as_created,
    )


def check_end_time(value: Any) -> str:
    """``end_time`` of ``GET /messages/scheduled_broadcasts`` as Braze's example writes it: a date-time
    with its offset (``2018-09-01T00:00:00-04:00``). A datetime is sent in UTC (naive: taken as UTC), a
    date or a date-only string as its midnight UTC (Braze reads ``end_time`` as midnight UTC anyway);
    anything that is no ISO 8601 date or date-time is refused before the call."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return f"{value.isoformat()}T00:00:00Z"
    if isinstance(value, str) and not rendered_nothing(value):
        text = value.strip()
        try:
            datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            # A date alone is ISO 8601 too, but Braze documents only date-times here.
            return f"{text}T00:00:00Z" if "T" not in text.upper() else text
    raise BrazeValidationError(
        "end_time",
        f"{value!r} is not an ISO 8601 date or date-time",
        "for example 2031-01-01T00:00:00Z, a date, or a datetime",
    )


def build_scheduled_broadcasts_request(end_time: Any) -> BrazeRequest:
    """Validate and build ``GET /messages/scheduled_broadcasts?end_time=..``."""
    return BrazeRequest(
        "GET", SCHEDULED_BROADCASTS_PATH, Action.LIST, params={"end_time": check_end_time(end_time)}
    )
