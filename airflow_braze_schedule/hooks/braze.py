"""BrazeHook: the Airflow side of talking to Braze.

The hook reads the Airflow connection (REST endpoint, key, extras), masks its secrets, serves the
connection form and ``test_connection``, and hands out a
:class:`~airflow_braze_schedule.core.client.BrazeClient` (``hook.client``, also ``get_conn()``), which
does the sending: sessions, retries, rate limits, typed errors. Its schedule methods validate a request
and send it through that client.

One thing only Airflow needs is added on the way out: an error that a task retry cannot fix (bad input,
a 4xx answer other than 429, an unknown outcome of a create) leaves the hook as an
``AirflowFailException`` as well as its own Braze type, so that a plain ``@task(retries=2)`` calling the
hook does not send the same refused request three times, and ``except BrazeBadRequestError`` still works.
Which errors those are is decided by :func:`~airflow_braze_schedule.core.retry.airflow_may_retry`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from typing import Any, Concatenate, ParamSpec, TypeVar

import pendulum
import requests
from airflow.providers.common.compat.sdk import AirflowFailException, BaseHook, mask_secret

from airflow_braze_schedule.core.client import (
    DEFAULT_TIMEOUT,
    BrazeClient,
    check_api_key,
    check_proxy,
    proxy_password,
)
from airflow_braze_schedule.core.endpoints import (
    SEND_ID_CREATE_PATH,
    Action,
    ScheduleKind,
    resolve_rest_endpoint,
)
from airflow_braze_schedule.core.errors import (
    BrazeAuthenticationError,
    BrazeConfigurationError,
    BrazeError,
    BrazePermissionError,
    BrazeTransportError,
)
from airflow_braze_schedule.core.payload import (
    BrazeRequest,
    build_create_request,
    build_delete_request,
    build_scheduled_broadcasts_request,
    build_update_request,
)
from airflow_braze_schedule.core.ratelimit import RateLimit
from airflow_braze_schedule.core.retry import RetryPolicy, airflow_may_retry
from airflow_braze_schedule.get_provider_info import CONNECTION_FIELDS, CONNECTION_UI

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class _ConnectionSettings:
    base_url: str
    api_key: str
    timeout: float
    verify: bool | str
    dry_run: bool
    proxy: str | None = None

    def __repr__(self) -> str:  # the key (and a proxy's password) must never show up in a log
        return f"_ConnectionSettings(base_url={self.base_url!r}, timeout={self.timeout})"


def _extra_value(extra: dict[str, Any], name: str) -> Any:
    """Read an extra set either directly or by an older connection form (``extra__braze__<name>``)."""
    value = extra.get(name)
    return extra.get(f"extra__braze__{name}") if value in (None, "") else value


def _read_timeout(extra: dict[str, Any]) -> float:
    raw = _extra_value(extra, "timeout")
    if raw in (None, ""):
        return DEFAULT_TIMEOUT
    try:
        timeout = float(raw)  # URI-form extras arrive as strings
    except (TypeError, ValueError):
        raise BrazeConfigurationError(
            f"The Braze connection's timeout extra {raw!r} is not a number of seconds"
        ) from None
    if timeout <= 0:
        raise BrazeConfigurationError(f"The Braze connection's timeout extra {raw!r} must be positive")
    return timeout


def _read_flag(extra: dict[str, Any], name: str) -> bool:
    raw = _extra_value(extra, name)
    if raw in (None, ""):
        return False
    if isinstance(raw, bool):
        return raw
    if str(raw).strip().lower() in ("true", "1", "yes"):
        return True
    if str(raw).strip().lower() in ("false", "0", "no"):
        return False
    raise BrazeConfigurationError(f"The Braze connection's {name} extra {raw!r} is not true or false")


_FAILING_TWINS: dict[type[BrazeError], type[BrazeError]] = {}


def _failing_twin(error_class: type[BrazeError]) -> type[BrazeError]:
    """``error_class`` that is also an ``AirflowFailException`` (built once per class), so Airflow fails
    the task without retrying it while ``except <the Braze type>`` still catches it."""
    twin = _FAILING_TWINS.get(error_class)
    if twin is None:
        namespace = {"__module__": error_class.__module__, "__qualname__": error_class.__qualname__}
        twin = _FAILING_TWINS.setdefault(
            error_class, type(error_class.__name__, (error_class, AirflowFailException), namespace)
        )
    return twin


def _failing_fast_where_retries_cannot_help(
    creates: bool | Callable[..., bool],
) -> Callable[[Callable[Concatenate[BrazeHook, P], R]], Callable[Concatenate[BrazeHook, P], R]]:
    """Make a hook method's errors that no task retry can fix (see ``airflow_may_retry``) fail the task.

    :param creates: whether the call is not idempotent, or a function of the method's arguments saying so.
    """

    def decorate(method: Callable[Concatenate[BrazeHook, P], R]) -> Callable[Concatenate[BrazeHook, P], R]:
        @functools.wraps(method)
        def wrapper(self: BrazeHook, *args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return method(self, *args, **kwargs)
            except BrazeError as error:
                if not isinstance(error, AirflowFailException):
                    not_idempotent = creates(*args, **kwargs) if callable(creates) else creates
                    if not airflow_may_retry(error, creates=not_idempotent):
                        error.__class__ = _failing_twin(type(error))  # the same error, traceback and all
                raise

        return wrapper

    return decorate


class BrazeHook(BaseHook):
    """Talks to Braze's REST API: the schedule endpoints of messages, API-triggered campaigns and Canvases.

    The connection's host is the REST endpoint (a URL, a bare host, or an instance name such as
    ``US-01``); its password is a REST API key; its extras are ``timeout``, ``ca_bundle``, ``proxy`` and
    ``dry_run``. The sending is done by :attr:`client`, a
    :class:`~airflow_braze_schedule.core.client.BrazeClient` that may be shared between threads. Every
    request is validated before it is sent. Failures that are safe to retry (429, 5xx, a Braze that
    could not be reached, and for idempotent calls an unanswered request) are retried according to
    ``retry_policy``; a create whose answer never came is not.

    :param braze_conn_id: the Airflow connection of type ``braze``.
    :param retry_policy: how one request is retried; see :class:`~airflow_braze_schedule.core.retry.RetryPolicy`.
    :param timeout: seconds to wait for Braze, overriding the connection's ``timeout`` extra (default 30).
    """

    conn_name_attr = "braze_conn_id"
    default_conn_name = "braze_default"
    conn_type = "braze"
    hook_name = "Braze"

    def __init__(
        self,
        braze_conn_id: str = default_conn_name,
        *,
        retry_policy: RetryPolicy | None = None,
        timeout: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.braze_conn_id = braze_conn_id
        self.retry_policy = retry_policy or RetryPolicy()
        self._timeout = timeout
        self._sleep = sleep
        self._clock = clock

    def __repr__(self) -> str:
        return f"{type(self).__name__}(braze_conn_id={self.braze_conn_id!r})"

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The connection form's extra fields for Airflow before 3.2, built from ``get_provider_info()``.

        Airflow 3.2+ reads the declarative ``conn-fields`` and never calls this. The imports live here
        because flask-appbuilder and wtforms only exist where the old form does.
        """
        from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
        from flask_babel import lazy_gettext
        from wtforms import BooleanField, IntegerField, StringField
        from wtforms.validators import NumberRange, Optional

        widgets: dict[str, Any] = {}
        for name, spec in CONNECTION_FIELDS.items():
            types = spec["schema"]["type"]
            label, description = lazy_gettext(spec["label"]), spec.get("description", "")
            if "boolean" in types:
                widgets[name] = BooleanField(label, description=description, default=False)
            elif "integer" in types:
                minimum = spec["schema"].get("minimum")
                validators = [Optional(), NumberRange(min=minimum)] if minimum is not None else [Optional()]
                widgets[name] = IntegerField(
                    label, validators=validators, widget=BS3TextFieldWidget(), description=description
                )
            else:
                widgets[name] = StringField(label, widget=BS3TextFieldWidget(), description=description)
        return widgets

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The connection form for Airflow before 3.2 (3.2+ reads ``get_provider_info()`` instead)."""
        return {
            "hidden_fields": list(CONNECTION_UI["hidden-fields"]),
            "relabeling": dict(CONNECTION_UI["relabeling"]),
            "placeholders": dict(CONNECTION_UI["placeholders"]),
        }

    # --- connection and client -------------------------------------------------------------------

    @cached_property
    def settings(self) -> _ConnectionSettings:
        """The connection, read once and checked: REST endpoint, key, timeout, TLS verification, proxy."""
        conn = self.get_connection(self.braze_conn_id)
        api_key = (conn.password or "").strip()
        if api_key:
            mask_secret(api_key)
        owner = f"The Braze connection {self.braze_conn_id!r}"
        api_key = check_api_key(api_key, owner, where_to_set="set it as the password")
        extra = conn.extra_dejson or {}
        proxy = _extra_value(extra, "proxy")
        password = proxy_password(proxy) if isinstance(proxy, str) else None
        if password:
            mask_secret(password)
        return _ConnectionSettings(
            base_url=resolve_rest_endpoint(conn.host),
            api_key=api_key,
            timeout=self._timeout if self._timeout is not None else _read_timeout(extra),
            verify=_extra_value(extra, "ca_bundle") or True,
            dry_run=_read_flag(extra, "dry_run"),
            proxy=check_proxy(proxy if isinstance(proxy, str) else None),
        )

    @cached_property
    def client(self) -> BrazeClient:
        """The client that sends this hook's requests; safe to share between threads."""
        settings = self.settings
        return BrazeClient(
            settings.base_url,
            settings.api_key,
            timeout=settings.timeout,
            verify=settings.verify,
            proxy=settings.proxy,
            retry_policy=self.retry_policy,
            sleep=self._sleep,
            clock=self._clock,
            logger=self.log,
        )

    def get_conn(self) -> BrazeClient:
        return self.client

    @property
    def session(self) -> requests.Session:
        """The calling thread's keep-alive session of :attr:`client`."""
        return self.client.session

    @property
    def rate_limit(self) -> RateLimit | None:
        """The workspace's rate limit, from the latest answer that had the headers."""
        client = self.__dict__.get("client")
        return client.rate_limit if client is not None else None

    # --- sending ---------------------------------------------------------------------------------

    @_failing_fast_where_retries_cannot_help(creates=lambda request, **_: not request.idempotent)
    def send(self, request: BrazeRequest) -> dict[str, Any]:
        """Send a validated request through :attr:`client` (see :meth:`BrazeClient.send`)."""
        return self.client.send(request)

    # --- schedule endpoints ------------------------------------------------------------------------

    @_failing_fast_where_retries_cannot_help(creates=True)
    def create_schedule(self, **fields: Any) -> dict[str, Any]:
        """Create a schedule of the kind the fields imply (see :func:`~airflow_braze_schedule.core.payload.kind_for`).

        :return: Braze's answer, with ``schedule_id`` and ``dispatch_id``.
        """
        return self.client.send(build_create_request(fields))

    @_failing_fast_where_retries_cannot_help(creates=True)
    def schedule_message(self, *, schedule: Any, **fields: Any) -> dict[str, Any]:
        """``POST /messages/schedule/create``."""
        request = build_create_request({**fields, "schedule": schedule}, kind=ScheduleKind.MESSAGE)
        return self.client.send(request)

    @_failing_fast_where_retries_cannot_help(creates=False)
    def update_scheduled_message(
        self, schedule_id: str, *, schedule: Any = None, messages: Any = None
    ) -> dict[str, Any]:
        """``POST /messages/schedule/update``: replaces the schedule and/or the messages."""
        return self.client.send(
            build_update_request(ScheduleKind.MESSAGE, schedule_id, schedule=schedule, messages=messages)
        )

    @_failing_fast_where_retries_cannot_help(creates=False)
    def delete_scheduled_message(
        self, schedule_id: str, *, addressed_as_created: bool = False
    ) -> dict[str, Any]:
        """``POST /messages/schedule/delete``.

        :param addressed_as_created: ``schedule_id`` is the one Braze answered to your create (see
            :meth:`delete_campaign_schedule`).
        """
        request = build_delete_request(
            ScheduleKind.MESSAGE, schedule_id, addressed_as_created=addressed_as_created
        )
        return self.client.send(request)

    @_failing_fast_where_retries_cannot_help(creates=True)
    def schedule_campaign(self, campaign_id: str, *, schedule: Any, **fields: Any) -> dict[str, Any]:
        """``POST /campaigns/trigger/schedule/create`` for an API-triggered campaign."""
        fields = {**fields, "campaign_id": campaign_id, "schedule": schedule}
        return self.client.send(build_create_request(fields, kind=ScheduleKind.CAMPAIGN))

    @_failing_fast_where_retries_cannot_help(creates=False)
    def update_campaign_schedule(
        self, campaign_id: str, schedule_id: str, *, schedule: Any
    ) -> dict[str, Any]:
        """``POST /campaigns/trigger/schedule/update``: replaces the whole schedule object."""
        request = build_update_request(
            ScheduleKind.CAMPAIGN, schedule_id, owner_id=campaign_id, schedule=schedule
        )
        return self.client.send(request)

    @_failing_fast_where_retries_cannot_help(creates=False)
    def delete_campaign_schedule(
        self, campaign_id: str, schedule_id: str, *, addressed_as_created: bool = False
    ) -> dict[str, Any]:
        """``POST /campaigns/trigger/schedule/delete``.

        :param addressed_as_created: the ids are those your create sent and Braze answered. Then a delete
            resent after an unanswered attempt that finds the schedule gone (Braze answers 404 or 400)
            returns as done: that attempt cancelled it. Without it, that case raises
            :class:`~airflow_braze_schedule.core.errors.BrazeOutcomeUnknownError`, since ids given by hand
            may name another campaign or kind, whose schedule would still be live.
        """
        request = build_delete_request(
            ScheduleKind.CAMPAIGN,
            schedule_id,
            owner_id=campaign_id,
            addressed_as_created=addressed_as_created,
        )
        return self.client.send(request)

    @_failing_fast_where_retries_cannot_help(creates=True)
    def schedule_canvas(self, canvas_id: str, *, schedule: Any, **fields: Any) -> dict[str, Any]:
        """``POST /canvas/trigger/schedule/create`` for an API-triggered Canvas."""
        fields = {**fields, "canvas_id": canvas_id, "schedule": schedule}
        return self.client.send(build_create_request(fields, kind=ScheduleKind.CANVAS))

    @_failing_fast_where_retries_cannot_help(creates=False)
    def update_canvas_schedule(self, canvas_id: str, schedule_id: str, *, schedule: Any) -> dict[str, Any]:
        """``POST /canvas/trigger/schedule/update``: replaces the whole schedule object."""
        request = build_update_request(
            ScheduleKind.CANVAS, schedule_id, owner_id=canvas_id, schedule=schedule
        )
        return self.client.send(request)

    @_failing_fast_where_retries_cannot_help(creates=False)
    def delete_canvas_schedule(
        self, canvas_id: str, schedule_id: str, *, addressed_as_created: bool = False
    ) -> dict[str, Any]:
        """``POST /canvas/trigger/schedule/delete``.

        :param addressed_as_created: the ids are those your create sent and Braze answered (see
            :meth:`delete_campaign_schedule`).
        """
        request = build_delete_request(
            ScheduleKind.CANVAS, schedule_id, owner_id=canvas_id, addressed_as_created=addressed_as_created
        )
        return self.client.send(request)

    @_failing_fast_where_retries_cannot_help(creates=False)
    def get_scheduled_broadcasts(self, end_time: str | date | datetime) -> list[dict[str, Any]]:
        """``GET /messages/scheduled_broadcasts``: dashboard-scheduled campaigns and Canvases up to ``end_time``.

        Braze lists only sends scheduled in its dashboard here, never API-made schedules.
        """
        body = self.client.send(build_scheduled_broadcasts_request(end_time))
        broadcasts = body.get("scheduled_broadcasts")
        return broadcasts if isinstance(broadcasts, list) else []

    @_failing_fast_where_retries_cannot_help(creates=lambda campaign_id, send_id=None: not send_id)
    def create_send_id(self, campaign_id: str, send_id: str | None = None) -> str:
        """``POST /sends/id/create``: a send id for analytics (Braze allows 100 a day per workspace).

        Without ``send_id`` Braze generates one, so a request whose answer was lost is not resent: a
        resend would use up another of the day's send ids. With ``send_id`` it is resent as usual.
        """
        body = {"campaign_id": campaign_id, **({"send_id": send_id} if send_id else {})}
        request = BrazeRequest("POST", SEND_ID_CREATE_PATH, Action.send_id_create(send_id), body)
        answer = self.client.send(request)
        return str(answer.get("send_id") or send_id or "")

    def get_send_data_series(
        self, campaign_id: str, send_id: str, *, length: int = 14, ending_at: str | datetime | None = None
    ) -> dict[str, Any]:
        """``GET /sends/data_series``: per-day figures of one send of an API campaign (``sends.data_series``).

        Braze keeps them 14 days after the send. ``length`` (1 to 100) is the number of days up to
        ``ending_at`` (default: now), both checked before the call.

        :return: Braze's answer, ``{"data": [{"time": ..., "messages": {channel: [...]}, ...}], "message": ...}``.
        """
        from airflow_braze_schedule.core.analytics import build_data_series_request

        return self.send(build_data_series_request(campaign_id, send_id, length=length, ending_at=ending_at))

    # --- connection test ---------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """One harmless read (the scheduled-broadcasts list up to now), without retries."""
        try:
            request = build_scheduled_broadcasts_request(pendulum.now("UTC"))
            self.client.send(request, retry_policy=RetryPolicy.never())
        except BrazeAuthenticationError as exc:
            return False, f"Braze rejected the REST API key (401): {exc.message}. {exc.hint()}."
        except BrazePermissionError as exc:
            return False, (
                f"The REST API key works but lacks the messages.schedule_broadcasts permission used to test it "
                f"(403: {exc.message}); scheduling may still work if the key has the schedule permissions."
            )
        except BrazeTransportError as exc:
            return False, f"Could not reach Braze at {self.settings.base_url}: {exc.reason}"
        except BrazeError as exc:
            return False, str(exc)
        except Exception as exc:  # test_connection reports, it never raises
            return False, f"{type(exc).__name__}: {exc}"
        return True, f"Connected to Braze at {self.settings.base_url}"
