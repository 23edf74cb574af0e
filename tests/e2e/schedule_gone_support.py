"""The fake Braze answering a schedule it no longer holds with 404 or 400 (Braze documents neither), and
a schedule cancelled behind the provider's back; shared by the tests of cancels that meet one."""

from __future__ import annotations

import pytest
import requests

from airflow_braze_schedule.testing import FakeBraze


@pytest.fixture(scope="module")
def braze_answering_400():
    with FakeBraze(unknown_schedule_status=400) as server:
        yield server


# 404 is what the rest of the suite's fake answers already; the 400 variants run in `make test`.
@pytest.fixture(params=[pytest.param(404, marks=pytest.mark.slow), 400], ids=["gone-404", "gone-400"])
def gone_status(request):
    """How the fake answers an update or delete of a schedule_id it no longer holds."""
    return request.param


@pytest.fixture
def braze(request, gone_status, fake_braze, monkeypatch):
    """The fake Braze the DAGs talk to, answering an unknown or cancelled schedule_id with ``gone_status``."""
    if gone_status == 404:
        return fake_braze
    server = request.getfixturevalue("braze_answering_400")
    server.reset()
    monkeypatch.setenv(*server.airflow_conn_env())
    return server


def post(braze: FakeBraze, path: str, body: dict) -> dict:
    answer = requests.post(
        f"{braze.url}{path}", json=body, headers={"Authorization": f"Bearer {braze.api_key}"}, timeout=5
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def cancel_behind_the_providers_back(braze: FakeBraze, schedule_id: str) -> None:
    """Someone cancels a campaign schedule in Braze directly (the dashboard, another tool)."""
    stored = braze.schedules[schedule_id]
    post(
        braze,
        "/campaigns/trigger/schedule/delete",
        {"campaign_id": stored.campaign_id, "schedule_id": schedule_id},
    )
    assert braze.schedules[schedule_id].status == "cancelled"
