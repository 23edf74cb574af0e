"""A group key's steps without Airflow: the fake Braze, the memory registry, a plain logger.

The engine's :class:`~airflow_braze_schedule.engine.group_steps.GroupSteps` is driven through a reconcile
(:func:`~airflow_braze_schedule.engine.reconcile.plan_reconcile` and
:func:`~airflow_braze_schedule.engine.reconcile.carry_out_plan`), its
:class:`~airflow_braze_schedule.engine.ports.GroupSender` port filled in as a test would: the engine's
bulk send with a chunk ledger over a dict (the task's ``task_state_store``), and
:func:`~airflow_braze_schedule.engine.groups.change_group_schedules` through the fake's client.

What must hold: a group is created as one schedule per chunk; a moved send updates every schedule, a
changed one cancels them all and creates the new group; a key no longer desired is cancelled whole; and
an intent a crash left is settled before the next plan (an interrupted update is planned anew, an
interrupted cancel is finished, another task's unfinished create is refused).
"""

from __future__ import annotations

import ast
import logging
from pathlib import Path
from typing import Any

import pendulum
import pytest

from airflow_braze_schedule.core.client import BrazeClient
from airflow_braze_schedule.core.group import BulkLedger
from airflow_braze_schedule.core.registry_model import Actor, RegistryEntry
from airflow_braze_schedule.core.retry import RetryPolicy
from airflow_braze_schedule.engine.bulk import BulkSend, group_handle, validated_bulk_plan
from airflow_braze_schedule.engine.group_steps import GroupMember, GroupSteps
from airflow_braze_schedule.engine.groups import change_group_schedules
from airflow_braze_schedule.engine.keyed_steps import KeyedOutcomeUnknownError, KeyedSteps
from airflow_braze_schedule.engine.reconcile import carry_out_plan, plan_reconcile
from airflow_braze_schedule.registry.store import ScheduleRegistry
from airflow_braze_schedule.testing import FakeBraze
from airflow_braze_schedule.testing.memory_registry import MemoryRegistryBackend
from tests.engine.engine_support import DictStore, import_without_airflow

LOG = logging.getLogger("tests.engine.groups")
FAST = RetryPolicy(max_attempts=3, backoff_initial=0.01, backoff_max=0.05, jitter=0.01, max_rate_limit_wait=2)
SCOPE = "promo/"
KEY = "promo/spring"
CREATE = "/campaigns/trigger/schedule/create"
UPDATE = "/campaigns/trigger/schedule/update"
DELETE = "/campaigns/trigger/schedule/delete"


class Died(BaseException):
    """The process dies here: whatever the registry holds is all the next try finds."""


@pytest.fixture
def braze():
    with FakeBraze() as fake:
        yield fake


def _when(days: int) -> str:
    return pendulum.now("UTC").add(days=days).start_of("day").add(hours=9).format("YYYY-MM-DDTHH:mm:ss") + "Z"


def _fields(users: int = 120, *, days: int = 3, version: int = 1) -> dict[str, Any]:
    """A send larger than one request takes (over 50 users): planned and carried out as a group."""
    return {
        "campaign_id": "c1",
        "recipients": [
            {"external_user_id": f"user-{n}", "trigger_properties": {"v": version}} for n in range(users)
        ],
        "schedule": {"time": _when(days)},
    }


class Sender:
    """The :class:`~airflow_braze_schedule.engine.ports.GroupSender` port as a test fills it in. A
    member's ``operator`` is its desired fields: an update moves the group to their ``schedule``.

    ``die_on``: ``(action, before_sending)``: the process dies at that change, before its requests go
    out or after all of them were answered.
    """

    def __init__(self, client: BrazeClient, store: DictStore) -> None:
        self.client = client
        self.store = store
        self.requests_sent = 0
        self.die_on: tuple[str, bool] | None = None

    def create(self, member: GroupMember, ledger_key: str, *, report: bool) -> dict[str, Any]:
        plan = member.plan
        ledger = BulkLedger(
            self.store,
            fingerprint=plan.fingerprint,
            chunks=plan.chunks,
            window=8,
            try_number=1,
            key=ledger_key,
        )
        bulk = BulkSend(
            self.client,
            plan,
            member.base,
            member.source,
            member.now,
            ledger=ledger,
            max_concurrency=4,
            progress_interval=10.0,
            log=LOG,
        )
        self.requests_sent = 0
        try:
            result, failure = bulk.run(ledger.earlier())
        finally:
            self.requests_sent = bulk.requests_sent
        assert failure is None
        assert result.complete
        return group_handle(plan, result.chunks(), complete=True).to_xcom()

    def change(
        self, group: Any, action: str, operator: Any, *, not_found_is_cancelled: bool = False, report: bool
    ) -> dict[str, Any]:
        if self.die_on == (action, True):
            raise Died
        changed = change_group_schedules(
            self.client.send,
            group,
            action,
            log=LOG,
            dry_run=False,
            retried=False,
            schedule=(operator or {}).get("schedule"),
            not_found_is_cancelled=not_found_is_cancelled,
        )
        if self.die_on == (action, False):
            raise Died
        return changed.to_xcom()


class Engine:
    """The ports filled in: memory registry, the fake's client, a dict ledger store, a logger."""

    def __init__(
        self, braze: FakeBraze, *, task_id: str = "t", backend: MemoryRegistryBackend | None = None
    ) -> None:
        self.backend = backend or MemoryRegistryBackend()
        self.registry = ScheduleRegistry(self.backend, workspace="test")
        self.store = DictStore()
        self.braze = braze
        client = BrazeClient(braze.url, braze.api_key, retry_policy=FAST)
        self.sender = Sender(client, self.store)
        self.steps = KeyedSteps(
            self.registry, client.send, Actor(dag_id="d", run_id="r", task_id=task_id), LOG
        )
        self.task = ("r", task_id)

    def group_steps(self) -> GroupSteps:
        """A task's group steps (each task makes its own: ``sent`` counts the task's requests)."""
        return GroupSteps(self.steps, self.sender, task=self.task, quiet=True)

    def as_task(self, task_id: str) -> Engine:
        """Another task over the same registry and Braze."""
        return Engine(self.braze, task_id=task_id, backend=self.backend)

    def member(self, key: str, fields: dict[str, Any]) -> GroupMember:
        plan, base, source, now = validated_bulk_plan(
            fields,
            from_file=None,
            chunk_size=50,
            max_concurrency=4,
            progress_interval=10.0,
            on_unknown_outcome="fail",
            log=LOG,
        )
        return GroupMember(fields, plan, base, source, now)

    def reconcile(self, desired: dict[str, dict[str, Any]]) -> tuple[Any, dict[str, Any], dict[str, Any]]:
        self.sender.store = DictStore()  # a new run's task: its own task_state_store
        groups = self.group_steps()
        planned = plan_reconcile(
            SCOPE,
            self.registry,
            dict(desired),
            groups=groups,
            member=self.member,
            freeze_window=self.steps.freeze_window,
            dry_run=False,
            log=LOG,
        )
        assert not planned.blocked, planned.blocked
        outcome, _, errors = carry_out_plan(
            planned.plan,
            self.steps,
            max_workers=2,
            log=LOG,
            groups=groups,
            members=planned.members,
        )
        return planned.plan, outcome, errors

    def stored(self) -> dict[str, Any]:
        return self.backend.values[KEY]

    def chunk_ids(self) -> list[str]:
        return [chunk["schedule_id"] for chunk in self.stored()["handle"]["chunks"]]


def _ids(requests: list[Any]) -> list[str]:
    return sorted(request.json["schedule_id"] for request in requests)


def test_what_this_module_drives_imports_no_airflow():
    """Every provider module imported here imports in a fresh interpreter in which Airflow cannot be."""
    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    modules = sorted(
        {
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("airflow_braze_schedule")
        }
    )
    assert "airflow_braze_schedule.engine.group_steps" in modules
    result = import_without_airflow(modules)
    assert result.returncode == 0, result.stderr


def test_a_group_is_created_one_schedule_per_chunk_and_an_unchanged_one_sends_nothing(braze):
    engine = Engine(braze)
    plan, outcome, errors = engine.reconcile({KEY: _fields(120)})
    assert not errors
    assert plan.counts()["create"] == 1
    assert outcome["requests_sent"] == 3
    creates = braze.requests_to(CREATE)
    assert len(creates) == 3
    assert sorted(len(r.json["recipients"]) for r in creates) == [20, 50, 50]
    stored = engine.stored()
    assert stored["state"] == "scheduled"
    assert stored["pending"] is None
    assert stored["history"][-1]["action"] == "create"
    assert sorted(engine.chunk_ids()) == sorted(s.schedule_id for s in braze.active_schedules())

    before = len(braze.received)
    plan, outcome, _ = engine.reconcile({KEY: _fields(120)})
    assert plan.counts()["unchanged"] == 1
    assert outcome["requests_sent"] == 0
    assert len(braze.received) == before


def test_a_moved_group_updates_every_schedule_to_the_new_time(braze):
    engine = Engine(braze)
    engine.reconcile({KEY: _fields(120)})
    ids = engine.chunk_ids()
    moved = _fields(120, days=5)
    plan, outcome, errors = engine.reconcile({KEY: moved})
    assert not errors
    assert plan.counts()["update"] == 1
    assert outcome["requests_sent"] == 3
    updates = braze.requests_to(UPDATE)
    assert _ids(updates) == sorted(ids)
    assert {s.schedule["time"] for s in braze.active_schedules()} == {moved["schedule"]["time"]}
    stored = engine.stored()
    assert (stored["state"], stored["outcome"], stored["pending"]) == ("updated", "applied", None)
    assert engine.chunk_ids() == ids
    # Recorded as the desired send: planned again, it is unchanged.
    assert engine.reconcile({KEY: moved})[0].counts()["unchanged"] == 1


def test_a_changed_group_is_replaced_and_a_key_no_longer_desired_is_cancelled_whole(braze):
    engine = Engine(braze)
    engine.reconcile({KEY: _fields(120)})
    old = engine.chunk_ids()
    plan, outcome, errors = engine.reconcile({KEY: _fields(60, version=2)})
    assert not errors
    assert plan.counts()["replace"] == 1
    assert outcome["requests_sent"] == 3 + 2
    assert _ids(braze.requests_to(DELETE)) == sorted(old)
    new = engine.chunk_ids()
    assert len(new) == 2
    assert not set(new) & set(old)
    assert sorted(s.schedule_id for s in braze.active_schedules()) == sorted(new)
    actions = [change["action"] for change in engine.stored()["history"]]
    assert actions[-4:] == ["intent:group_replace", "replace_cancelled", "intent:group_create", "create"]

    plan, outcome, errors = engine.reconcile({})
    assert not errors
    assert plan.counts()["cancel"] == 1
    assert outcome["requests_sent"] == 2
    assert _ids(braze.requests_to(DELETE)) == sorted(old + new)
    assert not braze.active_schedules()
    stored = engine.stored()
    assert (stored["state"], stored["pending"]) == ("cancelled", None)


def test_an_update_cut_short_is_settled_and_planned_anew(braze):
    """The schedules moved, the result was never recorded, and the next run wants the old time back:
    the recorded fingerprint is the old send's, so only settling (forgetting it) gets them moved back."""
    engine = Engine(braze)
    original = _fields(120)
    engine.reconcile({KEY: original})
    moved = _fields(120, days=5)
    engine.sender.die_on = ("update", False)  # every update answered, the result never recorded
    with pytest.raises(Died):
        engine.reconcile({KEY: moved})
    assert engine.stored()["pending"]["op"] == "group_update"
    assert {s.schedule["time"] for s in braze.active_schedules()} == {moved["schedule"]["time"]}

    engine.sender.die_on = None
    plan, outcome, errors = engine.reconcile({KEY: original})
    assert not errors
    assert plan.counts()["update"] == 1
    assert outcome["requests_sent"] == 3
    assert len(braze.requests_to(UPDATE)) == 3 + 3
    assert {s.schedule["time"] for s in braze.active_schedules()} == {original["schedule"]["time"]}
    stored = engine.stored()
    assert stored["pending"] is None
    actions = [change["action"] for change in stored["history"]]
    assert actions[-4:] == ["intent:group_update", "update_interrupted", "intent:group_update", "update"]


def test_a_cancel_cut_short_is_finished_by_the_next_run_though_braze_holds_nothing_more(braze):
    engine = Engine(braze)
    engine.reconcile({KEY: _fields(120)})
    ids = engine.chunk_ids()
    engine.sender.die_on = ("cancel", False)  # every delete answered, the result never recorded
    with pytest.raises(Died):
        engine.reconcile({})
    assert engine.stored()["pending"]["op"] == "group_cancel"
    assert not braze.active_schedules()

    engine.sender.die_on = None
    plan, outcome, errors = engine.reconcile({})
    assert not errors
    # Settled before planning: the deletes again (Braze answers that it holds none of them), then
    # nothing is left to cancel.
    assert _ids(braze.requests_to(DELETE)) == sorted(ids + ids)
    assert plan.counts()["cancel"] == 0
    assert outcome["requests_sent"] == 3  # the settling's
    stored = engine.stored()
    assert (stored["state"], stored["pending"]) == ("cancelled", None)


def test_a_group_create_another_task_left_under_way_is_refused_and_its_own_is_resumed(braze):
    engine = Engine(braze)
    member = engine.member(KEY, _fields(120))
    # A create whose intent is stored and whose chunks never went out (the process died first).
    engine.steps.intend(RegistryEntry(KEY), {"op": "group_create", "fingerprint": member.plan.fingerprint})
    other = engine.as_task("other")
    with pytest.raises(KeyedOutcomeUnknownError):
        other.group_steps().settle(other.registry.require(KEY))
    assert not braze.received

    plan, outcome, errors = engine.reconcile({KEY: _fields(120)})  # the same task resumes its create
    assert not errors
    assert plan.counts()["create"] == 1
    assert outcome["requests_sent"] == 3
    assert len(braze.requests_to(CREATE)) == 3
    stored = engine.stored()
    assert (stored["state"], stored["pending"]) == ("scheduled", None)
