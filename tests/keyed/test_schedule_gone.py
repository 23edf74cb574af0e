"""Keyed changes of a schedule Braze no longer holds (cancelled elsewhere, or sent), in real DAG runs.

Braze documents no answer for such a ``schedule_id``: a server may answer 404 or 400. Each test runs
against the fake answering either (``FakeBraze(unknown_schedule_status=...)``).
"""

from __future__ import annotations

import pytest
import requests

from airflow_braze_schedule.testing import FakeBraze
from tests.helpers import task_states
from tests.keyed.keyed_support import live_by_user, read_registry, send_time, unique_prefix

DAGS = "braze_e2e_keyed.py"


@pytest.fixture(scope="module")
def braze_answering_400():
    with FakeBraze(unknown_schedule_status=400) as server:
        yield server


@pytest.fixture(params=[404, 400], ids=["gone-404", "gone-400"])
def gone_status(request):
    """How the fake answers an update or delete of a schedule_id it no longer holds."""
    return request.param


@pytest.fixture
def braze(request, gone_status, fake_braze, monkeypatch):
    """The fake Braze the DAGs talk to, answering an unknown or cancelled schedule_id with ``gone_status``."""
    if gone_status == 404:
        return fake_braze
    server = request.getfixturevalue("braze_answering_400")
    server.reset()
    monkeypatch.setenv(*server.airflow_conn_env())
    return server


def cancel_behind_the_registrys_back(braze: FakeBraze, schedule_id: str) -> None:
    """Someone cancels the schedule in Braze directly (the dashboard, another tool)."""
    stored = braze.schedules[schedule_id]
    answer = requests.post(
        f"{braze.url}/campaigns/trigger/schedule/delete",
        json={"campaign_id": stored.campaign_id, "schedule_id": schedule_id},
        headers={"Authorization": f"Bearer {braze.api_key}"},
        timeout=5,
    )
    assert answer.status_code == 200, answer.text
    assert braze.schedules[schedule_id].status == "cancelled"


def _conf(key, user, time):
    return {"key": key, "recipients": [{"external_user_id": user}], "schedule": time}


def test_replace_and_reconcile_cancel_of_a_schedule_braze_no_longer_holds(
    run_dag_logged, braze, gone_status, registry_kind, tmp_path
):
    scope = unique_prefix()
    key = scope + "order-1"
    time = send_time()
    upsert = f"braze_e2e_keyed_upsert_{registry_kind}"
    run_dag_logged(DAGS, upsert, run_conf=_conf(key, "u1", time))
    first_id = read_registry(registry_kind).require(key).schedule_id
    cancel_behind_the_registrys_back(braze, first_id)

    # A replace (new recipients): its cancel finds the schedule gone, and the create follows, once.
    replaced = run_dag_logged(DAGS, upsert, run_conf=_conf(key, "u2", time))
    assert task_states(replaced.dag_run) == {"upsert": "success"}, replaced.logs["upsert"][-3000:]
    deletes = braze.requests_to("/campaigns/trigger/schedule/delete")
    assert [r.status for r in deletes] == [200, gone_status]
    assert len(braze.requests_to("/campaigns/trigger/schedule/create")) == 2
    assert live_by_user(braze).keys() == {"u2"}
    entry = read_registry(registry_kind).require(key)
    assert entry.state == "scheduled"
    cancel_line = next(line for line in reversed(entry.history) if line["action"] == "cancel")
    assert "already cancelled or sent" in cancel_line["note"]

    # A reconcile no longer desiring the key: its cancel finds the schedule gone, recorded as cancelled.
    cancel_behind_the_registrys_back(braze, entry.schedule_id)
    empty = tmp_path / "none.jsonl"
    empty.write_text("")
    reconciled = run_dag_logged(
        DAGS,
        f"braze_e2e_keyed_reconcile_{registry_kind}",
        run_conf={"scope": scope, "desired_path": str(empty)},
    )
    assert task_states(reconciled.dag_run) == {"reconcile": "success"}, reconciled.logs["reconcile"][-3000:]
    entry = read_registry(registry_kind).require(key)
    assert entry.state == "cancelled"
    assert entry.history[-1]["action"] == "cancel"
    assert "already cancelled or sent" in entry.history[-1]["note"]
    result = reconciled.dag_run.get_task_instance("reconcile").xcom_pull(task_ids="reconcile")
    assert result["outcome"]["done"] == [key]
    assert result["outcome"]["failed"] == {}
