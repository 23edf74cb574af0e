"""Rate-limit headers (braze-api.md §6.2), the retry rules, and the error types (§7)."""

from __future__ import annotations

import pytest

from airflow_braze_schedule.core.errors import (
    BrazeApiError,
    BrazeAuthenticationError,
    BrazeBadRequestError,
    BrazeConfigurationError,
    BrazeNotFoundError,
    BrazeOutcomeUnknownError,
    BrazePayloadTooLargeError,
    BrazePermissionError,
    BrazeRateLimitError,
    BrazeServerError,
    BrazeUnexpectedResponseError,
    BrazeUnreachableError,
    BrazeValidationError,
    error_class_for_status,
)
from airflow_braze_schedule.core.ratelimit import RateLimit
from airflow_braze_schedule.core.retry import RetryPolicy, RetryState, airflow_may_retry

NOW = 1_780_000_000.0
PATH = "/messages/schedule/create"


def api_error(cls=BrazeBadRequestError, status=400, **kwargs):
    return cls(status_code=status, method="POST", path=PATH, message="m", **kwargs)


def rate_limited(rate_limit=None):
    return api_error(BrazeRateLimitError, 429, rate_limit=rate_limit)


# --- RateLimit ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param(
            {"x-ratelimit-limit": "250000", "x-ratelimit-remaining": "12", "x-ratelimit-reset": "1780003600"},
            RateLimit(limit=250000, remaining=12, reset=1780003600.0),
            id="lowercase",
        ),
        pytest.param(
            {"X-RateLimit-Limit": "250000", "X-RATELIMIT-REMAINING": "0", "x-RateLimit-Reset": "1780003600"},
            RateLimit(limit=250000, remaining=0, reset=1780003600.0),
            id="mixed-case",
        ),
        pytest.param({}, RateLimit(), id="none"),
        pytest.param({"Content-Type": "application/json"}, RateLimit(), id="unrelated"),
        pytest.param(
            {"x-ratelimit-limit": " 10 ", "x-ratelimit-remaining": "abc", "x-ratelimit-reset": ""},
            RateLimit(limit=10),
            id="malformed",
        ),
        pytest.param({"x-ratelimit-remaining": "3.0"}, RateLimit(remaining=3), id="float-count"),
        pytest.param({"Retry-After": "7"}, RateLimit(retry_after=7.0), id="retry-after"),
        pytest.param(
            {"X-RateLimit-Retry-After": "3", "Retry-After": "9"},
            RateLimit(retry_after=3.0),
            id="braze-retry-after-wins",
        ),
        pytest.param(
            {"retry-after": "Wed, 21 Oct 2026 07:28:00 GMT"}, RateLimit(), id="retry-after-http-date"
        ),
    ],
)
def test_from_headers(headers, expected):
    assert RateLimit.from_headers(headers) == expected


@pytest.mark.parametrize("name", ["x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"])
@pytest.mark.parametrize("value", ["nan", "inf"])
def test_non_finite_header_values_are_ignored(name, value):
    assert RateLimit.from_headers({name: value}) == RateLimit()


@pytest.mark.parametrize(
    ("rate_limit", "known", "exhausted"),
    [
        pytest.param(RateLimit(), False, False, id="empty"),
        pytest.param(RateLimit(remaining=1), True, False, id="one-left"),
        pytest.param(RateLimit(remaining=0), True, True, id="zero-left"),
        pytest.param(RateLimit(remaining=-1), True, True, id="negative"),
        pytest.param(RateLimit(limit=5), True, False, id="limit-only"),
        pytest.param(RateLimit(retry_after=5), False, False, id="retry-after-only"),
    ],
)
def test_known_and_exhausted(rate_limit, known, exhausted):
    assert (rate_limit.known, rate_limit.exhausted) == (known, exhausted)


@pytest.mark.parametrize(
    ("rate_limit", "seconds"),
    [
        pytest.param(RateLimit(reset=NOW + 90), 90.0, id="reset-ahead"),
        pytest.param(RateLimit(reset=NOW - 90), 0.0, id="reset-passed"),
        pytest.param(RateLimit(reset=NOW + 90, retry_after=5), 5.0, id="retry-after-wins"),
        pytest.param(RateLimit(retry_after=-3), 0.0, id="negative-retry-after"),
        pytest.param(RateLimit(remaining=0), None, id="unknown"),
    ],
)
def test_seconds_until_reset(rate_limit, seconds):
    assert rate_limit.seconds_until_reset(NOW) == seconds


def test_reset_iso_and_as_dict():
    rate_limit = RateLimit(limit=10, remaining=0, reset=1780000000.0, retry_after=4.0)
    assert rate_limit.reset_iso() == "2026-05-28T20:26:40+00:00"
    assert RateLimit().reset_iso() == "an unknown time"
    assert rate_limit.as_dict() == {"limit": 10, "remaining": 0, "reset": 1780000000.0}


# --- RetryPolicy.should_retry ---------------------------------------------------------------------


def transport(cls):
    return cls(method="POST", path=PATH, reason="timed out")


@pytest.mark.parametrize("idempotent", [True, False], ids=["idempotent", "create"])
@pytest.mark.parametrize(
    ("error", "retry_idempotent", "retry_create"),
    [
        pytest.param(api_error(BrazeBadRequestError, 400), False, False, id="400"),
        pytest.param(api_error(BrazeAuthenticationError, 401), False, False, id="401"),
        pytest.param(api_error(BrazePermissionError, 403), False, False, id="403"),
        pytest.param(api_error(BrazeNotFoundError, 404), False, False, id="404"),
        pytest.param(api_error(BrazePayloadTooLargeError, 413), False, False, id="413"),
        pytest.param(api_error(BrazeUnexpectedResponseError, 302), False, False, id="302"),
        pytest.param(api_error(BrazeServerError, 500), True, True, id="500"),
        pytest.param(api_error(BrazeServerError, 503), True, True, id="503"),
        pytest.param(transport(BrazeUnreachableError), True, True, id="unreachable"),
        pytest.param(transport(BrazeOutcomeUnknownError), True, False, id="outcome-unknown"),
        pytest.param(rate_limited(), True, True, id="429-no-headers"),
        pytest.param(rate_limited(RateLimit(reset=NOW + 60)), True, True, id="429-reset-in-60s"),
        pytest.param(rate_limited(RateLimit(reset=NOW + 120)), True, True, id="429-reset-at-max"),
        pytest.param(rate_limited(RateLimit(reset=NOW + 121)), False, False, id="429-reset-beyond-max"),
        pytest.param(rate_limited(RateLimit(reset=NOW + 3600)), False, False, id="429-reset-in-an-hour"),
        pytest.param(
            rate_limited(RateLimit(reset=NOW + 3600, retry_after=10)), True, True, id="429-retry-after"
        ),
        pytest.param(BrazeValidationError("f", "p"), False, False, id="validation"),
        pytest.param(BrazeConfigurationError("c"), False, False, id="configuration"),
        pytest.param(RuntimeError("x"), False, False, id="not-ours"),
    ],
)
def test_should_retry(error, retry_idempotent, retry_create, idempotent):
    expected = retry_idempotent if idempotent else retry_create
    assert RetryPolicy().should_retry(error, idempotent=idempotent, now=NOW) is expected


def test_max_rate_limit_wait_is_configurable():
    error = rate_limited(RateLimit(reset=NOW + 600))
    assert RetryPolicy(max_rate_limit_wait=600).should_retry(error, idempotent=False, now=NOW)
    assert not RetryPolicy(max_rate_limit_wait=599).should_retry(error, idempotent=False, now=NOW)


# --- RetryPolicy.wait_seconds ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "no_jitter", "full_jitter"),
    [
        (1, 1.0, 2.0),
        (2, 2.0, 3.0),
        (3, 4.0, 5.0),
        (4, 8.0, 9.0),
        (5, 16.0, 17.0),
        (6, 30.0, 31.0),
        (20, 30.0, 31.0),
    ],
)
def test_exponential_backoff_with_cap_and_jitter(attempt, no_jitter, full_jitter):
    policy = RetryPolicy()
    error = api_error(BrazeServerError, 503)
    assert policy.wait_seconds(error, attempt, NOW, rand=lambda: 0.0) == no_jitter
    assert policy.wait_seconds(error, attempt, NOW, rand=lambda: 1.0) == full_jitter


def test_backoff_settings():
    policy = RetryPolicy(backoff_initial=0.5, backoff_max=3.0, jitter=0.0)
    waits = [
        policy.wait_seconds(transport(BrazeUnreachableError), n, NOW, rand=lambda: 1.0) for n in (1, 2, 3, 4)
    ]
    assert waits == [0.5, 1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    ("rate_limit", "attempt", "expected"),
    [
        pytest.param(RateLimit(reset=NOW + 42), 1, 42.0, id="until-reset"),
        pytest.param(RateLimit(reset=NOW + 42), 4, 42.0, id="attempt-does-not-matter"),
        pytest.param(RateLimit(reset=NOW - 5), 1, 0.0, id="reset-passed"),
        pytest.param(RateLimit(retry_after=7, reset=NOW + 42), 1, 7.0, id="retry-after"),
        pytest.param(None, 3, 4.0, id="no-headers-backs-off"),
        pytest.param(RateLimit(remaining=0), 2, 2.0, id="no-reset-backs-off"),
    ],
)
def test_rate_limit_waits_until_reset(rate_limit, attempt, expected):
    policy = RetryPolicy()
    error = rate_limited(rate_limit)
    assert policy.wait_seconds(error, attempt, NOW, rand=lambda: 0.0) == expected
    assert policy.wait_seconds(error, attempt, NOW, rand=lambda: 1.0) == expected + 1.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"backoff_initial": -1},
        {"backoff_max": -1},
        {"max_rate_limit_wait": -1},
        {"jitter": -0.1},
    ],
)
def test_policy_refuses_bad_settings(kwargs):
    with pytest.raises(ValueError, match="RetryPolicy"):
        RetryPolicy(**kwargs)


# --- airflow_may_retry ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "for_create", "for_other"),
    [
        pytest.param(transport(BrazeOutcomeUnknownError), False, True, id="outcome-unknown"),
        pytest.param(transport(BrazeUnreachableError), True, True, id="unreachable"),
        pytest.param(rate_limited(), True, True, id="429"),
        pytest.param(api_error(BrazeServerError, 500), True, True, id="500"),
        pytest.param(api_error(BrazeBadRequestError, 400), False, False, id="400"),
        pytest.param(api_error(BrazeAuthenticationError, 401), False, False, id="401"),
        pytest.param(api_error(BrazePermissionError, 403), False, False, id="403"),
        pytest.param(api_error(BrazeNotFoundError, 404), False, False, id="404"),
        pytest.param(api_error(BrazePayloadTooLargeError, 413), False, False, id="413"),
        pytest.param(api_error(BrazeUnexpectedResponseError, 302), False, False, id="302"),
        pytest.param(BrazeValidationError("schedule.time", "is empty"), False, False, id="validation"),
        pytest.param(BrazeConfigurationError("no host"), False, False, id="configuration"),
        pytest.param(ConnectionError("reset"), True, True, id="not-ours"),
        pytest.param(ValueError("x"), True, True, id="plain-value-error"),
    ],
)
def test_airflow_may_retry(error, for_create, for_other):
    assert airflow_may_retry(error, creates=True) is for_create
    assert airflow_may_retry(error, creates=False) is for_other


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BrazeBadRequestError),
        (401, BrazeAuthenticationError),
        (403, BrazePermissionError),
        (404, BrazeNotFoundError),
        (409, BrazeBadRequestError),
        (413, BrazePayloadTooLargeError),
        (429, BrazeRateLimitError),
        (500, BrazeServerError),
        (502, BrazeServerError),
        (503, BrazeServerError),
        (302, BrazeUnexpectedResponseError),
        (202, BrazeUnexpectedResponseError),
    ],
    ids=str,
)
def test_error_class_for_status(status, cls):
    assert error_class_for_status(status) is cls
    assert issubclass(cls, BrazeApiError)


@pytest.mark.parametrize(
    ("cls", "status", "kwargs", "text"),
    [
        pytest.param(
            BrazeNotFoundError,
            404,
            {},
            "Braze answered 404 to POST /messages/schedule/create: Not Found",
            id="404",
        ),
        pytest.param(
            BrazeServerError,
            503,
            {"errors": ["capacity", 7]},
            "Braze answered 503 to POST /messages/schedule/create: Not Found (errors: capacity; 7)",
            id="503-errors",
        ),
        pytest.param(
            BrazeBadRequestError,
            400,
            {},
            "Braze answered 400 to POST /messages/schedule/create: Not Found. "
            "Nothing was sent; fix the request and run the task again",
            id="400-hint",
        ),
        pytest.param(
            BrazeRateLimitError,
            429,
            {"rate_limit": RateLimit(remaining=0, reset=1780000000.0)},
            "Braze answered 429 to POST /messages/schedule/create: Not Found. "
            "Nothing was sent; the limit resets at 2026-05-28T20:26:40+00:00",
            id="429-reset",
        ),
        pytest.param(
            BrazeRateLimitError,
            429,
            {},
            "Braze answered 429 to POST /messages/schedule/create: Not Found. Nothing was sent",
            id="429-no-reset",
        ),
    ],
)
def test_api_error_text_is_built_from_what_it_was_given(cls, status, kwargs, text):
    error = cls(status_code=status, method="POST", path=PATH, message="Not Found", **kwargs)
    assert str(error) == text
    assert (error.status_code, error.method, error.path, error.message) == (status, "POST", PATH, "Not Found")


def test_a_400_to_an_update_or_delete_says_braze_may_no_longer_hold_the_schedule():
    # Braze documents no answer for an unknown, sent or cancelled schedule_id; "fix the request" misleads.
    for path in ("/campaigns/trigger/schedule/update", "/messages/schedule/delete"):
        error = BrazeBadRequestError(status_code=400, method="POST", path=path, message="Invalid schedule_id")

        assert str(error) == (
            f"Braze answered 400 to POST {path}: Invalid schedule_id. Nothing was changed. If the request "
            "is right, Braze may no longer hold this schedule_id: already sent or cancelled, or made under "
            "another campaign_id / canvas_id or workspace"
        )


@pytest.mark.parametrize(("cls", "status"), [(BrazeAuthenticationError, 401), (BrazePermissionError, 403)])
def test_auth_error_hints_mention_no_secret(cls, status):
    text = str(cls(status_code=status, method="POST", path=PATH, message="Unauthorized"))
    assert text.startswith(f"Braze answered {status} to POST {PATH}: Unauthorized. ")
    assert "Bearer" not in text


def test_transport_error_texts():
    assert str(BrazeUnreachableError(method="POST", path=PATH, reason="refused")) == (
        f"Could not reach Braze for POST {PATH}: refused. The request was not sent, so it is safe to retry"
    )
    assert str(BrazeOutcomeUnknownError(method="POST", path=PATH, reason="read timeout")) == (
        f"POST {PATH} was sent but no answer came back (read timeout); Braze may or may not have acted on it"
    )


def test_validation_error_text_and_attributes():
    error = BrazeValidationError("schedule.time", "is empty", "an ISO 8601 time")
    assert str(error) == "schedule.time: is empty; expected an ISO 8601 time"
    assert (error.field, error.problem, error.expected) == ("schedule.time", "is empty", "an ISO 8601 time")
    assert str(BrazeValidationError("send_id", "too long")) == "send_id: too long"
    assert isinstance(error, ValueError)


# --- RetryPolicy.wait_before_retry: the one rule, branch by branch -------------------------------------


def retry(policy, errors, *, idempotent=True, rand=lambda: 0.0):
    """Feed ``errors`` one after the other to one request's state: the waits, None once it gives up."""
    state = RetryState()
    waits = [policy.wait_before_retry(e, state, idempotent=idempotent, now=NOW, rand=rand) for e in errors]
    return waits, state


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(api_error(BrazeBadRequestError, 400), id="400"),
        pytest.param(api_error(BrazeAuthenticationError, 401), id="401"),
        pytest.param(api_error(BrazeNotFoundError, 404), id="404"),
        pytest.param(api_error(BrazeUnexpectedResponseError, 302), id="302"),
        pytest.param(BrazeValidationError("f", "p"), id="validation"),
        pytest.param(RuntimeError("x"), id="not-ours"),
    ],
)
def test_what_a_retry_cannot_fix_is_never_retried(error):
    waits, state = retry(RetryPolicy(), [error])
    assert waits == [None]
    assert state.failed_tries == 1


@pytest.mark.parametrize(
    "error",
    [api_error(BrazeServerError, 503), transport(BrazeUnreachableError)],
    ids=["5xx", "unreachable"],
)
def test_5xx_and_unreachable_back_off_exponentially_until_max_attempts(error):
    waits, state = retry(RetryPolicy(max_attempts=4), [error] * 4)
    assert waits == [1.0, 2.0, 4.0, None]  # the 4th failed try is the last
    assert state.failed_tries == 4
    assert state.rate_limit_waited == 0


def test_jitter_is_added_to_every_wait():
    policy = RetryPolicy(jitter=2.0)
    waits, _ = retry(policy, [api_error(BrazeServerError, 500)] * 2, rand=lambda: 0.25)
    assert waits == [1.5, 2.5]


def test_an_unknown_outcome_is_retried_only_when_idempotent():
    error = transport(BrazeOutcomeUnknownError)

    resent, resent_state = retry(RetryPolicy(), [error, error], idempotent=True)
    not_resent, not_resent_state = retry(RetryPolicy(), [error], idempotent=False)

    assert resent == [1.0, 2.0]
    assert not_resent == [None]
    assert resent_state.unanswered  # the client's delete rule reads it
    assert not_resent_state.unanswered


def test_a_rate_limit_waits_for_the_reset_without_using_up_attempts():
    policy = RetryPolicy(max_attempts=1)
    waits, state = retry(policy, [rate_limited(RateLimit(reset=NOW + 42))] * 3, idempotent=False)
    assert waits == [42.0, 42.0, 42.0]
    assert state.failed_tries == 0
    assert state.rate_limit_waited == 126.0


@pytest.mark.parametrize(
    ("rate_limit", "expected"),
    [
        pytest.param(RateLimit(reset=NOW + 42, retry_after=7), 7.0, id="retry-after-first"),
        pytest.param(RateLimit(reset=NOW + 42), 42.0, id="reset"),
        pytest.param(RateLimit(reset=NOW - 1), 0.0, id="reset-passed"),
        pytest.param(None, 1.0, id="no-headers-backs-off"),
    ],
)
def test_a_rate_limit_waits_as_the_answer_says(rate_limit, expected):
    waits, _ = retry(RetryPolicy(), [rate_limited(rate_limit)])
    assert waits == [expected]


def test_a_rate_limit_beyond_max_rate_limit_wait_gives_up_at_once():
    waits, state = retry(RetryPolicy(max_rate_limit_wait=60), [rate_limited(RateLimit(reset=NOW + 61))])
    assert waits == [None]
    assert state.rate_limit_waited == 0


def test_rate_limit_waits_stop_at_the_budget_jitter_included():
    policy = RetryPolicy(rate_limit_budget=10, jitter=1.0)
    error = rate_limited(RateLimit(retry_after=4))
    waits, state = retry(policy, [error] * 3, rand=lambda: 0.5)
    assert waits == [4.5, 4.5, None]  # 9 s waited; 4 more would pass 10
    assert state.rate_limit_waited == 9.0


def test_rate_limits_and_failures_mix_in_one_state():
    policy = RetryPolicy(max_attempts=3)
    server_error = api_error(BrazeServerError, 502)
    waits, state = retry(policy, [server_error, rate_limited(), server_error, server_error])
    # 5xx: 1 s; 429 without headers: the backoff of the tries failed so far (one: 1 s); 5xx: 2 s;
    # the third 5xx is the third failed try: the 429 between did not count.
    assert waits == [1.0, 1.0, 2.0, None]
    assert state.failed_tries == 3
    assert state.rate_limit_waited == 1.0


def test_never_means_one_try_and_no_rate_limit_wait():
    policy = RetryPolicy.never()
    assert retry(policy, [api_error(BrazeServerError, 503)])[0] == [None]
    assert retry(policy, [rate_limited(RateLimit(retry_after=1))])[0] == [None]
    assert retry(policy, [rate_limited(RateLimit(reset=NOW))])[0] == [0.0]  # an elapsed reset costs nothing


# --- RetryPolicy.pause_before_sending and resume_at: the same rule for pacing and deferral ------------


@pytest.mark.parametrize(
    ("rate_limit", "expected"),
    [
        pytest.param(None, 0.0, id="nothing-seen"),
        pytest.param(RateLimit(limit=10, remaining=3, reset=NOW + 30), 0.0, id="calls-left"),
        pytest.param(RateLimit(remaining=0, reset=NOW + 30), 30.5, id="used-up"),
        pytest.param(RateLimit(remaining=0, reset=NOW + 3600), 120.5, id="capped-at-max-rate-limit-wait"),
        pytest.param(RateLimit(remaining=0, reset=NOW - 5), 0.0, id="reset-passed-no-jitter"),
        pytest.param(RateLimit(remaining=0), 0.0, id="no-reset-known"),
        pytest.param(
            RateLimit(remaining=0, retry_after=3, observed_at=NOW - 1), 2.5, id="retry-after-elapsing"
        ),
    ],
)
def test_pause_before_sending(rate_limit, expected):
    assert RetryPolicy().pause_before_sending(rate_limit, now=NOW, rand=lambda: 0.5) == expected


@pytest.mark.parametrize(
    ("rate_limit", "expected"),
    [
        pytest.param(RateLimit(remaining=0, reset=NOW + 3600), NOW + 3600 + 0.5, id="reset-an-hour-away"),
        pytest.param(RateLimit(retry_after=90, reset=NOW + 3600), NOW + 90 + 0.5, id="retry-after-first"),
        pytest.param(RateLimit(remaining=0), None, id="no-reset-known"),
        pytest.param(None, None, id="no-headers"),
    ],
)
def test_resume_at_is_the_reset_plus_jitter_whatever_the_wait_bound(rate_limit, expected):
    policy = RetryPolicy(max_rate_limit_wait=60)
    assert policy.resume_at(rate_limited(rate_limit), now=NOW, rand=lambda: 0.5) == expected


def test_should_retry_and_wait_seconds_agree_with_wait_before_retry():
    policy = RetryPolicy(jitter=0)
    for error in (
        api_error(BrazeServerError, 503),
        rate_limited(RateLimit(reset=NOW + 5)),
        transport(BrazeOutcomeUnknownError),
        api_error(BrazeBadRequestError, 400),
    ):
        for idempotent in (True, False):
            [wait], _ = retry(policy, [error], idempotent=idempotent)
            assert policy.should_retry(error, idempotent=idempotent, now=NOW) is (wait is not None)
            if wait is not None:
                assert policy.wait_seconds(error, 1, NOW) == wait
