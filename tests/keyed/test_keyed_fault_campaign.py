"""The keyed fault campaign: reconcile and replace under faults, with Airflow retries on.

A quarter of Braze's answers are faulted (rate limits, 5xx, HTML error pages, timeouts, connections
dropped before or after Braze acted), and a worker is lost between the cancel and the create of a
replace. What must hold: no key ever has two live schedules, and every live schedule is either the one
the registry names for its key or one the registry flags as "create sent, answer never came" (Braze
offers no lookup, so such a schedule cannot be named; it is reported, never resent blindly).
"""

from __future__ import annotations

import collections
import json

import pytest

from airflow_braze_schedule.testing import (
    Delay,
    DropAfterProcessing,
    DropBeforeProcessing,
    HtmlError,
    RateLimited,
    Status,
)
from tests.keyed.keyed_support import live_by_user, read_registry, send_time, unique_prefix

DAGS = "braze_e2e_keyed.py"
FAULT_RATE = 0.25
FAULTS = [
    RateLimited(reset_in=0.5),
    Status(500),
    Status(503),
    HtmlError(502),
    Delay(1.0),  # past the 0.5 s timeout below
    DropBeforeProcessing(),
    DropAfterProcessing(),
]
KEYS = 60


def _desired(scope, versions):
    return [
        {
            "schedule_key": f"{scope}{n}",
            "campaign_id": "c1",
            "recipients": [{"external_user_id": f"{scope}{n}", "trigger_properties": {"v": version}}],
            "schedule": {"time": time},
        }
        for n, (time, version) in sorted(versions.items())
    ]


@pytest.mark.slow
def test_keyed_fault_campaign(
    run_dag_logged, fake_braze, registry_kind, tmp_path, monkeypatch, record_property
):
    conn = fake_braze.airflow_connection()
    conn["extra"]["timeout"] = 0.5
    monkeypatch.setenv("AIRFLOW_CONN_BRAZE_DEFAULT", json.dumps(conn))
    fake_braze.set_chaos(FAULT_RATE, FAULTS, seed=20261130)
    scope = unique_prefix()
    base, moved = send_time(days=3), send_time(days=4)
    # Four desired sets: all new; 10 moved, 10 changed, 10 removed, 10 new; more of the same; the same again.
    rounds = [{n: (base, 1) for n in range(KEYS)}]
    second = {n: (base, 1) for n in range(10, KEYS + 10)}
    second.update({n: (moved, 1) for n in range(10, 20)})
    second.update({n: (base, 2) for n in range(20, 30)})
    rounds.append(second)
    third = dict(second)
    third.update({n: (base, 3) for n in range(30, 40)})
    for n in range(60, 70):
        third.pop(n)
    rounds += [third, third]

    tries = failed_runs = 0
    dag_id = f"braze_e2e_keyed_reconcile_{registry_kind}"
    for number, versions in enumerate(rounds):
        path = tmp_path / f"desired-{number}.jsonl"
        path.write_text("\n".join(json.dumps(item) for item in _desired(scope, versions)))
        run = run_dag_logged(DAGS, dag_id, run_conf={"scope": scope, "desired_path": str(path)})
        ti = run.dag_run.get_task_instances()[0]
        tries += ti.try_number
        failed_runs += ti.state != "success"

    # A worker lost between the cancel and the create of a replace, under the same faults.
    crash_keys = [f"{scope}crash-{n}" for n in range(5)]
    for key in crash_keys:
        for user in ("old", "new"):
            conf = {"key": key, "recipients": [{"external_user_id": f"{key}/{user}"}], "schedule": base}
            dag = "upsert" if user == "old" else "crash"
            run = run_dag_logged(DAGS, f"braze_e2e_keyed_{dag}_{registry_kind}", run_conf=conf)
            tries += run.dag_run.get_task_instances()[0].try_number

    received = fake_braze.received
    faults = collections.Counter(r.fault for r in received if r.fault)
    live = live_by_user(fake_braze)
    registry = read_registry(registry_kind)
    entries = registry.scope(scope)
    named = {entry.schedule_id for entry in entries.values() if entry.is_live()}
    flagged_users = {
        key for key, entry in entries.items() if entry.pending and entry.pending.get("op") == "create"
    }

    def key_of(user):
        return user.rsplit("/", 1)[0] if "/crash-" in user else user

    duplicates = {user: ids for user, ids in live.items() if len(ids) > 1}
    unnamed = {user: ids for user, ids in live.items() if any(i not in named for i in ids)}
    unflagged = {user: ids for user, ids in unnamed.items() if key_of(user) not in flagged_users}
    # A crash-test key holds two users: its old one must be gone once the new one is live.
    stale = [key for key in crash_keys if f"{key}/old" in live and f"{key}/new" in live]
    record_property(
        "figures",
        f"keyed fault campaign ({registry_kind} registry): {len(rounds)} reconcile runs over {KEYS}-70 keys and "
        f"{len(crash_keys)} replaces with a worker lost between cancel and create; {len(received)} HTTP calls, "
        f"{sum(faults.values())} faulted ({sum(faults.values()) / len(received):.0%}); task tries {tries}; "
        f"reconcile runs failed at the end: {failed_runs}\n"
        f"  live schedules {sum(len(ids) for ids in live.values())}; duplicate live schedules per key: "
        f"{len(duplicates)}; keys whose live schedule the registry does not name: {len(unnamed)} (flagged by the "
        f"registry as 'create answer lost': {len(unnamed) - len(unflagged)}, unflagged: {len(unflagged)}); "
        f"keys flagged in all: {len(flagged_users)}; replaced keys with both old and new live: {len(stale)}",
    )
    assert sum(faults.values()) >= 0.2 * len(received)
    assert duplicates == {}
    assert unflagged == {}
    assert stale == []
