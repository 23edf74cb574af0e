"""The create ledger: what a retried or cleared create finds of an earlier try, with an in-memory store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_braze_schedule.core.endpoints import ScheduleKind
from airflow_braze_schedule.core.handle import ScheduleHandle
from airflow_braze_schedule.core.ledger import CreateLedger, EarlierAttemptError
from airflow_braze_schedule.core.payload import build_create_request

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


class MemoryStore:
    """A ``task_state_store`` stand-in: what survives from one try (or one clear) to the next."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any, *, retention: timedelta | None = None) -> None:
        self.values[key] = value


def request(time: str = "2026-12-01T09:00:00Z"):
    return build_create_request(
        {"campaign_id": "camp", "broadcast": True, "schedule": {"time": time}}, now=NOW
    )


def ledger(store, req=None, *, try_number: int = 2) -> CreateLedger:
    return CreateLedger(store, req or request(), try_number=try_number)


def created_earlier(store, req=None, schedule_id: str = "sid-1") -> ScheduleHandle:
    """What a first try that got Braze's answer leaves behind."""
    first = ledger(store, req, try_number=1)
    handle = ScheduleHandle(schedule_id, ScheduleKind.CAMPAIGN, campaign_id="camp")
    assert first.existing() is None
    first.sending()
    first.created(handle)
    return handle


def test_a_later_try_gets_the_schedule_an_earlier_try_created():
    store = MemoryStore()
    handle = created_earlier(store)

    later = ledger(store)
    assert later.existing() == handle
    assert later.existing(cancelled_by=lambda _: None) == handle
    assert later.cancelled_earlier is None


def test_a_schedule_cancelled_since_is_not_handed_out_again():
    store = MemoryStore()
    handle = created_earlier(store)
    asked = []

    later = ledger(store)
    earlier = later.existing(cancelled_by=lambda h: asked.append(h) or "task cancel of this DAG run")

    assert earlier is None  # so the create sends anew
    assert asked == [handle]
    assert later.cancelled_earlier is not None
    assert later.cancelled_earlier.handle == handle
    assert later.cancelled_earlier.cancelled_by == "task cancel of this DAG run"


def test_a_cancelled_schedule_does_not_block_a_request_that_changed_since():
    store = MemoryStore()
    created_earlier(store, request("2026-12-01T09:00:00Z"))
    changed = request("2026-12-02T09:00:00Z")

    with pytest.raises(EarlierAttemptError, match="for a request that differs"):
        ledger(store, changed).existing(cancelled_by=lambda _: None)
    assert ledger(store, changed).existing(cancelled_by=lambda _: "task cancel of this DAG run") is None


def test_the_new_schedule_replaces_the_cancelled_one_in_the_ledger():
    store = MemoryStore()
    created_earlier(store, schedule_id="sid-1")
    second = ledger(store)
    assert second.existing(cancelled_by=lambda h: "cancel" if h.schedule_id == "sid-1" else None) is None
    second.sending()
    second.created(ScheduleHandle("sid-2", ScheduleKind.CAMPAIGN, campaign_id="camp"))

    third = ledger(store, try_number=3)
    found = third.existing(cancelled_by=lambda h: "cancel" if h.schedule_id == "sid-1" else None)
    assert found is not None
    assert found.schedule_id == "sid-2"


def test_an_unknown_outcome_is_refused_whatever_was_cancelled():
    store = MemoryStore()
    first = ledger(store, try_number=1)
    first.sending()  # and the answer never came

    with pytest.raises(EarlierAttemptError, match="never recorded Braze's answer"):
        ledger(store).existing(cancelled_by=lambda _: "task cancel of this DAG run")


def test_without_a_store_a_retry_refuses_before_anything_is_asked():
    asked = []
    with pytest.raises(EarlierAttemptError, match="no task_state_store"):
        ledger(None).existing(cancelled_by=lambda h: asked.append(h) or "cancel")
    assert asked == []
    assert ledger(None, try_number=1).existing(cancelled_by=lambda h: asked.append(h) or "cancel") is None
    assert asked == []
