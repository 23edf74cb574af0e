"""A bulk create's group under a schedule key, and its asset events, in real DAG runs against the fake."""

from __future__ import annotations

import uuid

import pytest

from airflow_braze_schedule.core.group import as_group_handle
from airflow_braze_schedule.events import handles_from_events
from tests.helpers import (
    CAMPAIGN_CREATE,
    CAMPAIGN_DELETE,
    CAMPAIGN_UPDATE,
    HAS_TASK_STATE_STORE,
    campaign_live,
    campaign_requests,
    task_states,
)
from tests.keyed.keyed_support import (
    HAS_ASSET_STATE_STORE,
    group_conf,
    read_registry,
    send_time,
    unique_prefix,
)

DAGS = "braze_e2e_keyed_bulk.py"
KEYED = "braze_e2e_keyed.py"


def _asset_events(uri="braze://braze_default/schedules"):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.uri == uri)
            .order_by(AssetEvent.id)
        ).all()
        return [{"extra": row.extra} for row in rows]


@pytest.mark.slow  # reconcile over groups (test_reconcile_groups_e2e.py) moves and cancels groups too
def test_a_group_under_a_key_from_create_to_cancel(run_dag_logged, fake_braze, registry_kind):
    key = unique_prefix() + "spring-promo"
    campaign = f"campaign-{uuid.uuid4().hex[:8]}"
    time = send_time(days=4)
    create = f"braze_e2e_keyed_bulk_create_{registry_kind}"

    first = run_dag_logged(DAGS, create, run_conf=group_conf(key, campaign, 120, time))
    assert task_states(first.dag_run) == {"bulk": "success"}
    assert campaign_requests(fake_braze, CAMPAIGN_CREATE, campaign) == 3  # 50 + 50 + 20
    live = campaign_live(fake_braze, campaign)
    assert len(live) == 3
    entry = read_registry(registry_kind).require(key)
    assert entry.state == "scheduled"
    assert sorted(c["schedule_id"] for c in entry.handle["chunks"]) == sorted(live)

    # The same audience and request again: nothing sent, the recorded group returned.
    before = len(fake_braze.received)
    second = run_dag_logged(DAGS, create, run_conf=group_conf(key, campaign, 120, time))
    assert task_states(second.dag_run) == {"bulk": "success"}
    assert len(fake_braze.received) == before
    result = second.dag_run.get_task_instance("bulk").xcom_pull(task_ids="bulk")
    assert (result["action"], len(result["chunks"])) == ("unchanged", 3)
    # Another audience under the live key: refused, nothing sent.
    other = run_dag_logged(DAGS, create, run_conf=group_conf(key, campaign, 121, time))
    assert task_states(other.dag_run) == {"bulk": "failed"}
    assert "already has a live schedule" in other.logs["bulk"]
    assert len(fake_braze.received) == before

    # The create's asset event reads back into a group handle the update operator accepts. Events are
    # read back on Airflow 3.3+ (the asset registry's line); before, the handle comes from XCom.
    if HAS_ASSET_STATE_STORE:
        events = _asset_events()
        [created] = [h for h in handles_from_events(events, actions=("create",)) if h["schedule_key"] == key]
        group = as_group_handle(created)
        assert group is not None
        assert sorted(group.schedule_ids) == sorted(live)
        assert (group.recipients, group.campaign_id) == (120, campaign)
    else:
        created = first.dag_run.get_task_instance("bulk").xcom_pull(task_ids="bulk")
    moved = send_time(days=5)
    by_handle = run_dag_logged(
        DAGS,
        "braze_e2e_keyed_bulk_update_by_handle",
        run_conf={
            "handle": {k: v for k, v in created.items() if k not in ("schedule_key", "action")},
            "schedule": moved,
        },
    )
    assert task_states(by_handle.dag_run) == {"update": "success"}
    assert campaign_requests(fake_braze, CAMPAIGN_UPDATE, campaign) == 3
    assert {s.schedule["time"] for s in campaign_live(fake_braze, campaign).values()} == {moved}
    if HAS_ASSET_STATE_STORE:
        [updated_event] = handles_from_events(_asset_events()[-1:], actions=("update",))
        assert sorted(as_group_handle(updated_event).schedule_ids) == sorted(live)

    # Update by key, from another DAG: one update per chunk, recorded.
    later = send_time(days=6)
    updated = run_dag_logged(
        KEYED, f"braze_e2e_keyed_update_{registry_kind}", run_conf={"key": key, "schedule": later}
    )
    assert task_states(updated.dag_run) == {"update": "success"}
    assert campaign_requests(fake_braze, CAMPAIGN_UPDATE, campaign) == 6
    assert {s.schedule["time"] for s in campaign_live(fake_braze, campaign).values()} == {later}
    entry = read_registry(registry_kind).require(key)
    assert (entry.state, entry.outcome) == ("updated", "applied")
    assert entry.handle["schedule"]["time"] == later

    # Cancel by key: every chunk cancelled, recorded, and the event says so with the key.
    cancelled = run_dag_logged(KEYED, f"braze_e2e_keyed_cancel_{registry_kind}", run_conf={"key": key})
    assert task_states(cancelled.dag_run) == {"cancel": "success"}
    assert campaign_requests(fake_braze, CAMPAIGN_DELETE, campaign) == 3
    assert campaign_live(fake_braze, campaign) == {}
    assert read_registry(registry_kind).require(key).state == "cancelled"
    if HAS_ASSET_STATE_STORE:
        [cancel_event] = [
            h for h in handles_from_events(_asset_events(), actions=("cancel",)) if h["schedule_key"] == key
        ]
        assert sorted(as_group_handle(cancel_event).schedule_ids) == sorted(live)
    # Again: a no-op that says so.
    before = len(fake_braze.received)
    again = run_dag_logged(KEYED, f"braze_e2e_keyed_cancel_{registry_kind}", run_conf={"key": key})
    assert task_states(again.dag_run) == {"cancel": "success"}
    assert len(fake_braze.received) == before


# A group key through real DAG runs (about 11 s); make test drives the same steps without Airflow
# (tests/engine/test_group_steps.py), this runs in make test-slow.
@pytest.mark.slow
def test_upsert_of_a_group_creates_leaves_moves_and_replaces_it(run_dag_logged, fake_braze, registry_kind):
    key = unique_prefix() + "summer-promo"
    campaign = f"campaign-{uuid.uuid4().hex[:8]}"
    time = send_time(days=4)
    upsert = f"braze_e2e_keyed_bulk_upsert_{registry_kind}"

    # More users than one request takes: a bulk create, recorded as a group.
    first = run_dag_logged(DAGS, upsert, run_conf=group_conf(key, campaign, 120, time))
    assert task_states(first.dag_run) == {"upsert": "success"}
    assert campaign_requests(fake_braze, CAMPAIGN_CREATE, campaign) == 3
    live = campaign_live(fake_braze, campaign)
    assert len(live) == 3
    entry = read_registry(registry_kind).require(key)
    assert (entry.state, entry.pending) == ("scheduled", None)
    assert entry.content_fingerprint
    assert sorted(c["schedule_id"] for c in entry.handle["chunks"]) == sorted(live)

    # The same again: nothing sent, the recorded group returned.
    before = len(fake_braze.received)
    same = run_dag_logged(DAGS, upsert, run_conf=group_conf(key, campaign, 120, time))
    assert task_states(same.dag_run) == {"upsert": "success"}
    assert len(fake_braze.received) == before
    result = same.dag_run.get_task_instance("upsert").xcom_pull(task_ids="upsert")
    assert (result["action"], len(result["chunks"])) == ("unchanged", 3)

    # Only the time moved: one update per schedule, no create or delete.
    moved = send_time(days=5)
    update = run_dag_logged(DAGS, upsert, run_conf=group_conf(key, campaign, 120, moved))
    assert task_states(update.dag_run) == {"upsert": "success"}
    assert campaign_requests(fake_braze, CAMPAIGN_UPDATE, campaign) == 3
    assert (
        campaign_requests(fake_braze, CAMPAIGN_CREATE, campaign),
        campaign_requests(fake_braze, CAMPAIGN_DELETE, campaign),
    ) == (3, 0)
    assert campaign_live(fake_braze, campaign).keys() == live.keys()
    assert {s.schedule["time"] for s in campaign_live(fake_braze, campaign).values()} == {moved}
    entry = read_registry(registry_kind).require(key)
    assert (entry.state, entry.handle["schedule"]["time"]) == ("updated", moved)
    # ... and the moved group, upserted again as it now is, is left alone.
    before = len(fake_braze.received)
    again = run_dag_logged(DAGS, upsert, run_conf=group_conf(key, campaign, 120, moved))
    assert again.dag_run.get_task_instance("upsert").xcom_pull(task_ids="upsert")["action"] == "unchanged"
    assert len(fake_braze.received) == before

    # Another audience: the old group cancelled (3 deletes), then the new one created (3 creates).
    replaced = run_dag_logged(DAGS, upsert, run_conf=group_conf(key, campaign, 121, moved))
    assert task_states(replaced.dag_run) == {"upsert": "success"}
    assert campaign_requests(fake_braze, CAMPAIGN_DELETE, campaign) == 3
    assert campaign_requests(fake_braze, CAMPAIGN_CREATE, campaign) == 6
    now_live = campaign_live(fake_braze, campaign)
    assert len(now_live) == 3
    assert not (now_live.keys() & live.keys())
    assert sum(len(s.body["recipients"]) for s in now_live.values()) == 121
    entry = read_registry(registry_kind).require(key)
    assert (entry.state, entry.pending) == ("scheduled", None)
    assert sorted(c["schedule_id"] for c in entry.handle["chunks"]) == sorted(now_live)


@pytest.mark.slow  # several DAG runs; `make test-slow`
def test_a_crash_between_the_cancel_and_the_create_of_a_group_is_finished_by_the_retry(
    run_dag_logged, fake_braze, registry_kind
):
    key = unique_prefix() + "autumn-promo"
    campaign = f"campaign-{uuid.uuid4().hex[:8]}"
    time = send_time(days=4)
    run_dag_logged(
        DAGS, f"braze_e2e_keyed_bulk_upsert_{registry_kind}", run_conf=group_conf(key, campaign, 120, time)
    )
    old = campaign_live(fake_braze, campaign)
    assert len(old) == 3

    run = run_dag_logged(
        DAGS, f"braze_e2e_keyed_bulk_crash_{registry_kind}", run_conf=group_conf(key, campaign, 121, time)
    )
    assert "worker lost between the cancel and the create of a group" in run.output
    if not HAS_TASK_STATE_STORE:
        # Before Airflow 3.3 a retried bulk create cannot tell which chunks an earlier try sent, so it
        # refuses to send (the documented degraded behaviour): the old group cancelled once, no new one.
        assert task_states(run.dag_run) == {"upsert": "failed"}
        assert "has no task_state_store (Airflow 3.3+)" in run.output
        assert campaign_requests(fake_braze, CAMPAIGN_DELETE, campaign) == 3
        assert campaign_requests(fake_braze, CAMPAIGN_CREATE, campaign) == 3
        return
    assert task_states(run.dag_run) == {"upsert": "success"}
    assert "left 'group_replace' (creating) under way; settling it first" in run.logs["upsert"]
    # Each old schedule cancelled once, the new group created once: nothing twice, nothing missing.
    assert campaign_requests(fake_braze, CAMPAIGN_DELETE, campaign) == 3
    assert campaign_requests(fake_braze, CAMPAIGN_CREATE, campaign) == 6
    now_live = campaign_live(fake_braze, campaign)
    assert len(now_live) == 3
    assert not (now_live.keys() & old.keys())
    entry = read_registry(registry_kind).require(key)
    assert (entry.state, entry.pending) == ("scheduled", None)
    assert sorted(c["schedule_id"] for c in entry.handle["chunks"]) == sorted(now_live)
