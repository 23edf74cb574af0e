"""The keyed example DAGs, run for real against the fake Braze (on Airflow 3.3+'s asset registry)."""

from __future__ import annotations

import json

import pendulum
import pytest

from airflow_braze_schedule.events import handles_from_events
from tests.helpers import task_states
from tests.keyed.keyed_support import HAS_ASSET_STATE_STORE, NO_ASSET_STORE, live_by_user, read_registry

pytestmark = pytest.mark.skipif(not HAS_ASSET_STATE_STORE, reason=NO_ASSET_STORE)
EXAMPLES = "braze_keyed_schedules.py"


# Seven DAG runs (about 12 s): in make test-slow, to keep make test within its three minutes.
@pytest.mark.slow
def test_daily_digest_five_logical_dates_then_a_changed_hour(run_dag, fake_braze, monkeypatch):
    """A backfill of five logical dates creates the send once; a changed hour updates it once."""
    monkeypatch.setenv("AIRFLOW_VAR_BRAZE_EXAMPLE_DIGEST_HOUR", "9")
    start = pendulum.now("UTC").start_of("day").subtract(days=10)
    for day in range(5):
        dag_run = run_dag(EXAMPLES, "braze_keyed_daily_digest", logical_date=start.add(days=day))
        assert set(task_states(dag_run).values()) == {"success"}
    assert len(fake_braze.requests_to("/messages/schedule/create")) == 1
    assert len(fake_braze.received) == 1

    monkeypatch.setenv("AIRFLOW_VAR_BRAZE_EXAMPLE_DIGEST_HOUR", "10")
    dag_run = run_dag(EXAMPLES, "braze_keyed_daily_digest")
    assert set(task_states(dag_run).values()) == {"success"}
    [update] = fake_braze.requests_to("/messages/schedule/update")
    assert update.json["schedule"]["time"].endswith("T10:00:00")
    assert update.json["schedule"]["in_local_time"] is True
    assert len(fake_braze.received) == 2


def _orders(*orders):
    return json.dumps([{"order_id": o, "user": f"user-{o}", "remind_on": day} for o, day in orders])


@pytest.mark.slow  # several DAG runs; `make test-slow`
def test_order_reminders_reconcile_cancel_by_key_and_react_to_events(run_dag, fake_braze, monkeypatch):
    later = pendulum.now("UTC").add(days=20)
    day1, day2 = later.to_date_string(), later.add(days=1).to_date_string()
    orders = [f"{n}-{pendulum.now().format('HHmmssSSS')}" for n in range(3)]
    monkeypatch.setenv("AIRFLOW_VAR_BRAZE_EXAMPLE_ORDERS", _orders((orders[0], day1), (orders[1], day1)))
    assert set(task_states(run_dag(EXAMPLES, "braze_keyed_order_reminders")).values()) == {"success"}
    assert sorted(live_by_user(fake_braze)) == [f"user-{orders[0]}", f"user-{orders[1]}"]

    # The order list changes: the first is gone, the second moves a day, a third comes.
    monkeypatch.setenv("AIRFLOW_VAR_BRAZE_EXAMPLE_ORDERS", _orders((orders[1], day2), (orders[2], day1)))
    dag_run = run_dag(EXAMPLES, "braze_keyed_order_reminders")
    result = dag_run.get_task_instance("reconcile_reminders").xcom_pull(task_ids="reconcile_reminders")
    assert result["plan"]["counts"]["cancel"] == 1
    assert result["plan"]["counts"]["update"] == 1
    assert result["plan"]["counts"]["create"] == 1
    assert sorted(live_by_user(fake_braze)) == [f"user-{orders[1]}", f"user-{orders[2]}"]

    # The third order ships: its reminder is cancelled by key from another DAG.
    dag_run = run_dag(EXAMPLES, "braze_keyed_order_shipped", run_conf={"order_id": orders[2]})
    assert set(task_states(dag_run).values()) == {"success"}
    assert sorted(live_by_user(fake_braze)) == [f"user-{orders[1]}"]
    assert read_registry("asset").require(f"orders/{orders[2]}/reminder").state == "cancelled"

    # The asset events those runs emitted read back into handles of the live schedules.
    events = _asset_events("braze://braze_default/schedules")
    handles = handles_from_events(events, actions=("create", "update"))
    live_id = live_by_user(fake_braze)[f"user-{orders[1]}"][0]
    moved = [
        h for h in handles if h["schedule_key"] == f"orders/{orders[1]}/reminder" and h["action"] == "update"
    ]
    assert [h["schedule_id"] for h in moved] == [live_id]
    assert moved[0]["schedule"]["time"] == f"{day2}T10:00:00"
    cancels = handles_from_events(events, actions=("cancel",))
    assert {h["schedule_key"] for h in cancels} >= {
        f"orders/{orders[0]}/reminder",
        f"orders/{orders[2]}/reminder",
    }


def _asset_events(uri):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.uri == uri)
        ).all()
        return [{"extra": row.extra} for row in rows]
