"""The reconcile engine without Airflow: a dict-backed registry, the fake Braze, a plain logger.

What must hold: an intent is durable before its request goes out; at every write (every point a process
could die) at most ``max_workers`` intents are stored; writes are batched per wave, not one per step; an
unchanged scope sends nothing and reads the registry with one call.
"""

from __future__ import annotations

import logging
import threading

import pendulum
import pytest

from airflow_braze_schedule.core.client import BrazeClient
from airflow_braze_schedule.core.plan import plan_scope
from airflow_braze_schedule.core.registry_model import Actor
from airflow_braze_schedule.core.retry import RetryPolicy
from airflow_braze_schedule.engine.keyed_steps import KeyedSteps, keyed_request
from airflow_braze_schedule.engine.reconcile import carry_out_plan
from airflow_braze_schedule.registry.store import ScheduleRegistry
from airflow_braze_schedule.testing import FakeBraze
from airflow_braze_schedule.testing.memory_registry import MemoryRegistryBackend

LOG = logging.getLogger("tests.engine")
FAST = RetryPolicy(max_attempts=3, backoff_initial=0.01, backoff_max=0.05, jitter=0.01, max_rate_limit_wait=2)
SCOPE = "orders/"


@pytest.fixture(scope="module")
def braze():
    with FakeBraze() as fake:
        yield fake


def _when(days: int) -> str:
    return pendulum.now("UTC").add(days=days).start_of("day").add(hours=9).format("YYYY-MM-DDTHH:mm:ss") + "Z"


def _desired(keys, days=3, version=1):
    return {
        f"{SCOPE}{n}": {
            "campaign_id": "c1",
            "recipients": [{"external_user_id": f"user-{n}", "trigger_properties": {"v": version}}],
            "schedule": {"time": _when(days)},
        }
        for n in keys
    }


class Engine:
    """The ports filled in as a test would: memory registry, the fake's client, a logger."""

    def __init__(self, braze: FakeBraze, *, max_workers: int = 4) -> None:
        self.max_workers = max_workers
        self.most_pending = 0
        self.backend = MemoryRegistryBackend(on_write=self._after_write)
        self.registry = ScheduleRegistry(self.backend, workspace="test")
        client = BrazeClient(braze.url, braze.api_key, retry_policy=FAST)
        self.sent_while_undurable: list[str] = []
        self._lock = threading.Lock()

        def send(request):
            # The request's intent must already be stored: a crash now must leave it to settle.
            with self._lock:
                if self._key_of(request) not in self.in_doubt():
                    self.sent_while_undurable.append(request.path)
            return client.send(request)

        self.steps = KeyedSteps(self.registry, send, Actor(dag_id="d", run_id="r", task_id="t"), LOG)

    def _key_of(self, request) -> str | None:
        body = request.body or {}
        if "recipients" in body:  # a create: user-n is key n
            return SCOPE + body["recipients"][0]["external_user_id"].removeprefix("user-")
        for key, value in self.backend.values.items():
            if (value.get("handle") or {}).get("schedule_id") == body.get("schedule_id"):
                return key
        return None

    def in_doubt(self) -> dict:
        """Stored intents whose request may have gone out (a replace whose old schedule is cancelled
        and whose create never started is not in doubt: a retry creates it)."""
        return {k: p for k, p in self.backend.pending().items() if p.get("stage") != "old_cancelled"}

    def _after_write(self, backend: MemoryRegistryBackend) -> None:
        self.most_pending = max(self.most_pending, len(self.in_doubt()))

    def reconcile(self, desired_fields):
        registered = self.registry.scope(SCOPE)
        desired = {key: keyed_request(fields, registered.get(key)) for key, fields in desired_fields.items()}
        plan = plan_scope(SCOPE, registered, desired)
        outcome, _, errors = carry_out_plan(plan, self.steps, max_workers=self.max_workers, log=LOG)
        return plan, outcome, errors


def test_new_keys_are_created_with_intents_durable_first_and_writes_batched(braze):
    engine = Engine(braze, max_workers=4)
    plan, outcome, errors = engine.reconcile(_desired(range(40)))
    assert not errors
    assert plan.counts()["create"] == 40
    assert outcome["requests_sent"] == 40
    live = engine.registry.live_schedule_ids(SCOPE)
    assert len(live) == 40
    assert set(live.values()) <= {s.schedule_id for s in braze.active_schedules()}
    assert not engine.backend.pending()
    assert not engine.sent_while_undurable
    assert 1 <= engine.most_pending <= 4
    # Two writes per key (intent, result) went out in batches: at most one write per answer (its result
    # with the next key's intent, and whatever else was answered meanwhile), never one per step.
    assert engine.backend.calls.get("save", 0) == 0
    assert engine.backend.calls["save_many"] <= 1 + 40


def test_an_unchanged_scope_sends_nothing_and_reads_the_registry_once(braze):
    engine = Engine(braze)
    desired = _desired(range(10))
    engine.reconcile(desired)
    before = len(braze.received)
    engine.backend.calls.clear()
    plan, outcome, _ = engine.reconcile(desired)
    assert plan.counts()["unchanged"] == 10
    assert outcome["requests_sent"] == 0
    assert len(braze.received) == before
    assert engine.backend.calls == {"load_scope": 1}


def test_moves_replaces_and_cancels_keep_the_crash_rule(braze):
    engine = Engine(braze, max_workers=3)
    engine.reconcile(_desired(range(12)))
    changed = {**_desired(range(0, 4), days=4), **_desired(range(4, 8), version=2), **_desired(range(12, 14))}
    plan, outcome, errors = engine.reconcile(changed)  # keys 8-11 are no longer desired
    assert not errors
    counts = plan.counts()
    assert (counts["update"], counts["replace"], counts["cancel"], counts["create"]) == (4, 4, 4, 2)
    assert outcome["requests_sent"] == 4 + 8 + 4 + 2
    assert engine.most_pending <= 3
    assert not engine.sent_while_undurable
    assert sorted(engine.registry.live_schedule_ids(SCOPE)) == sorted(changed)


def test_a_crash_at_any_write_leaves_at_most_max_workers_intents(braze):
    """The process dies at the n-th registry write: what is stored then is all a retry finds."""

    class Died(BaseException):
        pass

    for dies_at in (1, 2, 5):
        engine = Engine(braze, max_workers=4)
        writes = 0

        def die(backend, dies_at=dies_at, engine=engine):
            nonlocal writes
            writes += 1
            engine._after_write(backend)
            if writes == dies_at:
                raise Died

        engine.backend.on_write = die
        with pytest.raises(Died):
            engine.reconcile(_desired(range(100 * dies_at, 100 * dies_at + 20)))
        assert len(engine.in_doubt()) <= 4


def test_progress_is_said_at_a_steady_pace_with_done_of_total_rate_and_time_left(braze, caplog):
    """Every PROGRESS_INTERVAL seconds of the port's clock, and once at the end; never per key."""
    from airflow_braze_schedule.engine.reconcile import PROGRESS_INTERVAL

    engine = Engine(braze, max_workers=2)
    ticks = iter(range(10_000))

    def clock() -> float:  # one second per reading
        return float(next(ticks))

    registered = engine.registry.scope(SCOPE)
    desired = {k: keyed_request(f, None) for k, f in _desired(range(500, 530)).items()}
    plan = plan_scope(SCOPE, registered, desired)
    with caplog.at_level(logging.INFO, logger="tests.engine"):
        carry_out_plan(plan, engine.steps, max_workers=2, log=LOG, clock=clock)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Reconcile: ")]
    assert lines[-1].startswith("Reconcile: 30 of 30 keys done")
    assert 30 / PROGRESS_INTERVAL - 1 <= len(lines) <= 30 / PROGRESS_INTERVAL + 1
    assert all("/s, about" in line and "s left." in line for line in lines)
