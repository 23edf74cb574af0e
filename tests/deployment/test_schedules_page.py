"""The "Braze schedules" page and API in a real deployment (``make test-deployment``): the plugin found with
no set-up beyond installing the provider, behind the simple auth manager with two users, ``admin`` (may
trigger DAGs) and a ``viewer``; headless Chromium signs in, reads, and cancels through the maintenance DAG.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest
import requests

from scripts.deployment.harness import ADMIN_USER, ensure_debian_package, wait_for
from tests.deployment.conftest import VIEWER

if TYPE_CHECKING:
    from airflow_braze_schedule.testing import FakeBrazeControl
    from scripts.deployment.harness import Deployment

pytestmark = pytest.mark.deployment

ADMIN_DAG = "braze_schedule_admin"
KEYS_DAG = "deployment_schedules_page"
CAMPAIGN_DELETE = "/campaigns/trigger/schedule/delete"


def token(deployment: Deployment, username: str, password: str) -> dict[str, str]:
    answer = requests.post(
        deployment.api_url + "/auth/token", json={"username": username, "password": password}, timeout=30
    )
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def schedules(deployment: Deployment, headers: dict[str, str], **params: Any) -> requests.Response:
    return requests.get(
        deployment.api_url + "/braze/api/schedules", params=params, headers=headers, timeout=30
    )


def test_the_schedules_page_lists_keyed_sends_and_cancels_through_the_maintenance_dag(
    deployment: Deployment, braze: FakeBrazeControl
) -> None:
    if deployment.executor != "LocalExecutor" or not deployment.users:
        pytest.skip("one deployment is enough: the one with a viewer")
    chromium = ensure_debian_package("chromium", "chromium")
    api = deployment.api
    assert api is not None
    assert deployment.password is not None
    prefix = f"page-{uuid.uuid4().hex[:8]}"
    keys = [f"{prefix}/store-{n}/reminder" for n in (1, 2, 3)]

    # A DAG run makes three keyed sends.
    api.unpause(KEYS_DAG)
    run_id = api.trigger(KEYS_DAG, {"prefix": prefix})
    assert api.wait_run(KEYS_DAG, run_id, timeout=300) == "success"

    # The API lists them, to a user with a token and to no one else.
    admin = token(deployment, ADMIN_USER, deployment.password)
    viewer = token(deployment, VIEWER, deployment.passwords[VIEWER])
    assert schedules(deployment, {}, scope=prefix + "/").status_code == 401
    answer = schedules(deployment, viewer, scope=prefix + "/")
    assert answer.status_code == 200, answer.text
    page = answer.json()
    assert page["total"] == 3
    assert [e["schedule_key"] for e in page["entries"]] == keys
    assert {e["last_change"]["run_id"] for e in page["entries"]} == {run_id}
    send_times = {e["schedule_key"]: e["send_time"] for e in page["entries"]}
    assert all(send_times.values())
    # "Next 24 hours": the sends 3 and 20 hours ahead, not the one in 3 days.
    window = {
        "send_after": page["entries"][0]["last_change"]["at"],
        "send_before": page["entries"][2]["send_starts"],
    }
    assert [
        e["schedule_key"]
        for e in schedules(deployment, admin, scope=prefix + "/", **window).json()["entries"]
    ] == keys[:2]

    # The viewer may read but not cancel: Airflow itself refuses the trigger.
    refused = requests.post(
        f"{deployment.api_url}/api/v2/dags/{ADMIN_DAG}/dagRuns",
        json={"logical_date": None, "conf": {"schedule_key": keys[0]}},
        headers=viewer,
        timeout=30,
    )
    assert refused.status_code == 403

    from scripts import schedules_page as ui
    from scripts.screenshot_connection_form import chromium as start_chromium

    with start_chromium(chromium) as browser:
        # The viewer signs in, sees the keys and why they cannot cancel.
        ui.log_in(browser, deployment.api_url, VIEWER, deployment.passwords[VIEWER])
        ui.open_schedules(browser, deployment.api_url, [keys[0]])
        ui.filter_scope(browser, prefix + "/", [*keys, *send_times.values()])
        assert "may not trigger the DAG braze_schedule_admin" in ui.notices(browser)
        browser.call("Network.clearBrowserCookies")

        # The admin signs in, opens one key's history (made by the run above) and presses Cancel.
        ui.log_in(browser, deployment.api_url, ADMIN_USER, deployment.password)
        # The Browse menu's entry shows the page inside the UI; its address is relative to the UI's base,
        # so it holds under a sub-path too.
        assert ui.open_from_menu(browser, deployment.api_url, [keys[0]]) == deployment.api_url + "/braze/"
        ui.open_schedules(browser, deployment.api_url, [keys[0]])
        ui.filter_scope(browser, prefix + "/", [*keys, *send_times.values()])
        ui.open_history(browser, keys[0], ["create", KEYS_DAG, run_id, "upsert_reminder"])
        ui.press_cancel(browser, keys[0])

        # The maintenance run cancels it in the fake Braze, and the page then shows it cancelled.
        wait_for(
            "the page to show the key cancelled",
            lambda: "cancelled" in (ui.row_text(browser, keys[0]) or ""),
            timeout=240,
            interval=1,
        )
        assert "cancelled" not in (ui.row_text(browser, keys[1]) or "")
        assert "The run ended: success." in ui.notices(browser)

    [cancel_run] = api.get(f"/dags/{ADMIN_DAG}/dagRuns", limit=100)["dag_runs"][-1:]
    assert cancel_run["conf"]["schedule_key"] == keys[0]
    assert cancel_run.get("triggering_user_name") == ADMIN_USER  # the run records who cancelled
    cancelled_id = page["entries"][0]["schedule_ids"]["ids"][0]
    deletes = [
        r for r in braze.requests(CAMPAIGN_DELETE) if (r.json or {}).get("schedule_id") == cancelled_id
    ]
    assert [r.status for r in deletes] == [200]
    detail = requests.get(
        f"{deployment.api_url}/braze/api/schedules/{keys[0]}", headers=viewer, timeout=30
    ).json()
    assert detail["state"] == "cancelled"
    assert (detail["last_change"]["dag_id"], detail["last_change"]["task_id"]) == (ADMIN_DAG, "cancel_by_key")
