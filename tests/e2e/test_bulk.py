"""The bulk create in real DAG runs against the fake Braze over loopback HTTP.

What must hold whatever happens: the union of the users Braze scheduled is exactly the audience, each
user once; every schedule Braze holds is in the group handle (or, for a failed task, in XCom and the
failure message); update and cancel reach every schedule of a group.
"""

from __future__ import annotations

import collections
import json
import re

import pytest

from airflow_braze_schedule.testing import (
    Delay,
    DropAfterProcessing,
    DropBeforeProcessing,
    HtmlError,
    RateLimited,
    Status,
)
from tests.helpers import HAS_TASK_STATE_STORE, task_states

pytestmark = pytest.mark.usefixtures("airflow_db")

DAG_FILE = "braze_e2e_bulk.py"


def users_of(schedule) -> list[str]:
    body = schedule.body
    if "recipients" in body:
        return [r["external_user_id"] for r in body["recipients"]]
    return list(body.get("external_user_ids", [])) + [a["alias_name"] for a in body.get("user_aliases", [])]


def schedules_of(fake, owner: str) -> list:
    """The schedules of one campaign or Canvas. (A create delayed past its client's timeout by an
    earlier test's fault still lands later, in whatever test then runs: tests look at their own.)"""
    return [s for s in fake.schedules.values() if owner in (s.campaign_id, s.canvas_id)]


def scheduled_users(fake, owner: str) -> collections.Counter[str]:
    return collections.Counter(
        user
        for schedule in fake.schedules.values()
        if owner in (schedule.campaign_id, schedule.canvas_id)
        or (owner == "messages" and schedule.kind == "message")
        for user in users_of(schedule)
    )


@pytest.mark.slow  # several DAG runs; `make test-slow`
def test_three_sources_then_update_and_cancel_every_schedule(run_dag, fake_braze):
    dag_run = run_dag(DAG_FILE, "braze_e2e_bulk_sources")
    assert set(task_states(dag_run).values()) == {"success"}, task_states(dag_run)
    for task_id, owner, count in (
        ("from_list", "from-list", 2500),
        ("from_xcom", "from-xcom", 2500),
        ("from_file", "from-file", 2500),
        ("messages", "messages", 150),
    ):
        users = scheduled_users(fake_braze, owner)
        expected = (
            {f"{owner}/{n}" for n in range(count)}
            if owner != "messages"
            else ({f"messages/{n}" for n in range(120)} | {f"messages/a{n}" for n in range(30)})
        )
        assert set(users) == expected, task_id
        assert max(users.values()) == 1, task_id
        handle = dag_run.get_task_instance(task_id).xcom_pull(task_ids=task_id)
        schedules = [
            s
            for s in fake_braze.schedules.values()
            if s.schedule_id in set(handle and [c["schedule_id"] for c in handle["chunks"]])
        ]
        assert handle["recipients"] == count
        assert len(handle["chunks"]) == -(-count // 50)
        assert [c["position"] for c in handle["chunks"]] == list(range(len(handle["chunks"])))
        assert {s.schedule_id for s in schedules} == {c["schedule_id"] for c in handle["chunks"]}
        ids = dag_run.get_task_instance(task_id).xcom_pull(task_ids=task_id, key="schedule_ids")
        assert ids == [c["schedule_id"] for c in handle["chunks"]]
        # Update reached every schedule and kept its local-time flag; cancel reached every schedule.
        for schedule in schedules:
            assert schedule.status == "cancelled"
            assert schedule.schedule == {
                "time": "2099-01-03T10:00:00",
                "in_local_time": True,
                "at_optimal_time": False,
            }
        cancelled = dag_run.get_task_instance(f"cancel_{task_id}").xcom_pull(task_ids=f"cancel_{task_id}")
        assert cancelled["cancelled"] is True
        assert [c["schedule_id"] for c in cancelled["chunks"]] == ids


@pytest.mark.slow  # several DAG runs; `make test-slow`
def test_chunk_boundaries(run_dag, fake_braze):
    from tests.dags.braze_e2e_bulk import BOUNDARIES

    dag_run = run_dag(DAG_FILE, "braze_e2e_bulk_boundaries")
    assert set(task_states(dag_run).values()) == {"success"}, task_states(dag_run)
    for count in BOUNDARIES:
        for source in ("list", "file"):
            owner = f"{source}-{count}"
            users = scheduled_users(fake_braze, owner)
            assert set(users) == {f"{owner}/{n}" for n in range(count)}, owner
            assert not users or max(users.values()) == 1
            sizes = [len(users_of(s)) for s in fake_braze.schedules.values() if s.campaign_id == owner]
            assert sorted(sizes, reverse=True) == [50] * (count // 50) + ([count % 50] if count % 50 else [])
            handle = dag_run.get_task_instance(f"{source}_{count}").xcom_pull(task_ids=f"{source}_{count}")
            assert handle["recipients"] == count
            assert sum(c["recipients"] for c in handle["chunks"]) == count


def test_a_bad_recipient_deep_in_a_file_fails_before_anything_is_sent(run_dag_logged, fake_braze):
    run = run_dag_logged(DAG_FILE, "braze_e2e_bulk_checks")
    states = task_states(run.dag_run)
    assert states["bad_recipient"] == "failed"
    assert "recipients_path line 2,719: user_alias.alias_label: is missing" in run.logs["bad_recipient"]
    assert fake_braze.requests_to("/campaigns/trigger/schedule/create") == []
    # The dry run validated every chunk, sent nothing and logged the plan.
    assert states["dry_run"] == "success"
    assert "120 recipients in 3 chunks of at most 50" in run.logs["dry_run"]
    assert fake_braze.received == []


def test_one_refused_chunk_does_not_lose_the_others(run_dag_logged, fake_braze):
    fake_braze.inject(
        Status(400, body={"message": "Invalid user alias"}), path="/campaigns/trigger/schedule/create"
    )
    run = run_dag_logged(DAG_FILE, "braze_e2e_bulk_refused")
    assert task_states(run.dag_run)["create"] == "failed"
    assert len(fake_braze.active_schedules()) == 9
    log = run.logs["create"]
    assert "9 of 10 chunks created (450 of 500 recipients)" in log
    assert "Invalid user alias" in log
    ids = run.dag_run.get_task_instance("create").xcom_pull(task_ids="create", key="schedule_ids")
    assert set(ids) == {s.schedule_id for s in fake_braze.active_schedules()}
    partial = run.dag_run.get_task_instance("create").xcom_pull(task_ids="create")
    assert partial["complete"] is False
    assert len(partial["chunks"]) == 9


FAULTS = [
    RateLimited(reset_in=0.2),
    Status(500),
    Status(503),
    HtmlError(502),
    Delay(1.0),  # past the 0.5 s timeout below
    DropBeforeProcessing(),
    DropAfterProcessing(),
]


@pytest.mark.skipif(not HAS_TASK_STATE_STORE, reason="resuming needs task_state_store (Airflow 3.3+)")
@pytest.mark.slow  # several DAG runs; `make test-slow`
def test_fault_campaign_during_a_bulk_create(run_dag_logged, fake_braze, monkeypatch, record_property):
    conn = fake_braze.airflow_connection()
    conn["extra"]["timeout"] = 0.5
    monkeypatch.setenv("AIRFLOW_CONN_BRAZE_DEFAULT", json.dumps(conn))
    fake_braze.set_chaos(0.25, FAULTS, seed=20261130)
    run = run_dag_logged(DAG_FILE, "braze_e2e_bulk_faults")
    ti = run.dag_run.get_task_instance("create")
    received = fake_braze.requests_to("/canvas/trigger/schedule/create")
    faulted = [r for r in received if r.fault]
    schedules = schedules_of(fake_braze, "faults")
    users = collections.Counter(user for s in schedules for user in users_of(s))
    ids = set(ti.xcom_pull(task_ids="create", key="schedule_ids") or [])
    log = run.logs["create"]
    unexplained = [s.schedule_id for s in schedules if s.schedule_id not in ids and users_of(s)[0] not in log]
    record_property(
        "figures",
        f"\nBulk fault campaign: 5,000 recipients, {len(received)} calls, {len(faulted)} faulted "
        f"({len(faulted) / len(received):.0%}), {ti.try_number} tries, final state {ti.state}\n"
        f"  schedules held by Braze: {len(schedules)}, in XCom: {len(ids)}, users scheduled twice: "
        f"{sum(c - 1 for c in users.values())}, schedules neither in XCom nor named: {len(unexplained)}",
    )
    assert len(faulted) >= 0.2 * len(received)
    assert max(users.values()) == 1  # nobody scheduled twice
    assert unexplained == []  # every schedule Braze holds is in XCom, or its recipients are named
    if ti.state == "success":
        assert set(users) == {f"faults/{n}" for n in range(5000)}
    else:
        assert "Outcome unknown" in log


@pytest.mark.skipif(not HAS_TASK_STATE_STORE, reason="resuming needs task_state_store (Airflow 3.3+)")
def test_a_retry_after_the_worker_died_resumes_without_duplicates(run_dag_logged, fake_braze):
    fake_braze.set_latency(0.01)  # so that chunks are in flight when the worker dies
    try:
        run = run_dag_logged(DAG_FILE, "braze_e2e_bulk_crash")
    finally:
        fake_braze.set_latency(0)
    ti = run.dag_run.get_task_instance("create")
    log = run.logs["create"]
    assert ti.try_number == 2, log[-3000:]
    assert "the worker died" in log
    assert "Resuming: an earlier try created" in log
    users = collections.Counter(user for s in schedules_of(fake_braze, "crash") for user in users_of(s))
    assert max(users.values()) == 1
    ids = set(ti.xcom_pull(task_ids="create", key="schedule_ids"))
    # Every schedule either try created is in XCom, or (in flight when the worker died: its outcome is
    # unknown) its recipients are named in the failure message.
    unnamed = [
        s.schedule_id
        for s in schedules_of(fake_braze, "crash")
        if s.schedule_id not in ids and f"external_user_id:{users_of(s)[0]}" not in log
    ]
    assert unnamed == []
    # The retry sent what the first try had not: every user is scheduled, or named as unknown.
    named = set(re.findall(r"external_user_id:(crash/\d+)", log))
    assert set(users) | named == {f"crash/{n}" for n in range(3000)}
    creates = fake_braze.requests_to("/campaigns/trigger/schedule/create")
    sent_users = collections.Counter(
        user for r in creates for user in (x["external_user_id"] for x in r.json["recipients"])
    )
    assert max(sent_users.values()) == 1  # no chunk was sent twice
    if ti.state == "success":
        assert set(users) == {f"crash/{n}" for n in range(3000)}
    else:  # chunks in flight when the worker died: unknown outcome, not resent, named
        assert "Outcome unknown" in log
        missing = {f"crash/{n}" for n in range(3000)} - set(users)
        assert all(f"external_user_id:{user}" in log for user in missing)


# --- tries of one task, driven directly: execute() with the same task_state_store -----------------------


class Store:
    """A task_state_store: what one task instance's tries share."""

    def __init__(self):
        self.data = {}

    def get(self, key, default=None):
        return json.loads(self.data[key]) if key in self.data else default

    def set(self, key, value, *, retention=None):
        self.data[key] = json.dumps(value)


class TaskInstance:
    def __init__(self, try_number):
        self.try_number, self.xcom = try_number, {}

    def xcom_push(self, key, value):
        self.xcom[key] = value


def run_try(store, try_number, count=500, **kwargs):
    from airflow_braze_schedule.operators import BrazeBulkCreateScheduleOperator
    from tests.dags.braze_e2e_bulk import SCHEDULE, recipients

    operator = BrazeBulkCreateScheduleOperator(
        task_id="bulk",
        campaign_id="tries",
        schedule=SCHEDULE,
        recipients=recipients("tries", count),
        **kwargs,
    )
    ti = TaskInstance(try_number)
    return operator.execute({"ti": ti, "task_state_store": store}), ti


def test_a_cleared_task_returns_its_group_and_sends_nothing(fake_braze):
    store = Store()
    first, _ = run_try(store, 1)
    sent = len(fake_braze.received)
    again, ti = run_try(store, 2)
    assert again == first
    assert ti.xcom["schedule_ids"] == [c["schedule_id"] for c in first["chunks"]]
    assert len(fake_braze.received) == sent == 10


def test_a_changed_audience_is_not_resumed(fake_braze):
    from airflow.providers.common.compat.sdk import AirflowFailException

    store = Store()
    run_try(store, 1)
    with pytest.raises(AirflowFailException, match="worked on another audience or request"):
        run_try(store, 2, count=501)
    assert len(schedules_of(fake_braze, "tries")) == 10


def test_a_chunk_whose_answer_was_lost_is_never_resent_unless_asked(fake_braze):
    from airflow.providers.common.compat.sdk import AirflowFailException

    store = Store()
    fake_braze.inject(DropAfterProcessing(), path="/campaigns/trigger/schedule/create")
    with pytest.raises(AirflowFailException) as caught:
        run_try(store, 1, max_concurrency=1)
    message = str(caught.value)
    assert "9 of 10 chunks created (450 of 500 recipients)" in message
    assert "Outcome unknown" in message
    assert "external_user_id:tries/0, external_user_id:tries/1," in message  # its recipients, named
    assert len(schedules_of(fake_braze, "tries")) == 10  # Braze did create it
    with pytest.raises(AirflowFailException, match="an earlier try sent it and never recorded"):
        run_try(store, 2)
    assert len(fake_braze.requests_to("/campaigns/trigger/schedule/create")) == 10  # nothing resent
    group, _ = run_try(store, 3, on_unknown_outcome="resend")
    assert len(group["chunks"]) == 10
    assert len(fake_braze.requests_to("/campaigns/trigger/schedule/create")) == 11  # only that chunk


def test_a_retry_without_task_state_store_refuses_to_send(fake_braze):
    from airflow.providers.common.compat.sdk import AirflowFailException

    with pytest.raises(AirflowFailException, match="no task_state_store"):
        run_try(None, 2)
    assert fake_braze.received == []
