"""Fixtures for the BrazeHook tests (helpers live in ``hook_support.py``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hook_support import SleepRecorder

from airflow_braze_schedule.hooks.braze import BrazeHook
from airflow_braze_schedule.testing import FakeBraze


@pytest.fixture
def recorded_sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def make_hook(fake_braze: FakeBraze, recorded_sleeps: SleepRecorder) -> Callable[..., BrazeHook]:
    """Build a hook on the fake (``braze_default`` unless told otherwise) with recorded sleeps."""

    def make(braze_conn_id: str = "braze_default", **kwargs: Any) -> BrazeHook:
        kwargs.setdefault("sleep", recorded_sleeps.append)
        kwargs.setdefault("clock", recorded_sleeps.clock)
        return BrazeHook(braze_conn_id=braze_conn_id, **kwargs)

    return make
