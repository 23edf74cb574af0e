"""The fake's /sends/data_series, its movable clock, and the dashboard pages links open; real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests

from airflow_braze_schedule.testing import FakeBraze

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC).timestamp()


@pytest.fixture
def braze():
    with FakeBraze(clock=lambda: START) as fake:
        yield fake


def _post(fake: FakeBraze, path: str, body: dict) -> requests.Response:
    return requests.post(
        fake.url + path, json=body, headers={"Authorization": f"Bearer {fake.api_key}"}, timeout=5
    )


def _series(fake: FakeBraze, **params) -> requests.Response:
    params = {"campaign_id": "camp-1", "send_id": "send-1", "length": "7", **params}
    params = {k: v for k, v in params.items() if v is not None}
    return requests.get(
        fake.url + "/sends/data_series",
        params=params,
        headers={"Authorization": f"Bearer {fake.api_key}"},
        timeout=5,
    )


def _campaign(fake: FakeBraze, time: str = "2026-12-01T12:00:00Z", **body) -> str:
    body = {
        "campaign_id": "camp-1",
        "send_id": "send-1",
        "recipients": [{"external_user_id": "u1"}, {"external_user_id": "u2"}],
        "schedule": {"time": time},
        **body,
    }
    answer = _post(fake, "/campaigns/trigger/schedule/create", body)
    assert answer.status_code == 200, answer.text
    return answer.json()["schedule_id"]


def test_no_figures_before_the_send_then_its_recipients(braze):
    _campaign(braze)
    before = _series(braze)
    braze.advance(3 * 3600)  # 12:00, the send time
    after = _series(braze)

    assert before.status_code == after.status_code == 200
    assert before.json() == {"data": [], "message": "success"}
    assert after.json() == {
        "data": [
            {
                "time": "2026-12-01",
                "messages": {"email": [{"sent": 2, "delivered": 2}]},
                "unique_recipients": 2,
            }
        ],
        "message": "success",
    }


def test_counts_every_matching_schedule_and_only_those(braze):
    _campaign(braze)
    _campaign(braze, time="2026-12-01T13:00:00Z", recipients=[{"external_user_id": "u3"}])
    _campaign(braze, send_id="send-2")
    _campaign(braze, campaign_id="camp-2")
    broadcast = {"send_id": "send-1", "broadcast": True, "campaign_id": "camp-1"}
    _post(
        braze,
        "/messages/schedule/create",
        {
            **broadcast,
            "schedule": {"time": "2026-12-01T12:30:00Z"},
            "messages": {
                "sms": {"subscription_group_id": "g", "body": "hi", "message_variation_id": "v-sms"}
            },
        },
    )
    braze.advance(5 * 3600)

    [day] = _series(braze).json()["data"]

    assert day["messages"] == {
        "email": [{"sent": 3, "delivered": 3}],
        "sms": [{"sent": 100, "delivered": 100}],
    }


def test_a_schedule_cancelled_before_its_time_has_no_figures(braze):
    schedule_id = _campaign(braze)
    _post(braze, "/campaigns/trigger/schedule/delete", {"campaign_id": "camp-1", "schedule_id": schedule_id})
    braze.advance(5 * 3600)

    assert _series(braze).json()["data"] == []


def test_local_time_reports_once_gone_out_in_the_last_time_zone(braze):
    _campaign(
        braze, time="2026-12-01T10:00:00", schedule={"time": "2026-12-01T10:00:00", "in_local_time": True}
    )
    braze.advance(13 * 3600 - 1)  # 21:59:59 UTC: 10:00 has not come yet in UTC-12
    assert _series(braze).json()["data"] == []
    braze.advance(1)

    assert _series(braze).json()["data"][0]["time"] == "2026-12-01"


def test_figures_are_kept_fourteen_days(braze):
    _campaign(braze)
    braze.advance(3 * 3600 + 14 * 86400 - 1)
    assert _series(braze, length="20").json()["data"] != []
    braze.advance(1)

    assert _series(braze, length="20").json()["data"] == []


def test_length_and_ending_at_choose_the_days(braze):
    _campaign(braze)
    braze.advance(3 * 86400)

    assert _series(braze, length="3").json()["data"] == []  # Dec 2 to Dec 4
    assert len(_series(braze, length="4").json()["data"]) == 1
    assert _series(braze, length="1", ending_at="2026-12-01T23:59:59Z").json()["data"] != []
    assert _series(braze, length="1", ending_at="2026-11-30T23:59:59Z").json()["data"] == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"campaign_id": None}, "'campaign_id' query parameter is required"),
        ({"send_id": None}, "'send_id' query parameter is required"),
        ({"length": None}, "'length' query parameter is required"),
        ({"length": "0"}, "'length' must be an integer from 1 to 100"),
        ({"length": "101"}, "'length' must be an integer from 1 to 100"),
        ({"send_id": "s" * 65}, "'send_id' must be ASCII"),
        ({"ending_at": "soon"}, "Cannot parse 'ending_at'"),
    ],
)
def test_bad_queries_are_answered_400(braze, params, message):
    answer = _series(braze, **params)

    assert answer.status_code == 400
    assert answer.json()["message"].startswith(message)


def test_needs_the_key_and_its_permission(braze):
    assert requests.get(braze.url + "/sends/data_series", timeout=5).status_code == 401
    braze.set_permissions({"campaigns.trigger.schedule.create"})
    assert _series(braze).status_code == 403
    braze.set_permissions({"sends.data_series"})
    assert _series(braze).status_code == 200


def test_counts_against_the_shared_rate_limit(braze):
    braze.set_rate_limit(1)

    assert _series(braze).status_code == 200
    assert _series(braze).status_code == 429


def test_advance_moves_the_clock_until_reset(braze):
    braze.advance(90)
    assert braze.now() == START + 90
    braze.reset()

    assert braze.now() == START


def test_dashboard_pages_list_the_schedules_of_a_campaign_or_canvas(braze):
    schedule_id = _campaign(braze)
    _post(
        braze,
        "/canvas/trigger/schedule/create",
        {"canvas_id": "cv-1", "broadcast": True, "schedule": {"time": "2026-12-01T12:00:00Z"}},
    )

    campaign = requests.get(braze.url + "/engagement/campaigns/camp-1", timeout=5)
    canvas = requests.get(braze.url + "/engagement/canvas/cv-1", timeout=5)
    unknown = requests.get(braze.url + "/engagement/campaigns/nope", timeout=5)

    assert campaign.status_code == 200
    assert campaign.json()["campaign_id"] == "camp-1"
    assert [s["schedule_id"] for s in campaign.json()["schedules"]] == [schedule_id]
    assert [s["kind"] for s in canvas.json()["schedules"]] == ["canvas"]
    assert unknown.json() == {"campaign_id": "nope", "schedules": []}
    # Pages are not API calls: not recorded.
    assert [r.path for r in braze.received if r.path.startswith("/engagement")] == []
