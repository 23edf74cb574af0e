"""An in-memory, stateful fake of Braze's scheduled-messaging REST API, served on loopback.

:class:`FakeBraze` models Braze's *server side* as Braze documents it (the nine schedule endpoints,
``/messages/scheduled_broadcasts`` and ``/sends/id/create``): bearer-key authentication, per-endpoint
key permissions, request validation with Braze's error shapes, Braze's rate-limit buckets with its
``x-ratelimit-*`` headers, and the schedules themselves, which update replaces and delete cancels. It is
independent of this package's client code, so it catches client bugs instead of mirroring them.

Rate limits, per workspace, in windows aligned to the clock (braze-api.md §6.1):

- broadcast creates of ``/campaigns/trigger/schedule/create`` and ``/canvas/trigger/schedule/create``
  (no ``recipients``: the campaign's segment or a connected audience): 250 a minute across audiences and
  10 a minute per unique audience (the campaign or Canvas, the segment, the ``audience`` object),
  whichever runs out first;
- ``/sends/id/create``: 100 a day (UTC);
- every other call: the shared 250,000 an hour, reset on the clock hour.

Quick start::

    from airflow_braze_schedule.testing import FakeBraze, Status

    with FakeBraze() as braze:
        os.environ.update([braze.airflow_conn_env()])      # AIRFLOW_CONN_BRAZE_DEFAULT -> the fake
        braze.inject(Status(503))                          # the next call fails once
        ...                                                # run the code under test
        assert [s.status for s in braze.schedules.values()] == ["scheduled"]

Besides Braze's endpoints the server answers a control API of its own under ``/_fake/`` (see
:mod:`airflow_braze_schedule.testing.control`, and its client ``FakeBrazeControl``), so another process
(``make demo``, a deployment test) can see what it holds and set faults, rate limits and latency. It
needs no API key, is refused to non-loopback clients, is never recorded in :attr:`FakeBraze.received`
and never gets faults or rate limits. Among its endpoints:

``GET /_fake/state``
    ``{"schedules": [...], "received": [...]}``: every :class:`StoredSchedule` and
    :class:`ReceivedRequest` as JSON objects (field names as in the dataclasses). The ``Authorization``
    header is shown as ``"Bearer ***"`` and the API key is masked wherever else it appears.
``POST /_fake/reset``
    Same as :meth:`FakeBraze.reset`; answers ``{"message": "success"}``.
``GET /engagement/campaigns/<campaign_id>``, ``GET /engagement/canvas/<canvas_id>``
    What the provider's dashboard links open when the REST endpoint is this fake: the schedules it holds
    for that campaign or Canvas, as JSON.

It also answers ``GET /sends/data_series`` (analytics by send id) from the schedules it holds, by its
clock, which :meth:`FakeBraze.advance` moves; see :mod:`._analytics` for what it decides there.

Decisions where Braze documents nothing (see also :mod:`._rules`):

- Create answers ``200`` (the status is undocumented; Braze documents ``201`` only on
  ``/canvas/trigger/send``).
- An unknown ``schedule_id``, one of another kind or owner (``campaign_id`` / ``canvas_id``), or one
  already cancelled, is answered ``404 {"message": "Schedule not found"}`` by update and delete
  (``400`` with ``FakeBraze(unknown_schedule_status=400)``: Braze documents neither).
- Sending time does not move a schedule out of ``"scheduled"``: the fake never "sends".
- An update of a campaign or Canvas schedule in local time whose time the first time zone (UTC+14) has
  reached answers success and changes nothing, as Braze documents ("Updates aren't applied if the
  original schedule used local time and the original time has already passed in any time zone").
- ``/messages/scheduled_broadcasts`` lists only what :meth:`FakeBraze.add_scheduled_broadcast` put there
  (dashboard-scheduled sends), never API schedules, as Braze does.
- Routing comes first (unknown path: ``404 {"message": "Not Found"}``; wrong method: ``405``), then the
  API key (``401``), then the rate limit (``429``; only authenticated calls count), then permissions
  (``403``), then the body (``413``, ``400``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hmac
import ipaddress
import json
import math
import random
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Literal, cast

from werkzeug.exceptions import ClientDisconnected, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from airflow_braze_schedule.testing import _analytics, _rules
from airflow_braze_schedule.testing._http import (
    BODY_CONSUMED,
    CLOSE_CONNECTION,
    DROP_CONNECTION,
    ServerThread,
)
from airflow_braze_schedule.testing.faults import (
    Delay,
    DropAfterProcessing,
    DropBeforeProcessing,
    Fault,
    HtmlError,
    RateLimited,
    Status,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["DEFAULT_API_KEY", "DEFAULT_RATE_LIMIT", "FakeBraze", "ReceivedRequest", "StoredSchedule"]

#: The API key a :class:`FakeBraze` accepts unless told otherwise.
DEFAULT_API_KEY = "fake-braze-rest-api-key"
#: Braze's default shared rate limit: 250,000 requests per hour per workspace.
DEFAULT_RATE_LIMIT = 250_000
#: Broadcast campaign / Canvas schedule creates: per minute across audiences, and per unique audience.
BROADCAST_RATE_LIMIT = 250
AUDIENCE_RATE_LIMIT = 10
#: ``/sends/id/create``: per day and workspace.
SEND_ID_RATE_LIMIT = 100
_TRIGGER_CREATES = frozenset({"/campaigns/trigger/schedule/create", "/canvas/trigger/schedule/create"})

ScheduleKind = Literal["message", "campaign", "canvas"]
ScheduleStatus = Literal["scheduled", "cancelled"]

# Bodies beyond the 4 MB limit are still read (and discarded) so the connection stays usable; past this,
# the fake stops reading and closes the connection after its 413.
_DRAIN_LIMIT = 64 * 1024 * 1024
_MASK = "***"
_INSPECTION_PREFIX = "/_fake/"
_ENDPOINTS = {**_rules.ENDPOINTS, _analytics.DATA_SERIES.path: _analytics.DATA_SERIES}


@dataclass(frozen=True)
class ReceivedRequest:
    """One request the fake received (inspection endpoints excepted), in arrival order.

    :param method: the HTTP method, e.g. ``"POST"``.
    :param path: the URL path, e.g. ``"/messages/schedule/create"``.
    :param query: the query string parameters (first value of each).
    :param headers: the request headers, lowercase names.
    :param json: the parsed JSON body, or ``None`` (no body, or not JSON).
    :param body: the raw body, decoded as UTF-8 (undecodable bytes replaced; cut at 4 MB + 1 byte).
    :param status: the HTTP status answered; ``None`` while in flight or when the connection was dropped.
    :param fault: the class name of the fault applied (e.g. ``"Status"``), or ``None``.
    :param at: when the request arrived, by the fake's clock (epoch seconds).
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    body: str
    status: int | None
    fault: str | None
    at: float


@dataclass(frozen=True)
class StoredSchedule:
    """A schedule created through the API, as the fake holds it.

    :param schedule_id: the id answered by create.
    :param kind: ``"message"`` (``/messages/schedule/*``), ``"campaign"`` or ``"canvas"``.
    :param campaign_id: the campaign, if any (required for ``"campaign"``, optional for ``"message"``).
    :param canvas_id: the Canvas (``"canvas"`` only).
    :param schedule: the schedule object as last set (an update replaces it wholesale).
    :param body: the create request's body.
    :param messages: the messaging objects as last set (``"message"`` only; ``None`` otherwise).
    :param status: ``"scheduled"``, or ``"cancelled"`` once deleted.
    :param dispatch_id: the dispatch id answered by create.
    :param history: the create body followed by each applied update body, in order.
    :param created_at: when it was created (fake's clock).
    :param updated_at: when it was last updated or cancelled (fake's clock).
    """

    schedule_id: str
    kind: ScheduleKind
    campaign_id: str | None
    canvas_id: str | None
    schedule: dict[str, Any]
    body: dict[str, Any]
    messages: dict[str, Any] | None
    status: ScheduleStatus
    dispatch_id: str
    history: list[dict[str, Any]]
    created_at: float
    updated_at: float


class _ResetMidRequest(Exception):
    """A request began before :meth:`FakeBraze.reset` and tried to change the state after it."""


@dataclass
class _QueuedFault:
    fault: Fault
    remaining: int
    path: str | None


@dataclass
class _RateLimiter:
    """Fixed windows aligned to the clock (``window=3600``: reset on the clock hour, as Braze does)."""

    limit: int
    window: float
    count: int = 0
    window_end: float = field(default=-math.inf)

    def _roll(self, now: float) -> None:
        if now >= self.window_end or now < self.window_end - self.window:
            start = math.floor(now / self.window) * self.window
            self.window_end = start + self.window
            self.count = 0

    def headers(self, now: float) -> dict[str, str]:
        """The ``x-ratelimit-*`` headers describing the window containing ``now``."""
        self._roll(now)
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(max(self.limit - self.count, 0)),
            "x-ratelimit-reset": str(math.ceil(self.window_end)),
        }

    def consume(self, now: float) -> tuple[bool, dict[str, str]]:
        """Count one request; return whether it is within the limit, and the headers to answer with."""
        self._roll(now)
        allowed = self.count < self.limit
        if allowed:
            self.count += 1
        return allowed, self.headers(now)

    def remaining(self, now: float) -> int:
        self._roll(now)
        return max(self.limit - self.count, 0)


def _consume_all(limiters: Sequence[_RateLimiter], now: float) -> tuple[bool, dict[str, str]]:
    """Count one request against every bucket that applies, or against none if one of them is used up
    (whichever hits first); answer with the headers of the bucket closest to its limit."""
    allowed = all(limiter.remaining(now) > 0 for limiter in limiters)
    if allowed:
        for limiter in limiters:
            limiter.consume(now)
    tightest = min(limiters, key=lambda limiter: limiter.remaining(now))
    return allowed, tightest.headers(now)


@dataclass(frozen=True)
class _Buckets:
    """The sizes of the buckets besides the shared one (see the module docstring)."""

    broadcast: int
    audience: int
    broadcast_window: float
    send_id: int
    send_id_window: float


def _json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    response = Response(json.dumps(body), mimetype="application/json", headers=headers)
    # werkzeug's default reason phrases are upper case ("404 NOT FOUND"); answer the standard ones.
    response.status = f"{status} {_reason(status)}"
    return response


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _error(error: _rules.BrazeError) -> Response:
    return _json_response(error.status, error.body(), error.headers)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _is_loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


class FakeBraze:
    """A fake Braze REST API on loopback, holding schedules in memory; see the module documentation.

    All state sits behind one lock, so any number of client threads or processes may call it at once.
    The recorded data (:attr:`received`, :attr:`schedules`) are snapshots: read them, do not mutate them.

    :param host: the address to bind (loopback by default; nothing else is needed for tests).
    :param port: the port to bind; ``0`` (default) picks a free one, see :attr:`url`.
    :param api_key: the REST API key the fake accepts as ``Authorization: Bearer <api_key>``.
    :param permissions: the key's permissions, named as in Braze's docs
        (https://www.braze.com/docs/api/basics), e.g. ``{"messages.schedule.create",
        "messages.schedule_broadcasts"}``; ``None`` (default) grants every endpoint.
    :param rate_limit: requests allowed per window across all endpoints; ``None`` means Braze's default,
        :data:`DEFAULT_RATE_LIMIT` (250,000).
    :param rate_limit_window: the window length in seconds, aligned to the clock (3600: the clock hour).
    :param broadcast_rate_limit: broadcast campaign / Canvas schedule creates allowed per
        ``broadcast_rate_window`` across all audiences (Braze: 250 a minute).
    :param audience_rate_limit: the same, per unique audience (Braze: 10 a minute).
    :param broadcast_rate_window: the window of both, in seconds (60).
    :param send_id_rate_limit: ``/sends/id/create`` calls allowed per ``send_id_rate_window`` (Braze: 100).
    :param send_id_rate_window: in seconds (86400: a UTC day).
    :param clock: the time source (epoch seconds) for time rules, rate-limit windows and timestamps;
        :class:`~airflow_braze_schedule.testing.Delay` faults still sleep in real time.
    :param verbose: log each request to the ``werkzeug`` logger (silent by default).
    :param latency: seconds every Braze API call waits before it is processed, as a distant Braze would
        (inspection endpoints excepted); see also :meth:`set_latency`.
    :param unknown_schedule_status: the status answered to an update or delete of a ``schedule_id`` the
        fake does not hold as scheduled (unknown, of another kind or owner, or cancelled). Braze documents
        none (its 404 is "Invalid URL"): ``404`` (default) or ``400``, to test a client against both.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str = DEFAULT_API_KEY,
        permissions: set[str] | None = None,
        rate_limit: int | None = None,
        rate_limit_window: float = 3600.0,
        broadcast_rate_limit: int = BROADCAST_RATE_LIMIT,
        audience_rate_limit: int = AUDIENCE_RATE_LIMIT,
        broadcast_rate_window: float = 60.0,
        send_id_rate_limit: int = SEND_ID_RATE_LIMIT,
        send_id_rate_window: float = 86400.0,
        clock: Callable[[], float] = time.time,
        verbose: bool = False,
        latency: float = 0.0,
        unknown_schedule_status: Literal[400, 404] = 404,
    ) -> None:
        if not api_key:
            raise ValueError("api_key must be a non-empty string")
        if unknown_schedule_status not in (400, 404):
            raise ValueError(f"unknown_schedule_status must be 400 or 404, got {unknown_schedule_status!r}")
        self._unknown_schedule_status = unknown_schedule_status
        self._host = host
        self._api_key = api_key
        self._base_clock = clock
        self._clock_offset = 0.0  # moved by advance(), so tests can let a send's time pass
        self._clock = lambda: self._base_clock() + self._clock_offset
        self._lock = threading.RLock()
        # Bumped by reset(): a request that arrived before a reset (one sleeping in a Delay fault, say)
        # must not store a schedule into the state that follows it.
        self._epoch = 0
        self._initial_permissions = frozenset(permissions) if permissions is not None else None
        self._initial_rate_limit = (rate_limit, rate_limit_window)
        if latency < 0:
            raise ValueError(f"latency must be >= 0 seconds, got {latency!r}")
        self._initial_latency = float(latency)
        self._permissions = self._initial_permissions
        self._limiter = self._new_limiter(rate_limit, rate_limit_window)
        self._buckets = _Buckets(
            broadcast_rate_limit,
            audience_rate_limit,
            broadcast_rate_window,
            send_id_rate_limit,
            send_id_rate_window,
        )
        self._new_buckets()
        self._dashboard_broadcasts: list[dict[str, Any]] = []
        self._received: list[ReceivedRequest] = []
        self._schedules: dict[str, StoredSchedule] = {}
        self._send_ids: dict[str, str] = {}
        self._faults: list[_QueuedFault] = []
        self._chaos: tuple[float, tuple[Fault, ...], random.Random] | None = None
        # By path; None: every path. The constructor's latency is restored by reset().
        self._latency: dict[str | None, float] = {None: self._initial_latency} if latency else {}
        self._routes = Map(
            [Rule(e.path, endpoint=e.path, methods=[e.method]) for e in _ENDPOINTS.values()],
            # Exact paths only: Braze's paths have neither trailing nor doubled slashes.
            strict_slashes=True,
            merge_slashes=False,
        )
        self._server = ServerThread(self.wsgi_app, host, port, verbose=verbose)

    # ------------------------------------------------------------------------------------- lifecycle

    def start(self) -> FakeBraze:
        """Start serving in a daemon thread (no-op if already running).

        :return: ``self``, so ``braze = FakeBraze().start()`` works.
        :raises OSError: when the address cannot be bound.
        """
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every connection; state is kept. Idempotent."""
        self._server.stop()

    def __enter__(self) -> FakeBraze:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL, e.g. ``"http://127.0.0.1:54321"`` (the Braze connection's host).

        :raises RuntimeError: when the server is not running.
        """
        host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(self._host, self._host)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self._server.port}"

    @property
    def api_key(self) -> str:
        """The REST API key the fake accepts."""
        return self._api_key

    def airflow_connection(self, conn_id: str = "braze_default") -> dict[str, Any]:
        """Return an Airflow connection, in Airflow's JSON form, that points at this fake.

        :param conn_id: the connection id (not part of the JSON form; kept for symmetry with
            :meth:`airflow_conn_env`).
        :return: ``{"conn_type": "braze", "host": url, "password": api_key, "extra": {"timeout": 5}}``.
        """
        return {"conn_type": "braze", "host": self.url, "password": self.api_key, "extra": {"timeout": 5}}

    def airflow_conn_env(self, conn_id: str = "braze_default") -> tuple[str, str]:
        """Return the environment variable that defines :meth:`airflow_connection` for Airflow.

        :param conn_id: the connection id.
        :return: ``("AIRFLOW_CONN_<CONN_ID>", json)``, e.g. for ``monkeypatch.setenv(*...)``.
        """
        return f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(self.airflow_connection(conn_id))

    # ------------------------------------------------------------------------------ state and control

    @property
    def received(self) -> list[ReceivedRequest]:
        """Every request received, in arrival order (a snapshot)."""
        with self._lock:
            return list(self._received)

    def requests_to(self, path: str) -> list[ReceivedRequest]:
        """Return the requests received on ``path`` (e.g. ``"/messages/schedule/create"``), in order."""
        path = "/" + path.lstrip("/")
        return [r for r in self.received if r.path == path]

    @property
    def schedules(self) -> dict[str, StoredSchedule]:
        """Every schedule created, by ``schedule_id``, including cancelled ones (a snapshot)."""
        with self._lock:
            return dict(self._schedules)

    def active_schedules(self) -> list[StoredSchedule]:
        """Return the schedules not cancelled, in creation order."""
        return [s for s in self.schedules.values() if s.status == "scheduled"]

    @property
    def send_ids(self) -> dict[str, str]:
        """The send ids created through ``/sends/id/create``: ``{send_id: campaign_id}`` (a snapshot)."""
        with self._lock:
            return dict(self._send_ids)

    def now(self) -> float:
        """The fake's current time (epoch seconds): its clock plus every :meth:`advance`."""
        return self._clock()

    def advance(self, seconds: float) -> None:
        """Move the fake's clock forward (negative: back), e.g. past a send so that ``/sends/data_series``
        reports it, or past Braze's 14-day retention. Undone by :meth:`reset`."""
        with self._lock:
            self._clock_offset += seconds

    def inject(self, fault: Fault, *, times: int = 1, path: str | None = None) -> None:
        """Queue ``fault`` for the next ``times`` requests on ``path`` (any path when ``None``).

        Faults are used in the order they were injected: ``inject(Status(500)); inject(Status(503))``
        answers 500, then 503. Inspection endpoints (``/_fake/...``) never get faults.

        :param fault: a :class:`~airflow_braze_schedule.testing.Fault` instance.
        :param times: how many matching requests it applies to (>= 1).
        :param path: the exact URL path to match, e.g. ``"/messages/schedule/create"``.
        """
        if not isinstance(fault, Fault):
            raise TypeError(f"fault must be a Fault instance (e.g. Status(503)), got {fault!r}")
        if times < 1:
            raise ValueError(f"times must be >= 1, got {times!r}")
        with self._lock:
            self._faults.append(_QueuedFault(fault, times, None if path is None else "/" + path.lstrip("/")))

    def set_chaos(self, rate: float, faults: Sequence[Fault], *, seed: int | None = None) -> None:
        """Fault a random share of requests: each Braze API call, when no injected fault is queued for it,
        gets one of ``faults`` (chosen at random) with probability ``rate``. For fault campaigns; undone by
        :meth:`reset` or ``set_chaos(0, [])``.

        :param rate: the probability, from 0 to 1, that a request is faulted.
        :param faults: the faults to choose from.
        :param seed: makes the sequence of choices repeatable.
        """
        if not 0 <= rate <= 1:
            raise ValueError(f"rate must be between 0 and 1, got {rate!r}")
        if rate and not faults:
            raise ValueError("set_chaos needs at least one fault when rate > 0")
        with self._lock:
            self._chaos = (rate, tuple(faults), random.Random(seed)) if rate else None

    def set_rate_limit(self, limit: int | None, window: float = 3600.0) -> None:
        """Change the rate limit and restart counting (until :meth:`reset`).

        :param limit: requests allowed per window; ``None`` for Braze's default (250,000); ``0`` refuses
            every authenticated call.
        :param window: the window length in seconds, aligned to the clock.
        """
        with self._lock:
            self._limiter = self._new_limiter(limit, window)

    def set_latency(self, seconds: float, *, path: str | None = None) -> None:
        """Answer Braze calls on ``path`` (every path when ``None``) ``seconds`` late, before any fault or
        processing, until :meth:`reset`; ``0`` removes it. A path's own latency replaces the general one.

        Unlike a :class:`~airflow_braze_schedule.testing.Delay` fault it lasts: a slow Braze, not one slow
        answer. While it waits, the request is in :attr:`received` with ``status=None`` (in flight).
        """
        if seconds < 0:
            raise ValueError(f"latency must be >= 0 seconds, got {seconds!r}")
        key = None if path is None else "/" + path.lstrip("/")
        with self._lock:
            if seconds:
                self._latency[key] = seconds
            else:
                self._latency.pop(key, None)

    def set_permissions(self, permissions: set[str] | None) -> None:
        """Change the API key's permissions (until :meth:`reset`); ``None`` grants every endpoint."""
        with self._lock:
            self._permissions = frozenset(permissions) if permissions is not None else None

    def reset(self) -> None:
        """Return to the state right after construction.

        Forgets received requests, schedules, send ids, queued faults and rate-limit counts, and restores
        the rate limit and permissions given to the constructor. The server keeps running on its port.
        A request still in flight (sleeping in a :class:`~airflow_braze_schedule.testing.Delay`, say)
        changes nothing after the reset: its connection is dropped instead.
        """
        with self._lock:
            self._epoch += 1
            self._received.clear()
            self._schedules.clear()
            self._send_ids.clear()
            self._faults.clear()
            self._chaos = None
            self._latency = {None: self._initial_latency} if self._initial_latency else {}
            self._clock_offset = 0.0
            self._permissions = self._initial_permissions
            self._limiter = self._new_limiter(*self._initial_rate_limit)
            self._new_buckets()
            self._dashboard_broadcasts.clear()

    def add_scheduled_broadcast(
        self,
        name: str,
        broadcast_id: str,
        next_send_time: str,
        *,
        type: str = "Campaign",
        tags: Sequence[str] = (),
        schedule_type: str = "local_time_zones",
    ) -> None:
        """Add a dashboard-scheduled campaign or Canvas for ``/messages/scheduled_broadcasts`` to list.

        :param next_send_time: ISO 8601; listed when its date is on or before the ``end_time`` asked for.
        :param type: ``"Campaign"`` or ``"Canvas"``.
        :param schedule_type: ``local_time_zones``, ``intelligent_delivery`` or a company time zone name.
        """
        entry = {
            "name": name,
            "id": broadcast_id,
            "type": type,
            "tags": list(tags),
            "next_send_time": next_send_time,
            "schedule_type": schedule_type,
        }
        with self._lock:
            self._dashboard_broadcasts.append(entry)

    def _new_buckets(self) -> None:
        """Fresh counts for the buckets besides the shared one (caller holds the lock, or __init__)."""
        sizes = self._buckets
        self._broadcast_limiter = self._new_limiter(sizes.broadcast, sizes.broadcast_window)
        self._new_limiter(sizes.audience, sizes.broadcast_window)  # checks the values; made per audience
        self._audience_limiters: dict[str, _RateLimiter] = {}
        self._send_id_limiter = self._new_limiter(sizes.send_id, sizes.send_id_window)

    def _limiters_for(self, path: str, raw: bytes) -> list[_RateLimiter]:
        """The buckets a call counts against (caller holds the lock)."""
        if path == "/sends/id/create":
            return [self._send_id_limiter]
        if path in _TRIGGER_CREATES:
            body: Any = None
            with contextlib.suppress(ValueError):
                body = json.loads(raw.decode("utf-8"))
            if isinstance(body, dict) and not body.get("recipients"):
                # A unique audience: the campaign or Canvas, its segment, the audience object.
                owner = body.get("campaign_id") if "campaign" in path else body.get("canvas_id")
                key = json.dumps([path, owner, body.get("segment_id"), body.get("audience")], sort_keys=True)
                audience = self._audience_limiters.get(key)
                if audience is None:
                    audience = _RateLimiter(self._buckets.audience, self._buckets.broadcast_window)
                    self._audience_limiters[key] = audience
                return [self._broadcast_limiter, audience]
        return [self._limiter]

    @staticmethod
    def _new_limiter(limit: int | None, window: float) -> _RateLimiter:
        if limit is not None and limit < 0:
            raise ValueError(f"rate limit must be >= 0 or None, got {limit!r}")
        if window <= 0:
            raise ValueError(f"rate limit window must be > 0 seconds, got {window!r}")
        return _RateLimiter(DEFAULT_RATE_LIMIT if limit is None else limit, window)

    # ------------------------------------------------------------------------------------- the server

    def wsgi_app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """The WSGI application (also usable with :class:`werkzeug.test.Client`, faults that drop a
        connection excepted: those need the fake's own server).
        """
        request = Request(environ)
        try:
            response = self._handle(request)
        except Exception:
            traceback.print_exc()
            response = _json_response(500, {"message": "Internal Server Error"})
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        environ = request.environ
        try:
            raw, size = self._read_body(request)
        except (ClientDisconnected, OSError):
            environ[DROP_CONNECTION] = True  # the client left mid-body: nothing to answer
            return Response(status=400)
        if request.path.startswith(_INSPECTION_PREFIX):
            return self._inspect(request, raw)
        if _is_loopback(request.remote_addr) and request.method == "GET":
            page = _analytics.dashboard_page(request.path, self.schedules.values())
            if page is not None:  # what a dashboard link opens; no key, not recorded, like inspection
                return _json_response(200, self._mask(page))

        parsed: Any = None
        with contextlib.suppress(ValueError):
            parsed = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant) if raw else None
        record = ReceivedRequest(
            method=request.method,
            path=request.path,
            query=request.args.to_dict(),
            headers={k.lower(): v for k, v in request.headers.items()},
            json=parsed,
            body=raw.decode("utf-8", errors="replace"),
            status=None,
            fault=None,
            at=self._clock(),
        )
        with self._lock:
            epoch = self._epoch
            self._received.append(record)
            fault = self._take_fault(request.path)
            latency = self._latency.get(request.path, self._latency.get(None, 0.0))

        response: Response | None = None
        if latency:
            time.sleep(latency)
        if isinstance(fault, Delay):
            time.sleep(fault.seconds)
        if isinstance(fault, DropBeforeProcessing):
            environ[DROP_CONNECTION] = True
        else:
            try:
                response = self._fault_response(fault) or self._process(request, raw, size, epoch)
            except _ResetMidRequest:
                environ[DROP_CONNECTION] = True  # the Braze it spoke to is gone; no answer is true
                return Response(status=500)
            if isinstance(fault, DropAfterProcessing):
                environ[DROP_CONNECTION] = True
                response = None
        self._complete(record, None if response is None else response.status_code, fault)
        return response if response is not None else Response(status=500)

    def _read_body(self, request: Request) -> tuple[bytes, int]:
        """Read the whole body (so the keep-alive connection stays in sync); keep up to 4 MB + 1 byte."""
        kept = bytearray()
        total = 0
        while chunk := request.stream.read(64 * 1024):
            total += len(chunk)
            if len(kept) <= _rules.MAX_BODY_BYTES:
                kept += chunk[: _rules.MAX_BODY_BYTES + 1 - len(kept)]
            if total > _DRAIN_LIMIT:
                request.environ[CLOSE_CONNECTION] = True
                break
        else:
            request.environ[BODY_CONSUMED] = True
        return bytes(kept), total

    def _take_fault(self, path: str) -> Fault | None:
        """Pop one use of the first queued fault matching ``path`` (caller holds the lock)."""
        for queued in self._faults:
            if queued.path is None or queued.path == path:
                queued.remaining -= 1
                if queued.remaining == 0:
                    self._faults.remove(queued)
                return queued.fault
        if self._chaos is not None:
            rate, faults, rng = self._chaos
            if rng.random() < rate:
                return rng.choice(faults)
        return None

    def _complete(self, record: ReceivedRequest, status: int | None, fault: Fault | None) -> None:
        """Replace the in-flight ``record`` by its completed version (unless a reset forgot it)."""
        done = dataclasses.replace(record, status=status, fault=None if fault is None else fault.name)
        with self._lock:
            for index in range(len(self._received) - 1, -1, -1):
                if self._received[index] is record:
                    self._received[index] = done
                    break

    def _fault_response(self, fault: Fault | None) -> Response | None:
        """The answer a fault gives instead of Braze's, or ``None`` if the request must be processed."""
        now = self._clock()
        if isinstance(fault, Status):
            with self._lock:
                headers = self._limiter.headers(now)
            if fault.body is None or isinstance(fault.body, dict):
                body = {"message": fault.reason} if fault.body is None else fault.body
                response = _json_response(fault.code, body, headers)
            else:
                response = Response(fault.body, mimetype="text/plain", headers=headers)
                response.status = f"{fault.code} {fault.reason}"
            for name, value in (fault.headers or {}).items():
                response.headers[name] = value
            return response
        if isinstance(fault, RateLimited):
            with self._lock:
                limit = self._limiter.limit
            headers = {
                "x-ratelimit-limit": str(limit),
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset": str(math.ceil(now + fault.reset_in)),
            }
            return _json_response(429, {"message": "Rate Limited"}, headers)
        if isinstance(fault, HtmlError):
            response = Response(fault.page, mimetype="text/html")
            response.status = f"{fault.code} {_reason(fault.code)}"
            return response
        return None

    # ------------------------------------------------------------------------------------ Braze itself

    def _process(self, request: Request, raw: bytes, size: int, epoch: int) -> Response:
        """Answer as Braze would; every answer carries the ``x-ratelimit-*`` headers."""
        now = self._clock()
        rate_headers: dict[str, str] | None = None
        try:
            endpoint = self._route(request)
            self._authenticate(request, raw)
            with self._lock:
                self._check_epoch(epoch)  # nor may it spend the rate limit that follows the reset
                allowed, rate_headers = _consume_all(self._limiters_for(endpoint.path, raw), now)
                permissions = self._permissions
            if not allowed:
                raise _rules.BrazeError(429, "Rate Limited")
            if permissions is not None and endpoint.permission not in permissions:
                raise _rules.BrazeError(403, "Access Denied")
            if endpoint is _analytics.DATA_SERIES:
                with self._lock:
                    held = list(self._schedules.values())
                response = _json_response(200, _analytics.data_series(held, request.args, now))
            elif endpoint.method == "GET":
                end_time = _rules.check_end_time(request.args.get("end_time"))
                response = _json_response(200, {"scheduled_broadcasts": self._listed_broadcasts(end_time)})
            else:
                body = self._json_body(request, raw, size)
                _rules.check_body(endpoint, body, now)
                response = _json_response(200, self._apply(endpoint, body, now, epoch))
        except _rules.BrazeError as error:
            response = _error(error)
        if rate_headers is None:
            with self._lock:
                rate_headers = self._limiter.headers(now)
        response.headers.update(rate_headers)
        return response

    def _listed_broadcasts(self, end_time: datetime) -> list[dict[str, Any]]:
        """The dashboard broadcasts due by ``end_time``, which Braze treats as midnight UTC of its date."""
        last_day = end_time.astimezone(UTC).date() if end_time.tzinfo else end_time.date()
        with self._lock:
            entries = [dict(entry) for entry in self._dashboard_broadcasts]
        listed = []
        for entry in entries:
            when = _rules.parse_iso_datetime(entry["next_send_time"])
            if when is None or (when.astimezone(UTC).date() if when.tzinfo else when.date()) <= last_day:
                listed.append(entry)
        return listed

    def _route(self, request: Request) -> _rules.Endpoint:
        try:
            path, _ = self._routes.bind_to_environ(request.environ).match()
        except MethodNotAllowed as exc:
            allowed = ", ".join(sorted(exc.valid_methods or []))
            raise _rules.BrazeError(405, "Method Not Allowed", headers={"Allow": allowed}) from None
        except NotFound:
            raise _rules.BrazeError(404, "Not Found") from None
        return _ENDPOINTS[str(path)]

    def _authenticate(self, request: Request, raw: bytes) -> None:
        """Check ``Authorization: Bearer <key>``; the key itself never appears in an answer."""
        header = request.headers.get("Authorization")
        if header is None:
            legacy = "api_key" in request.args or b'"api_key"' in raw
            hint = " (api_key in the URL or body is no longer read)" if legacy else ""
            raise _rules.BrazeError(
                401, f"Invalid API key: send it as 'Authorization: Bearer YOUR-REST-API-KEY'{hint}"
            )
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _rules.BrazeError(
                401, "Invalid API key: the Authorization header must read 'Bearer YOUR-REST-API-KEY'"
            )
        if token[0] in "'\"" or token[-1] in "'\"":
            raise _rules.BrazeError(
                401,
                "Invalid API key: the key is wrapped in quotes; remove them "
                "(the correct syntax is 'Authorization: Bearer {YOUR-API-KEY}')",
            )
        if not hmac.compare_digest(token.encode(), self._api_key.encode()):
            raise _rules.BrazeError(
                401, "Invalid API key: not a key of this workspace (or a request sent to the wrong instance)"
            )

    @staticmethod
    def _json_body(request: Request, raw: bytes, size: int) -> dict[str, Any]:
        if size > _rules.MAX_BODY_BYTES:
            raise _rules.BrazeError(
                413,
                "Request Entity Too Large",
                [f"the request body is {size} bytes; Braze accepts at most 4 MB ({_rules.MAX_BODY_BYTES})"],
            )
        if request.mimetype != "application/json":
            raise _rules.BrazeError(
                400,
                _rules.BAD_SYNTAX,
                [f"Content-Type must be application/json, got {request.content_type or 'none'!r}"],
            )
        try:
            body = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
            raise _rules.BrazeError(400, _rules.BAD_SYNTAX, [f"Invalid JSON: {exc}"]) from None
        if not isinstance(body, dict):
            raise _rules.BrazeError(
                400, _rules.BAD_SYNTAX, [f"the request body must be a JSON object, got {type(body).__name__}"]
            )
        return body

    def _apply(
        self, endpoint: _rules.Endpoint, body: dict[str, Any], now: float, epoch: int
    ) -> dict[str, Any]:
        """Change the state for a valid request and return the success body."""
        if endpoint.action == "create_send_id":
            send_id = body.get("send_id") or uuid.uuid4().hex
            with self._lock:
                self._check_epoch(epoch)
                self._send_ids[send_id] = body["campaign_id"]
            return {"message": "success", "send_id": send_id}
        kind = cast("ScheduleKind", endpoint.kind)  # every schedule endpoint has a kind
        if endpoint.action == "create":
            stored = StoredSchedule(
                schedule_id=uuid.uuid4().hex,
                kind=kind,
                campaign_id=body.get("campaign_id"),
                canvas_id=body.get("canvas_id"),
                schedule=body["schedule"],
                body=body,
                messages=body.get("messages"),
                status="scheduled",
                dispatch_id=uuid.uuid4().hex,
                history=[body],
                created_at=now,
                updated_at=now,
            )
            with self._lock:
                self._check_epoch(epoch)
                self._schedules[stored.schedule_id] = stored
            return {
                "dispatch_id": stored.dispatch_id,
                "schedule_id": stored.schedule_id,
                "message": "success",
            }

        with self._lock:
            self._check_epoch(epoch)
            stored_or_none = self._schedules.get(body["schedule_id"])
            owner = endpoint.owner_field
            if (
                stored_or_none is None
                or stored_or_none.kind != kind
                or stored_or_none.status != "scheduled"
                or (owner is not None and getattr(stored_or_none, owner) != body[owner])
            ):
                raise _rules.BrazeError(self._unknown_schedule_status, "Schedule not found")
            if endpoint.action == "update":
                if owner is not None and self._too_late_to_update(stored_or_none.schedule, now):
                    # Braze: "Updates aren't applied if the original schedule used local time and the
                    # original time has already passed in any time zone." No error is documented.
                    return {"message": "success"}
                # Braze: "Any schedule [or messages object] completely overwrites the one you provided".
                updated = dataclasses.replace(
                    stored_or_none,
                    schedule=body.get("schedule", stored_or_none.schedule),
                    messages=body.get("messages", stored_or_none.messages),
                    history=[*stored_or_none.history, body],
                    updated_at=now,
                )
            else:
                updated = dataclasses.replace(stored_or_none, status="cancelled", updated_at=now)
            self._schedules[updated.schedule_id] = updated
        return {"message": "success"}

    def _check_epoch(self, epoch: int) -> None:
        """Refuse a change from a request that arrived before the last :meth:`reset` (caller holds the lock)."""
        if epoch != self._epoch:
            raise _ResetMidRequest

    @staticmethod
    def _too_late_to_update(schedule: dict[str, Any], now: float) -> bool:
        first = _rules.first_delivery(schedule)
        return schedule.get("in_local_time") is True and first is not None and first <= now

    # ------------------------------------------------------------------------------------- inspection

    def _inspect(self, request: Request, raw: bytes) -> Response:
        """Serve the control API under ``/_fake/`` (loopback clients only); see :mod:`.control`."""
        if not _is_loopback(request.remote_addr):
            return _json_response(403, {"message": "Access Denied"})
        from airflow_braze_schedule.testing import control  # it imports this module

        return control.dispatch(self, request, raw)

    def state(self) -> dict[str, Any]:
        """Return what ``GET /_fake/state`` answers: schedules and received requests as JSON-ready dicts,
        with the ``Authorization`` header shown as ``"Bearer ***"`` and the API key masked everywhere.
        """
        with self._lock:
            schedules = [dataclasses.asdict(s) for s in self._schedules.values()]
            received = [dataclasses.asdict(r) for r in self._received]
        for entry in received:
            if "authorization" in entry["headers"]:
                entry["headers"]["authorization"] = f"Bearer {_MASK}"
        return {"schedules": self._mask(schedules), "received": self._mask(received)}

    def _mask(self, value: Any) -> Any:
        """Replace the API key wherever it appears in ``value`` (keys and strings, recursively)."""
        if isinstance(value, str):
            return value.replace(self._api_key, _MASK)
        if isinstance(value, dict):
            return {self._mask(k): self._mask(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._mask(v) for v in value]
        return value
