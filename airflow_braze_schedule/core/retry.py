"""Which failures may be retried, and how long to wait: the retry rules in one place.

Braze documents that a 4xx or 5xx answer means nothing was sent, so after a 429 or a 5xx any request
may be sent again. A request that never left (connection refused, DNS failure, connect timeout) may be
sent again too. A request that went out and got no answer (read timeout, connection dropped) has an
unknown outcome: resending an update or a delete does no harm, but resending a create may schedule the
same send twice, so a create is never resent automatically.

Two levels of retry use these rules: the hook's own retries of one HTTP request (:class:`RetryPolicy`),
and Airflow's retries of the whole task (:func:`airflow_may_retry`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from airflow_braze_schedule.core.errors import (
    BrazeApiError,
    BrazeError,
    BrazeOutcomeUnknownError,
    BrazeRateLimitError,
    BrazeServerError,
    BrazeUnreachableError,
)


@dataclass(frozen=True)
class RetryPolicy:
    """How the hook retries one request.

    :param max_attempts: tries of one request, the first included, not counting tries refused by a rate
        limit (those are bounded by ``rate_limit_budget``); 1 disables retries.
    :param backoff_initial: first wait after a 5xx or an unreachable Braze, in seconds; doubles each try.
    :param backoff_max: cap of that exponential wait, in seconds.
    :param max_rate_limit_wait: longest wait for a rate-limit reset, in seconds; a reset further away
        fails the request with :class:`~airflow_braze_schedule.core.errors.BrazeRateLimitError`, naming it.
    :param jitter: up to this many random seconds added to every wait, so that workers sharing a
        workspace do not all come back at the same instant.
    :param rate_limit_budget: the most one request waits for rate-limit resets in all, in seconds.
    """

    max_attempts: int = 5
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    max_rate_limit_wait: float = 120.0
    jitter: float = 1.0
    rate_limit_budget: float = 600.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("RetryPolicy.max_attempts must be at least 1")
        if (
            min(
                self.backoff_initial,
                self.backoff_max,
                self.max_rate_limit_wait,
                self.jitter,
                self.rate_limit_budget,
            )
            < 0
        ):
            raise ValueError("RetryPolicy waits must not be negative")

    def rate_limit_wait(self, error: BrazeRateLimitError, now: float) -> float | None:
        """Seconds until the limit resets, or None if the answer gave no reset time."""
        return error.rate_limit.seconds_until_reset(now) if error.rate_limit else None

    def should_retry(
        self, error: BaseException, *, idempotent: bool, now: float, rate_limit_waited: float = 0.0
    ) -> bool:
        """Whether ``error`` may be answered by sending the same request again.

        :param rate_limit_waited: seconds this request has already waited for rate-limit resets.
        """
        if isinstance(error, BrazeRateLimitError):
            wait = self.rate_limit_wait(error, now)
            if wait is None:
                wait = self.backoff_initial
            return wait <= self.max_rate_limit_wait and rate_limit_waited + wait <= self.rate_limit_budget
        if isinstance(error, BrazeServerError | BrazeUnreachableError):
            return True
        if isinstance(error, BrazeOutcomeUnknownError):
            return idempotent
        return False

    def wait_seconds(
        self, error: BaseException, attempt: int, now: float, rand: Callable[[], float] = random.random
    ) -> float:
        """How long to wait after failed try number ``attempt`` (1-based)."""
        jitter = self.jitter * rand()
        if isinstance(error, BrazeRateLimitError):
            wait = self.rate_limit_wait(error, now)
            if wait is not None:
                return wait + jitter
        return min(self.backoff_max, self.backoff_initial * 2 ** (attempt - 1)) + jitter


def airflow_may_retry(error: BaseException, *, creates: bool) -> bool:
    """Whether an Airflow task retry may help after ``error`` ended the task's own attempts.

    Bad input and 4xx answers (other than 429) fail the same way every time. An unknown outcome of a
    create must not be resent blindly. Everything else (rate limits, 5xx, an unreachable Braze, and
    errors that are not ours) is left to the task's ``retries``.
    """
    if isinstance(error, BrazeOutcomeUnknownError):
        return not creates
    if isinstance(error, BrazeRateLimitError | BrazeServerError):
        return True
    if isinstance(error, BrazeApiError):
        return False
    return not (isinstance(error, BrazeError) and not isinstance(error, BrazeUnreachableError))
