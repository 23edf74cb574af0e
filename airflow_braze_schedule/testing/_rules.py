"""Braze's documented request rules for the scheduled-messaging endpoints, as pure functions.

This module is the fake's model of Braze's *server side* as Braze documents it
(https://www.braze.com/docs/api/endpoints/messaging/schedule_messages/ and the schedule, recipient and
trigger-properties object pages): which parameters each endpoint takes, their types, the schedule
object's time rules and the audience rules. It knows nothing about HTTP or state; :mod:`.fake_braze` calls it and turns a
:class:`BrazeError` into an answer.

Where Braze's documentation is silent the fake is deliberately strict (it exists to catch client bugs):
undocumented parameters are rejected, as is a ``time`` without a ``T`` time part, and "50 KB" is read as
50,000 bytes. Where Braze's own examples do something its prose advises against, the fake follows the
examples, as Braze's server evidently accepts them: ``in_local_time`` and ``at_optimal_time`` both true
(the ``/messages/schedule/create`` example), and a time-zone designator with local time (the update
examples; the wall-clock time is used).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

#: Maximum number of ``external_user_ids`` + ``user_aliases`` (or of ``recipients``) per request.
MAX_RECIPIENTS = 50
#: Maximum size of a ``trigger_properties`` / ``context`` object, in bytes of compact UTF-8 JSON. Braze
#: documents "50 KB" without saying 1,000 or 1,024; the fake takes the stricter 50,000, so that a client
#: it accepts is never refused by Braze for this.
MAX_PROPERTIES_BYTES = 50_000
#: Maximum request body ("Most endpoints accept request bodies up to 4 MB"); larger bodies get a 413.
MAX_BODY_BYTES = 4 * 1024 * 1024
#: ``send_id`` must be ASCII and at most this long (identifier types page).
MAX_SEND_ID_LENGTH = 64
#: The last time zone is UTC-12: a local wall-clock time has passed everywhere 12 h after it passed in
#: UTC.
_LAST_TIME_ZONE = timedelta(hours=12)
#: The first time zone is UTC+14: a local wall-clock time is reached somewhere 14 h before it is in UTC.
_FIRST_TIME_ZONE = timedelta(hours=14)

#: Messaging-object keys of ``messages``, as the ``/messages/schedule/create`` page lists them (its
#: update page refers to the same objects). ``whats_app`` is only documented for ``/messages/send``.
MESSAGE_CHANNELS = frozenset(
    {"apple_push", "android_push", "kindle_push", "web_push", "email", "webhook", "content_card", "sms"}
)
RECIPIENT_SUBSCRIPTION_STATES = frozenset({"opted_in", "subscribed", "all"})

TOO_MANY_IDS = "The max number of external_ids and aliases per request was exceeded"
NO_RECIPIENTS = "No Recipients"
NO_MESSAGE = "No message to send"
VARIANT_UNSPECIFIED = "Message Variant Unspecified"
BAD_SYNTAX = "Bad syntax"


class BrazeError(Exception):
    """A fatal Braze answer: an HTTP status and a body ``{"message": ..., "errors": [...]}``.

    :param status: the HTTP status code.
    :param message: Braze's ``message`` field.
    :param errors: Braze's ``errors`` list; omitted from the body when ``None``.
    :param headers: extra response headers.
    """

    def __init__(
        self,
        status: int,
        message: str,
        errors: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """Return the JSON body Braze would send."""
        body: dict[str, Any] = {"message": self.message}
        if self.errors is not None:
            body["errors"] = list(self.errors)
        return body


@dataclass
class _Problems:
    """Collects every validation problem of one request, so the client learns all of them at once.

    The answer's ``message`` is the first Braze-named error title (e.g. ``"No Recipients"``) if any,
    else the first problem; ``errors`` lists every problem.
    """

    details: list[str] = field(default_factory=list)
    title: str | None = None

    def add(self, detail: str, title: str | None = None) -> None:
        self.details.append(detail)
        if title is not None and self.title is None:
            self.title = title

    def raise_if_any(self) -> None:
        if self.details:
            raise BrazeError(400, self.title or self.details[0], self.details)


@dataclass(frozen=True)
class Endpoint:
    """One Braze endpoint the fake serves.

    :param path: the URL path.
    :param method: ``"GET"`` or ``"POST"``.
    :param permission: the API-key permission it needs (https://www.braze.com/docs/api/basics).
    :param kind: ``"message"``, ``"campaign"`` or ``"canvas"`` for schedule endpoints, else ``None``.
    :param action: ``"create"``, ``"update"``, ``"delete"``, ``"list"`` or ``"create_send_id"``.
    :param parameters: the documented body parameters (anything else is rejected).
    """

    path: str
    method: str
    permission: str
    kind: str | None
    action: str
    parameters: frozenset[str]

    @property
    def owner_field(self) -> str | None:
        """``"campaign_id"`` / ``"canvas_id"`` for trigger-schedule endpoints, else ``None``."""
        return {"campaign": "campaign_id", "canvas": "canvas_id"}.get(self.kind or "")


def _endpoint(path: str, permission: str, kind: str | None, action: str, *params: str) -> Endpoint:
    method = "GET" if action == "list" else "POST"
    return Endpoint(path, method, permission, kind, action, frozenset(params))


_SCHEDULE_ID = ("schedule_id",)
ENDPOINTS: dict[str, Endpoint] = {
    e.path: e
    for e in (
        _endpoint(
            "/messages/schedule/create",
            "messages.schedule.create",
            "message",
            "create",
            "broadcast",
            "external_user_ids",
            "user_aliases",
            "audience",
            "segment_id",
            "campaign_id",
            "send_id",
            "override_messaging_limits",
            "recipient_subscription_state",
            "schedule",
            "messages",
        ),
        _endpoint(
            "/messages/schedule/update",
            "messages.schedule.update",
            "message",
            "update",
            *_SCHEDULE_ID,
            "schedule",
            "messages",
        ),
        _endpoint(
            "/messages/schedule/delete", "messages.schedule.delete", "message", "delete", *_SCHEDULE_ID
        ),
        _endpoint(
            "/campaigns/trigger/schedule/create",
            "campaigns.trigger.schedule.create",
            "campaign",
            "create",
            "campaign_id",
            "send_id",
            "recipients",
            "audience",
            "broadcast",
            "trigger_properties",
            "schedule",
        ),
        _endpoint(
            "/campaigns/trigger/schedule/update",
            "campaigns.trigger.schedule.update",
            "campaign",
            "update",
            "campaign_id",
            *_SCHEDULE_ID,
            "schedule",
        ),
        _endpoint(
            "/campaigns/trigger/schedule/delete",
            "campaigns.trigger.schedule.delete",
            "campaign",
            "delete",
            "campaign_id",
            *_SCHEDULE_ID,
        ),
        _endpoint(
            "/canvas/trigger/schedule/create",
            "canvas.trigger.schedule.create",
            "canvas",
            "create",
            "canvas_id",
            "recipients",
            "audience",
            "broadcast",
            "context",
            "canvas_entry_properties",
            "schedule",
        ),
        _endpoint(
            "/canvas/trigger/schedule/update",
            "canvas.trigger.schedule.update",
            "canvas",
            "update",
            "canvas_id",
            *_SCHEDULE_ID,
            "schedule",
        ),
        _endpoint(
            "/canvas/trigger/schedule/delete",
            "canvas.trigger.schedule.delete",
            "canvas",
            "delete",
            "canvas_id",
            *_SCHEDULE_ID,
        ),
        _endpoint("/messages/scheduled_broadcasts", "messages.schedule_broadcasts", None, "list"),
        _endpoint("/sends/id/create", "sends.id.create", None, "create_send_id", "campaign_id", "send_id"),
    )
}

# Why a parameter is refused where a generic "unknown parameter" message would not help.
_REFUSED_WHY = {
    ("/messages/schedule/create", "recipients"): (
        "'recipients' is not a parameter of /messages/schedule/create (Braze removed it from the docs as "
        "incorrect); target users with 'external_user_ids' and/or 'user_aliases'"
    ),
    ("/canvas/trigger/schedule/create", "send_id"): (
        "'send_id' is not a parameter of /canvas/trigger/schedule/create (only messages and campaign "
        "schedules take one)"
    ),
}

_RECIPIENT_IDS = ("external_user_id", "user_alias", "braze_id", "email")
_RECIPIENT_COMMON = frozenset({*_RECIPIENT_IDS, "prioritization", "send_to_existing_only", "attributes"})
_RECIPIENT_PARAMETERS = {
    "campaign": _RECIPIENT_COMMON | {"trigger_properties"},
    "canvas": _RECIPIENT_COMMON | {"context", "canvas_entry_properties"},
}
_ISO_DATETIME_PREFIX = re.compile(r"^\d{4}-?\d{2}-?\d{2}T\d{2}")


# --------------------------------------------------------------------------------------------- helpers


def _is_nonempty_str(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(_is_nonempty_str(v) for v in value)


def _is_user_alias(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and set(value) == {"alias_name", "alias_label"}
        and all(_is_nonempty_str(v) for v in value.values())
    )


def json_size(value: Any) -> int:
    """Return the size in bytes of ``value`` as compact UTF-8 JSON (how the 50 KB limits are measured)."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_iso_datetime(value: str) -> datetime | None:
    """Parse an ISO 8601 date-time with a ``T`` time part; return ``None`` if it is not one.

    :param value: e.g. ``"2030-01-01T09:00:00Z"``, ``"2030-01-01T09:00:00+0200"`` or, for local/optimal
        time, ``"2030-01-01T09:00:00"``.
    :return: the parsed datetime, naive when ``value`` has no time zone designator.
    """
    text = value.strip()
    if not _ISO_DATETIME_PREFIX.match(text):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _check_properties(problems: _Problems, where: str, value: Any) -> None:
    """``trigger_properties`` / ``context`` / ``canvas_entry_properties``: an object of at most 50 KB."""
    if not isinstance(value, dict):
        problems.add(f"'{where}' must be a JSON object")
    elif (size := json_size(value)) > MAX_PROPERTIES_BYTES:
        problems.add(f"'{where}' is {size} bytes of JSON; Braze's maximum is 50 KB ({MAX_PROPERTIES_BYTES})")


def _check_known_parameters(problems: _Problems, endpoint: Endpoint, body: dict[str, Any]) -> None:
    for key in body:
        if key in endpoint.parameters:
            continue
        why = _REFUSED_WHY.get((endpoint.path, key))
        problems.add(
            why
            or f"unknown parameter '{key}' for {endpoint.path}; documented parameters are: "
            + ", ".join(sorted(endpoint.parameters))
        )


def _check_required_id(problems: _Problems, body: dict[str, Any], name: str) -> None:
    if name not in body:
        problems.add(f"'{name}' is required")
    elif not _is_nonempty_str(body[name]):
        problems.add(f"'{name}' must be a non-empty string")


def _check_send_id(problems: _Problems, body: dict[str, Any]) -> None:
    if "send_id" not in body:
        return
    send_id = body["send_id"]
    if not _is_nonempty_str(send_id):
        problems.add("'send_id' must be a non-empty string")
    elif not send_id.isascii() or len(send_id) > MAX_SEND_ID_LENGTH:
        problems.add(f"'send_id' must be ASCII and at most {MAX_SEND_ID_LENGTH} characters long")


# --------------------------------------------------------------------------------------- the schedule


def check_schedule(problems: _Problems, schedule: Any, now: float) -> None:
    """Apply the rules of Braze's schedule object page to ``schedule``, adding problems found.

    - ``time`` is required: an ISO 8601 date-time string.
    - ``in_local_time`` / ``at_optimal_time`` are optional booleans; both may be true (Braze's own
      example), and then the optimal-time rule applies: it sends "regardless of the time you provide".
    - With neither, ``time`` is in UTC (no designator means UTC) and must not be in the past.
    - With either, ``time`` is a wall-clock time. Braze says not to give a designator, yet its own
      update examples do; a designator given is ignored.
    - ``in_local_time``: the wall-clock time must not have passed in all time zones (UTC-12 is last).
    - ``at_optimal_time``: the date must not have ended in all time zones (the time of day is ignored).

    :param problems: where problems are collected.
    :param schedule: the ``schedule`` value of the request body.
    :param now: the current time, epoch seconds.
    """
    if not isinstance(schedule, dict):
        problems.add("'schedule' must be a JSON object with at least 'time'")
        return
    for key in schedule:
        if key not in ("time", "in_local_time", "at_optimal_time"):
            problems.add(
                f"unknown schedule parameter '{key}'; the schedule object takes time, in_local_time and "
                "at_optimal_time"
            )
    flags = {}
    for flag in ("in_local_time", "at_optimal_time"):
        value = schedule.get(flag, False)
        if not isinstance(value, bool):
            problems.add(f"'schedule.{flag}' must be a boolean (true/false), got {json.dumps(value)}")
            value = False
        flags[flag] = value
    optimal = flags["at_optimal_time"]
    local = flags["in_local_time"] and not optimal

    if "time" not in schedule:
        problems.add("'schedule.time' is required")
        return
    raw = schedule["time"]
    parsed = parse_iso_datetime(raw) if isinstance(raw, str) else None
    if parsed is None:
        problems.add(
            f"Cannot parse 'schedule.time' datetime {json.dumps(raw)}: expected an ISO 8601 date-time "
            "such as '2030-01-31T09:00:00Z'"
        )
        return

    if local or optimal:
        wall = parsed.replace(tzinfo=UTC)
        if local and (wall + _LAST_TIME_ZONE).timestamp() < now:
            problems.add(
                f"in_local_time is true but 'schedule.time' {raw!r} has already passed in all time zones "
                f"(now is {_iso(now)})"
            )
        if optimal:
            day_end = wall.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
            if (day_end + _LAST_TIME_ZONE).timestamp() <= now:
                problems.add(
                    f"at_optimal_time is true but the date of 'schedule.time' {raw!r} has already ended in "
                    f"all time zones (now is {_iso(now)})"
                )
        return

    utc = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    if utc.timestamp() < now:
        problems.add(f"'schedule.time' {raw!r} is in the past (now is {_iso(now)})")


# --------------------------------------------------------------------------------------------- audience


def _check_audience_object(problems: _Problems, body: dict[str, Any]) -> None:
    if "audience" in body and (not isinstance(body["audience"], dict) or not body["audience"]):
        problems.add("'audience' must be a non-empty connected audience object")


def _check_broadcast(problems: _Problems, body: dict[str, Any]) -> bool:
    """Check the type of ``broadcast`` and return whether it is ``true``."""
    broadcast = body.get("broadcast", False)
    if not isinstance(broadcast, bool):
        problems.add(f"'broadcast' must be a boolean (true/false), got {json.dumps(broadcast)}")
        return False
    return broadcast


def first_delivery(schedule: dict[str, Any]) -> float | None:
    """When a stored (valid) schedule first delivers somewhere on Earth, epoch seconds.

    A UTC time delivers at that instant; a local time first at UTC+14; an optimal-time date from its
    start at UTC+14. ``None`` if the time cannot be read.
    """
    raw = schedule.get("time")
    parsed = parse_iso_datetime(raw) if isinstance(raw, str) else None
    if parsed is None:
        return None
    if schedule.get("at_optimal_time") is True:
        day = parsed.replace(tzinfo=UTC, hour=0, minute=0, second=0, microsecond=0)
        return (day - _FIRST_TIME_ZONE).timestamp()
    if schedule.get("in_local_time") is True:
        return (parsed.replace(tzinfo=UTC) - _FIRST_TIME_ZONE).timestamp()
    return (parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)).timestamp()


def _check_message_audience(problems: _Problems, body: dict[str, Any]) -> None:
    """Audience rules of ``/messages/schedule/create`` (users, aliases, segment, audience, broadcast)."""
    broadcast = _check_broadcast(problems, body)
    ids = body.get("external_user_ids")
    aliases = body.get("user_aliases")
    if ids is not None and not _is_str_list(ids):
        problems.add("'external_user_ids' must be an array of non-empty strings")
        ids = None
    if aliases is not None and not (isinstance(aliases, list) and all(_is_user_alias(a) for a in aliases)):
        problems.add(
            "'user_aliases' must be an array of user alias objects "
            '{"alias_name": "...", "alias_label": "..."}'
        )
        aliases = None
    if "segment_id" in body and not _is_nonempty_str(body["segment_id"]):
        problems.add("'segment_id' must be a non-empty string")
    _check_audience_object(problems, body)

    users = len(ids or []) + len(aliases or [])
    if users > MAX_RECIPIENTS:
        problems.add(
            f"{users} external_user_ids and user_aliases given; at most {MAX_RECIPIENTS} per request",
            TOO_MANY_IDS,
        )
    if broadcast and ("external_user_ids" in body or "user_aliases" in body):
        problems.add(
            "'broadcast' is true, so 'external_user_ids' and 'user_aliases' cannot be included "
            "(broadcast sends to the whole segment)"
        )
    if not (broadcast or users):
        # "broadcast ... must be set to true if users are not specified" (schedule/create page).
        groups = [name for name in ("segment_id", "audience") if body.get(name)]
        problems.add(
            f"no users are specified (only {' and '.join(groups)}), so 'broadcast' must be true"
            if groups
            else "no recipients: give 'external_user_ids' or 'user_aliases', or set 'broadcast' to true "
            "with a 'segment_id' or 'audience'",
            NO_RECIPIENTS,
        )


def _check_recipient(problems: _Problems, kind: str, index: int, recipient: Any) -> None:
    where = f"recipients[{index}]"
    if not isinstance(recipient, dict):
        problems.add(f"'{where}' must be a recipients object")
        return
    for key in recipient:
        if key not in _RECIPIENT_PARAMETERS[kind]:
            problems.add(
                f"unknown parameter '{key}' in '{where}'; a {kind} recipient takes: "
                + ", ".join(sorted(_RECIPIENT_PARAMETERS[kind]))
            )
    given = [k for k in _RECIPIENT_IDS if k in recipient]
    if len(given) != 1:
        problems.add(
            f"'{where}' must include exactly one of external_user_id, user_alias, braze_id or email "
            f"(got {', '.join(given) or 'none'})"
        )
    for key in ("external_user_id", "braze_id", "email"):
        if key in recipient and not _is_nonempty_str(recipient[key]):
            problems.add(f"'{where}.{key}' must be a non-empty string")
    if "user_alias" in recipient and not _is_user_alias(recipient["user_alias"]):
        problems.add(f"'{where}.user_alias' must be a user alias object with alias_name and alias_label")
    if "email" in recipient and "prioritization" not in recipient:
        problems.add(f"'{where}.prioritization' is required when targeting by email")
    if "prioritization" in recipient and not _is_str_list(recipient["prioritization"]):
        problems.add(f"'{where}.prioritization' must be an array of strings")
    existing_only = recipient.get("send_to_existing_only", True)
    if not isinstance(existing_only, bool):
        problems.add(f"'{where}.send_to_existing_only' must be a boolean")
    elif "send_to_existing_only" in recipient and "user_alias" in recipient:
        problems.add(f"'{where}.send_to_existing_only' cannot be used with user aliases")
    elif existing_only is False and "attributes" not in recipient:
        problems.add(f"'{where}.send_to_existing_only' is false, so 'attributes' must be included")
    if "attributes" in recipient and not isinstance(recipient["attributes"], dict):
        problems.add(f"'{where}.attributes' must be a JSON object")
    _check_properties_fields(problems, recipient, where + ".")


def _check_properties_fields(problems: _Problems, container: dict[str, Any], prefix: str) -> None:
    for key in ("trigger_properties", "context", "canvas_entry_properties"):
        if key in container:
            _check_properties(problems, prefix + key, container[key])
    if "context" in container and "canvas_entry_properties" in container:
        problems.add(
            f"give either '{prefix}context' or its older name '{prefix}canvas_entry_properties', not both"
        )


def _check_trigger_audience(problems: _Problems, kind: str, body: dict[str, Any]) -> None:
    """Audience rules of the campaign / Canvas trigger-schedule creates (recipients, audience, broadcast)."""
    broadcast = _check_broadcast(problems, body)
    recipients = body.get("recipients")
    count = 0
    if recipients is not None:
        if not isinstance(recipients, list):
            problems.add("'recipients' must be an array of recipients objects")
        else:
            count = len(recipients)
            for index, recipient in enumerate(recipients):
                _check_recipient(problems, kind, index, recipient)
    _check_audience_object(problems, body)
    if count > MAX_RECIPIENTS:
        problems.add(f"{count} recipients given; at most {MAX_RECIPIENTS} per request", TOO_MANY_IDS)
    if broadcast and "recipients" in body:
        problems.add("'broadcast' is true, so a 'recipients' list cannot be included")
    if not (broadcast or count):
        # "broadcast ... must be set to true if 'recipients' object is omitted" (trigger schedule pages).
        problems.add(
            "no 'recipients' are given (only 'audience'), so 'broadcast' must be true"
            if body.get("audience")
            else "no recipients: give 'recipients', or set 'broadcast' to true to send to the whole "
            f"segment the {kind} targets (or its 'audience')",
            NO_RECIPIENTS,
        )


def _check_messages(problems: _Problems, messages: Any, campaign_id: Any = None) -> None:
    """``messages``: messaging objects by channel; with a ``campaign_id``, each names its variation."""
    if not isinstance(messages, dict) or not messages:
        problems.add("'messages' must be a non-empty object of messaging objects", NO_MESSAGE)
        return
    for channel, value in messages.items():
        if channel not in MESSAGE_CHANNELS:
            problems.add(
                f"unknown messaging object 'messages.{channel}'; known: "
                + ", ".join(sorted(MESSAGE_CHANNELS))
            )
        elif not isinstance(value, dict):
            problems.add(f"'messages.{channel}' must be a JSON object")
        elif campaign_id is not None and not _is_nonempty_str(value.get("message_variation_id")):
            problems.add(
                f"'messages.{channel}.message_variation_id' is required: a campaign ID is provided but no "
                "message variation ID",
                VARIANT_UNSPECIFIED,
            )


# ------------------------------------------------------------------------------------------ endpoints


def check_body(endpoint: Endpoint, body: dict[str, Any], now: float) -> None:
    """Validate the JSON ``body`` of a POST to ``endpoint``; raise :class:`BrazeError` (400) if invalid.

    Existence checks (``schedule_id`` known, owner matching) are not done here: they need state.

    :param endpoint: the endpoint called.
    :param body: the parsed JSON object.
    :param now: the current time, epoch seconds.
    :raises BrazeError: with every problem found listed in ``errors``.
    """
    problems = _Problems()
    _check_known_parameters(problems, endpoint, body)
    # The id that names what the request is about: required on trigger-schedule endpoints and
    # /sends/id/create, optional (but then a real id) on /messages/schedule/create.
    owner = endpoint.owner_field or ("campaign_id" if endpoint.action == "create_send_id" else None)
    if owner is not None:
        _check_required_id(problems, body, owner)
    elif (
        "campaign_id" in endpoint.parameters
        and "campaign_id" in body
        and not _is_nonempty_str(body["campaign_id"])
    ):
        problems.add("'campaign_id' must be a non-empty string")

    if endpoint.action == "create_send_id":
        _check_send_id(problems, body)
    elif endpoint.action == "create":
        _check_send_id(problems, body)
        if "schedule" in body:
            check_schedule(problems, body["schedule"], now)
        else:
            problems.add("'schedule' is required")
        if endpoint.kind == "message":
            _check_message_create_fields(problems, body)
            _check_message_audience(problems, body)
        else:
            _check_properties_fields(problems, body, "")
            _check_trigger_audience(problems, endpoint.kind or "", body)
    elif endpoint.action in ("update", "delete"):
        _check_required_id(problems, body, "schedule_id")
        if endpoint.action == "update":
            _check_update_fields(problems, endpoint, body, now)
    problems.raise_if_any()


def _check_message_create_fields(problems: _Problems, body: dict[str, Any]) -> None:
    if "override_messaging_limits" in body and not isinstance(body["override_messaging_limits"], bool):
        problems.add("'override_messaging_limits' must be a boolean")
    state = body.get("recipient_subscription_state", "subscribed")
    if state not in RECIPIENT_SUBSCRIPTION_STATES:
        problems.add(
            f"'recipient_subscription_state' must be one of: {', '.join(sorted(RECIPIENT_SUBSCRIPTION_STATES))}"
        )
    if "messages" in body:
        _check_messages(problems, body["messages"], body.get("campaign_id"))
    else:
        problems.add("'messages' is required: a message schedule sends the messages it is given", NO_MESSAGE)


def _check_update_fields(problems: _Problems, endpoint: Endpoint, body: dict[str, Any], now: float) -> None:
    if endpoint.kind == "message":
        if "schedule" not in body and "messages" not in body:
            problems.add("an update must contain 'schedule', 'messages' or both")
        if "messages" in body:
            _check_messages(problems, body["messages"])
    elif "schedule" not in body:
        problems.add(
            f"'schedule' is required: {endpoint.path} only changes the schedule, and the new schedule "
            "object replaces the old one completely"
        )
    if "schedule" in body:
        check_schedule(problems, body["schedule"], now)


def check_end_time(end_time: str | None) -> datetime:
    """Validate the ``end_time`` query parameter of ``/messages/scheduled_broadcasts``.

    :param end_time: the raw query value (``None`` when absent).
    :return: it, parsed.
    :raises BrazeError: 400 when it is missing or not an ISO 8601 date or date-time.
    """
    if not end_time:
        raise BrazeError(400, "'end_time' is required", ["'end_time' query parameter is required (ISO 8601)"])
    try:
        return datetime.fromisoformat(end_time.strip())
    except ValueError:
        raise BrazeError(
            400,
            f"Cannot parse 'end_time' {end_time!r}",
            [f"'end_time' must be an ISO 8601 date-time, e.g. 2030-01-31T00:00:00Z; got {end_time!r}"],
        ) from None
