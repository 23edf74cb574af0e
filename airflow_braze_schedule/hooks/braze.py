"""BrazeHook: the Airflow connection, one HTTP session, and every call to Braze's schedule endpoints."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

import pendulum
import requests
from airflow.providers.common.compat.sdk import BaseHook, mask_secret
from requests import exceptions as rexc
from urllib3 import exceptions as u3exc

from airflow_braze_schedule import __version__
from airflow_braze_schedule.core.endpoints import (
    SCHEDULED_BROADCASTS_PATH,
    SEND_ID_CREATE_PATH,
    ScheduleKind,
    resolve_rest_endpoint,
)
from airflow_braze_schedule.core.errors import (
    BrazeApiError,
    BrazeAuthenticationError,
    BrazeConfigurationError,
    BrazeError,
    BrazeNotFoundError,
    BrazeOutcomeUnknownError,
    BrazePermissionError,
    BrazeRateLimitError,
    BrazeTransportError,
    BrazeUnreachableError,
    error_class_for_status,
)
from airflow_braze_schedule.core.payload import (
    BrazeRequest,
    build_create_request,
    build_delete_request,
    build_update_request,
)
from airflow_braze_schedule.core.ratelimit import RateLimit
from airflow_braze_schedule.core.retry import RetryPolicy
from airflow_braze_schedule.get_provider_info import CONNECTION_FIELDS, CONNECTION_UI

DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class _ConnectionSettings:
    base_url: str
    api_key: str
    timeout: float
    verify: bool | str
    dry_run: bool

    def __repr__(self) -> str:  # the key must never show up in a log or a traceback's locals
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


def _never_sent(error: rexc.ConnectionError) -> bool:
    """True if the connection failed before the request could reach Braze (refused, DNS, connect timeout)."""
    if isinstance(error, rexc.ConnectTimeout | rexc.SSLError | rexc.ProxyError):
        return True
    reason = error.args[0] if error.args else None
    if isinstance(reason, u3exc.MaxRetryError):
        reason = reason.reason
    # NameResolutionError is a NewConnectionError; both are raised before any byte is sent.
    return isinstance(reason, u3exc.NewConnectionError | u3exc.ConnectTimeoutError)


def _summary(text: str, limit: int = 200) -> str:
    """A short readable summary of a non-JSON body (an HTML error page from a proxy, say)."""
    text = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", text, flags=re.S | re.I)
    text = re.sub(r"<[^>]+>", " ", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class BrazeHook(BaseHook):
    """Talks to Braze's REST API: the schedule endpoints of messages, API-triggered campaigns and Canvases.

    The connection's host is the REST endpoint (a URL, a bare host, or an instance name such as
    ``US-01``); its password is a REST API key. One keep-alive session serves all calls of a hook.
    Every request is validated before it is sent. Failures that are safe to retry (429, 5xx, a Braze
    that could not be reached, and for updates and deletes an unanswered request) are retried according
    to ``retry_policy``; a create whose answer never came is not.

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
        self.rate_limit: RateLimit | None = None  # from the latest answer that had the headers

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

    # --- connection and session ----------------------------------------------------------------

    @cached_property
    def settings(self) -> _ConnectionSettings:
        """The connection, read once and checked: REST endpoint, key, timeout, TLS verification."""
        conn = self.get_connection(self.braze_conn_id)
        api_key = (conn.password or "").strip()
        if not api_key:
            raise BrazeConfigurationError(
                f"The Braze connection {self.braze_conn_id!r} has no REST API key: set it as the password"
            )
        mask_secret(api_key)
        if any(char.isspace() or not char.isprintable() for char in api_key):
            # requests would refuse the header and quote the key in its error message.
            raise BrazeConfigurationError(
                f"The Braze connection {self.braze_conn_id!r} has a REST API key with spaces, line breaks or "
                "control characters in it; paste the key again, exactly as Braze shows it"
            )
        if api_key[0] in "'\"" or api_key[-1] in "'\"":
            raise BrazeConfigurationError(
                f"The Braze connection {self.braze_conn_id!r} has its REST API key wrapped in quotes, which "
                "Braze rejects with 401; store the key without quotes"
            )
        extra = conn.extra_dejson or {}
        ca_bundle = _extra_value(extra, "ca_bundle")
        return _ConnectionSettings(
            base_url=resolve_rest_endpoint(conn.host),
            api_key=api_key,
            timeout=self._timeout if self._timeout is not None else _read_timeout(extra),
            verify=ca_bundle or True,
            dry_run=_read_flag(extra, "dry_run"),
        )

    @cached_property
    def session(self) -> requests.Session:
        """One keep-alive session for all calls of this hook."""
        session = requests.Session()
        session.headers.update(
            {
                "Authorization": f"Bearer {self.settings.api_key}",
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": f"airflow-braze-schedule/{__version__} python-requests/{requests.__version__}",
            }
        )
        session.verify = self.settings.verify
        # Proxies and CA bundles come from the connection, not from the worker's environment.
        session.trust_env = False
        return session

    def get_conn(self) -> requests.Session:
        return self.session

    # --- sending ---------------------------------------------------------------------------------

    def send(self, request: BrazeRequest) -> dict[str, Any]:
        """Send a validated request, retrying as the policy allows, and return Braze's JSON answer.

        ``max_attempts`` counts tries that failed for any reason but a rate limit; waiting for rate-limit
        resets is bounded by the policy's ``rate_limit_budget`` instead, so workers sharing a workspace
        wait their turn rather than fail.

        :raises BrazeApiError: a non-2xx answer (a subclass per status).
        :raises BrazeUnreachableError: Braze could not be reached.
        :raises BrazeOutcomeUnknownError: the request went out and no answer came.
        """
        policy = self.retry_policy
        failed_tries, rate_limit_waited, unanswered = 0, 0.0, False
        while True:
            try:
                return self._send_once(request)
            except BrazeNotFoundError:
                # A delete whose earlier attempt went out unanswered, now "not found": that attempt did it.
                if request.action == "delete" and unanswered:
                    self.log.info(
                        "%s %s: already done by an earlier unanswered attempt.", request.method, request.path
                    )
                    return {"message": "success"}
                raise
            except BrazeError as error:
                now = self._clock()
                rate_limited = isinstance(error, BrazeRateLimitError)
                unanswered = unanswered or isinstance(error, BrazeOutcomeUnknownError)
                if not rate_limited:
                    failed_tries += 1
                    if failed_tries >= policy.max_attempts:
                        raise
                retry = policy.should_retry(
                    error, idempotent=request.idempotent, now=now, rate_limit_waited=rate_limit_waited
                )
                if not retry:
                    raise
                delay = policy.wait_seconds(error, max(failed_tries, 1), now)
                if rate_limited:
                    rate_limit_waited += delay
                self.log.warning(
                    "Braze %s %s failed (%s). Retrying in %.1f s.", request.method, request.path, error, delay
                )
                self._sleep(delay)

    def _pause_if_exhausted(self) -> None:
        """Braze's advice: when no calls remain, wait for the reset instead of provoking a 429."""
        rate = self.rate_limit
        if rate is None or not rate.exhausted:
            return
        wait = rate.seconds_until_reset(self._clock())
        if wait:
            # Jitter, so that the workers that saw the limit run out do not all return at the reset.
            wait = (
                min(wait, self.retry_policy.max_rate_limit_wait) + self.retry_policy.jitter * random.random()
            )
            self.log.info(
                "Braze rate limit used up; waiting %.1f s for it to reset at %s.", wait, rate.reset_iso()
            )
            self._sleep(wait)
        self.rate_limit = None

    def _send_once(self, request: BrazeRequest) -> dict[str, Any]:
        settings = self.settings
        self._pause_if_exhausted()
        try:
            response = self.session.request(
                request.method,
                settings.base_url + request.path,
                data=request.payload if request.body is not None else None,  # serialised once, when validated
                params=request.params,
                timeout=settings.timeout,
                allow_redirects=False,  # a redirect could carry the key elsewhere, and turns POST into GET
            )
        except rexc.ReadTimeout:
            raise BrazeOutcomeUnknownError(
                method=request.method, path=request.path, reason=f"no answer within {settings.timeout:g} s"
            ) from None
        except rexc.ConnectionError as exc:
            error_type = BrazeUnreachableError if _never_sent(exc) else BrazeOutcomeUnknownError
            raise error_type(method=request.method, path=request.path, reason=self._scrub(str(exc))) from None
        rate = RateLimit.from_headers(response.headers, now=self._clock())
        if rate.known:
            self.rate_limit = rate
        if 200 <= response.status_code < 300:
            return self._success_body(request, response)
        raise self._api_error(request, response, rate)

    def _scrub(self, text: str) -> str:
        """Remove the key from text that came from elsewhere (a proxy's page may echo request headers)."""
        key = self.settings.api_key
        return text.replace(key, "***") if key else text

    def _success_body(self, request: BrazeRequest, response: requests.Response) -> dict[str, Any]:
        try:
            body = response.json() if response.content else {}
        except ValueError:
            body = {"message": _summary(self._scrub(response.text))}
        if not isinstance(body, dict):
            body = {"message": "success", "body": body}
        if body.get("errors"):
            # "success" with minor errors: the send goes ahead for everyone the errors do not concern.
            self.log.warning(
                "Braze accepted %s %s with errors: %s", request.method, request.path, body["errors"]
            )
        return body

    def _api_error(
        self, request: BrazeRequest, response: requests.Response, rate: RateLimit
    ) -> BrazeApiError:
        message, errors = response.reason or "", None
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            message = str(body.get("message") or message)
            errors = body.get("errors") if isinstance(body.get("errors"), list) else None
        elif response.content:
            content_type = response.headers.get("Content-Type", "unknown type")
            message = (
                f"{message} (non-JSON {content_type} body: {_summary(self._scrub(response.text))})".strip()
            )
        else:
            message = f"{message} (empty body)".strip()
        if 300 <= response.status_code < 400:
            message = (
                f"redirect to {response.headers.get('Location')!r}, not followed; check the REST endpoint"
            )
        error_class = error_class_for_status(response.status_code)
        return error_class(
            status_code=response.status_code,
            method=request.method,
            path=request.path,
            message=self._scrub(message),
            errors=[self._scrub(str(e)) for e in errors or []],
            rate_limit=rate if rate.known else None,
        )

    # --- schedule endpoints ------------------------------------------------------------------------

    def create_schedule(self, **fields: Any) -> dict[str, Any]:
        """Create a schedule of the kind the fields imply (see :func:`~airflow_braze_schedule.core.payload.kind_for`).

        :return: Braze's answer, with ``schedule_id`` and ``dispatch_id``.
        """
        return self.send(build_create_request(fields))

    def schedule_message(self, *, schedule: Any, **fields: Any) -> dict[str, Any]:
        """``POST /messages/schedule/create``."""
        return self.send(build_create_request({**fields, "schedule": schedule}, kind=ScheduleKind.MESSAGE))

    def update_scheduled_message(
        self, schedule_id: str, *, schedule: Any = None, messages: Any = None
    ) -> dict[str, Any]:
        """``POST /messages/schedule/update``: replaces the schedule and/or the messages."""
        return self.send(
            build_update_request(ScheduleKind.MESSAGE, schedule_id, schedule=schedule, messages=messages)
        )

    def delete_scheduled_message(self, schedule_id: str) -> dict[str, Any]:
        """``POST /messages/schedule/delete``."""
        return self.send(build_delete_request(ScheduleKind.MESSAGE, schedule_id))

    def schedule_campaign(self, campaign_id: str, *, schedule: Any, **fields: Any) -> dict[str, Any]:
        """``POST /campaigns/trigger/schedule/create`` for an API-triggered campaign."""
        fields = {**fields, "campaign_id": campaign_id, "schedule": schedule}
        return self.send(build_create_request(fields, kind=ScheduleKind.CAMPAIGN))

    def update_campaign_schedule(
        self, campaign_id: str, schedule_id: str, *, schedule: Any
    ) -> dict[str, Any]:
        """``POST /campaigns/trigger/schedule/update``: replaces the whole schedule object."""
        request = build_update_request(
            ScheduleKind.CAMPAIGN, schedule_id, owner_id=campaign_id, schedule=schedule
        )
        return self.send(request)

    def delete_campaign_schedule(self, campaign_id: str, schedule_id: str) -> dict[str, Any]:
        """``POST /campaigns/trigger/schedule/delete``."""
        return self.send(build_delete_request(ScheduleKind.CAMPAIGN, schedule_id, owner_id=campaign_id))

    def schedule_canvas(self, canvas_id: str, *, schedule: Any, **fields: Any) -> dict[str, Any]:
        """``POST /canvas/trigger/schedule/create`` for an API-triggered Canvas."""
        fields = {**fields, "canvas_id": canvas_id, "schedule": schedule}
        return self.send(build_create_request(fields, kind=ScheduleKind.CANVAS))

    def update_canvas_schedule(self, canvas_id: str, schedule_id: str, *, schedule: Any) -> dict[str, Any]:
        """``POST /canvas/trigger/schedule/update``: replaces the whole schedule object."""
        request = build_update_request(
            ScheduleKind.CANVAS, schedule_id, owner_id=canvas_id, schedule=schedule
        )
        return self.send(request)

    def delete_canvas_schedule(self, canvas_id: str, schedule_id: str) -> dict[str, Any]:
        """``POST /canvas/trigger/schedule/delete``."""
        return self.send(build_delete_request(ScheduleKind.CANVAS, schedule_id, owner_id=canvas_id))

    def get_scheduled_broadcasts(self, end_time: str | datetime) -> list[dict[str, Any]]:
        """``GET /messages/scheduled_broadcasts``: dashboard-scheduled campaigns and Canvases up to ``end_time``.

        Braze lists only sends scheduled in its dashboard here, never API-made schedules.
        """
        if isinstance(end_time, datetime):
            end_time = pendulum.instance(end_time).to_iso8601_string()
        request = BrazeRequest("GET", SCHEDULED_BROADCASTS_PATH, "list", params={"end_time": end_time})
        body = self.send(request)
        broadcasts = body.get("scheduled_broadcasts")
        return broadcasts if isinstance(broadcasts, list) else []

    def create_send_id(self, campaign_id: str, send_id: str | None = None) -> str:
        """``POST /sends/id/create``: a send id for analytics (Braze allows 100 a day per workspace)."""
        body = {"campaign_id": campaign_id, **({"send_id": send_id} if send_id else {})}
        answer = self.send(BrazeRequest("POST", SEND_ID_CREATE_PATH, "create_send_id", body))
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
        policy, self.retry_policy = self.retry_policy, RetryPolicy(max_attempts=1)
        try:
            self.get_scheduled_broadcasts(pendulum.now("UTC"))
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
        finally:
            self.retry_policy = policy
        return True, f"Connected to Braze at {self.settings.base_url}"
