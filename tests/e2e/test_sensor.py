"""The sensor under dag.test() against the fake Braze: a send a few seconds ahead is awaited (deferred to
the trigger, or poked in reschedule mode), its figures reach a downstream task through XCom; a Canvas
send has no figures; a send older than Braze's 14-day retention is refused; a send Braze never reports
times out. The trigger on its own: serialisation, an error event, a late start."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import requests

from airflow_braze_schedule.core.analytics import SendWatch
from airflow_braze_schedule.core.endpoints import ScheduleKind
from airflow_braze_schedule.core.handle import ScheduleHandle
from airflow_braze_schedule.triggers.braze import BrazeScheduledSendTrigger
from tests.helpers import AIRFLOW_VERSION, task_states

pytestmark = pytest.mark.usefixtures("airflow_db")

DAG_FILE = "braze_e2e_sensor.py"


def _xcom(dag_run, task_id: str, key: str = "return_value"):
    return dag_run.get_task_instance(task_id).xcom_pull(task_ids=task_id, key=key)


@pytest.mark.parametrize("dag_id", ["braze_e2e_sensor_deferred", "braze_e2e_sensor_rescheduled"])
def test_sensor_waits_for_the_send_and_hands_its_figures_on(run_dag_logged, fake_braze, dag_id):
    run = run_dag_logged(DAG_FILE, dag_id)

    assert task_states(run.dag_run) == dict.fromkeys(("create", "wait_for_send", "load"), "success")
    [stored] = fake_braze.schedules.values()
    asked = fake_braze.requests_to("/sends/data_series")
    # Not asked before the send time; then asked until it answered with figures.
    assert asked
    assert all(request.at >= datetime.fromisoformat(stored.schedule["time"]).timestamp() for request in asked)
    assert asked[-1].query["campaign_id"] == "spring-api-campaign"
    assert asked[-1].query["send_id"] == "spring-send-1"
    assert asked[-1].query["length"] in ("2", "3")  # 3 if the send crossed midnight UTC
    figures = _xcom(run.dag_run, "wait_for_send")
    assert figures["analytics"] == "reported"
    assert figures["schedule_id"] == stored.schedule_id
    assert figures["delivered_everywhere_at"] == stored.schedule["time"]
    day = stored.schedule["time"][:10]
    assert figures["data"] == [
        {"time": day, "messages": {"email": [{"sent": 3, "delivered": 3}]}, "unique_recipients": 3}
    ]
    assert _xcom(run.dag_run, "load") == {
        "rows": [{"day": day, "channel": "email", "sent": 3}],
        "analytics": "reported",
        "reason": None,
    }
    assert "Braze reports figures for send spring-send-1 on 1 day(s)" in run.logs["wait_for_send"]
    if dag_id == "braze_e2e_sensor_deferred" and AIRFLOW_VERSION.release[:2] != (3, 0):
        # dag.test() ran the sensor's trigger (Airflow 3.0 logs this where the capture cannot see it).
        assert "running trigger in line" in run.output.lower()


def test_canvas_send_returns_once_sent_without_figures(run_dag, fake_braze):
    dag_run = run_dag(DAG_FILE, "braze_e2e_sensor_canvas")

    assert task_states(dag_run)["load"] == "success"
    assert fake_braze.requests_to("/sends/data_series") == []
    [stored] = fake_braze.schedules.values()
    result = _xcom(dag_run, "wait_for_send")
    assert result["analytics"] == "unavailable"
    assert result["data"] is None
    assert result["delivered_everywhere_at"] == stored.schedule["time"]
    assert "Canvas schedules take no send_id" in result["reason"]
    assert datetime.now(UTC) >= datetime.fromisoformat(stored.schedule["time"])


def test_sensor_refuses_a_send_older_than_braze_keeps_its_figures(run_dag_logged, fake_braze):
    run = run_dag_logged(DAG_FILE, "braze_e2e_sensor_expired")

    ti = run.dag_run.get_task_instance("wait_for_send")
    assert ti.state == "failed"
    assert ti.try_number == 1  # retries=2: waiting again cannot bring the figures back
    assert fake_braze.received == []
    assert "Braze keeps analytics by send for 14 days after the send" in run.logs["wait_for_send"]


@pytest.mark.slow  # several DAG runs; `make test-slow`
def test_sensor_times_out_when_braze_never_reports_the_send(run_dag_logged, fake_braze):
    run = run_dag_logged(DAG_FILE, "braze_e2e_sensor_no_figures")

    assert task_states(run.dag_run) == {"wait_for_send": "failed"}
    asked = fake_braze.requests_to("/sends/data_series")
    assert asked  # asked at least once before giving up
    assert {request.query["send_id"] for request in asked} == {"never-sent-1"}
    assert "Braze reported no figures for send 'never-sent-1'" in run.logs["wait_for_send"]


def _watch_json() -> dict:
    handle = ScheduleHandle(
        "sched-1",
        ScheduleKind.CAMPAIGN,
        campaign_id="spring-api-campaign",
        send_id="spring-send-1",
        schedule={"time": (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")},
    )
    return SendWatch.plan(handle, figures_timeout=timedelta(hours=1)).to_json()


def test_trigger_serializes_to_its_own_arguments():
    watch = _watch_json()
    trigger = BrazeScheduledSendTrigger(watch=watch, braze_conn_id="braze_eu", poll_interval=60)

    classpath, kwargs = trigger.serialize()
    again = BrazeScheduledSendTrigger(**kwargs)

    assert classpath == "airflow_braze_schedule.triggers.braze.BrazeScheduledSendTrigger"
    assert again.serialize() == (classpath, kwargs)
    assert kwargs == {"watch": watch, "braze_conn_id": "braze_eu", "poll_interval": 60.0}


def test_trigger_serializes_through_airflow_serde():
    serde = pytest.importorskip("airflow.sdk.serde")
    trigger = BrazeScheduledSendTrigger(watch=_watch_json(), braze_conn_id="braze_default", poll_interval=5)
    _, kwargs = trigger.serialize()

    assert serde.deserialize(serde.serialize(kwargs)) == kwargs


def test_trigger_reports_an_error_event_when_braze_refuses(fake_braze):
    fake_braze.set_permissions(set())  # the key may not read analytics: 403
    trigger = BrazeScheduledSendTrigger(watch=_watch_json(), braze_conn_id="braze_default", poll_interval=1)

    async def first_event():
        return await anext(trigger.run())

    event = asyncio.run(first_event())

    assert event.payload["status"] == "error"
    assert "403" in event.payload["message"]
    assert fake_braze.api_key not in event.payload["message"]


def test_trigger_started_after_the_timeout_still_finds_the_figures(fake_braze):
    # A send that went out ten minutes ago (made through the fake, its clock set back to accept it).
    sent_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    fake_braze.advance(-3600)
    created = requests.post(
        f"{fake_braze.url}/campaigns/trigger/schedule/create",
        json={
            "campaign_id": "spring-api-campaign",
            "send_id": "spring-send-1",
            "broadcast": True,
            "schedule": {"time": sent_at.strftime("%Y-%m-%dT%H:%M:%SZ")},
        },
        headers={"Authorization": f"Bearer {fake_braze.api_key}"},
        timeout=5,
    )
    assert created.status_code == 200, created.text
    fake_braze.advance(3600)
    handle = ScheduleHandle(
        created.json()["schedule_id"],
        ScheduleKind.CAMPAIGN,
        campaign_id="spring-api-campaign",
        send_id="spring-send-1",
        schedule={"time": sent_at.strftime("%Y-%m-%dT%H:%M:%SZ")},
    )
    watch = SendWatch.plan(handle, figures_timeout=timedelta(minutes=1)).to_json()  # gave up 9 min ago
    trigger = BrazeScheduledSendTrigger(watch=watch, braze_conn_id="braze_default", poll_interval=1)

    async def first_event():
        return await anext(trigger.run())

    event = asyncio.run(first_event())

    assert event.payload["status"] == "reported"
    assert event.payload["data_series"]["data"][0]["messages"] == {"email": [{"sent": 100, "delivered": 100}]}
