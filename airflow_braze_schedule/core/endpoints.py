"""Where requests go: Braze instances, REST endpoint resolution, the paths of the three schedule kinds,
and what each call does (:class:`Action`), including whether sending it twice is harmless."""

from __future__ import annotations

import enum
import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from airflow_braze_schedule.core.errors import BrazeConfigurationError

#: Braze instance name -> REST endpoint (braze-api.md §1.1). There is no US-09.
INSTANCES: dict[str, str] = {
    **{f"US-0{n}": f"https://rest.iad-0{n}.braze.com" for n in range(1, 9)},
    "US-10": "https://rest.us-10.braze.com",
    "EU-01": "https://rest.fra-01.braze.eu",
    "EU-02": "https://rest.fra-02.braze.eu",
    "AU-01": "https://rest.au-01.braze.com",
    "ID-01": "https://rest.id-01.braze.com",
    "JP-01": "https://rest.jp-01.braze.com",
    "KR-01": "https://rest.kr-01.braze.com",
}

SCHEDULED_BROADCASTS_PATH = "/messages/scheduled_broadcasts"
SEND_ID_CREATE_PATH = "/sends/id/create"


def is_loopback_host(hostname: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (127.0.0.0/8, ::1)."""
    if hostname.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_rest_endpoint(host: str | None) -> str:
    """Turn a connection's host into the REST base URL, without a trailing slash.

    Accepted: a full ``https://`` URL; a bare host (``rest.iad-01.braze.com``, https implied); an
    instance name (``US-01``, ``eu-01``). Plain ``http://`` is accepted only for loopback addresses,
    such as the fake Braze, because the API key travels in a header.

    :raises BrazeConfigurationError: if the host is empty or cannot be used safely.
    """
    value = (host or "").strip()
    if not value:
        raise BrazeConfigurationError(
            "The Braze connection has no REST endpoint: set its host to your instance's REST endpoint "
            "(for example https://rest.iad-01.braze.com) or an instance name such as US-01"
        )
    instance = INSTANCES.get(value.upper())
    if instance:
        return instance
    if re.fullmatch(r"[A-Za-z]{2}-\d{2}", value):
        raise BrazeConfigurationError(
            f"The Braze connection's REST endpoint {value!r} looks like an instance name but is not one; "
            f"known instances: {', '.join(INSTANCES)}"
        )
    if "://" not in value:
        value = f"https://{value}"
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise BrazeConfigurationError(
            f"The Braze connection's REST endpoint {value!r} is not an https URL; "
            "use for example https://rest.iad-01.braze.com or an instance name such as US-01"
        )
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise BrazeConfigurationError(
            f"The Braze connection's REST endpoint {value!r} uses plain http to a non-loopback host, which "
            "would send the API key unencrypted; use https (http is only allowed for 127.0.0.1/localhost)"
        )
    if parts.query or parts.fragment:
        raise BrazeConfigurationError(
            f"The Braze connection's REST endpoint {value!r} has a query or fragment; give the base URL only"
        )
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


class Action(enum.StrEnum):
    """What a call does, and so whether it may be resent after its answer was lost.

    A call is *idempotent* when sending it twice does no more than sending it once: then a request that
    went out unanswered may be sent again. Creating a schedule is not (a second schedule would send
    twice). ``POST /sends/id/create`` is idempotent only when the caller names the send id: without
    one, Braze makes up a new id on every call, and each counts against the workspace's 100 a day.
    """

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    LIST = "list"
    #: ``POST /sends/id/create`` without a ``send_id``: Braze generates one, a new one every time.
    CREATE_SEND_ID = "create_send_id"
    #: ``POST /sends/id/create`` with the caller's ``send_id``: a resend names the same id again.
    CREATE_NAMED_SEND_ID = "create_named_send_id"

    @property
    def idempotent(self) -> bool:
        return self not in _NOT_IDEMPOTENT

    @classmethod
    def send_id_create(cls, send_id: str | None) -> Action:
        """The action of ``POST /sends/id/create``, which depends on whether the caller names the id."""
        return cls.CREATE_NAMED_SEND_ID if send_id else cls.CREATE_SEND_ID


_NOT_IDEMPOTENT = frozenset({Action.CREATE, Action.CREATE_SEND_ID})


class ScheduleKind(enum.StrEnum):
    """What a schedule sends: a message, an API-triggered campaign, or an API-triggered Canvas."""

    MESSAGE = "message"
    CAMPAIGN = "campaign"
    CANVAS = "canvas"


@dataclass(frozen=True)
class KindEndpoints:
    """The three schedule endpoints of one kind.

    :param owner_field: the id field that update and delete must repeat (``campaign_id`` or ``canvas_id``),
        or None for message schedules, which are addressed by ``schedule_id`` alone.
    """

    kind: ScheduleKind
    create: str
    update: str
    delete: str
    owner_field: str | None


ENDPOINTS: dict[ScheduleKind, KindEndpoints] = {
    ScheduleKind.MESSAGE: KindEndpoints(
        ScheduleKind.MESSAGE,
        "/messages/schedule/create",
        "/messages/schedule/update",
        "/messages/schedule/delete",
        None,
    ),
    ScheduleKind.CAMPAIGN: KindEndpoints(
        ScheduleKind.CAMPAIGN,
        "/campaigns/trigger/schedule/create",
        "/campaigns/trigger/schedule/update",
        "/campaigns/trigger/schedule/delete",
        "campaign_id",
    ),
    ScheduleKind.CANVAS: KindEndpoints(
        ScheduleKind.CANVAS,
        "/canvas/trigger/schedule/create",
        "/canvas/trigger/schedule/update",
        "/canvas/trigger/schedule/delete",
        "canvas_id",
    ),
}
