"""BrazeClient without Airflow, over real HTTP to the fake Braze: sending, typed errors, the key kept out
of reprs, threads sharing one client and its rate limit, send ids that are not resent, and proxies.

The error mapping and the retry behaviour seen through the hook are in ``tests/hooks``; here is what the
client promises on its own."""

from __future__ import annotations

import math
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from airflow_braze_schedule.core.client import BrazeClient, check_api_key, check_proxy
from airflow_braze_schedule.core.endpoints import SEND_ID_CREATE_PATH, Action, ScheduleKind
from airflow_braze_schedule.core.errors import (
    BrazeBadRequestError,
    BrazeConfigurationError,
    BrazeOutcomeUnknownError,
    BrazeUnreachableError,
)
from airflow_braze_schedule.core.payload import (
    BrazeRequest,
    build_create_request,
    build_delete_request,
    build_update_request,
)
from airflow_braze_schedule.core.retry import RetryPolicy
from airflow_braze_schedule.testing import DropAfterProcessing, DropBeforeProcessing, FakeBraze, Status
from tests.forward_proxy import ForwardProxy

FUTURE = "2031-03-01T09:00:00Z"
NO_JITTER = RetryPolicy(jitter=0)


class VirtualClock:
    """A clock that sleeping advances, shared by threads (the client's ``sleep`` and ``clock``)."""

    def __init__(self, start: float) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._now += seconds


def campaign_create(n: int = 0) -> BrazeRequest:
    return build_create_request(
        {
            "campaign_id": "campaign-1",
            "recipients": [{"external_user_id": f"user-{n}"}],
            "schedule": {"time": FUTURE},
        }
    )


def send_id_request(send_id: str | None) -> BrazeRequest:
    body = {"campaign_id": "campaign-1", **({"send_id": send_id} if send_id else {})}
    return BrazeRequest("POST", SEND_ID_CREATE_PATH, Action.send_id_create(send_id), body)


@pytest.fixture
def client(fake_braze: FakeBraze):
    with BrazeClient(fake_braze.url, fake_braze.api_key, retry_policy=NO_JITTER, sleep=lambda _: None) as c:
        yield c


# --- no Airflow -----------------------------------------------------------------------------------


def test_the_client_imports_no_airflow():
    code = (
        "import sys, airflow_braze_schedule.core.client\n"
        "print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# --- sending ------------------------------------------------------------------------------------------


def test_send_returns_brazes_answer_and_the_fake_holds_the_schedule(fake_braze, client):
    answer = client.send(campaign_create())

    [stored] = fake_braze.active_schedules()
    assert answer == {
        "schedule_id": stored.schedule_id,
        "dispatch_id": stored.dispatch_id,
        "message": "success",
    }
    [received] = fake_braze.received
    assert received.headers["authorization"] == f"Bearer {fake_braze.api_key}"
    assert received.headers["user-agent"].startswith("airflow-braze-schedule/")
    assert client.rate_limit is not None
    assert client.rate_limit.remaining is not None


def test_errors_are_braze_types_not_airflow_ones(fake_braze, client):
    fake_braze.inject(Status(400, {"message": "Invalid Campaign ID"}))

    with pytest.raises(BrazeBadRequestError) as info:
        client.send(campaign_create())

    assert [c.__module__ for c in type(info.value).__mro__ if c.__module__.startswith("airflow.")] == []
    assert len(fake_braze.received) == 1


def test_the_client_takes_an_instance_name_and_checks_what_it_is_given():
    assert BrazeClient("EU-01", "k").base_url == "https://rest.fra-01.braze.eu"
    with pytest.raises(BrazeConfigurationError, match="wrapped in quotes"):
        BrazeClient("US-01", '"key"')
    with pytest.raises(BrazeConfigurationError, match="no REST API key"):
        BrazeClient("US-01", " ")
    with pytest.raises(BrazeConfigurationError, match="plain http"):
        BrazeClient("http://rest.iad-01.braze.com", "k")


def test_check_api_key_names_the_owner_and_never_the_key():
    owner = "The Braze connection 'c'"
    assert check_api_key("  abc  ", owner) == "abc"
    with pytest.raises(BrazeConfigurationError) as info:
        check_api_key("ab cd-secret", owner)
    assert str(info.value).startswith(owner)
    assert "ab cd-secret" not in str(info.value)
    with pytest.raises(BrazeConfigurationError, match=r": set it as the password$"):
        check_api_key("", owner, where_to_set="set it as the password")


def test_repr_never_shows_the_key_nor_the_proxy_password(fake_braze):
    client = BrazeClient(fake_braze.url, fake_braze.api_key, proxy="http://alice:s3cr3t-pw@proxy.corp:3128")

    text = repr(client)

    assert fake_braze.api_key not in text
    assert "s3cr3t-pw" not in text
    assert "alice" not in text
    assert text == f"BrazeClient(base_url={fake_braze.url!r}, timeout=30, proxy='http://proxy.corp:3128')"


def test_close_closes_the_sessions_and_the_client_stays_usable(fake_braze, client):
    client.send(campaign_create(1))
    first = client.session

    client.close()
    client.send(campaign_create(2))

    assert client.session is not first
    assert len(fake_braze.active_schedules()) == 2


def test_cookies_a_load_balancer_sets_are_sent_back_as_requests_would(fake_braze, client):
    # Requests to one endpoint are prepared once per thread; a cookie in the jar must still go out.
    fake_braze.inject(Status(200, {"message": "success"}, headers={"Set-Cookie": "AWSALB=sticky-1; Path=/"}))

    client.send(campaign_create(1))
    client.send(campaign_create(2))

    first, second = fake_braze.received
    assert "cookie" not in first.headers
    assert second.headers["cookie"] == "AWSALB=sticky-1"
    assert second.headers["content-length"] == str(len(campaign_create(2).payload))


def test_every_request_carries_its_own_body_and_length(fake_braze, client):
    requests_sent = [campaign_create(n) for n in (1, 22, 333)]

    for request in requests_sent:
        client.send(request)

    assert [r.json for r in fake_braze.received] == [r.body for r in requests_sent]
    assert [int(r.headers["content-length"]) for r in fake_braze.received] == [
        len(r.payload) for r in requests_sent
    ]


# --- threads ----------------------------------------------------------------------------------------


def test_threads_share_one_client_each_with_its_own_session(fake_braze, client):
    sessions: dict[int, set[int]] = {}
    lock = threading.Lock()

    def create(n: int) -> str:
        answer = client.send(campaign_create(n))
        with lock:
            sessions.setdefault(threading.get_ident(), set()).add(id(client.session))
        return answer["schedule_id"]

    with ThreadPoolExecutor(max_workers=6) as pool:
        ids = list(pool.map(create, range(120)))

    assert len(set(ids)) == 120
    assert {s.schedule_id for s in fake_braze.active_schedules()} == set(ids)
    assert Counter(r.status for r in fake_braze.received) == {200: 120}
    assert all(len(ids_of_thread) == 1 for ids_of_thread in sessions.values())  # one session per thread
    all_sessions = [next(iter(s)) for s in sessions.values()]
    assert len(set(all_sessions)) == len(sessions) > 1  # and no two threads share one


def test_the_rate_limit_is_shared_and_ends_at_the_lowest_remaining(fake_braze_server):
    # The fake's clock stands still, so all 90 calls fall in one window whatever the time of day.
    now = time.time()
    with FakeBraze(rate_limit=1000, clock=lambda: now) as fake:
        client = BrazeClient(fake.url, fake.api_key, sleep=lambda _: None)
        with ThreadPoolExecutor(max_workers=6) as pool:
            list(pool.map(lambda n: client.send(campaign_create(n)), range(90)))

        # Answers arrive out of order; the client keeps the freshest state, not the last one to arrive.
        assert client.rate_limit is not None
        assert client.rate_limit.remaining == 1000 - 90


def test_threads_wait_their_turn_under_a_shared_rate_limit():
    window = 60.0
    clock = VirtualClock(start=math.ceil(time.time() / window) * window + window + 0.01)
    with FakeBraze(rate_limit=5, rate_limit_window=window, clock=clock) as fake:
        client = BrazeClient(fake.url, fake.api_key, retry_policy=NO_JITTER, sleep=clock.sleep, clock=clock)
        with ThreadPoolExecutor(max_workers=4) as pool:
            answers = list(pool.map(lambda n: client.send(campaign_create(n)), range(16)))

        assert len({a["schedule_id"] for a in answers}) == 16
        assert len(fake.active_schedules()) == 16
        statuses = Counter(r.status for r in fake.received)
        assert statuses[200] == 16
        assert set(statuses) <= {200, 429}  # a 429 only when threads were already in flight
        assert clock.sleeps, "no thread paused for the reset"
        assert all(0 <= wait <= window for wait in clock.sleeps)


def test_an_exhausted_limit_seen_by_one_thread_pauses_another(fake_braze):
    clock = VirtualClock(start=time.time())
    reset = math.ceil(clock()) + 30
    exhausted = {"x-ratelimit-limit": "10", "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)}
    fake_braze.inject(Status(200, {"scheduled_broadcasts": []}, headers=exhausted))
    client = BrazeClient(
        fake_braze.url, fake_braze.api_key, retry_policy=NO_JITTER, sleep=clock.sleep, clock=clock
    )
    listing = BrazeRequest("GET", "/messages/scheduled_broadcasts", Action.LIST, params={"end_time": FUTURE})

    worker = threading.Thread(target=client.send, args=(listing,))
    worker.start()
    worker.join()
    assert clock.sleeps == []
    client.send(campaign_create())  # this thread never saw the exhausted answer itself

    assert len(clock.sleeps) == 1
    assert 29 <= clock.sleeps[0] <= 31  # until the reset the other thread was told of
    assert [r.status for r in fake_braze.received] == [200, 200]


def test_an_answer_as_another_braze_server_may_shape_it_is_read_the_same(fake_braze):
    # Where Braze's docs are silent a server may answer a create 201, spell the headers as the docs' table
    # does (X-RateLimit-*), leave out dispatch_id (a Canvas's is random per step) and add keys of its own.
    clock = VirtualClock(start=time.time())
    reset = math.ceil(clock()) + 30
    headers = {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}
    answer = {"schedule_id": "s-1", "message": "success", "errors": [], "notice": "extra"}
    fake_braze.inject(Status(201, answer, headers=headers), path=campaign_create().path)
    client = BrazeClient(
        fake_braze.url, fake_braze.api_key, retry_policy=NO_JITTER, sleep=clock.sleep, clock=clock
    )

    assert client.send(campaign_create()) == answer
    assert client.rate_limit is not None
    assert (client.rate_limit.limit, client.rate_limit.remaining, client.rate_limit.reset) == (10, 0, reset)
    client.send(campaign_create(1))  # waits for the reset the first answer announced
    assert len(clock.sleeps) == 1
    assert 29 <= clock.sleeps[0] <= 31


# --- POST /sends/id/create: idempotent only with the caller's send_id --------------------------------


def test_a_generated_send_id_is_not_resent_after_a_lost_answer(fake_braze, client):
    fake_braze.inject(DropAfterProcessing(), path=SEND_ID_CREATE_PATH)

    with pytest.raises(BrazeOutcomeUnknownError):
        client.send(send_id_request(None))

    assert [r.status for r in fake_braze.requests_to(SEND_ID_CREATE_PATH)] == [None]  # sent once
    assert len(fake_braze.send_ids) == 1  # Braze made one, and no second one was spent


def test_a_named_send_id_is_resent_after_a_lost_answer(fake_braze, client):
    fake_braze.inject(DropAfterProcessing(), path=SEND_ID_CREATE_PATH)

    answer = client.send(send_id_request("spring-sale"))

    assert answer["send_id"] == "spring-sale"
    assert [r.status for r in fake_braze.requests_to(SEND_ID_CREATE_PATH)] == [None, 200]
    assert fake_braze.send_ids == {"spring-sale": "campaign-1"}


def test_an_update_is_resent_after_a_lost_answer_and_a_create_is_not(fake_braze, client):
    schedule_id = client.send(campaign_create())["schedule_id"]
    update = build_update_request(
        ScheduleKind.CAMPAIGN, schedule_id, owner_id="campaign-1", schedule={"time": "2031-03-02T09:00:00Z"}
    )
    fake_braze.inject(DropBeforeProcessing(), path=update.path)
    fake_braze.inject(DropBeforeProcessing(), path=campaign_create().path)

    assert client.send(update) == {"message": "success"}
    with pytest.raises(BrazeOutcomeUnknownError):
        client.send(campaign_create(2))

    assert [r.status for r in fake_braze.requests_to(update.path)] == [None, 200]
    assert [r.status for r in fake_braze.requests_to(campaign_create().path)] == [200, None]


@pytest.mark.parametrize("gone_status", [404, 400])
def test_a_delete_resent_after_a_lost_answer_is_done_when_braze_no_longer_knows_the_schedule(
    fake_braze, client, gone_status
):
    # Braze documents no answer for an already deleted schedule_id: servers answer 404 or 400. The first
    # attempt deleted it and its answer was lost, so the resent delete's refusal means it is done.
    schedule_id = client.send(campaign_create())["schedule_id"]
    delete = build_delete_request(
        ScheduleKind.CAMPAIGN, schedule_id, owner_id="campaign-1", addressed_as_created=True
    )
    fake_braze.inject(DropAfterProcessing(), path=delete.path)
    fake_braze.inject(Status(gone_status, body={"message": "Invalid schedule_id"}), path=delete.path)

    assert client.send(delete) == {"message": "success"}

    assert [r.status for r in fake_braze.requests_to(delete.path)] == [None, gone_status]
    assert fake_braze.schedules[schedule_id].status == "cancelled"


def test_a_delete_by_hand_refused_after_a_lost_answer_is_an_unknown_outcome(fake_braze, client):
    # The wrong campaign: Braze refuses the delete every time and the schedule stays live. The first
    # refusal was lost, so the client cannot tell this from "the first attempt cancelled it".
    schedule_id = client.send(campaign_create())["schedule_id"]
    delete = build_delete_request(ScheduleKind.CAMPAIGN, schedule_id, owner_id="another-campaign")
    fake_braze.inject(DropAfterProcessing(), path=delete.path)

    with pytest.raises(BrazeOutcomeUnknownError, match="or the ids name no schedule of this kind and owner"):
        client.send(delete)

    assert [r.status for r in fake_braze.requests_to(delete.path)] == [None, 404]
    assert fake_braze.schedules[schedule_id].status == "scheduled"


def test_a_first_delete_refused_with_400_is_still_an_error(fake_braze, client):
    # Only a resend after an unanswered attempt can be explained by that attempt.
    delete = build_delete_request(ScheduleKind.CAMPAIGN, "unknown-id", owner_id="campaign-1")
    fake_braze.inject(Status(400, body={"message": "Invalid schedule_id"}), path=delete.path)

    with pytest.raises(BrazeBadRequestError, match="Invalid schedule_id"):
        client.send(delete)


# --- proxies ------------------------------------------------------------------------------------------


def test_requests_go_through_the_proxy(fake_braze):
    with ForwardProxy() as proxy:
        client = BrazeClient(fake_braze.url, fake_braze.api_key, proxy=proxy.url)
        answer = client.send(campaign_create())

        [through] = proxy.received
    assert (through.method, through.url, through.status) == (
        "POST",
        fake_braze.url + campaign_create().path,
        200,
    )
    [stored] = fake_braze.active_schedules()
    assert answer["schedule_id"] == stored.schedule_id
    assert len(fake_braze.received) == 1


def test_the_proxy_login_is_sent_to_the_proxy_only(fake_braze):
    with ForwardProxy(credentials=("alice", "s3cr3t-pw")) as proxy:
        client = BrazeClient(
            fake_braze.url, fake_braze.api_key, proxy=f"http://alice:s3cr3t-pw@{proxy.url[7:]}"
        )
        client.send(campaign_create())

        [through] = proxy.received
    assert through.status == 200
    assert through.proxy_authorization is not None
    [received] = fake_braze.received
    assert "proxy-authorization" not in received.headers  # not passed on to Braze


def test_a_proxy_refusing_the_login_is_an_error_without_the_password(fake_braze):
    with ForwardProxy(credentials=("alice", "right-password")) as proxy:
        client = BrazeClient(
            fake_braze.url,
            fake_braze.api_key,
            proxy=f"http://alice:wrong-pw@{proxy.url[7:]}",
            retry_policy=NO_JITTER,
        )
        with pytest.raises(BrazeBadRequestError) as info:  # 407: a 4xx, not retried
            client.send(campaign_create())

        assert [r.status for r in proxy.received] == [407]
    assert info.value.status_code == 407
    assert "wrong-pw" not in str(info.value)
    assert fake_braze.received == []


def test_a_proxy_that_cannot_be_reached_is_unreachable_and_the_password_stays_hidden(fake_braze):
    from tests.hooks.hook_support import closed_loopback_port

    proxy = f"http://alice:s3cr3t-pw@127.0.0.1:{closed_loopback_port()}"
    sleeps: list[float] = []
    client = BrazeClient(
        fake_braze.url, fake_braze.api_key, proxy=proxy, retry_policy=NO_JITTER, sleep=sleeps.append
    )

    with pytest.raises(BrazeUnreachableError) as info:
        client.send(campaign_create())

    assert "s3cr3t-pw" not in str(info.value)
    assert sleeps == [1, 2, 4, 8]  # never sent, so even a create is retried
    assert fake_braze.received == []


def test_proxies_in_the_environment_are_ignored(fake_braze, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")

    BrazeClient(fake_braze.url, fake_braze.api_key).send(campaign_create())

    assert len(fake_braze.received) == 1


@pytest.mark.parametrize(
    ("proxy", "expected"),
    [
        (None, None),
        ("", None),
        ("  http://proxy.corp:3128 ", "http://proxy.corp:3128"),
        ("https://proxy.corp", "https://proxy.corp"),
        ("http://u:p@proxy.corp:3128", "http://u:p@proxy.corp:3128"),
    ],
)
def test_check_proxy_accepts_http_and_https_urls(proxy, expected):
    assert check_proxy(proxy) == expected


@pytest.mark.parametrize(
    "proxy", ["proxy.corp:3128", "socks5://proxy.corp:1080", "http://", "http://u:pw-123@proxy.corp:port"]
)
def test_check_proxy_refuses_other_urls_without_showing_the_password(proxy):
    with pytest.raises(BrazeConfigurationError, match="not an http:// or https:// URL") as info:
        check_proxy(proxy)
    assert "pw-123" not in str(info.value)
