"""The bulk send without Airflow: the fake Braze, a chunk ledger over a dict store, a plain logger."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pendulum
import pytest

from airflow_braze_schedule.core.audience import list_entries, make_plan
from airflow_braze_schedule.core.client import BrazeClient
from airflow_braze_schedule.core.endpoints import ScheduleKind
from airflow_braze_schedule.core.group import BulkLedger
from airflow_braze_schedule.core.retry import RetryPolicy
from airflow_braze_schedule.engine.bulk import BulkSend
from airflow_braze_schedule.testing import DropAfterProcessing, FakeBraze
from tests.engine.engine_support import DictStore

LOG = logging.getLogger("tests.engine.bulk")
FAST = RetryPolicy(max_attempts=3, backoff_initial=0.01, backoff_max=0.05, jitter=0.01, max_rate_limit_wait=2)


@pytest.fixture
def braze():
    with FakeBraze() as fake:
        yield fake


def _send(braze: FakeBraze, store: DictStore, users: int, try_number: int) -> tuple[Any, BulkSend]:
    base = {"campaign_id": "c1", "schedule": {"time": _when()}}
    recipients = [{"external_user_id": f"user-{n}"} for n in range(users)]

    def source():
        return list_entries("recipients", recipients)

    now = datetime.now(tz=UTC)
    plan = make_plan(base, ScheduleKind.CAMPAIGN, source, chunk_size=50, now=now)
    ledger = BulkLedger(
        store, fingerprint=plan.fingerprint, chunks=plan.chunks, window=8, try_number=try_number
    )
    client = BrazeClient(braze.url, braze.api_key, retry_policy=FAST)
    bulk = BulkSend(
        client, plan, base, source, now, ledger=ledger, max_concurrency=4, progress_interval=10.0, log=LOG
    )
    report, failure = bulk.run(ledger.earlier())
    assert failure is None
    return report, bulk


def _when() -> str:
    return pendulum.now("UTC").add(days=3).start_of("day").add(hours=9).format("YYYY-MM-DDTHH:mm:ss") + "Z"


def test_a_bulk_send_creates_one_schedule_per_chunk_and_a_retry_sends_nothing_again(braze):
    store = DictStore()
    report, bulk = _send(braze, store, users=220, try_number=1)
    assert report.complete
    assert bulk.requests_sent == 5
    assert len(braze.active_schedules()) == 5
    report, bulk = _send(braze, store, users=220, try_number=2)
    assert report.complete
    assert bulk.requests_sent == 0
    assert len(braze.requests_to("/campaigns/trigger/schedule/create")) == 5


def test_a_chunk_whose_answer_was_lost_is_reported_and_never_resent(braze):
    store = DictStore()
    braze.inject(DropAfterProcessing(), times=1, path="/campaigns/trigger/schedule/create")
    report, _ = _send(braze, store, users=120, try_number=1)
    assert not report.complete
    assert len(report.unknown) == 1
    report, bulk = _send(braze, store, users=120, try_number=2)
    assert bulk.requests_sent == 0
    assert len(report.unknown) == 1
    assert len(braze.requests_to("/campaigns/trigger/schedule/create")) == 3
