"""A fault campaign: real DAG runs with Airflow retries against a fake Braze that faults a quarter of calls.

Every fault kind is in the mix: 429 with a reset, 500/502/503, HTML error pages, delays past the client
timeout, and connections dropped before and after the request is processed. The campaign checks the
promises that matter when a send reaches real people:

* no intended send is ever scheduled twice;
* every schedule Braze holds is known: its schedule_id is in XCom, or (only possible when a create's
  answer was lost) the create task failed with a message that says a schedule may exist and names the
  request, so the user can find it;
* every failed task names its cause (a task left ``upstream_failed`` never ran: its upstream's log
  names the cause).

The figures are printed in pytest's closing summary.
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

pytestmark = pytest.mark.usefixtures("airflow_db")

RUNS = 4
FAULT_RATE = 0.25
FAULTS = [
    RateLimited(reset_in=0.5),
    Status(500),
    Status(502),
    Status(503),
    HtmlError(502),
    Delay(1.0),  # past the 0.5 s timeout below
    DropBeforeProcessing(),
    DropAfterProcessing(),
]
# What a failed task's log must say; each names a cause a user can act on.
CAUSES = (
    "Braze may have created this schedule",  # a create's answer was lost
    "never recorded Braze's answer",  # an earlier try's answer was lost
    "Braze answered",  # 4xx/5xx after the hook's own retries
    "Could not reach Braze",
    "was sent but no answer came back",
    "schedule_id: is",  # the create upstream failed, so no schedule_id reached this task
)


@pytest.mark.slow  # about a minute: make test-slow, not make test
def test_fault_campaign(run_dag_logged, fake_braze, monkeypatch, record_property):
    conn = fake_braze.airflow_connection()
    conn["extra"]["timeout"] = 0.5
    monkeypatch.setenv("AIRFLOW_CONN_BRAZE_DEFAULT", json.dumps(conn))
    fake_braze.set_chaos(FAULT_RATE, FAULTS, seed=20261124)

    handles, failures, operations, airflow_retries = [], [], 0, 0
    for _ in range(RUNS):
        run = run_dag_logged("braze_e2e_fault_campaign.py")
        dag_run, logs = run.dag_run, run.logs
        for ti in dag_run.get_task_instances():
            operations += 1
            airflow_retries += max(0, ti.try_number - 1)
            if ti.task_id.startswith("create_") and ti.state == "success":
                handles.append(ti.xcom_pull(task_ids=ti.task_id))
            if ti.state != "success":
                failures.append((ti.task_id, str(ti.state), logs.get(ti.task_id, "")))

    received = fake_braze.received
    faults = collections.Counter(r.fault for r in received if r.fault)
    # Every operation sends a request of its own (its own user, its own schedule_id), so a request seen
    # again is a retry, by the hook or by Airflow.
    resent = len(received) - len({(r.path, r.body) for r in received})
    schedules = list(fake_braze.schedules.values())
    by_send = collections.Counter(
        tuple(s.body.get("external_user_ids") or [r["external_user_id"] for r in s.body["recipients"]])
        for s in schedules
    )
    duplicates = sum(count - 1 for count in by_send.values())
    ids_in_xcom = {h["schedule_id"] for h in handles}
    failure_text = "\n".join(log for _, _, log in failures)
    lost = [
        s.schedule_id
        for s in schedules
        if s.schedule_id not in ids_in_xcom
        and not (
            "Braze may have created this schedule" in failure_text and s.body and _user(s) in failure_text
        )
    ]
    unexplained = [
        (task, state)
        for task, state, log in failures
        if state == "failed" and not any(c in log for c in CAUSES)
    ]
    # Shown in pytest's summary (see conftest.py), also when the suite runs on several workers.
    record_property(
        "figures",
        f"\nFault campaign: {RUNS} DAG runs, {operations} schedule operations, {len(received)} HTTP calls, "
        f"{sum(faults.values())} faulted ({sum(faults.values()) / len(received):.0%})\n"
        f"  faults by kind: {dict(sorted(faults.items()))}\n"
        f"  requests resent: {resent} (the hook's retries and Airflow's), Airflow task retries: {airflow_retries}\n"
        f"  tasks failed: {len([f for f in failures if f[1] == 'failed'])}, "
        f"upstream_failed: {len([f for f in failures if f[1] == 'upstream_failed'])}\n"
        f"  schedules held by Braze: {len(schedules)} (ids in XCom: {len(ids_in_xcom & {s.schedule_id for s in schedules})})\n"
        f"  duplicates: {duplicates}, lost ids: {len(lost)}, failures without a named cause: {len(unexplained)}",
    )
    assert operations >= 200
    assert sum(faults.values()) >= 0.2 * len(received)
    assert set(faults) >= {f.name for f in FAULTS}
    assert duplicates == 0
    assert lost == []
    assert unexplained == []


def _user(schedule) -> str:
    body = schedule.body
    return (body.get("external_user_ids") or [r["external_user_id"] for r in body["recipients"]])[0]
