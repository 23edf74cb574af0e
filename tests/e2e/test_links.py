"""The "Braze dashboard" link: built from the handle in XCom after a real dag.test() run, for each kind of
schedule; none without a handle. Which dashboard belongs to which instance is checked without Airflow."""

from __future__ import annotations

import pytest
import requests

from airflow_braze_schedule.core.endpoints import INSTANCES
from airflow_braze_schedule.links import DASHBOARDS, BrazeDashboardLink, dashboard_for, dashboard_link
from tests.helpers import AIRFLOW_VERSION, load_dag, task_states

LINK_XCOM = "_link_BrazeDashboardLink"


def _link(dag_run, dag, task_id: str) -> str:
    ti = dag_run.get_task_instance(task_id)
    if AIRFLOW_VERSION.major >= 3:
        # Airflow 3 computes a link on the worker when the task ends and keeps it in XCom for the UI.
        return ti.xcom_pull(task_ids=task_id, key=LINK_XCOM)
    return BrazeDashboardLink().get_link(dag.get_task(task_id), ti_key=ti.key)


@pytest.mark.usefixtures("airflow_db")
def test_each_task_links_to_its_campaign_or_canvas(run_dag, fake_braze):
    dag = load_dag("braze_e2e_links.py")
    dag_run = run_dag("braze_e2e_links.py")

    states = task_states(dag_run)
    assert states["failed"] == "failed"
    assert {task: state for task, state in states.items() if task != "failed"} == dict.fromkeys(
        ("campaign", "moved", "cancelled", "canvas", "attributed_message", "plain_message", "not_pushed"),
        "success",
    )
    links = {task_id: _link(dag_run, dag, task_id) for task_id in states}
    campaign_page = f"{fake_braze.url}/engagement/campaigns/spring-api-campaign"
    assert links == {
        "campaign": campaign_page,
        "moved": campaign_page,
        "cancelled": campaign_page,
        "canvas": f"{fake_braze.url}/engagement/canvas/spring-canvas",
        "attributed_message": f"{fake_braze.url}/engagement/campaigns/spring-tracking-campaign",
        "plain_message": "",
        "not_pushed": "",
        "failed": "",
    }
    # The link opens the fake's page for that campaign, which holds the schedule the task made.
    page = requests.get(links["campaign"], timeout=5).json()
    handle = dag_run.get_task_instance("campaign").xcom_pull(task_ids="campaign")
    assert [s["schedule_id"] for s in page["schedules"]] == [handle["schedule_id"]]
    assert page["schedules"][0]["status"] == "cancelled"


def test_every_instance_has_its_dashboard():
    assert set(DASHBOARDS) == set(INSTANCES)
    assert dashboard_for("https://rest.iad-01.braze.com") == "https://dashboard-01.braze.com"
    assert dashboard_for("https://rest.fra-02.braze.eu") == "https://dashboard-02.braze.eu"
    assert dashboard_for("https://rest.us-10.braze.com") == "https://dashboard.us-10.braze.com"
    assert dashboard_for("https://REST.AU-01.braze.com") == "https://dashboard.au-01.braze.com"


@pytest.mark.parametrize(
    ("rest_endpoint", "handle", "expected"),
    [
        (
            "https://rest.fra-01.braze.eu",
            {"kind": "campaign", "campaign_id": "c-1"},
            "https://dashboard-01.braze.eu/engagement/campaigns/c-1",
        ),
        (
            "https://rest.jp-01.braze.com",
            {"kind": "canvas", "canvas_id": "cv 1/2"},
            "https://dashboard.jp-01.braze.com/engagement/canvas/cv%201%2F2",
        ),
        (
            "https://rest.iad-03.braze.com",
            {"kind": "message", "campaign_id": "c-1"},
            "https://dashboard-03.braze.com/engagement/campaigns/c-1",
        ),
        ("https://rest.iad-03.braze.com", {"kind": "message"}, None),
        ("https://rest.iad-03.braze.com", {"kind": "campaign", "campaign_id": "c-1", "dry_run": True}, None),
        ("https://braze-proxy.example.com", {"kind": "campaign", "campaign_id": "c-1"}, None),
        (
            "http://127.0.0.1:8765",
            {"kind": "canvas", "canvas_id": "cv-1"},
            "http://127.0.0.1:8765/engagement/canvas/cv-1",
        ),
    ],
)
def test_dashboard_link(rest_endpoint, handle, expected):
    assert dashboard_link(rest_endpoint, handle) == expected
