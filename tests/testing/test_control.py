"""The fake Braze's control API (``/_fake/...``) and its client, over real HTTP on loopback.

Most tests drive the session's fake through :class:`FakeBrazeControl`, as a deployment test or a user's
CI drives a fake in another process, and check the effect with Braze calls (``requests``) and with the
in-process view. The last test does the same to ``python -m airflow_braze_schedule.testing``.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from werkzeug.test import Client

from airflow_braze_schedule.testing import (
    ControlError,
    Delay,
    DropAfterProcessing,
    DropBeforeProcessing,
    FakeBraze,
    FakeBrazeControl,
    HtmlError,
    RateLimited,
    ReceivedRequest,
    Status,
    StoredSchedule,
)
from airflow_braze_schedule.testing.control import FAULT_KINDS, fault_from_json, fault_to_json

CAMPAIGN_CREATE = "/campaigns/trigger/schedule/create"
CAMPAIGN_DELETE = "/campaigns/trigger/schedule/delete"


def campaign_body() -> dict[str, Any]:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0, tzinfo=None)
    return {
        "campaign_id": "camp-1",
        "recipients": [{"external_user_id": "user-1"}],
        "schedule": {"time": tomorrow.isoformat() + "Z"},
    }


def call(url: str, api_key: str, path: str = CAMPAIGN_CREATE, body: Any = None) -> requests.Response:
    """One Braze call with the key, as a client of Braze makes it."""
    return requests.post(
        url + path,
        json=campaign_body() if body is None else body,
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=10,
    )


@pytest.fixture
def control(fake_braze: FakeBraze) -> FakeBrazeControl:
    return FakeBrazeControl(fake_braze.url)


def test_every_fault_kind_round_trips_through_json() -> None:
    faults = [
        Status(503, body="busy", headers={"Retry-After": "1"}),
        RateLimited(reset_in=2.5),
        HtmlError(504),
        Delay(0.1),
        DropBeforeProcessing(),
        DropAfterProcessing(),
    ]
    assert sorted(fault_to_json(f)["kind"] for f in faults) == sorted(FAULT_KINDS)
    for fault in faults:
        body = json.loads(json.dumps(fault_to_json(fault, times=3, path="/x")))
        assert fault_from_json(body) == (fault, 3, "/x")


def test_queued_faults_answer_in_order_then_braze_answers(fake_braze, control) -> None:
    control.inject(Status(503), times=2, path=CAMPAIGN_CREATE)
    control.inject(RateLimited(reset_in=30), path=CAMPAIGN_CREATE)
    control.inject(HtmlError(502), path=CAMPAIGN_DELETE)  # another path: not used by creates

    answers = [call(fake_braze.url, fake_braze.api_key) for _ in range(4)]

    assert [a.status_code for a in answers] == [503, 503, 429, 200]
    assert int(answers[2].headers["x-ratelimit-reset"]) >= time.time() + 29
    [schedule] = control.schedules()
    assert schedule.schedule_id == answers[3].json()["schedule_id"]
    gateway = call(
        fake_braze.url, fake_braze.api_key, CAMPAIGN_DELETE, {"campaign_id": "c", "schedule_id": "s"}
    )
    assert (gateway.status_code, gateway.headers["Content-Type"].split(";")[0]) == (502, "text/html")
    assert [r.fault for r in control.requests(CAMPAIGN_CREATE)] == ["Status", "Status", "RateLimited", None]


def test_drop_before_creates_nothing_and_drop_after_creates_unanswered(fake_braze, control) -> None:
    control.inject_all(
        [(DropBeforeProcessing(), 1, CAMPAIGN_CREATE), (DropAfterProcessing(), 1, CAMPAIGN_CREATE)]
    )

    with pytest.raises(requests.ConnectionError):
        call(fake_braze.url, fake_braze.api_key)
    assert control.schedules() == []
    with pytest.raises(requests.ConnectionError):
        call(fake_braze.url, fake_braze.api_key)

    [schedule] = control.schedules()
    assert schedule.status == "scheduled"
    assert [(r.status, r.fault) for r in control.requests()] == [
        (None, "DropBeforeProcessing"),
        (None, "DropAfterProcessing"),
    ]


def test_a_list_with_one_bad_fault_queues_none_and_names_it(fake_braze, control) -> None:
    answer = requests.post(
        fake_braze.url + "/_fake/faults",
        json=[{"kind": "status", "code": 503}, {"kind": "delay", "second": 1}],
        timeout=5,
    )

    assert answer.status_code == 400
    assert (
        answer.json()["message"]
        == "faults[1]: 'delay' takes ['seconds'] (and ['times', 'path']), not ['second']"
    )
    assert call(fake_braze.url, fake_braze.api_key).status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([{"kind": "timeout"}], 'faults[0].kind: "timeout" is not a fault kind; expected one of'),
        ([{"kind": "status", "code": 99}], "faults[0]: Status code must be an int in 100..599, got 99"),
        ([{"kind": "status", "code": 503, "times": 0}], "faults[0].times: expected an integer >= 1, got 0"),
        ([{"kind": "html_error", "path": "x"}], "faults[0].path: expected a URL path"),
        ({"kind": "status", "code": 503}, "expected a JSON list of faults"),
    ],
)
def test_bad_faults_are_400_with_the_reason(fake_braze, control, body, message) -> None:
    with pytest.raises(ControlError, match="HTTP 400") as refused:
        control._call("POST", "faults", body)

    assert message in str(refused.value)


def test_requests_and_schedules_are_dataclasses_with_the_key_masked(fake_braze, control) -> None:
    created = call(fake_braze.url, fake_braze.api_key).json()
    call(
        fake_braze.url, fake_braze.api_key, CAMPAIGN_DELETE, {"campaign_id": "camp-1", "schedule_id": "nope"}
    )

    [first, second] = control.requests()
    assert isinstance(first, ReceivedRequest)
    assert (first.path, first.status, second.path, second.status) == (
        CAMPAIGN_CREATE,
        200,
        CAMPAIGN_DELETE,
        404,
    )
    assert first.headers["authorization"] == "Bearer ***"
    assert [r.path for r in control.requests(CAMPAIGN_DELETE)] == [CAMPAIGN_DELETE]
    [schedule] = control.active_schedules()
    assert isinstance(schedule, StoredSchedule)
    assert schedule.schedule_id == created["schedule_id"]
    assert control.schedules("cancelled") == []
    assert fake_braze.api_key not in json.dumps(control.state())


def test_rate_limit_then_reset_restores_braze_default(fake_braze, control) -> None:
    control.set_rate_limit(2, window=3600)

    assert [call(fake_braze.url, fake_braze.api_key).status_code for _ in range(3)] == [200, 200, 429]
    control.reset()
    answer = call(fake_braze.url, fake_braze.api_key)
    assert (answer.status_code, answer.headers["x-ratelimit-limit"]) == (200, "250000")
    with pytest.raises(ControlError, match="limit: expected an integer >= 0 or null"):
        control.set_rate_limit(-1)


def test_latency_holds_a_create_in_flight_where_it_can_be_seen(fake_braze, control) -> None:
    control.set_latency(1.0, path=CAMPAIGN_CREATE)
    answers: list[requests.Response] = []
    caller = threading.Thread(target=lambda: answers.append(call(fake_braze.url, fake_braze.api_key)))
    caller.start()
    try:
        deadline = time.monotonic() + 5
        while not control.requests(CAMPAIGN_CREATE) and time.monotonic() < deadline:
            time.sleep(0.05)
        [in_flight] = control.requests(CAMPAIGN_CREATE)
        assert in_flight.status is None
        assert control.schedules() == []
    finally:
        caller.join(10)
    assert answers[0].status_code == 200
    assert [r.status for r in control.requests()] == [200]
    control.set_latency(0, path=CAMPAIGN_CREATE)
    assert fake_braze._latency == {}


def test_chaos_is_repeatable_with_a_seed(fake_braze, control) -> None:
    outcomes = []
    for _ in range(2):
        control.reset()
        control.set_chaos(0.5, [Status(500), Status(503)], seed=7)
        outcomes.append([call(fake_braze.url, fake_braze.api_key).status_code for _ in range(12)])

    assert outcomes[0] == outcomes[1]
    assert {500, 503, 200} <= set(outcomes[0])


def test_unknown_endpoint_wrong_method_and_non_loopback_clients(fake_braze) -> None:
    missing = requests.get(fake_braze.url + "/_fake/nope", timeout=5)
    assert missing.status_code == 404
    assert "/_fake/faults" in missing.json()["endpoints"]
    wrong = requests.get(fake_braze.url + "/_fake/faults", timeout=5)
    assert (wrong.status_code, wrong.headers["Allow"]) == (405, "POST")

    remote = Client(fake_braze.wsgi_app).post(
        "/_fake/rate_limit", json={"limit": 0}, environ_base={"REMOTE_ADDR": "203.0.113.9"}
    )
    assert remote.status_code == 403
    assert call(fake_braze.url, fake_braze.api_key).status_code == 200  # the limit was not applied


def test_standalone_fake_is_driven_from_another_process() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_braze_schedule.testing", "--port", "0", "--latency", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert select.select([process.stdout], [], [], 15)[0], "no start-up line"
        first = process.stdout.readline()
        url = first.split("listening on ", 1)[1].split(";", 1)[0]
        key = json.loads(first.split("AIRFLOW_CONN_BRAZE_DEFAULT=", 1)[1].strip().strip("'"))["password"]
        assert process.stdout.readline().startswith(f"Control API (loopback only): {url}/_fake/")

        braze = FakeBrazeControl(url)
        braze.inject(Status(503), path=CAMPAIGN_CREATE)
        assert [call(url, key).status_code for _ in range(2)] == [503, 200]
        assert [(r.status, r.fault) for r in braze.requests()] == [(503, "Status"), (200, None)]
        assert len(braze.active_schedules()) == 1
        braze.reset()
        assert braze.requests() == []
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
