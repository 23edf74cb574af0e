"""Reconcile in real DAG runs against the fake Braze: the plan, and exactly the plan's requests."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.helpers import task_states
from tests.keyed.keyed_support import live_by_user, read_registry, send_time, unique_prefix

DAGS = "braze_e2e_keyed.py"


def _write(path, scope, sends):
    """A JSON Lines desired file: one campaign send per key, to the user named like the key."""
    with open(path, "w", encoding="utf-8") as lines:
        for number, (time, version) in sorted(sends.items()):
            key = f"{scope}order-{number}"
            recipient = {"external_user_id": key, "trigger_properties": {"v": version}}
            lines.write(
                json.dumps(
                    {
                        "schedule_key": key,
                        "campaign_id": "c1",
                        "recipients": [recipient],
                        "schedule": {"time": time},
                    }
                )
                + "\n"
            )
    return str(path)


def _paths(fake_braze, since):
    return Counter(request.path.rsplit("/", 1)[-1] for request in fake_braze.received[since:])


@pytest.mark.slow
def test_reconcile_300_to_350_sends_exactly_the_plans_requests(
    run_dag_logged, fake_braze, registry_kind, tmp_path, record_property
):
    scope = unique_prefix()
    dag_id = f"braze_e2e_keyed_reconcile_{registry_kind}"
    base, moved = send_time(days=3), send_time(days=4)
    existing = {n: (base, 1) for n in range(300)}
    first = run_dag_logged(
        DAGS, dag_id, run_conf={"scope": scope, "desired_path": _write(tmp_path / "a.jsonl", scope, existing)}
    )
    assert task_states(first.dag_run) == {"reconcile": "success"}
    assert len(fake_braze.active_schedules()) == 300

    # 25 removed, 20 moved (update), 20 changed otherwise (replace), 75 new: 350 desired.
    desired = {n: (base, 1) for n in range(25, 300)}
    desired.update({n: (moved, 1) for n in range(25, 45)})
    desired.update({n: (base, 2) for n in range(45, 65)})
    desired.update({n: (base, 1) for n in range(300, 375)})
    assert len(desired) == 350
    since = len(fake_braze.received)
    second = run_dag_logged(
        DAGS, dag_id, run_conf={"scope": scope, "desired_path": _write(tmp_path / "b.jsonl", scope, desired)}
    )
    assert task_states(second.dag_run) == {"reconcile": "success"}
    log = second.logs["reconcile"]
    assert (
        "create 75, update 20, replace 20, cancel 25, unchanged 235, resume 0, frozen 0; 160 requests to send"
        in log
    )
    assert _paths(fake_braze, since) == {"create": 75 + 20, "update": 20, "delete": 20 + 25}
    assert "Reconcile: 140 of 140 keys done" in log

    live = live_by_user(fake_braze)
    assert len(live) == 350
    assert all(len(ids) == 1 for ids in live.values())
    registry = read_registry(registry_kind)
    assert registry.live_schedule_ids(scope) == {key: ids[0] for key, ids in live.items()}

    # Again: nothing to do, nothing sent.
    since = len(fake_braze.received)
    third = run_dag_logged(
        DAGS, dag_id, run_conf={"scope": scope, "desired_path": _write(tmp_path / "b.jsonl", scope, desired)}
    )
    assert task_states(third.dag_run) == {"reconcile": "success"}
    assert len(fake_braze.received) == since
    record_property(
        "figures",
        f"reconcile ({registry_kind} registry): 300 existing -> 350 desired (40 changed, 25 removed): plan "
        "create 75 / update 20 / replace 20 / cancel 25 / unchanged 235 = 160 requests expected, "
        f"{sum(_paths(fake_braze, 0).values()) - 300} sent after the first run; a third run sent 0",
    )


def test_a_dry_run_logs_and_returns_the_plan_and_sends_nothing(
    run_dag_logged, fake_braze, registry_kind, tmp_path
):
    scope = unique_prefix()
    time = send_time()
    existing = {n: (time, 1) for n in range(4)}
    run_dag_logged(
        DAGS,
        f"braze_e2e_keyed_reconcile_{registry_kind}",
        run_conf={"scope": scope, "desired_path": _write(tmp_path / "a.jsonl", scope, existing)},
    )
    before = len(fake_braze.received)
    desired = [
        {
            "schedule_key": f"{scope}order-{n}",
            "campaign_id": "c1",
            "recipients": [{"external_user_id": f"{scope}order-{n}", "trigger_properties": {"v": 1}}],
            "schedule": {"time": time},
        }
        for n in (1, 2, 3, 4)
    ]
    desired[0]["schedule"] = {"time": send_time(days=5)}
    run = run_dag_logged(
        DAGS, f"braze_e2e_keyed_reconcile_dry_{registry_kind}", run_conf={"scope": scope, "desired": desired}
    )
    assert task_states(run.dag_run) == {"reconcile": "success"}
    assert len(fake_braze.received) == before
    result = run.dag_run.get_task_instance("reconcile").xcom_pull(task_ids="reconcile")
    assert result["dry_run"] is True
    assert result["plan"]["keys"]["cancel"] == [f"{scope}order-0"]
    assert result["plan"]["keys"]["update"] == [f"{scope}order-1"]
    assert result["plan"]["keys"]["create"] == [f"{scope}order-4"]
    assert result["plan"]["counts"]["unchanged"] == 2
    assert "Dry run: the plan above was NOT carried out." in run.logs["reconcile"]
