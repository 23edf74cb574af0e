"""An upsert logs the requests it really sends (an update, or a replace's delete then create), and its dry
run the ones it would send, in real DAG runs against the fake Braze."""

from __future__ import annotations

import json
import re

import pytest

from tests.helpers import task_states
from tests.keyed.keyed_support import read_registry, send_time, unique_prefix

pytestmark = pytest.mark.slow  # four DAG runs reading logs: `make test-slow`

DAGS = "braze_e2e_keyed.py"
SENDING = "Sending to Braze: POST "
DRY = "Dry run: validated, NOT sent to Braze: POST "


def _conf(key, user, time):
    return {"key": key, "recipients": [{"external_user_id": user}], "schedule": time}


def _logged(log, prefix):
    return re.findall(re.escape(prefix) + r"(/\S+)", log)


def test_upsert_logs_the_requests_it_sends_and_its_dry_run_those_it_would(
    run_dag_logged, fake_braze, registry_kind, monkeypatch
):
    key = unique_prefix() + "order-9"
    upsert = f"braze_e2e_keyed_upsert_{registry_kind}"
    first, moved = send_time(days=3), send_time(days=4)

    created = run_dag_logged(DAGS, upsert, run_conf=_conf(key, "u1", first))
    assert _logged(created.logs["upsert"], SENDING) == ["/campaigns/trigger/schedule/create"]

    updated = run_dag_logged(DAGS, upsert, run_conf=_conf(key, "u1", moved))
    assert task_states(updated.dag_run) == {"upsert": "success"}
    assert _logged(updated.logs["upsert"], SENDING) == ["/campaigns/trigger/schedule/update"]
    schedule_id = read_registry(registry_kind).require(key).schedule_id
    assert f'"schedule_id": "{schedule_id}"' in updated.logs["upsert"]

    # A dry run of a replace (the connection's dry_run extra): the delete and the create it would send.
    connection = {**fake_braze.airflow_connection(), "extra": {"timeout": 5, "dry_run": True}}
    with monkeypatch.context() as patched:
        patched.setenv("AIRFLOW_CONN_BRAZE_DEFAULT", json.dumps(connection))
        before = len(fake_braze.received)
        dry = run_dag_logged(DAGS, upsert, run_conf=_conf(key, "u2", moved))
    assert task_states(dry.dag_run) == {"upsert": "success"}
    assert len(fake_braze.received) == before
    assert _logged(dry.logs["upsert"], DRY) == [
        "/campaigns/trigger/schedule/delete",
        "/campaigns/trigger/schedule/create",
    ]
    assert _logged(dry.logs["upsert"], SENDING) == []

    replaced = run_dag_logged(DAGS, upsert, run_conf=_conf(key, "u2", moved))
    assert task_states(replaced.dag_run) == {"upsert": "success"}
    assert _logged(replaced.logs["upsert"], SENDING) == [
        "/campaigns/trigger/schedule/delete",
        "/campaigns/trigger/schedule/create",
    ]
