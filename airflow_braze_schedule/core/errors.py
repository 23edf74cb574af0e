"""Error types.

``BrazeValidationError`` is raised before any request is sent. ``BrazeApiError`` and its subclasses carry
what Braze answered. ``BrazeUnreachableError`` and ``BrazeOutcomeUnknownError`` tell apart the two kinds
of transport failure: one where the request never reached Braze, and one where it went out and the
answer never came back (the only case where a create may have happened without us knowing its id).

None of these messages ever contains the REST API key: they are built from the method, the path, the
status and Braze's answer only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeGuard

if TYPE_CHECKING:
    from airflow_braze_schedule.core.ratelimit import RateLimit


class BrazeError(Exception):
    """Base class of every error raised by airflow-braze-schedule."""


class BrazeValidationError(BrazeError, ValueError):
    """A request breaks a Braze rule that can be checked locally; nothing was sent.

    :param field: the request field at fault, in Braze's naming (``schedule.time``, ``recipients[3]``).
    :param problem: what is wrong with it.
    :param expected: what would be accepted instead.
    """

    def __init__(self, field: str, problem: str, expected: str | None = None) -> None:
        self.field = field
        self.problem = problem
        self.expected = expected
        text = f"{field}: {problem}"
        if expected:
            text += f"; expected {expected}"
        super().__init__(text)


class BrazeConfigurationError(BrazeError, ValueError):
    """The Airflow connection (REST endpoint, key, extras) cannot be used; nothing was sent."""


class BrazeApiError(BrazeError):
    """Braze answered with a non-2xx status.

    Braze documents that a 4xx or 5xx answer means no message will be sent.

    :param status_code: the HTTP status.
    :param method: the HTTP method of the request.
    :param path: the endpoint path, such as ``/messages/schedule/create``.
    :param message: Braze's ``message`` field, or a summary of a non-JSON body.
    :param errors: Braze's ``errors`` list, if any.
    :param rate_limit: the rate-limit headers of the answer.
    """

    def __init__(
        self,
        *,
        status_code: int,
        method: str,
        path: str,
        message: str,
        errors: list[Any] | None = None,
        rate_limit: RateLimit | None = None,
    ) -> None:
        self.status_code = status_code
        self.method = method
        self.path = path
        self.message = message
        self.errors = list(errors or [])
        self.rate_limit = rate_limit
        super().__init__(self._text())

    def _text(self) -> str:
        text = f"Braze answered {self.status_code} to {self.method} {self.path}: {self.message}"
        if self.errors:
            text += f" (errors: {'; '.join(str(e) for e in self.errors)})"
        hint = self.hint()
        return f"{text}. {hint}" if hint else text

    def hint(self) -> str:
        """What the user can do about it; empty where there is nothing useful to say."""
        return ""


class BrazeBadRequestError(BrazeApiError):
    """400: Braze rejected the request's content."""

    def hint(self) -> str:
        if self.path.endswith(("/update", "/delete")):
            # Braze documents no answer for a schedule_id it no longer holds; a 400 may be just that.
            return (
                "Nothing was changed. If the request is right, Braze may no longer hold this schedule_id: "
                "already sent or cancelled, or made under another campaign_id / canvas_id or workspace"
            )
        return "Nothing was sent; fix the request and run the task again"


class BrazeAuthenticationError(BrazeApiError):
    """401: the REST API key is invalid, belongs to another instance, or is wrapped in quotes."""

    def hint(self) -> str:
        return (
            "Check the connection's REST API key, that its REST endpoint is your workspace's instance, "
            "and that the key is not wrapped in quotes"
        )


class BrazePermissionError(BrazeApiError):
    """403: the key lacks this endpoint's permission, or the plan does not allow it."""

    def hint(self) -> str:
        return (
            "Give the REST API key this endpoint's permission; Braze keys cannot be edited, "
            "so create a new key with it"
        )


class BrazeNotFoundError(BrazeApiError):
    """404: unknown endpoint (or, on fakes and proxies, an unknown schedule)."""


def may_mean_schedule_gone(error: BaseException) -> TypeGuard[BrazeApiError]:
    """Whether Braze's answer to an update or delete may only say that the ``schedule_id`` is no longer there.

    Braze documents no answer for an unknown, already sent or already deleted ``schedule_id`` (its 404 is
    "Invalid URL"), so a server may answer it with 404 or with 400. The requests this provider sends are
    validated before they leave, so on a delete either status is read as "no such schedule"; callers
    decide what that means for them (a delete resent after an unanswered attempt: done).
    """
    return isinstance(error, BrazeApiError) and error.status_code in (400, 404)


def schedule_already_gone(error: BaseException, *, addressed_as_created: bool) -> TypeGuard[BrazeApiError]:
    """Whether a cancel that failed with ``error`` may be read as done: Braze no longer holds the schedule
    (it was cancelled, or sent).

    The one rule for every cancel that tolerates "already gone". Braze documents no answer for a
    ``schedule_id`` it no longer holds, and servers answer 404 or 400 (:func:`may_mean_schedule_gone`). A
    400 can also be a genuinely bad request, so the reading holds only where the request cannot be bad:

    * it is a delete (an update's 400 may be about its new schedule or messages);
    * its body was validated before it left (every request this provider builds is);
    * ``addressed_as_created``: it names the schedule exactly as Braze accepted it, the ``schedule_id``
      Braze answered to the create and the ``campaign_id`` / ``canvas_id`` (and so the endpoint) the
      create sent, as a registry entry or a create task's handle records them. A bare ``schedule_id``
      given by hand may name the wrong campaign, Canvas or kind, which Braze answers with a 400 ("Invalid
      Campaign ID") or 404 while the schedule stays live: a cancel must not call that done.

    Whether "gone" then means "done" is the caller's to say (a retry, or a keyed cancel: yes; a first
    try by ``schedule_id``: no, an unknown id is worth surfacing). A key of another workspace would read
    the same way; the registry is kept per Braze connection, so its ids are of the connection's workspace.
    """
    return addressed_as_created and may_mean_schedule_gone(error) and error.path.endswith("/delete")


class BrazePayloadTooLargeError(BrazeApiError):
    """413: the body is over Braze's size limit."""


class BrazeRateLimitError(BrazeApiError):
    """429: the workspace's rate limit is used up until ``rate_limit.reset``."""

    def hint(self) -> str:
        if self.rate_limit and self.rate_limit.reset is not None:
            return f"Nothing was sent; the limit resets at {self.rate_limit.reset_iso()}"
        return "Nothing was sent"


class BrazeServerError(BrazeApiError):
    """5xx: Braze failed; nothing was sent and the request may be retried."""


class BrazeUnexpectedResponseError(BrazeApiError):
    """A 3xx redirect or another answer this client does not follow."""


_STATUS_ERRORS: dict[int, type[BrazeApiError]] = {
    400: BrazeBadRequestError,
    401: BrazeAuthenticationError,
    403: BrazePermissionError,
    404: BrazeNotFoundError,
    413: BrazePayloadTooLargeError,
    429: BrazeRateLimitError,
}


def error_class_for_status(status_code: int) -> type[BrazeApiError]:
    """The exception class for a non-2xx HTTP status."""
    if status_code >= 500:
        return BrazeServerError
    if 400 <= status_code < 500:
        return _STATUS_ERRORS.get(status_code, BrazeBadRequestError)
    return BrazeUnexpectedResponseError


class BrazeTransportError(BrazeError):
    """No HTTP answer was received.

    :param method: the HTTP method.
    :param path: the endpoint path.
    :param reason: what the transport reported.
    """

    def __init__(self, *, method: str, path: str, reason: str) -> None:
        self.method = method
        self.path = path
        self.reason = reason
        super().__init__(self._text())

    def _text(self) -> str:
        return f"{self.method} {self.path}: {self.reason}"


class BrazeUnreachableError(BrazeTransportError):
    """The request never reached Braze (refused, DNS failure, connect timeout): nothing happened."""

    def _text(self) -> str:
        return (
            f"Could not reach Braze for {self.method} {self.path}: {self.reason}. "
            "The request was not sent, so it is safe to retry"
        )


class BrazeOutcomeUnknownError(BrazeTransportError):
    """The request went out but its answer never came (read timeout, connection dropped).

    For a create this means a schedule may exist whose ``schedule_id`` we never learnt.
    """

    def _text(self) -> str:
        return (
            f"{self.method} {self.path} was sent but no answer came back ({self.reason}); "
            "Braze may or may not have acted on it"
        )
