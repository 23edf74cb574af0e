"""How BrazeHook answers each failure of the fake Braze: typed errors, which failures are retried and
how long it waits (recorded, not slept), creates that are never resent, proactive pacing, and the key
never leaking into an error."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException
from hook_support import (
    EMAIL,
    FUTURE,
    LATER,
    SleepRecorder,
    assert_no_secret,
    closed_loopback_port,
    set_connection,
    wait_until_answered,
)

from airflow_braze_schedule.core.endpoints import SCHEDULED_BROADCASTS_PATH, Action
from airflow_braze_schedule.core.errors import (
    BrazeApiError,
    BrazeAuthenticationError,
    BrazeBadRequestError,
    BrazeError,
    BrazeNotFoundError,
    BrazeOutcomeUnknownError,
    BrazePayloadTooLargeError,
    BrazePermissionError,
    BrazeRateLimitError,
    BrazeServerError,
    BrazeUnexpectedResponseError,
    BrazeUnreachableError,
    BrazeValidationError,
)
from airflow_braze_schedule.core.payload import BrazeRequest
from airflow_braze_schedule.core.retry import RetryPolicy
from airflow_braze_schedule.hooks.braze import BrazeHook
from airflow_braze_schedule.testing import (
    DEFAULT_RATE_LIMIT,
    Delay,
    DropAfterProcessing,
    DropBeforeProcessing,
    FakeBraze,
    HtmlError,
    RateLimited,
    Status,
)

NO_RETRY = RetryPolicy(max_attempts=1)
NO_JITTER = RetryPolicy(jitter=0)
JITTER = RetryPolicy().jitter
SHORT_TIMEOUT = 0.3  # seconds; Delay faults below sleep a little longer than this


@pytest.fixture
def raised(fake_braze):
    """Run a call that must fail; the error must be of the given type and never carry the API key.

    Every error raised in this file goes through here, so each one is checked for the key.
    """

    def check(error_type: type[BaseException], call, *args, **kwargs) -> BaseException:
        with pytest.raises(error_type) as info:
            call(*args, **kwargs)
        assert_no_secret(info.value, fake_braze.api_key)
        return info.value

    return check


def create_message(hook: BrazeHook) -> dict:
    return hook.schedule_message(schedule={"time": FUTURE}, external_user_ids=["user-1"], messages=EMAIL)


def schedule_one(fake: FakeBraze, kind: str) -> str:
    """Create a schedule of ``kind`` with a separate hook (the fake has then received one request)."""
    hook = BrazeHook(braze_conn_id="braze_default")
    if kind == "message":
        answer = create_message(hook)
    elif kind == "campaign":
        answer = hook.schedule_campaign("campaign-1", schedule={"time": FUTURE}, broadcast=True)
    else:
        answer = hook.schedule_canvas("canvas-1", schedule={"time": FUTURE}, broadcast=True)
    assert len(fake.received) == 1
    return answer["schedule_id"]


UPDATES = {
    "message": lambda hook, sid: hook.update_scheduled_message(sid, schedule=LATER),
    "campaign": lambda hook, sid: hook.update_campaign_schedule("campaign-1", sid, schedule=LATER),
    "canvas": lambda hook, sid: hook.update_canvas_schedule("canvas-1", sid, schedule=LATER),
}
DELETES = {
    "message": lambda hook, sid, **more: hook.delete_scheduled_message(sid, **more),
    "campaign": lambda hook, sid, **more: hook.delete_campaign_schedule("campaign-1", sid, **more),
    "canvas": lambda hook, sid, **more: hook.delete_canvas_schedule("canvas-1", sid, **more),
}
PATHS = {
    ("message", "update"): "/messages/schedule/update",
    ("message", "delete"): "/messages/schedule/delete",
    ("campaign", "update"): "/campaigns/trigger/schedule/update",
    ("campaign", "delete"): "/campaigns/trigger/schedule/delete",
    ("canvas", "update"): "/canvas/trigger/schedule/update",
    ("canvas", "delete"): "/canvas/trigger/schedule/delete",
}


def assert_fake_rate_limit(error: BrazeApiError) -> None:
    """The error carries the x-ratelimit-* headers the fake sent (lowercase on the wire)."""
    assert error.rate_limit is not None
    assert error.rate_limit.limit == DEFAULT_RATE_LIMIT
    assert error.rate_limit.remaining is not None
    assert 0 < error.rate_limit.remaining <= DEFAULT_RATE_LIMIT
    assert error.rate_limit.reset is not None
    assert error.rate_limit.reset > time.time()


# --- each status class -------------------------------------------------------------------------------------


def test_400_is_a_bad_request_with_brazes_message_and_errors(fake_braze, make_hook, raised, recorded_sleeps):
    fake_braze.inject(Status(400, {"message": "Invalid Campaign ID", "errors": ["campaign_id unknown"]}))

    error = raised(BrazeBadRequestError, create_message, make_hook())

    assert (error.status_code, error.method, error.path) == (400, "POST", "/messages/schedule/create")
    assert error.message == "Invalid Campaign ID"
    assert error.errors == ["campaign_id unknown"]
    assert "Invalid Campaign ID" in str(error)
    assert "campaign_id unknown" in str(error)
    assert_fake_rate_limit(error)
    assert len(fake_braze.received) == 1  # never retried
    assert recorded_sleeps == []
    assert fake_braze.schedules == {}


def test_a_real_400_from_the_fake(fake_braze, make_hook, raised):
    # The hook refuses such an end_time itself; sent as is, the fake refuses it as Braze would.
    unchecked = BrazeRequest(
        "GET", SCHEDULED_BROADCASTS_PATH, Action.LIST, params={"end_time": "next tuesday"}
    )
    error = raised(BrazeBadRequestError, make_hook().client.send, unchecked)

    assert error.status_code == 400
    assert "end_time" in error.message
    assert len(error.errors) == 1
    assert "next tuesday" in error.errors[0]
    assert_fake_rate_limit(error)
    assert len(fake_braze.received) == 1


def test_401_from_a_wrong_key(fake_braze, monkeypatch, make_hook, raised, recorded_sleeps):
    wrong = "wrong-rest-api-key-9876543210"
    set_connection(monkeypatch, "braze_wrong_key", host=fake_braze.url, password=wrong)

    error = raised(BrazeAuthenticationError, create_message, make_hook("braze_wrong_key"))

    assert error.status_code == 401
    assert error.message.startswith("Invalid API key")
    assert "not a key of this workspace" in error.message
    assert "quotes" in str(error)  # the hint lists the causes Braze documents
    assert_no_secret(error, wrong)
    assert_fake_rate_limit(error)
    assert fake_braze.received[0].headers["authorization"] == f"Bearer {wrong}"
    assert len(fake_braze.received) == 1
    assert recorded_sleeps == []


def test_403_from_a_key_without_the_permission(fake_braze, make_hook, raised, recorded_sleeps):
    fake_braze.set_permissions({"messages.schedule.update", "messages.schedule.delete"})

    error = raised(BrazePermissionError, create_message, make_hook())

    assert error.status_code == 403
    assert error.message == "Access Denied"
    assert "permission" in str(error)
    assert_fake_rate_limit(error)
    assert len(fake_braze.received) == 1
    assert fake_braze.schedules == {}


def test_404_for_an_unknown_schedule(fake_braze, make_hook, raised, recorded_sleeps):
    error = raised(BrazeNotFoundError, make_hook().delete_scheduled_message, "no-such-schedule")

    assert (error.status_code, error.message) == (404, "Schedule not found")
    assert error.path == "/messages/schedule/delete"
    assert_fake_rate_limit(error)
    assert len(fake_braze.received) == 1
    assert recorded_sleeps == []


def test_413_payload_too_large(fake_braze, make_hook, raised):
    fake_braze.inject(Status(413, {"message": "Request Entity Too Large", "errors": ["body over 4 MB"]}))

    error = raised(BrazePayloadTooLargeError, create_message, make_hook())

    assert (error.status_code, error.message, error.errors) == (
        413,
        "Request Entity Too Large",
        ["body over 4 MB"],
    )
    assert_fake_rate_limit(error)
    assert len(fake_braze.received) == 1


@pytest.mark.parametrize("code", [500, 502, 503, 504])
def test_5xx_is_a_server_error(fake_braze, make_hook, raised, code):
    fake_braze.inject(Status(code, {"message": "Internal trouble", "errors": ["try later"]}))

    error = raised(BrazeServerError, create_message, make_hook(retry_policy=NO_RETRY))

    assert (error.status_code, error.message, error.errors) == (code, "Internal trouble", ["try later"])
    assert_fake_rate_limit(error)
    assert len(fake_braze.received) == 1


def test_html_error_page_gives_a_readable_summary(fake_braze, make_hook, raised):
    fake_braze.inject(HtmlError(502))

    error = raised(BrazeServerError, create_message, make_hook(retry_policy=NO_RETRY))

    assert error.status_code == 502
    assert "Bad Gateway" in error.message
    assert "nginx" in error.message
    assert "text/html" in error.message
    assert "<" not in error.message
    assert len(error.message) < 300
    assert error.rate_limit is None  # a gateway page has no rate-limit headers
    assert error.errors == []


def test_empty_error_body(fake_braze, make_hook, raised):
    fake_braze.inject(Status(400, ""))

    error = raised(BrazeBadRequestError, create_message, make_hook())

    assert error.status_code == 400
    assert error.message == "Bad Request (empty body)"
    assert error.errors == []


def test_non_json_text_error_body(fake_braze, make_hook, raised):
    fake_braze.inject(Status(503, "upstream connect error or disconnect/reset before headers"))

    error = raised(BrazeServerError, create_message, make_hook(retry_policy=NO_RETRY))

    assert error.status_code == 503
    assert "Service Unavailable" in error.message
    assert "upstream connect error" in error.message
    assert "text/plain" in error.message


def test_json_error_body_that_is_not_an_object(fake_braze, make_hook, raised):
    fake_braze.inject(Status(400, '["not", "an", "object"]', headers={"Content-Type": "application/json"}))

    error = raised(BrazeBadRequestError, create_message, make_hook())

    assert error.status_code == 400
    assert error.message  # something readable, no crash on a list body


def test_unlisted_4xx_is_a_bad_request_not_retried(fake_braze, make_hook, raised, recorded_sleeps):
    fake_braze.inject(Status(409, {"message": "Conflict"}))

    error = raised(BrazeBadRequestError, create_message, make_hook())

    assert (error.status_code, error.message) == (409, "Conflict")
    assert len(fake_braze.received) == 1
    assert recorded_sleeps == []


def test_redirect_is_not_followed(fake_braze, make_hook, raised, recorded_sleeps):
    fake_braze.inject(Status(302, headers={"Location": "http://127.0.0.1:1/elsewhere"}))

    error = raised(BrazeUnexpectedResponseError, create_message, make_hook())

    assert error.status_code == 302
    assert "http://127.0.0.1:1/elsewhere" in error.message
    assert "not followed" in error.message
    assert len(fake_braze.received) == 1
    assert recorded_sleeps == []
    assert fake_braze.schedules == {}


# --- any 2xx is success ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "body"),
    [
        (201, {"message": "success", "schedule_id": "s-201", "dispatch_id": "d-201"}),
        (202, {"message": "queued"}),
        (200, {"message": "success", "schedule_id": "s-1", "dispatch_id": "d-1", "notice": "new key"}),
        (200, {"message": "success", "errors": ["minor"]}),
    ],
)
def test_any_2xx_is_success(fake_braze, make_hook, recorded_sleeps, code, body):
    fake_braze.inject(Status(code, body))
    answer = create_message(make_hook())

    assert answer == body
    assert [r.status for r in fake_braze.received] == [code]
    assert recorded_sleeps == []


def test_2xx_with_an_empty_or_non_json_body_is_success(fake_braze, make_hook):
    hook = make_hook()
    fake_braze.inject(Status(204, ""))
    fake_braze.inject(Status(200, "OK"))

    assert hook.get_scheduled_broadcasts(FUTURE) == []
    assert hook.delete_scheduled_message("s-1") == {"message": "OK"}
    assert [r.status for r in fake_braze.received] == [204, 200]


# --- retries ------------------------------------------------------------------------------------------


def test_429_waits_for_the_reset_then_succeeds(fake_braze, make_hook, recorded_sleeps):
    fake_braze.inject(RateLimited(reset_in=2), path="/messages/schedule/create")
    before = time.time()

    answer = create_message(make_hook())
    after = time.time()

    assert answer["message"] == "success"
    assert [r.status for r in fake_braze.received] == [429, 200]
    # One retry, and no second pause: the recorded wait took the clock past the reset.
    assert len(recorded_sleeps) == 1, recorded_sleeps
    # The fake advertises reset = ceil(its now + 2); the hook waits from its own now, plus jitter.
    assert math.ceil(before + 2) - after <= recorded_sleeps[0] <= math.ceil(after + 2) - before + JITTER
    assert recorded_sleeps[0] >= 2 - (after - before)
    assert len(fake_braze.active_schedules()) == 1


def test_429_whose_reset_is_too_far_fails_at_once_naming_it(fake_braze, make_hook, raised, recorded_sleeps):
    fake_braze.inject(RateLimited(reset_in=600))
    before = time.time()

    error = raised(
        BrazeRateLimitError, create_message, make_hook(retry_policy=RetryPolicy(max_rate_limit_wait=60))
    )

    assert error.status_code == 429
    assert error.message == "Rate Limited"
    assert error.rate_limit is not None
    assert error.rate_limit.remaining == 0
    assert before + 599 <= error.rate_limit.reset <= before + 602
    reset_iso = datetime.fromtimestamp(error.rate_limit.reset, tz=UTC).isoformat()
    assert reset_iso in str(error)
    assert len(fake_braze.received) == 1
    assert recorded_sleeps == []


def test_5xx_then_success_is_retried_with_exponential_waits(fake_braze, make_hook, recorded_sleeps):
    for code in (500, 502, 503):
        fake_braze.inject(Status(code))

    answer = create_message(make_hook())

    assert answer["message"] == "success"
    assert [r.status for r in fake_braze.received] == [500, 502, 503, 200]
    assert len(recorded_sleeps) == 3
    for wait, base in zip(recorded_sleeps, (1, 2, 4), strict=True):
        assert base <= wait <= base + JITTER
    assert len(fake_braze.active_schedules()) == 1  # one schedule: a 5xx means nothing was created


def test_5xx_forever_stops_after_max_attempts(fake_braze, make_hook, raised, recorded_sleeps):
    fake_braze.inject(Status(503), times=50)

    error = raised(BrazeServerError, create_message, make_hook(retry_policy=NO_JITTER))

    assert error.status_code == 503
    assert len(fake_braze.received) == NO_JITTER.max_attempts == 5
    assert recorded_sleeps == [1, 2, 4, 8]


def test_backoff_is_capped(fake_braze, make_hook, raised, recorded_sleeps):
    fake_braze.inject(HtmlError(504), times=50)
    policy = RetryPolicy(max_attempts=6, backoff_initial=3, backoff_max=10, jitter=0)

    raised(BrazeServerError, create_message, make_hook(retry_policy=policy))

    assert len(fake_braze.received) == 6
    assert recorded_sleeps == [3, 6, 10, 10, 10]


def test_connection_refused_is_unreachable_after_max_attempts(
    fake_braze, monkeypatch, make_hook, raised, recorded_sleeps
):
    url = f"http://127.0.0.1:{closed_loopback_port()}"
    set_connection(monkeypatch, "braze_refused", host=url, password=fake_braze.api_key)

    # A create is retried here: the request never left, so nothing can have been scheduled.
    error = raised(BrazeUnreachableError, create_message, make_hook("braze_refused", retry_policy=NO_JITTER))

    assert error.path == "/messages/schedule/create"
    assert "safe to retry" in str(error)
    assert recorded_sleeps == [1, 2, 4, 8]  # five tries
    assert fake_braze.received == []


# --- a create whose answer never came is never resent --------------------------------------------------


@pytest.mark.parametrize("fault", [DropBeforeProcessing(), DropAfterProcessing()], ids=lambda f: f.name)
def test_create_with_a_dropped_connection_is_not_resent(
    fake_braze, make_hook, raised, recorded_sleeps, fault
):
    fake_braze.inject(fault)

    error = raised(BrazeOutcomeUnknownError, create_message, make_hook())

    assert (error.method, error.path) == ("POST", "/messages/schedule/create")
    assert "may or may not" in str(error)
    assert len(fake_braze.received) == 1
    assert fake_braze.received[0].status is None  # no answer was sent
    assert recorded_sleeps == []
    if isinstance(fault, DropAfterProcessing):
        # Braze did create it: resending would have scheduled the same send twice.
        [stored] = fake_braze.active_schedules()
        assert stored.body == fake_braze.received[0].json
    else:
        assert fake_braze.schedules == {}


def test_create_past_the_timeout_is_not_resent(fake_braze, monkeypatch, make_hook, raised, recorded_sleeps):
    set_connection(
        monkeypatch,
        "braze_slow",
        host=fake_braze.url,
        password=fake_braze.api_key,
        extra={"timeout": SHORT_TIMEOUT},
    )
    fake_braze.inject(Delay(SHORT_TIMEOUT + 0.3))

    error = raised(
        BrazeOutcomeUnknownError,
        make_hook("braze_slow").schedule_campaign,
        "campaign-1",
        schedule={"time": FUTURE},
        broadcast=True,
    )

    assert f"{SHORT_TIMEOUT:g} s" in error.reason
    assert recorded_sleeps == []
    wait_until_answered(fake_braze)
    assert len(fake_braze.received) == 1
    assert len(fake_braze.active_schedules()) == 1  # the slow Braze created it after all


# --- updates and deletes are resent after an unknown outcome ---------------------------------------------


@pytest.mark.parametrize("kind", ["message", "campaign", "canvas"])
@pytest.mark.parametrize("fault", [DropBeforeProcessing(), DropAfterProcessing()], ids=lambda f: f.name)
def test_update_with_a_dropped_connection_is_retried(fake_braze, make_hook, recorded_sleeps, fault, kind):
    schedule_id = schedule_one(fake_braze, kind)
    path = PATHS[(kind, "update")]
    fake_braze.inject(fault, path=path)

    answer = UPDATES[kind](make_hook(), schedule_id)

    assert answer == {"message": "success"}
    assert [r.status for r in fake_braze.requests_to(path)] == [None, 200]
    assert len(recorded_sleeps) == 1
    assert 1 <= recorded_sleeps[0] <= 1 + JITTER
    assert fake_braze.schedules[schedule_id].schedule["time"] == LATER


def test_delete_dropped_before_processing_is_retried(fake_braze, make_hook, recorded_sleeps):
    schedule_id = schedule_one(fake_braze, "message")
    fake_braze.inject(DropBeforeProcessing(), path="/messages/schedule/delete")

    answer = make_hook().delete_scheduled_message(schedule_id)

    assert answer == {"message": "success"}
    assert [r.status for r in fake_braze.requests_to("/messages/schedule/delete")] == [None, 200]
    assert len(recorded_sleeps) == 1
    assert fake_braze.active_schedules() == []


@pytest.mark.parametrize("kind", ["message", "campaign", "canvas"])
def test_delete_dropped_after_processing_is_retried_and_succeeds(
    fake_braze, make_hook, recorded_sleeps, kind
):
    schedule_id = schedule_one(fake_braze, kind)
    path = PATHS[(kind, "delete")]
    fake_braze.inject(DropAfterProcessing(), path=path)

    answer = DELETES[kind](make_hook(), schedule_id, addressed_as_created=True)

    assert answer.get("message") == "success"
    # The first try cancelled it unanswered; the resent delete was told "not found", which here means done.
    assert [r.status for r in fake_braze.requests_to(path)] == [None, 404]
    assert len(recorded_sleeps) == 1
    assert fake_braze.schedules[schedule_id].status == "cancelled"


@pytest.mark.parametrize("kind", ["message", "campaign", "canvas"])
def test_a_delete_by_hand_found_gone_after_a_lost_answer_is_an_unknown_outcome(
    fake_braze, make_hook, raised, recorded_sleeps, kind
):
    """Ids given by hand may name another campaign, Canvas or kind (Braze refuses those with 404 or 400
    too, and the schedule stays live): "gone" proves nothing then."""
    schedule_id = schedule_one(fake_braze, kind)
    path = PATHS[(kind, "delete")]
    fake_braze.inject(DropAfterProcessing(), path=path)

    error = raised(BrazeOutcomeUnknownError, DELETES[kind], make_hook(), schedule_id)

    assert "that attempt cancelled it, or the ids name no schedule of this kind and owner" in str(error)
    assert [r.status for r in fake_braze.requests_to(path)] == [None, 404]


def test_update_past_the_timeout_is_retried(fake_braze, monkeypatch, make_hook, recorded_sleeps):
    schedule_id = schedule_one(fake_braze, "canvas")
    set_connection(
        monkeypatch,
        "braze_slow",
        host=fake_braze.url,
        password=fake_braze.api_key,
        extra={"timeout": SHORT_TIMEOUT},
    )
    fake_braze.inject(Delay(SHORT_TIMEOUT + 0.3), path="/canvas/trigger/schedule/update")
    # Time passes for real during the recorded wait: the slow first try is answered before the retry.
    recorded_sleeps.on_sleep = lambda _: wait_until_answered(fake_braze)

    answer = make_hook("braze_slow").update_canvas_schedule("canvas-1", schedule_id, schedule=LATER)

    assert answer == {"message": "success"}
    assert [r.status for r in fake_braze.requests_to("/canvas/trigger/schedule/update")] == [200, 200]
    assert len(recorded_sleeps) == 1
    assert fake_braze.schedules[schedule_id].schedule["time"] == LATER


def test_delete_past_the_timeout_is_retried_and_succeeds(fake_braze, monkeypatch, make_hook, recorded_sleeps):
    schedule_id = schedule_one(fake_braze, "message")
    set_connection(
        monkeypatch,
        "braze_slow",
        host=fake_braze.url,
        password=fake_braze.api_key,
        extra={"timeout": SHORT_TIMEOUT},
    )
    fake_braze.inject(Delay(SHORT_TIMEOUT + 0.3), path="/messages/schedule/delete")
    recorded_sleeps.on_sleep = lambda _: wait_until_answered(fake_braze)

    try:
        answer = make_hook("braze_slow").delete_scheduled_message(schedule_id, addressed_as_created=True)
    finally:
        wait_until_answered(fake_braze)

    assert answer.get("message") == "success"
    assert [r.status for r in fake_braze.requests_to("/messages/schedule/delete")] == [200, 404]
    assert fake_braze.schedules[schedule_id].status == "cancelled"


def test_delete_not_found_after_an_answered_failure_is_still_an_error(
    fake_braze, make_hook, raised, recorded_sleeps
):
    # A 503 was an answer (nothing was done), so the 404 that follows means the schedule never existed.
    fake_braze.inject(Status(503), path="/messages/schedule/delete")

    error = raised(BrazeNotFoundError, make_hook().delete_scheduled_message, "never-created")

    assert error.status_code == 404
    assert [r.status for r in fake_braze.received] == [503, 404]
    assert len(recorded_sleeps) == 1


# --- proactive pacing ------------------------------------------------------------------------------------


def test_exhausted_limit_pauses_the_next_call_until_the_reset(fake_braze, make_hook, recorded_sleeps):
    before = time.time()
    reset = math.ceil(before) + 30
    exhausted = {"x-ratelimit-limit": "10", "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)}
    fake_braze.inject(Status(200, {"scheduled_broadcasts": [], "message": "success"}, headers=exhausted))
    hook = make_hook()

    hook.get_scheduled_broadcasts(FUTURE)
    assert recorded_sleeps == []
    assert hook.rate_limit is not None
    assert hook.rate_limit.exhausted
    create_message(hook)
    after = time.time()

    assert len(recorded_sleeps) == 1, recorded_sleeps
    assert reset - after <= recorded_sleeps[0] <= reset - before + JITTER  # until the reset, plus jitter
    assert hook.rate_limit is not None
    assert not hook.rate_limit.exhausted  # the create's own answer replaced it
    assert [r.status for r in fake_braze.received] == [200, 200]


def test_pacing_against_the_fakes_own_limit_avoids_a_429(monkeypatch):
    # A fake and a hook sharing one virtual clock, started just after a window boundary, so the test
    # does not depend on when it runs and sleeps for real not at all.
    window = 60.0
    clock = SleepRecorder(start=math.ceil(time.time() / window) * window + window + 0.01)
    with FakeBraze(clock=clock.clock) as fake:
        fake.set_rate_limit(limit=2, window=window)
        monkeypatch.setenv(*fake.airflow_conn_env("braze_paced"))
        hook = BrazeHook(braze_conn_id="braze_paced", sleep=clock.append, clock=clock.clock)
        for _ in range(5):
            hook.get_scheduled_broadcasts(FUTURE)

        assert [r.status for r in fake.received] == [200] * 5  # never a 429
        assert len(clock) == 2  # paused after the 2nd and the 4th call
        assert all(window - 1 <= wait <= window + JITTER for wait in clock)


@pytest.mark.parametrize("header", ["Retry-After", "x-ratelimit-retry-after"])
def test_429_with_retry_after_waits_once(fake_braze, make_hook, recorded_sleeps, header):
    fake_braze.inject(
        Status(429, {"message": "Rate Limited"}, headers={"x-ratelimit-remaining": "0", header: "5"})
    )

    assert make_hook().get_scheduled_broadcasts(FUTURE) == []

    assert [r.status for r in fake_braze.received] == [429, 200]
    assert len(recorded_sleeps) == 1, recorded_sleeps
    assert 5 <= recorded_sleeps[0] <= 5 + JITTER


def test_retry_after_that_has_elapsed_is_not_waited_again(fake_braze, make_hook, recorded_sleeps):
    headers = {"x-ratelimit-remaining": "0", "Retry-After": "5"}
    fake_braze.inject(Status(200, {"scheduled_broadcasts": [], "message": "success"}, headers=headers))
    hook = make_hook()
    hook.get_scheduled_broadcasts(FUTURE)

    recorded_sleeps.append(60)  # a minute passes before the next call
    hook.get_scheduled_broadcasts(FUTURE)

    assert recorded_sleeps == [60]


# --- the key never leaks -----------------------------------------------------------------------------------


def test_key_echoed_by_a_proxy_is_masked(fake_braze, make_hook, raised):
    echo = f"upstream failed; request headers were Authorization: Bearer {fake_braze.api_key}"
    fake_braze.inject(Status(500, echo))
    fake_braze.inject(
        Status(400, {"message": f"bad key {fake_braze.api_key}", "errors": [f"key={fake_braze.api_key}"]})
    )
    hook = make_hook(retry_policy=NO_RETRY)

    text_error = raised(BrazeServerError, create_message, hook)
    json_error = raised(BrazeBadRequestError, create_message, hook)

    assert "Authorization: Bearer ***" in text_error.message
    assert json_error.message == "bad key ***"
    assert json_error.errors == ["key=***"]


def test_key_echoed_in_a_redirect_location_is_masked(fake_braze, make_hook, raised):
    fake_braze.inject(Status(301, headers={"Location": f"https://elsewhere.example/?k={fake_braze.api_key}"}))

    error = raised(BrazeUnexpectedResponseError, create_message, make_hook())

    assert "k=***" in error.message


def test_key_echoed_where_the_summary_is_cut_is_not_partly_revealed(fake_braze, make_hook, raised):
    key = fake_braze.api_key
    fake_braze.inject(Status(500, "e" * 160 + " Authorization: Bearer " + key + " (end of echo)"))

    error = raised(BrazeServerError, create_message, make_hook(retry_policy=NO_RETRY))

    assert "Authorization: Bea" in error.message  # the echo is within the summary
    assert key[: len(key) // 2] not in str(error)


def test_rate_limited_tries_do_not_use_up_max_attempts(fake_braze, make_hook, recorded_sleeps):
    # Workers sharing a workspace may be turned away several times in a row: they wait their turn.
    fake_braze.inject(RateLimited(reset_in=1), times=5)
    hook = make_hook(retry_policy=RetryPolicy(max_attempts=2))

    assert hook.get_scheduled_broadcasts(FUTURE) == []

    assert [r.status for r in fake_braze.received] == [429] * 5 + [200]
    assert len(recorded_sleeps) == 5


def test_rate_limit_waits_stop_at_the_budget(fake_braze, make_hook, recorded_sleeps):
    fake_braze.inject(Status(429, {"message": "Rate Limited"}, headers={"Retry-After": "3"}), times=10)
    hook = make_hook(retry_policy=RetryPolicy(jitter=0, rate_limit_budget=7))

    with pytest.raises(BrazeRateLimitError):
        hook.get_scheduled_broadcasts(FUTURE)

    assert [round(wait) for wait in recorded_sleeps] == [3, 3]  # a third wait would pass the 7 s budget
    assert [r.status for r in fake_braze.received] == [429] * 3


# --- what reaches Airflow: errors no task retry can fix fail the task at once ---------------------------


def test_a_refused_request_is_also_an_airflow_fail_exception(fake_braze, make_hook, raised):
    fake_braze.inject(Status(400, {"message": "Invalid Campaign ID"}), times=2)
    hook = make_hook()

    first = raised(BrazeBadRequestError, create_message, hook)
    second = raised(BrazeBadRequestError, hook.update_scheduled_message, "s-1", schedule=LATER)

    assert isinstance(first, AirflowFailException)  # Airflow does not retry the task
    assert type(first) is type(second)  # one class per Braze error class, built once
    assert type(first).__name__ == "BrazeBadRequestError"
    assert (first.status_code, first.message) == (400, "Invalid Campaign ID")  # the same error, retyped
    assert len(fake_braze.received) == 2


def test_bad_input_is_also_an_airflow_fail_exception(fake_braze, make_hook, raised):
    hook = make_hook()
    call = hook.schedule_message

    error = raised(BrazeValidationError, call, schedule={"time": FUTURE}, messages=EMAIL, colour="red")

    assert isinstance(error, AirflowFailException)
    assert isinstance(error, ValueError)
    assert error.field == "colour"
    assert fake_braze.received == []


@pytest.mark.parametrize(
    "fault",
    [Status(503), Status(429, {"message": "Rate Limited"}), DropBeforeProcessing()],
    ids=lambda f: f.name,
)
def test_failures_a_task_retry_may_fix_are_left_to_airflow(fake_braze, make_hook, fault):
    fake_braze.inject(fault)
    hook = make_hook(retry_policy=RetryPolicy.never())

    with pytest.raises(BrazeError) as info:
        hook.update_scheduled_message("s-1", schedule=LATER)

    assert not isinstance(info.value, AirflowFailException)
    assert len(fake_braze.received) == 1


def test_a_create_whose_answer_was_lost_is_an_airflow_fail_exception(fake_braze, make_hook, raised):
    fake_braze.inject(DropAfterProcessing())

    error = raised(BrazeOutcomeUnknownError, create_message, make_hook())

    assert isinstance(error, AirflowFailException)
    assert len(fake_braze.active_schedules()) == 1


def test_a_send_id_braze_generates_is_not_resent_after_a_lost_answer(
    fake_braze, make_hook, raised, recorded_sleeps
):
    fake_braze.inject(DropAfterProcessing(), path="/sends/id/create")

    error = raised(BrazeOutcomeUnknownError, make_hook().create_send_id, "campaign-1")

    assert isinstance(error, AirflowFailException)  # nor resent by an Airflow retry
    assert [r.status for r in fake_braze.requests_to("/sends/id/create")] == [None]
    assert len(fake_braze.send_ids) == 1  # one of the day's 100 was used, not two
    assert recorded_sleeps == []


def test_a_named_send_id_is_resent_after_a_lost_answer(fake_braze, make_hook, recorded_sleeps):
    fake_braze.inject(DropAfterProcessing(), path="/sends/id/create")

    assert make_hook().create_send_id("campaign-1", "spring-sale") == "spring-sale"

    assert [r.status for r in fake_braze.requests_to("/sends/id/create")] == [None, 200]
    assert fake_braze.send_ids == {"spring-sale": "campaign-1"}
    assert len(recorded_sleeps) == 1
