"""Large audiences: the users of one send, split into chunks of at most 50, each a create request of its own.

Braze takes at most 50 users per schedule create (braze-api.md §4.2), so an audience of any size is
sent as one schedule per chunk. This module holds the pure parts:

* reading the audience, from a list or streamed from a JSON Lines file (one user per line), each user
  labelled by where it came from (``line 137412``, ``recipients[12]``) so an error can name it;
* splitting it into chunks in input order;
* the *plan*: a pass over every chunk that validates it with the core's request rules
  (:func:`~airflow_braze_schedule.core.payload.build_create_request`) and keeps only a digest per chunk,
  so memory stays flat however large the audience. The sending pass reads the audience again and checks
  each chunk against its digest, so what goes out is exactly what was validated.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import IO, Any

from airflow_braze_schedule.core.endpoints import ScheduleKind
from airflow_braze_schedule.core.errors import BrazeValidationError
from airflow_braze_schedule.core.payload import MAX_USERS_PER_REQUEST, BrazeRequest, build_create_request

#: The request fields that name users: split over the chunks. Every other field goes into every chunk.
USER_FIELDS = ("recipients", "external_user_ids", "user_aliases")
DEFAULT_CHUNK_SIZE = MAX_USERS_PER_REQUEST

#: An audience entry: where it came from (for error messages) and the user itself.
Entry = tuple[str, Any]
#: Something that yields the audience's entries afresh each time it is called (the plan reads it twice).
EntrySource = Callable[[], Iterator[Entry]]


def check_chunk_size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_USERS_PER_REQUEST:
        raise BrazeValidationError(
            "chunk_size",
            f"{value!r} is not a chunk size",
            f"a whole number from 1 to {MAX_USERS_PER_REQUEST}",
        )
    return value


def read_json_lines(stream: IO[str] | IO[bytes] | Iterable[str | bytes], *, name: str) -> Iterator[Entry]:
    """Yield ``("<name> line <n>", value)`` for each non-blank line of a JSON Lines stream, one at a time.

    :param name: what the stream is called in error messages (``recipients_path``).
    :raises BrazeValidationError: naming the line, when a line is not JSON.
    """
    for number, raw in enumerate(_lines(stream), start=1):
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        if not text.strip():
            continue
        try:
            value = json.loads(text)
        except ValueError as error:  # JSONDecodeError, or bytes that are not UTF-8
            raise BrazeValidationError(
                f"{name} line {number:,}",
                f"is not JSON ({getattr(error, 'msg', error)})",
                "one JSON value per line (JSON Lines)",
            ) from None
        yield f"{name} line {number:,}", value


def _lines(stream: Any) -> Iterator[str | bytes]:
    """The stream's lines, one at a time. Through ``readline`` where there is one: Airflow 2's
    ``ObjectStoragePath.open()`` wraps the file in an object that cannot be iterated."""
    readline = getattr(stream, "readline", None)
    if readline is None:
        yield from stream
        return
    while line := readline():
        yield line


def list_entries(name: str, values: Any) -> Iterator[Entry]:
    """Yield ``("<name>[i]", value)`` for each user of a list given directly, by a template or by XCom."""
    values = as_user_list(name, values)
    for index, value in enumerate(values):
        yield f"{name}[{index}]", value


def as_user_list(name: str, value: Any) -> list[Any]:
    """A list of users; a template renders a list as its text (JSON or Python repr), read it back."""
    if isinstance(value, str):
        text = value.strip()
        parsed: Any = None
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except ValueError:
                try:
                    parsed = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    parsed = None
        if not isinstance(parsed, list):
            raise BrazeValidationError(
                name, f"{value[:80]!r} is not a list of users", "a list, a template rendering one, or an XCom"
            )
        return parsed
    if isinstance(value, list | tuple):
        return list(value)
    raise BrazeValidationError(name, f"{type(value).__name__} is not a list of users", "a list")


@dataclass(frozen=True)
class Chunk:
    """Up to ``chunk_size`` consecutive users of the audience: one create request.

    :param position: the chunk's place in the audience, from 0.
    :param labels: where each user came from, for error messages.
    :param users: the users, in input order.
    """

    position: int
    labels: list[str]
    users: list[Any]

    def fields(self, kind: ScheduleKind) -> dict[str, Any]:
        """The chunk's users as request fields: ``recipients`` for campaigns and Canvases; for message
        schedules a string is an ``external_user_ids`` entry and an object a ``user_aliases`` entry."""
        if kind is not ScheduleKind.MESSAGE:
            return {"recipients": self.users}
        ids = [user for user in self.users if isinstance(user, str)]
        aliases = [user for user in self.users if not isinstance(user, str)]
        return {"external_user_ids": ids or None, "user_aliases": aliases or None}

    def describe_users(self) -> str:
        """The users' identifiers, for a message about this chunk (``external_user_id:u1, ...``)."""
        return ", ".join(user_identity(user) for user in self.users)


def user_identity(user: Any) -> str:
    """How a user is named in messages: its identifier, never its personalisation."""
    if isinstance(user, str):
        return user
    if isinstance(user, dict):
        if isinstance(user.get("user_alias"), dict):
            user = user["user_alias"]
        if "alias_name" in user:
            return f"alias {user.get('alias_label')}:{user.get('alias_name')}"
        for key in ("external_user_id", "braze_id", "email"):
            if user.get(key) is not None:
                return f"{key}:{user[key]}"
    return repr(user)[:60]


def chunked(entries: Iterable[Entry], size: int) -> Iterator[Chunk]:
    """Split entries into chunks of ``size`` in input order; only one chunk is held at a time."""
    check_chunk_size(size)
    labels: list[str] = []
    users: list[Any] = []
    position = 0
    for label, user in entries:
        labels.append(label)
        users.append(user)
        if len(users) == size:
            yield Chunk(position, labels, users)
            position += 1
            labels, users = [], []
    if users:
        yield Chunk(position, labels, users)


_USER_INDEX = re.compile(r"^(recipients|external_user_ids|user_aliases)\[(\d+)\](.*)$")


def _blame(error: BrazeValidationError, chunk: Chunk, kind: ScheduleKind) -> BrazeValidationError:
    """Rename an error about ``recipients[3].user_alias`` of a chunk after the user's own place:
    ``recipients_path line 137,412: user_alias``."""
    match = _USER_INDEX.match(error.field)
    if match is None:
        return error
    field_name, index, rest = match.group(1), int(match.group(2)), match.group(3).lstrip(".")
    if kind is ScheduleKind.MESSAGE:
        wanted = str if field_name == "external_user_ids" else dict
        owners = [i for i, user in enumerate(chunk.users) if isinstance(user, wanted)]
        index = owners[index] if index < len(owners) else index
    if index >= len(chunk.labels):
        return error
    where = chunk.labels[index] + (f": {rest}" if rest else "")
    return BrazeValidationError(where, error.problem, error.expected)


def chunk_request(
    base: Mapping[str, Any], kind: ScheduleKind, chunk: Chunk, *, now: datetime | None = None
) -> BrazeRequest:
    """Validate one chunk's create with the core's rules and build its request.

    :raises BrazeValidationError: naming the user's own line or list index, and the field.
    """
    if kind is ScheduleKind.MESSAGE:
        for label, user in zip(chunk.labels, chunk.users, strict=True):
            if not isinstance(user, str | dict):
                raise BrazeValidationError(
                    label,
                    f"{type(user).__name__} is not a user",
                    'an external_user_id string or a user alias object {"alias_name": ..., "alias_label": ...}',
                )
    try:
        return build_create_request({**base, **chunk.fields(kind)}, kind=kind, now=now)
    except BrazeValidationError as error:
        raise _blame(error, chunk, kind) from None


def digest(request: BrazeRequest) -> str:
    """A short digest of a request's exact bytes."""
    return hashlib.sha256(request.payload).hexdigest()[:16]


# A user that passes every user rule, to validate the fields shared by all chunks once, even when the
# audience is empty.
_PLACEHOLDER: dict[ScheduleKind, dict[str, Any]] = {
    ScheduleKind.MESSAGE: {"external_user_ids": ["placeholder"]},
    ScheduleKind.CAMPAIGN: {"recipients": [{"external_user_id": "placeholder"}]},
    ScheduleKind.CANVAS: {"recipients": [{"external_user_id": "placeholder"}]},
}


def template_request(
    base: Mapping[str, Any], kind: ScheduleKind, *, now: datetime | None = None
) -> BrazeRequest:
    """The request every chunk shares, validated with a placeholder user (errors name shared fields)."""
    return build_create_request({**base, **_PLACEHOLDER[kind]}, kind=kind, now=now)


@dataclass
class BulkPlan:
    """What a bulk create will send, from a validation pass over the whole audience.

    :param kind: message, campaign or Canvas.
    :param template: the shared request, validated with a placeholder user.
    :param chunk_size: users per chunk.
    :param digests: each chunk's request digest, by position.
    :param sizes: each chunk's number of users, by position.
    :param fingerprint: a digest of the whole audience and request; a retry that finds another refuses
        to resume.
    :param content_fingerprint: the same without the schedule: an upsert that finds only this one equal
        moves the group rather than replacing it.
    """

    kind: ScheduleKind
    template: BrazeRequest
    chunk_size: int
    digests: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    fingerprint: str = ""
    content_fingerprint: str = ""

    @property
    def chunks(self) -> int:
        return len(self.digests)

    @property
    def recipients(self) -> int:
        return sum(self.sizes)

    @property
    def schedule(self) -> dict[str, Any]:
        assert self.template.body is not None
        return dict(self.template.body["schedule"])

    def describe(self) -> str:
        return (
            f"{self.recipients:,} recipients in {self.chunks:,} chunks of at most {self.chunk_size}: "
            f"{self.chunks:,} {self.template.method} {self.template.path} requests"
        )


def make_plan(
    base: Mapping[str, Any],
    kind: ScheduleKind,
    source: EntrySource,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    now: datetime | None = None,
    on_chunk: Callable[[Chunk, BrazeRequest], None] | None = None,
) -> BulkPlan:
    """Validate every chunk of the audience before anything is sent; keep one digest per chunk.

    :param base: the request fields shared by every chunk (everything but the users).
    :param source: yields the audience's entries; called once here.
    :param on_chunk: called with each chunk and its request (a dry run logs the first).
    :raises BrazeValidationError: at the first chunk that breaks a rule, naming the user and the field.
    """
    plan = BulkPlan(kind, template_request(base, kind, now=now), check_chunk_size(chunk_size))
    whole = hashlib.sha256(f"{kind.value}:{chunk_size}:".encode())
    content = whole.copy()
    for chunk in chunked(source(), chunk_size):
        request = chunk_request(base, kind, chunk, now=now)
        chunk_digest = digest(request)
        plan.digests.append(chunk_digest)
        plan.sizes.append(len(chunk.users))
        whole.update(chunk_digest.encode())
        content.update(_digest_without_schedule(request).encode())
        if on_chunk is not None:
            on_chunk(chunk, request)
    if plan.chunks == 0:
        whole.update(digest(plan.template).encode())
        content.update(_digest_without_schedule(plan.template).encode())
    plan.fingerprint = whole.hexdigest()[:24]
    plan.content_fingerprint = content.hexdigest()[:24]
    return plan


def _digest_without_schedule(request: BrazeRequest) -> str:
    body = {name: value for name, value in (request.body or {}).items() if name != "schedule"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


class AudienceChangedError(BrazeValidationError):
    """The audience read for sending differs from the one validated (the file changed in between)."""


@dataclass
class Sender:
    """The sending pass's requests: each chunk's request, checked byte for byte against the plan.

    Every chunk was validated in the plan's pass, so this pass does not apply the rules again: it puts
    the chunk's users into the shared request, validated once per shape of user fields, in place of the
    placeholder (the body keeps the order :func:`build_create_request` gives it), and compares the
    digest of the bytes with the plan's. A chunk that differs stops the task.
    """

    plan: BulkPlan
    base: Mapping[str, Any]
    now: datetime | None = None
    _templates: dict[tuple[str, ...], BrazeRequest] = field(default_factory=dict)

    def request(self, chunk: Chunk) -> BrazeRequest:
        fields = {name: value for name, value in chunk.fields(self.plan.kind).items() if value is not None}
        shape = tuple(sorted(fields))
        template = self._templates.get(shape)
        if template is None:
            placeholders = {name: _PLACEHOLDER_USERS[name] for name in shape}
            template = build_create_request({**self.base, **placeholders}, kind=self.plan.kind, now=self.now)
            self._templates[shape] = template
        assert template.body is not None
        body = dict(template.body)
        body.update(fields)  # the same keys: each keeps its place
        request = replace(template, body=body)
        check_against_plan(self.plan, chunk, request)
        return request


_PLACEHOLDER_USERS: dict[str, list[Any]] = {
    "recipients": [{"external_user_id": "placeholder"}],
    "external_user_ids": ["placeholder"],
    "user_aliases": [{"alias_name": "placeholder", "alias_label": "placeholder"}],
}


def check_against_plan(plan: BulkPlan, chunk: Chunk, request: BrazeRequest) -> None:
    """The sending pass's check: this chunk is the one the plan validated, byte for byte."""
    if chunk.position >= plan.chunks or digest(request) != plan.digests[chunk.position]:
        raise AudienceChangedError(
            chunk.labels[0] if chunk.labels else f"chunk {chunk.position}",
            f"chunk {chunk.position} differs from the audience validated before sending: the audience "
            "changed while the task ran",
            "an audience that stays the same until the task ends (write a new file instead)",
        )
