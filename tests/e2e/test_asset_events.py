"""The asset event of every create, update and cancel, keyed or not, in real DAG runs against the fake.

Each test reads the events a run emitted on ``braze://braze_default/schedules`` back from the metadata
database, turns them into handles with ``handles_from_events`` (as a DAG scheduled on the asset does with
its ``triggering_asset_events``) and feeds them to the next run's update or cancel. On Airflow 2 the
asset is a Dataset and its events are DatasetEvents.
"""

from __future__ import annotations

import uuid
from typing import Any

import pendulum
import pytest

from airflow_braze_schedule.assets import declares_schedules_asset, schedules_asset, schedules_asset_uri
from airflow_braze_schedule.core.group import as_group_handle
from airflow_braze_schedule.events import DRY_RUN_NOTE, handles_from_events
from tests.helpers import (
    AIRFLOW_VERSION,
    CAMPAIGN_DELETE,
    CAMPAIGN_UPDATE,
    HAS_TASK_STATE_STORE,
    campaign_live,
    campaign_requests,
    load_dag,
    task_states,
)
from tests.keyed.keyed_support import send_time

pytestmark = pytest.mark.usefixtures("airflow_db")

DAGS = "braze_e2e_asset_events.py"
DECLARED_BY_DEFAULT = declares_schedules_asset(None)
URI = schedules_asset_uri("braze_default")


def _campaign() -> str:
    return f"events-{uuid.uuid4().hex[:8]}"


def _events(dag_run: Any) -> list[dict[str, Any]]:
    """The events ``dag_run`` emitted on the schedules asset, oldest first, as ``{"extra", "task_id"}``."""
    from airflow.utils.session import create_session
    from sqlalchemy import select

    if AIRFLOW_VERSION.major < 3:
        from airflow.models.dataset import DatasetEvent as Event
        from airflow.models.dataset import DatasetModel as Model

        asset_id = Event.dataset_id
    else:
        from airflow.models.asset import AssetEvent as Event
        from airflow.models.asset import AssetModel as Model

        asset_id = Event.asset_id
    with create_session() as session:
        rows = session.scalars(
            select(Event)
            .join(Model, Model.id == asset_id)
            .where(
                Model.uri == URI, Event.source_dag_id == dag_run.dag_id, Event.source_run_id == dag_run.run_id
            )
            .order_by(Event.id)
        ).all()
        return [{"extra": dict(row.extra or {}), "task_id": row.source_task_id} for row in rows]


def test_unkeyed_create_update_and_cancel_each_emit_a_handle_the_next_run_accepts(run_dag, fake_braze):
    campaign = _campaign()
    created = run_dag(
        DAGS, "braze_e2e_events_create", run_conf={"campaign_id": campaign, "schedule": send_time(3)}
    )
    assert task_states(created) == {"create": "success"}
    [event] = _events(created)
    assert (event["task_id"], event["extra"]["schedule_key"]) == ("create", None)
    assert "dry_run" not in event["extra"]
    [handle] = handles_from_events([event])
    [schedule_id] = campaign_live(fake_braze, campaign)
    assert (handle["schedule_id"], handle["campaign_id"], handle["action"]) == (
        schedule_id,
        campaign,
        "create",
    )
    assert handle["schedule_key"] is None

    # The create's event, read back, is what the update is given: Braze is asked to move that schedule.
    moved = send_time(4)
    updated = run_dag(DAGS, "braze_e2e_events_update", run_conf={"handle": handle, "schedule": moved})
    assert task_states(updated) == {"update": "success"}
    assert campaign_requests(fake_braze, CAMPAIGN_UPDATE, campaign) == 1
    assert campaign_live(fake_braze, campaign)[schedule_id].schedule["time"] == moved
    [event] = _events(updated)
    [handle] = handles_from_events([event], actions=("update",))
    assert (handle["schedule_id"], handle["schedule"]["time"]) == (schedule_id, moved)
    assert event["extra"]["changes"][0]["state"] == "updated"

    # And the update's event is what the cancel in another run is given.
    cancelled = run_dag(DAGS, "braze_e2e_events_cancel", run_conf={"handle": handle})
    assert task_states(cancelled) == {"cancel": "success"}
    assert campaign_requests(fake_braze, CAMPAIGN_DELETE, campaign) == 1
    assert campaign_live(fake_braze, campaign) == {}
    [event] = _events(cancelled)
    [handle] = handles_from_events([event], actions=("cancel",))
    assert handle["schedule_id"] == schedule_id
    assert event["extra"]["changes"][0]["state"] == "cancelled"


def test_a_bulk_create_of_120_users_emits_its_group_compactly_and_the_group_cancels(run_dag, fake_braze):
    campaign = _campaign()
    recipients = [{"external_user_id": f"{campaign}/{n}"} for n in range(120)]
    conf = {"campaign_id": campaign, "recipients": recipients, "schedule": send_time(3)}
    bulk = run_dag(DAGS, "braze_e2e_events_bulk", run_conf=conf)
    assert task_states(bulk) == {"bulk": "success"}
    live = campaign_live(fake_braze, campaign)
    assert len(live) == 3  # 50 + 50 + 20
    [event] = _events(bulk)
    compact = event["extra"]["handle"]
    assert (compact["schedule_ids_count"], sorted(compact["schedule_ids"])) == (3, sorted(live))
    assert (compact["recipients"], compact["chunk_size"], event["extra"]["schedule_key"]) == (120, 50, None)
    assert "chunks" not in compact  # the compact form: ids, not the chunks' details

    [handle] = handles_from_events([event])
    group = as_group_handle(handle)
    assert group is not None
    assert (sorted(group.schedule_ids), group.campaign_id) == (sorted(live), campaign)
    cancelled = run_dag(DAGS, "braze_e2e_events_cancel", run_conf={"handle": handle})
    assert task_states(cancelled) == {"cancel": "success"}
    assert (
        campaign_requests(fake_braze, CAMPAIGN_DELETE, campaign),
        campaign_live(fake_braze, campaign),
    ) == (3, {})
    [event] = _events(cancelled)
    assert event["extra"]["handle"]["schedule_ids_count"] == 3
    assert [h["action"] for h in handles_from_events([event])] == ["cancel"]


@pytest.mark.slow  # several DAG runs; `make test-slow`
def test_dry_runs_emit_events_marked_as_sending_nothing(run_dag, fake_braze):
    campaign = _campaign()
    dry = run_dag(
        DAGS, "braze_e2e_events_create_dry_run", run_conf={"campaign_id": campaign, "schedule": send_time(3)}
    )
    assert task_states(dry) == {"create": "success"}
    assert fake_braze.received == []
    [event] = _events(dry)
    extra = event["extra"]
    assert (extra["dry_run"], extra["sent"], extra["note"]) == (True, False, DRY_RUN_NOTE)
    assert extra["handle"]["dry_run"] is True
    # Not a real handle unless asked for; asked for, it says it is a dry run's.
    assert handles_from_events([event]) == []
    [handle] = handles_from_events([event], include_dry_run=True)
    assert handle["dry_run"] is True
    assert handle["schedule_id"].startswith("dry-run-")

    # A cancel given the dry run's handle sends nothing, and its event says so.
    cancelled = run_dag(DAGS, "braze_e2e_events_cancel", run_conf={"handle": handle})
    assert task_states(cancelled) == {"cancel": "success"}
    assert fake_braze.received == []
    [event] = _events(cancelled)
    assert (event["extra"]["dry_run"], event["extra"]["sent"]) == (True, False)
    assert handles_from_events([event]) == []

    # A bulk dry run: the group, marked.
    recipients = [{"external_user_id": f"{campaign}/{n}"} for n in range(120)]
    conf = {"campaign_id": campaign, "recipients": recipients, "schedule": send_time(3)}
    bulk = run_dag(DAGS, "braze_e2e_events_bulk_dry_run", run_conf=conf)
    assert task_states(bulk) == {"bulk": "success"}
    assert fake_braze.received == []
    [event] = _events(bulk)
    assert (event["extra"]["dry_run"], event["extra"]["handle"]["schedule_ids_count"]) == (True, 3)
    assert handles_from_events([event]) == []
    [group] = handles_from_events([event], include_dry_run=True)
    assert (group["dry_run"], len(group["chunks"])) == (True, 3)


def test_a_change_braze_would_not_honour_is_emitted_as_refused_with_nothing_sent(run_dag, fake_braze):
    gone = {
        "schedule_id": "sent-long-ago",
        "kind": "campaign",
        "campaign_id": _campaign(),
        "schedule": {"time": "2020-01-01T09:00:00Z"},
    }
    cancelled = run_dag(DAGS, "braze_e2e_events_cancel", run_conf={"handle": gone})
    assert task_states(cancelled) == {"cancel": "success"}
    assert fake_braze.received == []
    [event] = _events(cancelled)
    [change] = event["extra"]["changes"]
    assert (change["action"], change["outcome"], change["schedule_id"]) == (
        "cancel",
        "refused_too_late",
        "sent-long-ago",
    )
    assert "state" not in change  # nothing changed state


def test_emit_asset_event_false_declares_no_asset_and_emits_nothing(run_dag, fake_braze):
    assert load_dag(DAGS, "braze_e2e_events_create_no_event").get_task("create").outlets == []
    campaign = _campaign()
    run = run_dag(
        DAGS, "braze_e2e_events_create_no_event", run_conf={"campaign_id": campaign, "schedule": send_time(3)}
    )
    assert task_states(run) == {"create": "success"}
    assert len(campaign_live(fake_braze, campaign)) == 1
    assert _events(run) == []


def test_every_operator_declares_its_connections_asset_unless_told_not_to_or_templated():
    from airflow.providers.common.compat.sdk import DAG

    from airflow_braze_schedule.operators import (
        BrazeBulkCreateScheduleOperator,
        BrazeCancelScheduleOperator,
        BrazeCreateScheduleOperator,
        BrazeReconcileSchedulesOperator,
        BrazeUpdateScheduleOperator,
        BrazeUpsertScheduleOperator,
    )

    with DAG("braze_events_outlets", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
        create = BrazeCreateScheduleOperator(
            task_id="create", schedule="2099-01-01T00:00:00Z", campaign_id="c", braze_conn_id="braze_eu"
        )
        bulk = BrazeBulkCreateScheduleOperator(
            task_id="bulk", schedule="2099-01-01T00:00:00Z", campaign_id="c"
        )
        update = BrazeUpdateScheduleOperator(
            task_id="update", schedule_id="s", schedule="2099-01-01T00:00:00Z"
        )
        cancel = BrazeCancelScheduleOperator(task_id="cancel", schedule_id="s")
        mapped = BrazeCancelScheduleOperator.partial(task_id="mapped").expand(schedule_id=["a", "b"])
        templated = BrazeCancelScheduleOperator(
            task_id="templated", schedule_id="s", braze_conn_id="{{ params.conn }}"
        )
        opted_out = BrazeCancelScheduleOperator(task_id="opted_out", schedule_id="s", emit_asset_event=False)
        keyed_out = BrazeCancelScheduleOperator(task_id="keyed_out", schedule_key="k", emit_asset_event=False)
        keyed_sql_out = BrazeCancelScheduleOperator(
            task_id="keyed_sql_out", schedule_key="k", registry_conn_id="sql", emit_asset_event=False
        )
        # An upsert is always keyed, though partial() does not see a key given to expand().
        upserts_out = BrazeUpsertScheduleOperator.partial(
            task_id="upserts_out", campaign_id="c", schedule="2099-01-01T00:00:00Z", emit_asset_event=False
        ).expand(schedule_key=["a", "b"])
        upserts_sql_out = BrazeUpsertScheduleOperator.partial(
            task_id="upserts_sql_out",
            campaign_id="c",
            schedule="2099-01-01T00:00:00Z",
            registry_conn_id="sql",
            emit_asset_event=False,
        ).expand(schedule_key=["a", "b"])
        reconcile_out = BrazeReconcileSchedulesOperator(
            task_id="reconcile_out", scope="s/", desired=[], emit_asset_event=False
        )
    default = schedules_asset("braze_default")
    for task in (keyed_out, upserts_out, reconcile_out):  # the registry lives in the asset's state store
        assert task.outlets == [default], task.task_id
    for task in (templated, opted_out, keyed_sql_out, upserts_sql_out):
        assert task.outlets == [], task.task_id
    # One given outlet, not in a list, is kept beside the asset.
    other = schedules_asset("braze_other")
    asked = BrazeCancelScheduleOperator(task_id="one", schedule_id="s", outlets=other, emit_asset_event=True)
    assert asked.outlets == [other, default]
    if not DECLARED_BY_DEFAULT:  # before Airflow 3.3: only when asked
        for task in (create, bulk, update, cancel, mapped):
            assert task.outlets == [], task.task_id
        return
    assert create.outlets == [schedules_asset("braze_eu")]
    for task in (bulk, update, cancel, mapped):
        assert task.outlets == [default], task.task_id


def test_a_reconcile_refuses_a_schedule_key():
    """Its keys are those of ``desired``; a schedule_key given to it would be a mistake read silently."""
    from airflow_braze_schedule.operators import BrazeReconcileSchedulesOperator

    with pytest.raises(TypeError, match="takes no schedule_key: its keys are those of desired"):
        BrazeReconcileSchedulesOperator(task_id="r", scope="s/", desired=[], schedule_key="k")


def test_the_asset_is_declared_by_default_from_airflow_3_3():
    assert DECLARED_BY_DEFAULT is (AIRFLOW_VERSION.release[:2] >= (3, 3))


@pytest.mark.skipif(not HAS_TASK_STATE_STORE, reason="the keyed create's default registry needs Airflow 3.3+")
def test_a_keyed_dry_run_emits_a_marked_event_with_its_key(run_dag, fake_braze):
    key = f"events/{uuid.uuid4().hex[:8]}"
    conf = {"campaign_id": _campaign(), "schedule": send_time(3), "key": key}
    dry = run_dag(DAGS, "braze_e2e_events_keyed_dry_run", run_conf=conf)
    assert task_states(dry) == {"create": "success"}
    assert fake_braze.received == []
    [event] = _events(dry)
    assert (event["extra"]["dry_run"], event["extra"]["schedule_key"]) == (True, key)
    assert event["extra"]["changes"][0]["action"] == "create"
    assert handles_from_events([event]) == []


@pytest.mark.skipif(
    not HAS_TASK_STATE_STORE, reason="the keyed operators' default registry needs Airflow 3.3+"
)
def test_upsert_and_reconcile_dry_runs_emit_marked_events(run_dag, fake_braze):
    scope = f"events-{uuid.uuid4().hex[:8]}/"
    campaign = _campaign()
    conf = {"campaign_id": campaign, "schedule": send_time(3), "key": scope + "one"}
    upsert = run_dag(DAGS, "braze_e2e_events_upsert_dry_run", run_conf=conf)
    assert task_states(upsert) == {"upsert": "success"}
    [event] = _events(upsert)
    assert (event["extra"]["dry_run"], event["extra"]["schedule_key"]) == (True, scope + "one")
    assert event["extra"]["changes"][0]["action"] == "create"

    desired = [
        {
            "schedule_key": scope + str(n),
            "campaign_id": campaign,
            "recipients": [{"external_user_id": f"{campaign}/{n}"}],
            "schedule": send_time(3),
        }
        for n in range(2)
    ]
    reconcile = run_dag(
        DAGS, "braze_e2e_events_reconcile_dry_run", run_conf={"scope": scope, "desired": desired}
    )
    assert task_states(reconcile) == {"reconcile": "success"}
    assert fake_braze.received == []
    [event] = _events(reconcile)
    extra = event["extra"]
    assert (extra["dry_run"], extra["sent"], extra["scope"]) == (True, False, scope)
    assert sorted((c["schedule_key"], c["action"]) for c in extra["changes"]) == [
        (scope + "0", "create"),
        (scope + "1", "create"),
    ]
    assert handles_from_events([event], include_dry_run=True) == []  # a plan names no schedule yet
