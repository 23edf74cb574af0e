"""Which failures may be retried, and how long to wait: the retry rule in one place.

Braze documents that a 4xx or 5xx answer means nothing was sent, so after a 429 or a 5xx any request
may be sent again. A request that never left (connection refused, DNS failure, connect timeout) may be
sent again too. A request that went out and got no answer (read timeout, connection dropped) has an
unknown outcome: resending an idempotent call (an update, a delete, a list; see
:class:`~airflow_braze_schedule.core.endpoints.Action`) does no harm, but resending a create may
schedule the same send twice, so a call that is not idempotent is never resent automatically.

:class:`RetryPolicy` is the one object that answers "try again, and after how long?". Everyone asks it:
the client's retry loop of one request (:meth:`RetryPolicy.wait_before_retry`), the client's pause
before sending when the rate limit is used up (:meth:`RetryPolicy.pause_before_sending`), and the
operators' deferral until a rate limit resets (:meth:`RetryPolicy.resume_at`). Inside it, one small
rule per concern: rate limits (429), failures worth backing off from (5xx, an unreachable Braze), and
unknown outcomes. :func:`airflow_may_retry` answers the other level's question: may Airflow retry the
whole task?
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from airflow_braze_schedule.core.errors import (
    BrazeApiError,
    BrazeError,
    BrazeOutcomeUnknownError,
    BrazeRateLimitError,
    BrazeServerError,
    BrazeUnreachableError,
)
from airflow_braze_schedule.core.ratelimit import RateLimit

Random = Callable[[], float]


@dataclass
class RetryState:
    """What one request has been through: the state :meth:`RetryPolicy.wait_before_retry` keeps.

    :param failed_tries: tries that failed for any reason but a rate limit (they count against
        ``max_attempts``).
    :param rate_limit_waited: seconds waited for rate-limit resets so far (bounded by ``rate_limit_budget``).
    :param unanswered: an earlier try went out and its answer never came.
    """

    failed_tries: int = 0
    rate_limit_waited: float = 0.0
    unanswered: bool = False


class _Backoff:
    """Exponential backoff: ``initial`` after the first failed try, doubling, capped at ``cap``."""

    def __init__(self, initial: float, cap: float) -> None:
        self.initial, self.cap = initial, cap

    def seconds(self, failed_tries: int) -> float:
        return min(self.cap, self.initial * 2 ** (max(failed_tries, 1) - 1))


class _RateLimitRule:
    """429: wait until the limit resets (``Retry-After`` / ``X-RateLimit-Retry-After`` first, else
    ``X-RateLimit-Reset``), or back off if the answer named no time; never longer than
    ``max_rate_limit_wait`` at once, nor beyond ``rate_limit_budget`` in all."""

    counts_as_failed_try = False

    def __init__(self, backoff: _Backoff, max_wait: float, budget: float) -> None:
        self.backoff, self.max_wait, self.budget = backoff, max_wait, budget

    def applies(self, error: BaseException) -> bool:
        return isinstance(error, BrazeRateLimitError)

    @staticmethod
    def until_reset(rate_limit: RateLimit | None, now: float) -> float | None:
        return rate_limit.seconds_until_reset(now) if rate_limit else None

    def base_wait(self, error: BaseException, failed_tries: int, now: float) -> float:
        assert isinstance(error, BrazeRateLimitError)
        wait = self.until_reset(error.rate_limit, now)
        return self.backoff.seconds(failed_tries) if wait is None else wait

    def wait(self, error: BaseException, state: RetryState, now: float, idempotent: bool) -> float | None:
        wait = self.base_wait(error, state.failed_tries, now)
        if wait > self.max_wait or state.rate_limit_waited + wait > self.budget:
            return None
        return wait

    def pause(self, rate_limit: RateLimit | None, now: float) -> float:
        """Braze's advice: when no calls remain, wait for the reset instead of provoking a 429."""
        if rate_limit is None or not rate_limit.exhausted:
            return 0.0
        return min(self.until_reset(rate_limit, now) or 0.0, self.max_wait)


class _BackoffRule:
    """5xx and an unreachable Braze: nothing was done, so back off exponentially and try again."""

    counts_as_failed_try = True

    def __init__(self, backoff: _Backoff) -> None:
        self.backoff = backoff

    def applies(self, error: BaseException) -> bool:
        return isinstance(error, BrazeServerError | BrazeUnreachableError)

    def base_wait(self, error: BaseException, failed_tries: int, now: float) -> float:
        return self.backoff.seconds(failed_tries)

    def wait(self, error: BaseException, state: RetryState, now: float, idempotent: bool) -> float | None:
        return self.backoff.seconds(state.failed_tries)


class _UnknownOutcomeRule:
    """The request went out and no answer came: resend only what is idempotent, backing off."""

    counts_as_failed_try = True

    def __init__(self, backoff: _Backoff) -> None:
        self.backoff = backoff

    def applies(self, error: BaseException) -> bool:
        return isinstance(error, BrazeOutcomeUnknownError)

    def base_wait(self, error: BaseException, failed_tries: int, now: float) -> float:
        return self.backoff.seconds(failed_tries)

    def wait(self, error: BaseException, state: RetryState, now: float, idempotent: bool) -> float | None:
        return self.backoff.seconds(state.failed_tries) if idempotent else None


_Rule = _RateLimitRule | _BackoffRule | _UnknownOutcomeRule


@dataclass(frozen=True)
class RetryPolicy:
    """How one request is retried, and how long every wait for Braze lasts.

    :param max_attempts: tries of one request, the first included, not counting tries refused by a rate
        limit (those are bounded by ``rate_limit_budget``); 1 disables retries.
    :param backoff_initial: first wait after a 5xx or an unreachable Braze, in seconds; doubles each try.
    :param backoff_max: cap of that exponential wait, in seconds.
    :param max_rate_limit_wait: longest wait for a rate-limit reset, in seconds; a reset further away
        fails the request with :class:`~airflow_braze_schedule.core.errors.BrazeRateLimitError`, naming it
        (a deferrable operator then defers until the reset instead).
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

    @classmethod
    def never(cls) -> RetryPolicy:
        """One try, whatever happens: not even a rate-limit wait (a connection test, say)."""
        return cls(max_attempts=1, max_rate_limit_wait=0.0, rate_limit_budget=0.0)

    # --- the rules (a frozen dataclass may still cache in its __dict__) --------------------------

    @cached_property
    def _rate_limit_rule(self) -> _RateLimitRule:
        return _RateLimitRule(self._backoff, self.max_rate_limit_wait, self.rate_limit_budget)

    @cached_property
    def _backoff(self) -> _Backoff:
        return _Backoff(self.backoff_initial, self.backoff_max)

    @cached_property
    def _rules(self) -> tuple[_Rule, ...]:
        return (self._rate_limit_rule, _BackoffRule(self._backoff), _UnknownOutcomeRule(self._backoff))

    def _rule_for(self, error: BaseException) -> _Rule | None:
        for rule in self._rules:
            if rule.applies(error):
                return rule
        return None

    def _jitter(self, rand: Random) -> float:
        return self.jitter * rand()

    # --- the questions ---------------------------------------------------------------------------

    def wait_before_retry(
        self,
        error: BaseException,
        state: RetryState,
        *,
        idempotent: bool,
        now: float,
        rand: Random = random.random,
    ) -> float | None:
        """After a failed try: the seconds to wait before the next one, or None to give up.

        Records the failure in ``state`` (one per request, passed to every call).

        :param idempotent: whether the request may be resent after its answer was lost.
        :param now: the current time, epoch seconds.
        """
        if isinstance(error, BrazeOutcomeUnknownError):
            state.unanswered = True
        rule = self._rule_for(error)
        if rule is None or rule.counts_as_failed_try:
            state.failed_tries += 1
            if rule is None or state.failed_tries >= self.max_attempts:
                return None
        wait = rule.wait(error, state, now, idempotent)
        if wait is None:
            return None
        wait += self._jitter(rand)
        if rule is self._rate_limit_rule:
            state.rate_limit_waited += wait
        return wait

    def pause_before_sending(
        self, rate_limit: RateLimit | None, *, now: float, rand: Random = random.random
    ) -> float:
        """Seconds to wait before the next request given the latest rate limit seen: 0 unless it is used
        up, else until its reset (at most ``max_rate_limit_wait``), plus jitter."""
        wait = self._rate_limit_rule.pause(rate_limit, now)
        return wait + self._jitter(rand) if wait else 0.0

    def resume_at(
        self, error: BrazeRateLimitError, *, now: float, rand: Random = random.random
    ) -> float | None:
        """When a task deferred on ``error`` should run again (epoch seconds): the reset plus jitter, so
        that deferred tasks do not all resume at once; None if the answer named no reset."""
        wait = self._rate_limit_rule.until_reset(error.rate_limit, now)
        return None if wait is None else now + wait + self._jitter(rand)

    # --- the same rule, one question at a time (kept for callers of earlier versions) -------------

    def rate_limit_wait(self, error: BrazeRateLimitError, now: float) -> float | None:
        """Seconds until the limit resets, or None if the answer gave no reset time."""
        return self._rate_limit_rule.until_reset(error.rate_limit, now)

    def should_retry(
        self, error: BaseException, *, idempotent: bool, now: float, rate_limit_waited: float = 0.0
    ) -> bool:
        """Whether ``error`` may be answered by sending the same request again (the first failure).

        :param rate_limit_waited: seconds this request has already waited for rate-limit resets.
        """
        rule = self._rule_for(error)
        state = RetryState(rate_limit_waited=rate_limit_waited)
        return rule is not None and rule.wait(error, state, now, idempotent) is not None

    def wait_seconds(
        self, error: BaseException, attempt: int, now: float, rand: Random = random.random
    ) -> float:
        """How long to wait after failed try number ``attempt`` (1-based), if it is retried."""
        rule = self._rule_for(error)
        wait = rule.base_wait(error, attempt, now) if rule is not None else self._backoff.seconds(attempt)
        return wait + self._jitter(rand)


def airflow_may_retry(error: BaseException, *, creates: bool) -> bool:
    """Whether an Airflow task retry may help after ``error`` ended the task's own attempts.

    Bad input and 4xx answers (other than 429) fail the same way every time. An unknown outcome of a
    create must not be resent blindly. Everything else (rate limits, 5xx, an unreachable Braze, and
    errors that are not ours) is left to the task's ``retries``.

    :param creates: the call is not idempotent (a create, or a send id Braze generates).
    """
    if isinstance(error, BrazeOutcomeUnknownError):
        return not creates
    if isinstance(error, BrazeRateLimitError | BrazeServerError):
        return True
    if isinstance(error, BrazeApiError):
        return False
    return not (isinstance(error, BrazeError) and not isinstance(error, BrazeUnreachableError))
