"""A reconcile that failed part-way made changes its event never carried (Airflow registers a task's
asset event only when it succeeds); the retry that succeeds reports them, marked ``reported_late``."""

from __future__ import annotations

import json

from airflow_braze_schedule.events import handles_from_events
from airflow_braze_schedule.testing import Status
from tests.e2e.test_asset_events import _events
from tests.helpers import task_states
from tests.keyed.keyed_support import read_registry, send_time, unique_prefix

DAGS = "braze_e2e_keyed.py"


def test_the_retry_reports_what_the_failed_try_created(run_dag_logged, fake_braze, registry_kind, tmp_path):
    scope = unique_prefix()
    time = send_time()
    desired = [
        {"schedule_key": scope + "campaign", "campaign_id": "c1", "recipients": [{"external_user_id": "a"}]},
        {"schedule_key": scope + "canvas", "canvas_id": "v1", "recipients": [{"external_user_id": "b"}]},
    ]
    path = tmp_path / "desired.jsonl"
    path.write_text("".join(json.dumps({**item, "schedule": {"time": time}}) + "\n" for item in desired))
    # The Canvas create fails every request attempt of the first try (503, retried by Airflow).
    fake_braze.inject(Status(503), times=3, path="/canvas/trigger/schedule/create")
    run = run_dag_logged(
        DAGS,
        f"braze_e2e_keyed_reconcile_{registry_kind}",
        run_conf={"scope": scope, "desired_path": str(path)},
    )
    assert task_states(run.dag_run) == {"reconcile": "success"}, run.logs["reconcile"][-3000:]
    assert len(fake_braze.requests_to("/campaigns/trigger/schedule/create")) == 1  # on the first try
    assert [r.status for r in fake_braze.requests_to("/canvas/trigger/schedule/create")] == [503] * 3 + [200]

    [event] = _events(run.dag_run)
    changes = {change["schedule_key"]: change for change in event["extra"]["changes"]}
    assert changes.keys() == {scope + "campaign", scope + "canvas"}
    assert changes[scope + "campaign"]["action"] == "create"
    assert changes[scope + "campaign"]["reported_late"] is True
    registry = read_registry(registry_kind)
    assert changes[scope + "campaign"]["schedule_id"] == registry.require(scope + "campaign").schedule_id
    assert (changes[scope + "canvas"]["action"], "reported_late" in changes[scope + "canvas"]) == (
        "create",
        False,
    )
    handles = handles_from_events(event["extra"])
    assert {handle["schedule_key"] for handle in handles} == {scope + "campaign", scope + "canvas"}
    result = run.dag_run.get_task_instance("reconcile").xcom_pull(task_ids="reconcile")
    assert result["outcome"]["reported_late"] == [scope + "campaign"]


class _Store(dict):
    def set(self, key, value, *, retention=None):
        self[key] = value


class _Ti:
    dag_id, task_id = "d", "reconcile"


def _entry(key, *lines):
    from airflow_braze_schedule.core.registry_model import RegistryEntry

    history = [
        {"action": action, "at": at, "dag_id": "d", "run_id": run, "task_id": "reconcile", **more}
        for action, at, run, more in lines
    ]
    handle = {"schedule_id": f"id-{key}", "kind": "campaign", "campaign_id": "c1", "schedule": {"time": "x"}}
    return RegistryEntry(key, handle=handle, state="scheduled", history=history)


def test_which_earlier_changes_are_reported_late():
    from airflow_braze_schedule.operators.keyed import changes_left_unreported, note_changes_reported

    t1 = "2026-11-30T09:00:00+00:00"
    entries = [
        _entry("created", ("intent:create", t1, "r1", {}), ("create", t1, "r1", {})),
        _entry(
            "replaced", ("cancel", t1, "r1", {}), ("intent:create", t1, "r1", {}), ("create", t1, "r1", {})
        ),
        _entry("refused", ("update", t1, "r1", {"outcome": "refused_too_late"})),
        _entry("another run", ("create", t1, "r0", {})),
        _entry("then another", ("create", t1, "r1", {}), ("update", t1, "r0", {})),
        _entry("this try already", ("create", t1, "r1", {})),
    ]
    store = _Store()
    context = {"ti": _Ti(), "run_id": "r1", "task_state_store": store}
    late = changes_left_unreported(context, entries, reported={"this try already"})
    assert [(c["schedule_key"], c["action"], c["reported_late"]) for c in late] == [
        ("created", "create", True),
        ("replaced", "replace", True),
    ]
    # A try that succeeded notes it: a cleared task does not report those changes again, only later ones.
    note_changes_reported(context)
    assert store["braze_schedule_changes_reported_until"] > t1
    later = _entry("later", ("create", t1, "r1", {}), ("update", "9999-01-01T00:00:00+00:00", "r1", {}))
    assert changes_left_unreported(context, entries, reported=set()) == []
    assert [c["action"] for c in changes_left_unreported(context, [later], reported=set())] == ["update"]


def test_a_replace_is_told_from_a_listing_that_holds_the_last_line_only():
    """A reconcile reads its scope as a listing (each entry's last history line): the replace an earlier
    try made (cancel, then create) is told by reading the whole history of those keys only."""
    from airflow_braze_schedule.operators.keyed import changes_left_unreported
    from airflow_braze_schedule.registry import ScheduleRegistry
    from airflow_braze_schedule.testing.memory_registry import MemoryRegistryBackend

    t1 = "2026-11-30T09:00:00+00:00"
    registry = ScheduleRegistry(MemoryRegistryBackend(), workspace="braze_default")
    replaced = _entry(
        "replaced", ("cancel", t1, "r1", {}), ("intent:create", t1, "r1", {}), ("create", t1, "r1", {})
    )
    other = _entry("other run", ("create", t1, "r0", {}))
    registry.put_many([replaced, other])
    listed = registry.scope("")
    assert [line["action"] for line in listed["replaced"].history] == ["create"]

    read: list[list[str]] = []
    load_many = registry.backend.load_many
    registry.backend.load_many = lambda keys: read.append(list(keys)) or load_many(keys)
    context = {"ti": _Ti(), "run_id": "r1", "task_state_store": _Store()}
    late = changes_left_unreported(context, listed.values(), reported=set(), registry=registry)
    assert [(c["schedule_key"], c["action"]) for c in late] == [("replaced", "replace")]
    assert read == [["replaced"]]  # the other key's history was not read
    # Without the registry, the last line alone reads as a create.
    again = changes_left_unreported(context, registry.scope("").values(), reported=set())
    assert [(c["schedule_key"], c["action"]) for c in again] == [("replaced", "create")]
