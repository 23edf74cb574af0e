"""BrazeClient: Braze's REST API over HTTP, with no Airflow in it.

It sends one validated :class:`~airflow_braze_schedule.core.payload.BrazeRequest` and returns Braze's
JSON answer, and owns everything between: the keep-alive HTTP sessions, the retry loop (every decision
comes from :class:`~airflow_braze_schedule.core.retry.RetryPolicy`), the workspace's rate-limit state,
the mapping of answers to typed errors (non-JSON and HTML bodies summarised, redirects never followed),
and scrubbing the API key (and a proxy's password) from any text that came from elsewhere.

:class:`~airflow_braze_schedule.hooks.braze.BrazeHook` builds one from an Airflow connection; anyone
else can build one from a URL and a key.

Threads: one client may serve many threads at once. ``requests.Session`` is not thread-safe, so each
thread that sends gets a keep-alive session of its own (``threading.local``); :meth:`BrazeClient.close`
closes them all. The rate-limit state is shared by all threads, under a lock: when one thread's answer
says the limit is used up, every thread pauses before its next request.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from requests import exceptions as rexc
from urllib3 import exceptions as u3exc

from airflow_braze_schedule import __version__
from airflow_braze_schedule.core.endpoints import Action, resolve_rest_endpoint
from airflow_braze_schedule.core.errors import (
    BrazeApiError,
    BrazeConfigurationError,
    BrazeError,
    BrazeOutcomeUnknownError,
    BrazeUnreachableError,
    error_class_for_status,
    may_mean_schedule_gone,
    schedule_already_gone,
)
from airflow_braze_schedule.core.payload import BrazeRequest
from airflow_braze_schedule.core.ratelimit import RateLimit
from airflow_braze_schedule.core.retry import RetryPolicy, RetryState

DEFAULT_TIMEOUT = 30.0
USER_AGENT = f"airflow-braze-schedule/{__version__} python-requests/{requests.__version__}"


class Logger(Protocol):
    """What the client logs through: a ``logging.Logger``, or any logger with the same two methods
    (Airflow's task logger, for one)."""

    def info(self, msg: Any, /, *args: Any) -> Any: ...

    def warning(self, msg: Any, /, *args: Any) -> Any: ...


def check_api_key(api_key: str, owner: str, *, where_to_set: str = "") -> str:
    """The key, stripped, if Braze could accept it; else a configuration error that never quotes it.

    :param owner: what holds the key, for the message (``The Braze connection 'braze_default'``).
    :param where_to_set: added to the message of a missing key (``set it as the password``).
    """
    api_key = (api_key or "").strip()
    if not api_key:
        raise BrazeConfigurationError(
            f"{owner} has no REST API key" + (f": {where_to_set}" if where_to_set else "")
        )
    if any(char.isspace() or not char.isprintable() for char in api_key):
        # requests would refuse the header and quote the key in its error message.
        raise BrazeConfigurationError(
            f"{owner} has a REST API key with spaces, line breaks or control characters in it; "
            "paste the key again, exactly as Braze shows it"
        )
    if api_key[0] in "'\"" or api_key[-1] in "'\"":
        raise BrazeConfigurationError(
            f"{owner} has its REST API key wrapped in quotes, which Braze rejects with 401; "
            "store the key without quotes"
        )
    return api_key


def proxy_password(proxy: str | None) -> str | None:
    """The password in a proxy URL (``http://user:password@host:port``), if it has one."""
    return urlsplit(proxy).password if proxy else None


def check_proxy(proxy: str | None) -> str | None:
    """An HTTP(S) proxy URL such as ``http://proxy.corp:3128``, checked; None for no proxy.

    :raises BrazeConfigurationError: if it is not an ``http://`` or ``https://`` URL with a host (the
        message shows the URL without its password).
    """
    value = (proxy or "").strip()
    if not value:
        return None
    try:
        parts = urlsplit(value)
        host, _ = parts.hostname, parts.port  # .port raises on a port that is not a number
    except ValueError:
        host = None
    if parts.scheme not in ("http", "https") or not host:
        raise BrazeConfigurationError(
            f"The Braze proxy {_without_password(value)!r} is not an http:// or https:// URL with a host; "
            "use for example http://proxy.corp:3128 (or http://user:password@proxy.corp:3128)"
        )
    return value


def _without_password(url: str) -> str:
    password = proxy_password(url) if "@" in url else None
    return url.replace(f":{password}@", ":***@") if password else url


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


def _fresher(current: RateLimit | None, new: RateLimit) -> RateLimit:
    """The rate limit to keep when answers arrive out of order (several threads send at once): an
    answer from an earlier window, or an earlier one of the same window (more calls left), is stale."""
    if current is None or current.reset is None or new.reset is None:
        return new
    if new.reset < current.reset:
        return current
    if new.reset == current.reset and (current.remaining or 0) < (new.remaining or 0):
        return current
    return new


class BrazeClient:
    """Sends requests to Braze's REST API: retries, rate limits, typed errors. Safe to share between threads.

    :param base_url: the REST endpoint (``https://rest.iad-01.braze.com``), a bare host, or an instance
        name such as ``US-01``; plain ``http://`` only to loopback.
    :param api_key: a REST API key; it never appears in ``repr()``, a log line or an error.
    :param timeout: seconds to wait for Braze's answer.
    :param verify: TLS verification: True, or the path of a CA bundle.
    :param proxy: an HTTP(S) proxy for every request (``http://proxy.corp:3128``); proxies in the
        environment are ignored.
    :param retry_policy: how a request is retried; see :class:`~airflow_braze_schedule.core.retry.RetryPolicy`.
    :param sleep: how to wait (tests record the waits instead).
    :param clock: the current time, epoch seconds.
    :param logger: where to log retries and pauses; ``airflow_braze_schedule.core.client`` by default.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        verify: bool | str = True,
        proxy: str | None = None,
        retry_policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        logger: logging.Logger | Logger | None = None,
    ) -> None:
        self.base_url = resolve_rest_endpoint(base_url)
        self._api_key = check_api_key(api_key, "The Braze client")
        self.timeout = timeout
        self.verify = verify
        self._proxy = check_proxy(proxy)
        self.retry_policy = retry_policy or RetryPolicy()
        self.log: Logger = logger or logging.getLogger(__name__)
        self._sleep = sleep
        self._clock = clock
        self._secrets = tuple(s for s in (self._api_key, proxy_password(self._proxy)) if s)
        self._lock = threading.Lock()  # guards _rate_limit and _sessions
        self._rate_limit: RateLimit | None = None
        self._local = threading.local()
        self._sessions: list[requests.Session] = []

    def __repr__(self) -> str:
        proxy = ""
        if self._proxy:  # where it is, never who logs in to it
            parts = urlsplit(self._proxy)
            port = f":{parts.port}" if parts.port else ""
            proxy = f", proxy='{parts.scheme}://{parts.hostname}{port}'"
        return f"{type(self).__name__}(base_url={self.base_url!r}, timeout={self.timeout:g}{proxy})"

    def __enter__(self) -> BrazeClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- sessions ----------------------------------------------------------------------------------

    @property
    def session(self) -> requests.Session:
        """The calling thread's keep-alive session (``requests.Session`` is not thread-safe)."""
        return self._thread_state()[0]

    def _thread_state(self) -> tuple[requests.Session, dict[tuple[str, str], requests.PreparedRequest]]:
        """The calling thread's session and its prepared endpoint templates, made on first use."""
        state = getattr(self._local, "state", None)
        if state is None:
            state = self._local.state = (self._new_session(), {})
        return state

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        session.headers.update(
            {
                "Authorization": f"Bearer {self._api_key}",
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            }
        )
        session.verify = self.verify
        # Proxies and CA bundles come from the caller, never from the worker's environment.
        session.trust_env = False
        if self._proxy:
            session.proxies = {"http": self._proxy, "https": self._proxy}
        with self._lock:
            self._sessions.append(session)
        return session

    def close(self) -> None:
        """Close every thread's session. The client stays usable: a later call opens a new one.

        Call it when no request is in flight: a thread still sending would lose its connection."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
            self._local = threading.local()
        for session in sessions:
            session.close()

    # --- rate limit --------------------------------------------------------------------------------

    @property
    def rate_limit(self) -> RateLimit | None:
        """The workspace's rate limit, from the latest answer that had the headers (shared by all threads)."""
        return self._rate_limit

    def _record(self, rate: RateLimit) -> None:
        with self._lock:
            self._rate_limit = _fresher(self._rate_limit, rate)

    def _pause_if_exhausted(self, policy: RetryPolicy) -> None:
        rate = self._rate_limit
        if rate is None or not rate.exhausted:
            return
        wait = policy.pause_before_sending(rate, now=self._clock())
        if wait:
            self.log.info(
                "Braze rate limit used up; waiting %.1f s for it to reset at %s.", wait, rate.reset_iso()
            )
            self._sleep(wait)
        with self._lock:
            if self._rate_limit is rate:  # not if another thread has seen a newer answer meanwhile
                self._rate_limit = None

    # --- sending -----------------------------------------------------------------------------------

    def send(self, request: BrazeRequest, *, retry_policy: RetryPolicy | None = None) -> dict[str, Any]:
        """Send a validated request, retrying as the policy allows, and return Braze's JSON answer.

        ``max_attempts`` counts tries that failed for any reason but a rate limit; waiting for rate-limit
        resets is bounded by the policy's ``rate_limit_budget`` instead, so workers sharing a workspace
        wait their turn rather than fail. A request that is not idempotent (``request.idempotent``) is
        never resent after its answer was lost.

        :param retry_policy: this call's policy instead of the client's.
        :raises BrazeApiError: a non-2xx answer (a subclass per status).
        :raises BrazeUnreachableError: Braze could not be reached.
        :raises BrazeOutcomeUnknownError: the request went out and no answer came.
        """
        policy = retry_policy or self.retry_policy
        state: RetryState | None = None
        while True:
            try:
                return self._send_once(request, policy)
            except BrazeError as error:
                # A delete whose earlier attempt went out unanswered, now refused as unknown (404 on some
                # servers, 400 on others: Braze documents neither): that attempt did it, if the delete
                # names the schedule as created. Named by hand, it may name the wrong one: unknown.
                if (
                    state is not None
                    and state.unanswered
                    and request.action is Action.DELETE
                    and may_mean_schedule_gone(error)
                ):
                    if not schedule_already_gone(error, addressed_as_created=request.addressed_as_created):
                        raise BrazeOutcomeUnknownError(
                            method=request.method,
                            path=request.path,
                            reason=(
                                f"an earlier attempt went unanswered and Braze now answers "
                                f"{error.status_code} ({error.message}): that attempt cancelled it, or the "
                                "ids name no schedule of this kind and owner; give the create's handle to "
                                "count a schedule found gone as cancelled"
                            ),
                        ) from error
                    self.log.info(
                        "%s %s: already done by an earlier unanswered attempt (Braze now answers %s: %s).",
                        request.method,
                        request.path,
                        error.status_code,
                        error.message,
                    )
                    return {"message": "success"}
                state = state or RetryState()
                wait = policy.wait_before_retry(
                    error, state, idempotent=request.idempotent, now=self._clock()
                )
                if wait is None:
                    raise
                self.log.warning(
                    "Braze %s %s failed (%s). Retrying in %.1f s.", request.method, request.path, error, wait
                )
                self._sleep(wait)

    def _prepared(
        self,
        session: requests.Session,
        templates: dict[tuple[str, str], requests.PreparedRequest],
        request: BrazeRequest,
    ) -> requests.PreparedRequest:
        """The request as requests would prepare it, from a template prepared once per endpoint and thread.

        ``Session.request`` prepares the URL, the headers and the session's settings anew on every call,
        about as much work as sending; they never change for an endpoint, so they are prepared (and
        checked) once, and each call copies the template and sets its own body.
        """
        template = templates.get((request.method, request.path))
        if template is None:
            template = session.prepare_request(
                requests.Request(request.method, self.base_url + request.path, data=b"{}")
            )
            templates[(request.method, request.path)] = template
        prepared = template.copy()
        prepared.body = request.payload  # serialised once, when validated
        prepared.headers["Content-Length"] = str(len(request.payload))
        return prepared

    def _send_once(self, request: BrazeRequest, policy: RetryPolicy) -> dict[str, Any]:
        self._pause_if_exhausted(policy)
        session, templates = self._thread_state()
        try:
            if request.body is not None and request.params is None and not session.cookies:
                # The template holds no cookies: with some in the jar (a load balancer's), requests adds them.
                response = session.send(
                    self._prepared(session, templates, request),
                    timeout=self.timeout,
                    allow_redirects=False,
                    proxies=session.proxies,
                    stream=session.stream,
                    verify=session.verify,
                    cert=session.cert,
                )
            else:
                response = session.request(
                    request.method,
                    self.base_url + request.path,
                    data=request.payload if request.body is not None else None,
                    params=request.params,
                    timeout=self.timeout,
                    allow_redirects=False,  # a redirect could carry the key elsewhere, and turns POST into GET
                )
        except rexc.ReadTimeout:
            raise BrazeOutcomeUnknownError(
                method=request.method, path=request.path, reason=f"no answer within {self.timeout:g} s"
            ) from None
        except rexc.ConnectionError as exc:
            error_type = BrazeUnreachableError if _never_sent(exc) else BrazeOutcomeUnknownError
            raise error_type(method=request.method, path=request.path, reason=self.scrub(str(exc))) from None
        rate = RateLimit.from_lookup(response.headers.get, now=self._clock())  # requests ignores case
        if rate.known:
            self._record(rate)
        if 200 <= response.status_code < 300:
            return self._success_body(request, response)
        raise self._api_error(request, response, rate)

    def scrub(self, text: str) -> str:
        """Remove the key (and a proxy's password) from text that came from elsewhere: a proxy's error
        page may echo the request's headers."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    # --- answers -----------------------------------------------------------------------------------

    def _success_body(self, request: BrazeRequest, response: requests.Response) -> dict[str, Any]:
        try:
            body = response.json() if response.content else {}
        except ValueError:
            body = {"message": _summary(self.scrub(response.text))}
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
                f"{message} (non-JSON {content_type} body: {_summary(self.scrub(response.text))})".strip()
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
            message=self.scrub(message),
            errors=[self.scrub(str(e)) for e in errors or []],
            rate_limit=rate if rate.known else None,
        )
