"""The provider in a real Airflow deployment (``make test-deployment``): what users' schedulers, workers
and triggerers do with it, checked against what the fake Braze received.

Every DAG run is triggered through the REST API without a logical date, as the UI's Trigger button does.
Each scenario uses a ``campaign_id`` of its own (in the run's conf), so its requests are told apart.
"""

from __future__ import annotations

import json
import os
import signal
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from airflow_braze_schedule.testing import RateLimited
from scripts.deployment.harness import wait_for

if TYPE_CHECKING:
    from airflow_braze_schedule.testing import FakeBrazeControl, ReceivedRequest
    from scripts.deployment.harness import AirflowApi, Deployment

pytestmark = pytest.mark.deployment

CAMPAIGN_CREATE = "/campaigns/trigger/schedule/create"
CANVAS_CREATE = "/canvas/trigger/schedule/create"
MESSAGES_CREATE = "/messages/schedule/create"
CAMPAIGN_DELETE = "/campaigns/trigger/schedule/delete"
EXAMPLES = [
    "braze_schedule_lifecycle",
    "braze_canvas_daily",
    "braze_message_optimal_time",
    "braze_taskflow",
    "braze_mapped_audiences",
    "braze_bulk_audience",
    "braze_keyed_daily_digest",
    "braze_send_analytics",
]
#: The conf each example is triggered with: the analytics example's send half a minute ahead, not an
#: hour (the time is rendered when its task starts; a busy deployment takes seconds to send it).
EXAMPLE_CONF: dict[str, dict[str, Any]] = {"braze_send_analytics": {"send_delay_seconds": 30}}
FINISHED = ("success", "failed")


def api_of(deployment: Deployment) -> AirflowApi:
    assert deployment.api is not None
    return deployment.api


def creates_for(braze: FakeBrazeControl, path: str, owner: str, value: str) -> list[ReceivedRequest]:
    return [r for r in braze.requests(path) if (r.json or {}).get(owner) == value]


def run_scenario(api: AirflowApi, dag_id: str, campaign_id: str) -> str:
    api.unpause(dag_id)
    return api.trigger(dag_id, {"campaign_id": campaign_id})


def runs_of(api: AirflowApi, dag_id: str) -> list[dict[str, Any]]:
    return list(api.get(f"/dags/{dag_id}/dagRuns", limit=100)["dag_runs"])


# ---------------------------------------------------------------------------------------- the examples


def test_example_dags_triggered_through_the_api(deployment: Deployment, braze: FakeBrazeControl) -> None:
    api = api_of(deployment)
    for dag_id in EXAMPLES:
        api.unpause(dag_id)  # the daily ones also get their latest scheduled run, as for a user
    triggered = {dag_id: api.trigger(dag_id, EXAMPLE_CONF.get(dag_id)) for dag_id in EXAMPLES}

    def all_finished() -> bool:
        return all(r["state"] in FINISHED for d in EXAMPLES for r in runs_of(api, d))

    wait_for("the example DAG runs", all_finished, timeout=420, interval=2)
    runs = {dag_id: runs_of(api, dag_id) for dag_id in EXAMPLES}
    failed = {d: [r["dag_run_id"] for r in rs if r["state"] != "success"] for d, rs in runs.items()}
    assert not any(failed.values()), f"failed runs: {failed}"
    assert all(api.run(d, r)["logical_date"] is None for d, r in triggered.items())

    # The lifecycle: one create, the update keeping local time, the cancel; the schedule is cancelled.
    lifecycle = creates_for(braze, CAMPAIGN_CREATE, "campaign_id", "winter-sale-api-campaign")
    assert [r.status for r in lifecycle] == [200]
    [update] = braze.requests("/campaigns/trigger/schedule/update")
    [delete] = braze.requests("/campaigns/trigger/schedule/delete")
    assert (update.status, delete.status) == (200, 200)
    assert update.json["schedule"]["in_local_time"] is True
    handle = api.xcom("braze_schedule_lifecycle", triggered["braze_schedule_lifecycle"], "schedule_campaign")
    [lifecycle_schedule] = [s for s in braze.schedules() if s.schedule_id == handle["schedule_id"]]
    assert lifecycle_schedule.status == "cancelled"
    assert update.json["schedule_id"] == delete.json["schedule_id"] == handle["schedule_id"]

    # The optimal-time email: one message schedule, for a date.
    [digest] = [r for r in braze.requests(MESSAGES_CREATE) if r.json["schedule"].get("at_optimal_time")]
    assert (digest.status, digest.json["schedule"].get("at_optimal_time")) == (200, True)

    # One create per run of the daily examples, each answered once.
    canvas = creates_for(braze, CANVAS_CREATE, "canvas_id", "onboarding-canvas")
    assert [r.status for r in canvas] == [200] * len(runs["braze_canvas_daily"])
    assert all(len(r.json["recipients"]) == 3 for r in canvas)
    win_back = creates_for(braze, CAMPAIGN_CREATE, "campaign_id", "win-back-api-campaign")
    assert [r.status for r in win_back] == [200] * len(runs["braze_taskflow"])
    audit = api.xcom("braze_taskflow", triggered["braze_taskflow"], "record_schedule")
    assert audit["schedule_id"] in {s.schedule_id for s in braze.active_schedules()}
    assert audit["recipient_count"] == 3

    # The mapped example: chunks of 50, 50 and 20 users per run, every chunk created once.
    chunks = creates_for(braze, CANVAS_CREATE, "canvas_id", "loyalty-tier-canvas")
    assert [r.status for r in chunks] == [200] * 3 * len(runs["braze_mapped_audiences"])
    run_id = triggered["braze_mapped_audiences"]
    ids = api.xcom("braze_mapped_audiences", run_id, "collect_schedule_ids")
    assert len(set(ids)) == 3
    assert ids_are_held(braze, ids)
    sizes = sorted(len(r.json["recipients"]) for r in chunks)
    assert sizes == sorted([50, 50, 20] * len(runs["braze_mapped_audiences"]))

    # The bulk audience: 12,000 users in 240 chunks of 50, each user scheduled once, and the group handle
    # naming exactly the schedules the fake holds; the cleanup did not run.
    bulk = creates_for(braze, CAMPAIGN_CREATE, "campaign_id", "spring-loyalty-api-campaign")
    assert [r.status for r in bulk] == [200] * 240
    users = [u["external_user_id"] for r in bulk for u in r.json["recipients"]]
    assert len(users) == len(set(users)) == 12_000
    group = api.xcom("braze_bulk_audience", triggered["braze_bulk_audience"], "schedule_audience")
    held = {s.schedule_id for s in braze.active_schedules() if s.campaign_id == "spring-loyalty-api-campaign"}
    assert {chunk["schedule_id"] for chunk in group["chunks"]} == held
    assert len(held) == 240
    cleanup = api.task_instance("braze_bulk_audience", triggered["braze_bulk_audience"], "cancel_on_failure")
    assert cleanup["state"] == "skipped"

    # The keyed digest: its scheduled run and the triggered one (one at a time) upsert one key: created
    # once, then left as it is.
    digests = [
        r for r in braze.requests(MESSAGES_CREATE) if r.json["messages"]["email"]["app_id"] == "digest-app"
    ]
    assert [r.status for r in digests] == [200]
    actions = sorted(
        api.xcom("braze_keyed_daily_digest", r["dag_run_id"], "upsert_digest")["action"]
        for r in runs["braze_keyed_daily_digest"]
    )
    assert actions == ["create"] + ["unchanged"] * (len(actions) - 1)

    # The send analytics: a send id, the campaign scheduled under it, the sensor waited in the triggerer
    # until the send went out, and the warehouse rows carry the fake's figures for it.
    [send_id_create] = braze.requests("/sends/id/create")
    send_id = send_id_create.json["send_id"]
    assert (send_id_create.status, send_id_create.json["campaign_id"]) == (200, "spring-sale-api-campaign")
    [analytics] = creates_for(braze, CAMPAIGN_CREATE, "campaign_id", "spring-sale-api-campaign")
    assert (analytics.status, analytics.json["send_id"]) == (200, send_id)
    rows = api.xcom("braze_send_analytics", triggered["braze_send_analytics"], "load_to_warehouse")
    day = analytics.json["schedule"]["time"][:10]
    assert rows == [{"send_id": send_id, "day": day, "channel": "email", "sent": 2, "delivered": 2}]


def ids_are_held(braze: FakeBrazeControl, ids: list[str]) -> bool:
    held = {s.schedule_id for s in braze.active_schedules()}
    return set(ids) <= held


# ---------------------------------------------------------------------------------------- the scenarios


def test_rate_limit_deferral_is_resumed_by_the_triggerer(
    deployment: Deployment, braze: FakeBrazeControl
) -> None:
    api = api_of(deployment)
    campaign = f"deferral-{deployment.configuration}"  # type: ignore[attr-defined]
    reset_in = 10.0  # the DAG's policy waits 1 s at most in the worker: longer than that, it defers
    braze.inject(RateLimited(reset_in=reset_in), path=CAMPAIGN_CREATE)
    dag_id = "deployment_rate_limited_create"

    run_id = run_scenario(api, dag_id, campaign)
    deferred = wait_for(
        "the create to defer",
        lambda: (ti := api.task_instance(dag_id, run_id, "create"))["state"] == "deferred" and ti,
        timeout=120,
        interval=0.5,
    )
    assert deferred["trigger"]["classpath"].endswith("DateTimeTrigger")
    wait_for(
        "the triggerer to take the trigger",
        lambda: api.task_instance(dag_id, run_id, "create").get("triggerer_job") or None,
        timeout=60,
        interval=0.5,
    )

    assert api.wait_run(dag_id, run_id) == "success"
    first, second = creates_for(braze, CAMPAIGN_CREATE, "campaign_id", campaign)
    assert (first.status, first.fault, second.status) == (429, "RateLimited", 200)
    assert second.at >= first.at + reset_in  # resumed after the reset Braze advertised, not before
    ti = api.task_instance(dag_id, run_id, "create")
    assert ti["try_number"] == 1  # waiting for a rate limit used no Airflow retry
    assert api.xcom(dag_id, run_id, "create")["schedule_id"] == braze.active_schedules()[0].schedule_id
    assert "deferring until" in api.log(dag_id, run_id, "create", 1)


def test_a_task_killed_mid_create_is_not_resent_by_its_retry(
    deployment: Deployment, braze: FakeBrazeControl
) -> None:
    api = api_of(deployment)
    campaign = f"killed-{deployment.configuration}"  # type: ignore[attr-defined]
    dag_id = "deployment_create_with_retries"
    braze.set_latency(60.0, path=CAMPAIGN_CREATE)  # the create stays in flight until we kill its task
    try:
        run_id = run_scenario(api, dag_id, campaign)
        [in_flight] = wait_for(
            "the create to reach Braze",
            lambda: creates_for(braze, CAMPAIGN_CREATE, "campaign_id", campaign),
            timeout=120,
            interval=0.2,
        )
        assert in_flight.status is None
        ti = api.task_instance(dag_id, run_id, "create")
        assert (ti["state"], ti["try_number"]) == ("running", 1)
        pid = int(ti["pid"])
        os.kill(pid, signal.SIGKILL)

        assert api.wait_run(dag_id, run_id) == "failed"
    finally:
        braze.set_latency(0, path=CAMPAIGN_CREATE)

    ti = api.task_instance(dag_id, run_id, "create")
    assert (ti["state"], ti["try_number"]) == ("failed", 2)  # the retry ran, and refused to send
    assert len(creates_for(braze, CAMPAIGN_CREATE, "campaign_id", campaign)) == 1
    retry_log = " ".join(api.log(dag_id, run_id, "create", 2).split())
    assert "A schedule may exist whose schedule_id is unknown" in retry_log


def test_a_clear_after_success_returns_the_same_schedule(
    deployment: Deployment, braze: FakeBrazeControl
) -> None:
    api = api_of(deployment)
    campaign = f"cleared-{deployment.configuration}"  # type: ignore[attr-defined]
    dag_id = "deployment_create_with_retries"
    run_id = run_scenario(api, dag_id, campaign)
    assert api.wait_run(dag_id, run_id) == "success"
    first = api.xcom(dag_id, run_id, "create")

    api.post(
        f"/dags/{dag_id}/clearTaskInstances",
        {
            "dry_run": False,
            "dag_run_id": run_id,
            "task_ids": ["create"],
            "only_failed": False,
            "reset_dag_runs": True,
        },
    )
    wait_for(
        "the cleared task to run again",
        lambda: api.task_instance(dag_id, run_id, "create")["try_number"] == 2,
        60,
    )
    assert api.wait_run(dag_id, run_id) == "success"

    again = api.xcom(dag_id, run_id, "create")
    assert again["schedule_id"] == first["schedule_id"]
    assert [r.status for r in creates_for(braze, CAMPAIGN_CREATE, "campaign_id", campaign)] == [200]
    assert [s.schedule_id for s in braze.active_schedules()] == [first["schedule_id"]]


def test_a_failed_check_fails_the_run_while_its_cleanup_teardown_cancels_the_send(
    deployment: Deployment, braze: FakeBrazeControl
) -> None:
    """The Canvas example's data check fails after the send was scheduled: its teardown (the run's cleanup
    leaf) cancels the send and succeeds, and the scheduler still marks the run failed, by the check."""
    if deployment.executor != "LocalExecutor":
        pytest.skip("one deployment is enough: the scheduler decides a run's state, whatever the executor")
    api = api_of(deployment)
    dag_id = "braze_canvas_daily"
    canvas = f"bad-data-{uuid.uuid4().hex[:8]}"
    api.unpause(dag_id)
    run_id = api.trigger(dag_id, {"canvas_id": canvas, "simulate_bad_data": True})

    assert api.wait_run(dag_id, run_id) == "failed"
    states = {ti["task_id"]: ti["state"] for ti in api.task_instances(dag_id, run_id)}
    assert states == {
        "find_recipients": "success",
        "schedule_canvas": "success",
        "check_data": "failed",
        "cancel_canvas_send": "success",
    }
    [create] = creates_for(braze, CANVAS_CREATE, "canvas_id", canvas)
    [delete] = creates_for(braze, "/canvas/trigger/schedule/delete", "canvas_id", canvas)
    assert (create.status, delete.status) == (200, 200)
    assert not [s for s in braze.active_schedules() if s.canvas_id == canvas]


def test_mapped_creates_are_each_sent_once_across_the_workers(
    deployment: Deployment, braze: FakeBrazeControl
) -> None:
    api = api_of(deployment)
    campaign = f"mapped-{deployment.configuration}"  # type: ignore[attr-defined]
    dag_id = "deployment_mapped_creates"
    braze.set_latency(1.0, path=CAMPAIGN_CREATE)  # each create holds its worker a moment: both get work

    run_id = run_scenario(api, dag_id, campaign)
    assert api.wait_run(dag_id, run_id) == "success"

    tis = [ti for ti in api.task_instances(dag_id, run_id) if ti["task_id"] == "create_chunk"]
    assert sorted(ti["map_index"] for ti in tis) == list(range(6))
    assert all(ti["state"] == "success" and ti["try_number"] == 1 for ti in tis)
    creates = creates_for(braze, CAMPAIGN_CREATE, "campaign_id", campaign)
    assert [r.status for r in creates] == [200] * 6
    users = [u["external_user_id"] for r in creates for u in r.json["recipients"]]
    assert sorted(users) == sorted(f"user-80{n}{m}" for n in range(6) for m in range(3))  # no chunk twice
    handles = [api.xcom(dag_id, run_id, "create_chunk", map_index=i) for i in range(6)]
    assert len({h["schedule_id"] for h in handles}) == 6
    if deployment.executor == "CeleryExecutor":
        hosts = {ti["hostname"].split("@")[0] for ti in tis}
        assert hosts == {"worker1", "worker2"}, f"task instances ran on {sorted(hosts)}"


def test_a_backfill_of_past_days_schedules_each_send_ahead(
    deployment: Deployment, braze: FakeBrazeControl
) -> None:
    if deployment.executor != "LocalExecutor":
        pytest.skip("one deployment is enough: a backfill is the scheduler's work, whatever the executor")
    api = api_of(deployment)
    dag_id = "braze_taskflow"
    api.unpause(dag_id)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first_day, last_day = today - timedelta(days=5), today - timedelta(days=4)

    backfill = api.post(
        "/backfills",
        {
            "dag_id": dag_id,
            "from_date": first_day.isoformat(),
            "to_date": last_day.isoformat(),
            "max_active_runs": 2,
        },
    )

    def backfill_runs() -> list[dict[str, Any]]:
        return [r for r in runs_of(api, dag_id) if r["run_type"] == "backfill"]

    wait_for(
        "the backfill's runs",
        lambda: len(backfill_runs()) == 2 and all(r["state"] in FINISHED for r in backfill_runs()),
        timeout=300,
        interval=2,
    )
    runs = backfill_runs()
    assert {r["state"] for r in runs} == {"success"}
    assert sorted(r["logical_date"][:10] for r in runs) == [
        first_day.date().isoformat(),
        last_day.date().isoformat(),
    ]
    wait_for(
        "the scheduler to close the backfill",
        lambda: api.get(f"/backfills/{backfill['id']}")["completed_at"],
        60,
    )
    creates = creates_for(braze, CAMPAIGN_CREATE, "campaign_id", "win-back-api-campaign")
    assert [r.status for r in creates] == [200, 200]
    for create in creates:  # a past day's send goes out at the next 10:00 still ahead, not in the past
        sent_for = datetime.fromisoformat(create.json["schedule"]["time"]).replace(tzinfo=UTC)
        assert sent_for > datetime.fromtimestamp(create.at, UTC)


# ---------------------------------------------------------------------------------------- keyed schedules


def set_variable(api: AirflowApi, key: str, value: Any) -> None:
    api.post("/variables", {"key": key, "value": json.dumps(value)})


def test_a_keyed_change_runs_the_reacting_dag_through_its_asset_event(
    deployment: Deployment, braze: FakeBrazeControl
) -> None:
    """The reminders example reconciles two open orders; the scheduler runs the changes example from the
    asset event that made, and it cancels the reminder of the order the Variable lists as shipped.

    Unpausing the daily reminders DAG brings its latest scheduled run first; the run triggered through
    the API comes once that run's reactions are over, and (the shipped order still being listed as
    open) creates its reminder again, which the reaction to its own event cancels again.
    """
    if deployment.executor != "CeleryExecutor":
        pytest.skip("one deployment is enough: the scheduler turns events into runs, whatever the executor")
    api = api_of(deployment)
    keyed, reacting = "braze_keyed_order_reminders", "braze_keyed_schedule_changes"
    kept, shipped = "order-kept", "order-shipped"
    shipped_key = f"orders/{shipped}/reminder"
    remind_on = (datetime.now(UTC) + timedelta(days=20)).date().isoformat()
    orders = [
        {"order_id": kept, "user": "user-9101", "remind_on": remind_on},
        {"order_id": shipped, "user": "user-9102", "remind_on": remind_on},
    ]
    set_variable(api, "braze_example_orders", orders)
    set_variable(api, "braze_example_shipped", [shipped])

    def reminders_of(user: str) -> list[Any]:
        return [
            s
            for s in braze.schedules()
            if (s.body.get("recipients") or [{}])[0].get("external_user_id") == user
        ]

    def settled(reminders: int) -> bool:
        """Every run over, the shipped order's ``reminders`` all cancelled, and the last reaction
        found nothing to cancel (so it emitted no event: no further run comes)."""
        keyed_runs, reacting_runs = runs_of(api, keyed), runs_of(api, reacting)
        if not reacting_runs or any(r["state"] not in FINISHED for r in keyed_runs + reacting_runs):
            return False
        shipped_reminders = reminders_of("user-9102")
        if len(shipped_reminders) != reminders or any(s.status != "cancelled" for s in shipped_reminders):
            return False
        last = max(reacting_runs, key=lambda r: r["queued_at"] or "")
        return api.xcom(reacting, last["dag_run_id"], "reminders_of_shipped_orders") == []

    api.unpause(reacting)
    try:
        api.unpause(keyed)
        wait_for("the scheduled reminders and the reactions to them", lambda: settled(1), 180, interval=2)
        run_id = api.trigger(keyed)
        wait_for("the triggered reminders and the reactions to them", lambda: settled(2), 180, interval=2)
    finally:
        for dag_id in (reacting, keyed):  # events of later tests must not start either
            api.patch(f"/dags/{dag_id}", {"is_paused": True}, update_mask="is_paused")

    keyed_runs = runs_of(api, keyed)
    assert {r["state"] for r in keyed_runs} == {"success"}
    assert api.run(keyed, run_id)["triggered_by"] == "rest_api"

    # Every run of the reacting DAG was made by the scheduler from asset events; one of them from the
    # event of the run triggered through the API, announcing the shipped order's reminder.
    reacting_runs = runs_of(api, reacting)
    assert {(r["run_type"], r["triggered_by"], r["state"]) for r in reacting_runs} == {
        ("asset_triggered", "asset", "success")
    }
    reactions = []
    for run in reacting_runs:
        path = f"/dags/{reacting}/dagRuns/{run['dag_run_id']}/upstreamAssetEvents"
        events = api.get(path)["asset_events"]
        assert {event["uri"] for event in events} == {"braze://braze_default/schedules"}
        announced = {
            change["schedule_key"]
            for event in events
            if (event["source_dag_id"], event["source_run_id"]) == (keyed, run_id)
            for change in (event.get("extra") or {}).get("changes", [])
            if change.get("action") == "create"
        }
        if announced:
            assert announced == {shipped_key}  # the kept order's reminder was left as it was
            reactions.append(run["dag_run_id"])
    [reaction] = reactions
    assert api.xcom(reacting, reaction, "reminders_of_shipped_orders") == [shipped_key]
    assert api.task_instance(reacting, reaction, "cancel_shipped", map_index=0)["state"] == "success"

    # What the fake holds: the kept order's reminder created once and live; both reminders of the
    # shipped order cancelled by the reacting DAG, a delete for each.
    [kept_reminder] = reminders_of("user-9101")
    assert kept_reminder.status == "scheduled"
    assert kept_reminder.schedule["time"] == f"{remind_on}T10:00:00"
    shipped_ids = {s.schedule_id for s in reminders_of("user-9102")}
    deletes = [r.json["schedule_id"] for r in braze.requests(CAMPAIGN_DELETE) if r.status == 200]
    assert len(shipped_ids) == 2
    assert sorted(deletes) == sorted(shipped_ids)


def test_new_keys_created_by_parallel_tasks_are_all_listed(
    deployment: Deployment, braze: FakeBrazeControl
) -> None:
    """Twelve mapped upserts, running at the same moment, each create a new key of one connection: the
    asset registry must list all twelve (a reconcile of the prefix would see them), and a later task
    must find each by key."""
    if deployment.executor != "LocalExecutor":
        pytest.skip("one deployment is enough: the LocalExecutor runs the twelve tasks at once")
    api = api_of(deployment)
    dag_id = "deployment_keyed_new_keys"
    prefix = f"race-{uuid.uuid4().hex[:8]}"
    api.unpause(dag_id)
    run_id = api.trigger(dag_id, {"prefix": prefix})
    assert api.wait_run(dag_id, run_id, timeout=300) == "success"

    upserts = [ti for ti in api.task_instances(dag_id, run_id) if ti["task_id"] == "upsert_new_key"]
    assert sorted(ti["map_index"] for ti in upserts) == list(range(12))
    # All twelve were running at one moment: the registry writes really overlapped.
    assert max(ti["start_date"] for ti in upserts) < min(ti["end_date"] for ti in upserts)
    creates = creates_for(braze, CAMPAIGN_CREATE, "campaign_id", "deployment-race-campaign")
    assert [r.status for r in creates] == [200] * 12

    listed = api.xcom(dag_id, run_id, "list_keys")
    missing = sorted({f"{prefix}/{n}" for n in range(12)} - set(listed))
    assert not missing, f"the registry lists {len(listed)} of 12 new keys; missing: {missing}"
    # Each new key lives in its writer's pages only; a fresh task finds it by key all the same.
    found = api.xcom(dag_id, run_id, "find_keys")
    assert found == {f"{prefix}/{n}": "scheduled" for n in range(12)}
