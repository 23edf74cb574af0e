"""Faults that :class:`~airflow_braze_schedule.testing.FakeBraze` can inject into its answers.

A fault is queued with :meth:`FakeBraze.inject() <airflow_braze_schedule.testing.FakeBraze.inject>` and
applies to the next matching request(s), *before* authentication, routing or validation: it models what
the network, a load balancer or an overloaded Braze can do to any call. Each fault is a small frozen
dataclass, so tests read like a description of the incident::

    fake.inject(Status(503), times=2)                        # two 503s, then normal answers
    fake.inject(RateLimited(reset_in=0.5), path="/messages/schedule/create")
    fake.inject(DropAfterProcessing())                       # the schedule is created, the answer is lost

Requests answered by a fault (:class:`Status`, :class:`RateLimited`, :class:`HtmlError`,
:class:`DropBeforeProcessing`) do not count against the fake's rate limit; :class:`Delay` and
:class:`DropAfterProcessing` process the request normally, so it counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

__all__ = [
    "Delay",
    "DropAfterProcessing",
    "DropBeforeProcessing",
    "Fault",
    "HtmlError",
    "RateLimited",
    "Status",
]


def _reason(code: int) -> str:
    """Return the standard reason phrase of ``code`` (``"Error"`` for unregistered codes)."""
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Error"


@dataclass(frozen=True)
class Fault:
    """Base class of every injectable fault; use one of its subclasses."""

    @property
    def name(self) -> str:
        """The fault's class name, as recorded in :attr:`ReceivedRequest.fault`."""
        return type(self).__name__


@dataclass(frozen=True)
class Status(Fault):
    """Answer with HTTP status ``code`` instead of processing the request.

    :param code: the HTTP status code to answer (100-599), e.g. ``500`` or ``503``.
    :param body: a ``dict`` is sent as JSON; a ``str`` is sent as-is with ``text/plain`` (unless
        ``headers`` sets another ``Content-Type``); ``None`` (default) sends Braze's error shape
        ``{"message": "<reason phrase>"}``.
    :param headers: extra response headers; they override the rate-limit headers the fake adds.
    """

    code: int
    body: dict[str, Any] | str | None = None
    headers: dict[str, str] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.code, int) or not 100 <= self.code <= 599:
            raise ValueError(f"Status code must be an int in 100..599, got {self.code!r}")

    @property
    def reason(self) -> str:
        """The standard reason phrase of :attr:`code`."""
        return _reason(self.code)


@dataclass(frozen=True)
class RateLimited(Fault):
    """Answer ``429`` ``{"message": "Rate Limited"}`` as Braze does when the workspace quota is spent.

    The answer carries ``x-ratelimit-limit`` (the fake's current limit), ``x-ratelimit-remaining: 0``
    and ``x-ratelimit-reset`` (UTC epoch seconds, ``now + reset_in`` rounded up to a whole second, so a
    client that waits until the reset time waits at least ``reset_in``).

    :param reset_in: seconds from now until the advertised reset.
    """

    reset_in: float = 1.0

    def __post_init__(self) -> None:
        if self.reset_in < 0:
            raise ValueError(f"reset_in must be >= 0, got {self.reset_in!r}")


@dataclass(frozen=True)
class HtmlError(Fault):
    """Answer an HTML error page, as a load balancer in front of Braze does (``text/html`` body).

    It deliberately carries **no** rate-limit headers: a gateway page is not produced by Braze's API, and
    a client must not assume those headers exist on every answer.

    :param code: the HTTP status code (400-599), ``502`` by default.
    """

    code: int = 502

    def __post_init__(self) -> None:
        if not isinstance(self.code, int) or not 400 <= self.code <= 599:
            raise ValueError(f"HtmlError code must be an int in 400..599, got {self.code!r}")

    @property
    def page(self) -> str:
        """The HTML page sent as the body."""
        title = f"{self.code} {_reason(self.code)}"
        return (
            f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
            f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        )


@dataclass(frozen=True)
class Delay(Fault):
    """Sleep ``seconds`` before processing the request, then process and answer it normally.

    Use it to provoke client read timeouts. Note that the request *is* processed after the delay, exactly
    like a slow Braze would: a timed-out ``create`` may still create a schedule.

    :param seconds: how long to wait before processing.
    """

    seconds: float

    def __post_init__(self) -> None:
        if self.seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {self.seconds!r}")


@dataclass(frozen=True)
class DropBeforeProcessing(Fault):
    """Read the request, then close the connection without processing or answering it.

    The client sees a connection error (``requests.exceptions.ConnectionError``) and nothing changed on
    the server side.
    """


@dataclass(frozen=True)
class DropAfterProcessing(Fault):
    """Process the request fully (state changes happen), then close the connection without answering.

    This is the case that makes retries of ``create`` dangerous: the schedule exists but the client never
    learnt its ``schedule_id``.
    """
