"""DAG authoring styles (TaskFlow, dynamic task mapping, Jinja templating), run for real with dag.test().

Each test runs one DAG file against the fake Braze and checks exactly what Braze received, with the
expected values computed from the DagRun (when it was due, its ``data_interval_end``, ``logical_date``
and ``run_id``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_braze_schedule.authoring import next_send_time, run_due_at
from tests.dags.braze_e2e_templating import BRAZE_CONN_ID, NATIVE_DAG_ID, PARAMS, STRINGS_DAG_ID
from tests.helpers import (
    HAS_TASK_STATE_STORE,
    capture_output,
    dated_run,
    env_vars,
    load_dag,
    logs_by_task,
    rerunning,
    task_states,
)

pytestmark = pytest.mark.usefixtures("airflow_db")

USERS = 120  # braze_mapped_audiences.load_users
MAX_RECIPIENTS = 50  # Braze's limit per request


def _xcom(dag_run, task_id: str, key: str = "return_value", map_index: int = -1):
    ti = dag_run.get_task_instance(task_id, map_index=map_index)
    return ti.xcom_pull(task_ids=task_id, key=key, map_indexes=map_index)


def _states(dag_run) -> dict[tuple[str, int], str | None]:
    """Task states by (task_id, map_index): ``task_states`` keeps one entry per task id."""
    return {
        (ti.task_id, ti.map_index): (str(ti.state) if ti.state else None)
        for ti in dag_run.get_task_instances()
    }


def _ds(dag_run) -> str:
    return dag_run.logical_date.strftime("%Y-%m-%d")


def _ds_add(ds: str, days: int) -> str:
    return (datetime.strptime(ds, "%Y-%m-%d") + timedelta(days=days)).strftime("%Y-%m-%d")


def _due_day(dag_run) -> str:
    return run_due_at(dag_run).strftime("%Y-%m-%d")


def _interval_end_plus(dag_run, days: int, fmt: str) -> str:
    return (dag_run.data_interval_end + timedelta(days=days)).strftime(fmt)


# --- TaskFlow --------------------------------------------------------------------------------------


def test_taskflow_recipients_reach_braze_and_the_audit_task_gets_the_real_schedule_id(run_dag, fake_braze):
    dag_run = run_dag("braze_taskflow.py")

    assert task_states(dag_run) == {
        "find_lapsed_customers": "success",
        "schedule_win_back": "success",
        "record_schedule": "success",
    }
    [create] = fake_braze.requests_to("/campaigns/trigger/schedule/create")
    [stored] = fake_braze.schedules.values()
    recipients = _xcom(dag_run, "find_lapsed_customers")
    # 10:00 local time on the day after the run was due, or later to be 24 hours ahead, as of the
    # moment the create rendered it.
    create_ti = dag_run.get_task_instance("schedule_win_back")
    send_time = create.json["schedule"]["time"]
    assert send_time in {
        next_send_time(dag_run, "10:00", days_after=1, min_lead=timedelta(hours=24), now=moment)
        for moment in (create_ti.start_date, create_ti.end_date)
    }
    # What the @task returned is what Braze received, untouched.
    assert create.json == {
        "campaign_id": "win-back-api-campaign",
        "recipients": recipients,
        "trigger_properties": {"computed_for": _due_day(dag_run)},
        "schedule": {"time": send_time, "in_local_time": True, "at_optimal_time": False},
    }
    assert [r["external_user_id"] for r in recipients] == ["user-3001", "user-3002", "user-3003"]
    assert recipients[0]["trigger_properties"] == {
        "first_name": "Ada",
        "last_product": "running shoes",
        "discount_percent": 15,
        "coupon_code": "BACK15-3001",
    }
    # The handle-reading task got the schedule Braze created, not a placeholder.
    assert _xcom(dag_run, "record_schedule") == {
        "run_id": dag_run.run_id,
        "campaign_id": "win-back-api-campaign",
        "schedule_id": stored.schedule_id,
        "dispatch_id": stored.dispatch_id,
        "send_time": send_time,
        "in_local_time": True,
        "recipient_count": 3,
    }
    assert stored.status == "scheduled"


# --- Dynamic task mapping ------------------------------------------------------------------------


def _check_chunked_creates(dag_run, fake_braze) -> list[str]:
    """The mapped create sent one request per chunk of at most 50; returns the ids by map index."""
    creates = fake_braze.requests_to("/canvas/trigger/schedule/create")
    chunks = math.ceil(USERS / MAX_RECIPIENTS)
    assert len(creates) == chunks == 3
    sizes = sorted(len(c.json["recipients"]) for c in creates)
    assert sizes == [20, 50, 50]
    users = [r["external_user_id"] for c in creates for r in c.json["recipients"]]
    assert sorted(users) == [f"user-{5000 + n}" for n in range(USERS)]  # everyone, once
    send_time = next_send_time(dag_run, "16:00", days_after=1) + "Z"  # always far enough ahead
    for create in creates:
        assert create.status == 200
        assert create.json["canvas_id"] == "loyalty-tier-canvas"
        assert create.json["context"] == {"promotion_day": _due_day(dag_run)}
        assert create.json["schedule"] == {
            "time": send_time,
            "in_local_time": False,
            "at_optimal_time": False,
        }
    by_index = [_xcom(dag_run, "schedule_chunk", map_index=i)["schedule_id"] for i in range(chunks)]
    assert sorted(by_index) == sorted(fake_braze.schedules)
    # Every mapped task sent its own chunk: map index i got chunk i of the chunking task.
    chunk_lists = _xcom(dag_run, "chunk_recipients")
    for i, schedule_id in enumerate(by_index):
        assert fake_braze.schedules[schedule_id].body["recipients"] == chunk_lists[i]
    return by_index


def test_mapped_creates_one_schedule_per_chunk_and_keeps_them_when_the_check_passes(run_dag, fake_braze):
    dag_run = run_dag("braze_mapped_audiences.py")

    assert dag_run.state == "success"
    schedule_ids = _check_chunked_creates(dag_run, fake_braze)
    assert _xcom(dag_run, "collect_schedule_ids") == schedule_ids
    states = _states(dag_run)
    assert [states[("schedule_chunk", i)] for i in range(3)] == ["success"] * 3
    assert states[("check_launch", -1)] == "success"
    # The teardown ran and skipped itself for each handle: nothing upstream failed.
    assert [states[("cancel_all_chunks", i)] for i in range(3)] == ["skipped"] * 3
    assert fake_braze.requests_to("/canvas/trigger/schedule/delete") == []
    assert [s.status for s in fake_braze.schedules.values()] == ["scheduled"] * 3


def test_mapped_cancel_deletes_exactly_the_schedules_the_mapped_create_made(run_dag, fake_braze):
    dag_run = run_dag("braze_mapped_audiences.py", run_conf={"simulate_bad_data": True})

    assert dag_run.state == "failed"  # the check decides, not the teardown that cancelled
    schedule_ids = _check_chunked_creates(dag_run, fake_braze)
    assert _xcom(dag_run, "collect_schedule_ids") == schedule_ids  # the collector saw all three
    states = _states(dag_run)
    assert states[("check_launch", -1)] == "failed"
    assert [states[("cancel_all_chunks", i)] for i in range(3)] == ["success"] * 3
    deletes = fake_braze.requests_to("/canvas/trigger/schedule/delete")
    assert sorted(d.json["schedule_id"] for d in deletes) == sorted(schedule_ids)
    assert all(d.json["canvas_id"] == "loyalty-tier-canvas" and d.status == 200 for d in deletes)
    # Cancel i addressed exactly the schedule create i made.
    for i, schedule_id in enumerate(schedule_ids):
        cancelled = _xcom(dag_run, "cancel_all_chunks", map_index=i)
        assert cancelled["schedule_id"] == schedule_id
        assert cancelled["cancelled"] is True
    assert [s.status for s in fake_braze.schedules.values()] == ["cancelled"] * 3


@pytest.mark.slow  # several DAG runs; `make test-slow`
def test_mapped_cancel_undoes_the_other_chunks_when_one_chunk_fails(run_dag, fake_braze):
    """All or nothing: a chunk Braze refused (400) fails its task, and the chunks that were scheduled
    are cancelled (the teardown runs once one chunk succeeded); it is mapped over the handles that exist."""
    from airflow_braze_schedule.testing import Status

    fake_braze.inject(Status(400), path="/canvas/trigger/schedule/create")  # the first create only
    dag_run = run_dag("braze_mapped_audiences.py")

    assert dag_run.state == "failed"
    states = _states(dag_run)
    assert sorted(states[("schedule_chunk", i)] for i in range(3)) == ["failed", "success", "success"]
    assert states[("collect_schedule_ids", -1)] == "upstream_failed"
    created = sorted(fake_braze.schedules)
    assert len(created) == 2
    deletes = fake_braze.requests_to("/canvas/trigger/schedule/delete")
    assert sorted(d.json["schedule_id"] for d in deletes) == created
    assert [s.status for s in fake_braze.schedules.values()] == ["cancelled"] * 2


@pytest.mark.skipif(not HAS_TASK_STATE_STORE, reason="needs task_state_store (Airflow 3.3+)")
@pytest.mark.slow  # several DAG runs; `make test-slow`
def test_a_cleared_mapped_run_replaces_every_chunk_its_teardown_cancelled(run_dag_logged, fake_braze):
    """Each chunk's create finds its own earlier schedule, and the mapped cancel's record of it."""
    first = run_dag_logged(
        "braze_mapped_audiences.py",
        run_conf={"simulate_bad_data": True},
        **dated_run(datetime.now(tz=UTC).replace(microsecond=0)),
    ).dag_run
    cancelled = sorted(fake_braze.schedules)

    with rerunning(first):  # the run keeps its conf: the check fails again
        run = run_dag_logged("braze_mapped_audiences.py", **dated_run(first.logical_date))

    assert run.dag_run.state == "failed"
    assert len(fake_braze.requests_to("/canvas/trigger/schedule/create")) == 6
    new = sorted(set(fake_braze.schedules) - set(cancelled))
    assert len(new) == 3
    assert sorted(_xcom(run.dag_run, "schedule_chunk", map_index=i)["schedule_id"] for i in range(3)) == new
    deletes = fake_braze.requests_to("/canvas/trigger/schedule/delete")
    assert sorted(d.json["schedule_id"] for d in deletes) == sorted(cancelled + new)
    assert {d.status for d in deletes} == {200}
    assert fake_braze.active_schedules() == []
    replaced = run.logs["schedule_chunk"].count("cancel_all_chunks of this DAG run cancelled it since")
    assert replaced == 3


# --- Jinja templating ----------------------------------------------------------------------------


#: The create tasks of braze_e2e_templating.
_CREATES = ("create_message", "create_campaign", "create_canvas", "create_legacy_canvas")


def _audience(attribute: str, value: str) -> dict:
    return {
        "AND": [
            {"custom_attribute": {"custom_attribute_name": attribute, "comparison": "equals", "value": value}}
        ]
    }


def _holds_template(value: Any) -> bool:
    if isinstance(value, str):
        return "{{" in value
    if isinstance(value, dict):
        return any(_holds_template(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_holds_template(v) for v in value)
    return False


def test_the_templating_dag_templates_every_template_field_of_every_operator():
    """If an operator gains a templated field, the templating DAG must template it too."""
    from tests.dags.braze_e2e_templating import native_dag

    templated: dict[type, set[str]] = {}
    for op in native_dag.tasks:
        if type(op).__module__.startswith("airflow_braze_schedule"):
            fields = {name for name in op.template_fields if _holds_template(getattr(op, name))}
            templated.setdefault(type(op), set()).update(fields)
    assert {cls.__name__ for cls in templated} == {
        "BrazeCreateScheduleOperator",
        "BrazeUpdateScheduleOperator",
        "BrazeCancelScheduleOperator",
    }
    for cls, fields in templated.items():
        assert fields == set(cls.template_fields), cls.__name__


@pytest.fixture
def templated_conn(fake_braze, monkeypatch):
    """The DAGs' templated connection id points at the fake, and braze_default points nowhere: a task
    whose braze_conn_id did not render would fail to find its connection."""
    monkeypatch.setenv(*fake_braze.airflow_conn_env(BRAZE_CONN_ID))
    monkeypatch.delenv("AIRFLOW_CONN_BRAZE_DEFAULT")
    return fake_braze


def test_every_templated_field_renders_with_native_objects(run_dag_logged, templated_conn):
    fake_braze = templated_conn
    run = run_dag_logged("braze_e2e_templating.py", NATIVE_DAG_ID)
    dag_run = run.dag_run

    assert set(task_states(dag_run).values()) == {"success"}, task_states(dag_run)
    ds = _ds(dag_run)
    run_id = dag_run.run_id
    coupon = f"SPRING-{ds.replace('-', '')}"
    alias = {"alias_name": "alias-9", "alias_label": NATIVE_DAG_ID}
    ids = {task_id: _xcom(dag_run, task_id, "schedule_id") for task_id in _CREATES}

    [message] = fake_braze.requests_to("/messages/schedule/create")
    assert message.json == {
        "campaign_id": "spring-api-campaign",
        "segment_id": "spring-segment",
        "send_id": f"{NATIVE_DAG_ID}-{ds}",
        "broadcast": False,
        "override_messaging_limits": True,
        "recipient_subscription_state": "opted_in",
        "external_user_ids": ["user-1", "user-2"],
        "user_aliases": [alias],
        "audience": _audience("last_run", run_id),
        "messages": {
            "sms": {
                "subscription_group_id": "sms-group-7",
                "message_variation_id": "sms-variation-3",
                "body": f"Spring sale until {_ds_add(ds, 7)}: code {coupon}",
            }
        },
        "schedule": {
            "time": _interval_end_plus(dag_run, 1, "%Y-%m-%dT%H:%M:%SZ"),
            "in_local_time": False,
            "at_optimal_time": False,
        },
    }

    [campaign] = fake_braze.requests_to("/campaigns/trigger/schedule/create")
    assert campaign.json == {
        "campaign_id": "spring-api-campaign",
        "send_id": f"spring-api-campaign-{_ds_add(ds, 2)}",
        "broadcast": False,
        "recipients": [
            {"external_user_id": "user-1", "trigger_properties": {"coupon": coupon, "run": run_id}},
            {"user_alias": alias, "trigger_properties": {"coupon": coupon}},
        ],
        "trigger_properties": {"discount": 20, "ends": _ds_add(ds, 7)},  # a number, natively
        "schedule": {  # data_interval_end with in_local_time: its wall clock, without the offset
            "time": _interval_end_plus(dag_run, 2, "%Y-%m-%dT%H:%M:%S"),
            "in_local_time": True,
            "at_optimal_time": False,
        },
    }
    assert "had the offset +00:00, dropped" in run.logs["create_campaign"]

    canvas, legacy = fake_braze.requests_to("/canvas/trigger/schedule/create")
    if canvas.json["canvas_id"] != "spring-canvas":  # independent tasks: either may run first
        canvas, legacy = legacy, canvas
    assert canvas.json == {
        "canvas_id": "spring-canvas",
        "broadcast": False,
        "recipients": [
            {
                "external_user_id": "user-2",
                "send_to_existing_only": True,
                "context": {"discount": 20, "day": ds},
            }
        ],
        "audience": _audience("tier", "gold"),
        "context": {
            "run": run_id,
            "dag": NATIVE_DAG_ID,
            "interval_end": dag_run.data_interval_end.isoformat(),  # the ts filter
        },
        "schedule": {"time": f"{_ds_add(ds, 3)}T00:00:00", "in_local_time": False, "at_optimal_time": True},
    }
    assert legacy.json == {
        "canvas_id": "spring-legacy-canvas",
        "recipients": [{"external_user_id": "user-1"}],
        "canvas_entry_properties": {"tier": "gold", "coupon": coupon},
        "schedule": {
            "time": _interval_end_plus(dag_run, 4, "%Y-%m-%dT%H:%M:%SZ"),
            "in_local_time": False,
            "at_optimal_time": False,
        },
    }

    [update_message] = fake_braze.requests_to("/messages/schedule/update")
    assert update_message.json == {
        "schedule_id": ids["create_message"],
        "schedule": {"time": f"{_ds_add(ds, 2)}T11:30:00Z", "in_local_time": False, "at_optimal_time": False},
        "messages": {"sms": {"subscription_group_id": "sms-group-7", "body": f"Moved by {run_id}"}},
    }
    [update_campaign] = fake_braze.requests_to("/campaigns/trigger/schedule/update")
    assert update_campaign.json == {
        "campaign_id": "spring-api-campaign",
        "schedule_id": ids["create_campaign"],
        "schedule": {"time": f"{_ds_add(ds, 2)}T11:00:00", "in_local_time": True, "at_optimal_time": False},
    }
    [update_canvas] = fake_braze.requests_to("/canvas/trigger/schedule/update")
    assert update_canvas.json == {  # the handle came through a template: at_optimal_time kept
        "canvas_id": "spring-canvas",
        "schedule_id": ids["create_canvas"],
        "schedule": {"time": f"{_ds_add(ds, 4)}T00:00:00", "in_local_time": False, "at_optimal_time": True},
    }

    deletes = [
        *fake_braze.requests_to("/messages/schedule/delete"),
        *fake_braze.requests_to("/campaigns/trigger/schedule/delete"),
        *fake_braze.requests_to("/canvas/trigger/schedule/delete"),
    ]
    assert sorted(
        (d.path, d.json.get("campaign_id") or d.json.get("canvas_id"), d.json["schedule_id"]) for d in deletes
    ) == sorted(
        [
            ("/messages/schedule/delete", None, ids["create_message"]),
            ("/campaigns/trigger/schedule/delete", "spring-api-campaign", ids["create_campaign"]),
            ("/canvas/trigger/schedule/delete", "spring-canvas", ids["create_canvas"]),
            ("/canvas/trigger/schedule/delete", "spring-legacy-canvas", ids["create_legacy_canvas"]),
        ]
    )
    assert sorted(fake_braze.schedules) == sorted(ids.values())
    assert {s.status for s in fake_braze.schedules.values()} == {"cancelled"}
    assert all(r.status == 200 for r in fake_braze.received)


@dataclass
class StringsRun:
    """One run of the string-rendering DAG, with what the fake Braze had received by its end."""

    dag_run: Any
    logs: dict[str, str]
    received: list[Any]
    schedules: dict[str, Any]

    def requests_to(self, path: str) -> list[Any]:
        return [r for r in self.received if r.path == path]


@pytest.fixture(scope="module")
def strings_run(airflow_db, fake_braze_server, tmp_path_factory) -> StringsRun:
    """Run ``braze_e2e_templating_strings`` once for the tests that read it."""
    fake_braze_server.reset()
    output = tmp_path_factory.mktemp("strings") / "dag_test_output.log"
    with env_vars(**dict([fake_braze_server.airflow_conn_env(BRAZE_CONN_ID)])), capture_output(output):
        dag_run = load_dag("braze_e2e_templating.py", STRINGS_DAG_ID).test()
    logs = logs_by_task(output.read_text(errors="replace"), STRINGS_DAG_ID)
    return StringsRun(dag_run, logs, fake_braze_server.received, fake_braze_server.schedules)


def test_string_rendering_works_for_strings_and_refuses_boolean_templates(strings_run):
    """Airflow's default rendering makes every template a string: text fields work, a handle pulled
    through a template is read back from its text, and a boolean template ("True", "False") is refused
    before any request, naming the field, never taken for a boolean."""
    run = strings_run
    dag_run = run.dag_run

    states = task_states(dag_run)
    assert {task_id: states[task_id] for task_id in ("create", "cancel")} == {
        "create": "success",
        "cancel": "success",
    }
    [create] = run.requests_to("/campaigns/trigger/schedule/create")
    [delete] = run.requests_to("/campaigns/trigger/schedule/delete")
    assert run.received == [create, delete]  # the refused tasks sent nothing
    [stored] = run.schedules.values()
    assert create.json == {
        "campaign_id": PARAMS["campaign_id"],
        "recipients": [
            {"external_user_id": "user-1", "trigger_properties": {"discount": "20", "run": dag_run.run_id}}
        ],
        "schedule": {
            "time": _interval_end_plus(dag_run, 2, "%Y-%m-%dT%H:%M:%S"),
            "in_local_time": True,
            "at_optimal_time": False,
        },
    }
    assert "had the offset +00:00, dropped" in run.logs["create"]
    assert delete.json == {"campaign_id": PARAMS["campaign_id"], "schedule_id": stored.schedule_id}
    assert stored.status == "cancelled"

    for task_id, message in [
        ("string_schedule_flag", "schedule.in_local_time: 'True' is not a boolean; expected true or false"),
        ("string_broadcast", "broadcast: 'False' (str) is not a boolean; expected true or false"),
    ]:
        ti = dag_run.get_task_instance(task_id)
        assert (ti.state, ti.try_number) == ("failed", 1)
        assert message in run.logs[task_id]
        assert "Sending to Braze" not in run.logs[task_id]


@pytest.mark.parametrize("task_id", ["bad_on_unknown_outcome", "bad_on_unknown_outcome_dry_run"])
def test_a_templated_on_unknown_outcome_is_refused_like_every_field(strings_run, task_id):
    ti = strings_run.dag_run.get_task_instance(task_id)
    log = strings_run.logs[task_id]

    assert (ti.state, ti.try_number) == ("failed", 1)  # retries=1 on the real-run task: not used
    assert "AirflowFailException: on_unknown_outcome: 'Resend'" in log
    assert "Sending to Braze" not in log
