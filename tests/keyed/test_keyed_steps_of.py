"""What a keyed task opens: its steps take the task's windows as given, zero included (pure)."""

from __future__ import annotations

import logging
from datetime import timedelta
from types import SimpleNamespace

import pytest

from airflow_braze_schedule.core.errors import BrazeValidationError
from airflow_braze_schedule.core.registry_model import DEFAULT_BEST_EFFORT_WINDOW, DEFAULT_FREEZE_WINDOW
from airflow_braze_schedule.operators.by_key import keyed_steps_of


def _operator(**windows):
    return SimpleNamespace(hook=SimpleNamespace(send=None), log=logging.getLogger("test"), **windows)


@pytest.mark.parametrize("zero", [0, timedelta(0)])
def test_a_zero_window_is_kept_not_read_as_the_default(zero):
    # A best_effort_window of 0 once became the one-hour default on update and cancel by key.
    steps = keyed_steps_of(_operator(best_effort_window=zero, freeze_window=zero), {}, registry=None)

    assert (steps.best_effort_window, steps.freeze_window) == (timedelta(0), timedelta(0))


def test_windows_default_where_the_operator_has_none():
    steps = keyed_steps_of(_operator(best_effort_window=None), {}, registry=None)

    assert (steps.best_effort_window, steps.freeze_window) == (
        DEFAULT_BEST_EFFORT_WINDOW,
        DEFAULT_FREEZE_WINDOW,
    )


def test_a_window_given_in_seconds_is_checked():
    assert keyed_steps_of(_operator(best_effort_window=90), {}, None).best_effort_window == timedelta(
        seconds=90
    )
    with pytest.raises(BrazeValidationError, match="best_effort_window"):
        keyed_steps_of(_operator(best_effort_window="soon"), {}, None)


@pytest.mark.parametrize("zero", [0, timedelta(0)])
def test_a_cancel_by_handle_keeps_a_zero_best_effort_window(zero):
    """The unkeyed update and cancel read the window through the same check (0 once became an hour)."""
    from datetime import UTC, datetime

    from airflow_braze_schedule.core.endpoints import ScheduleKind
    from airflow_braze_schedule.core.handle import ScheduleHandle
    from airflow_braze_schedule.operators import BrazeCancelScheduleOperator

    soon = (datetime.now(tz=UTC) + timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    target = ScheduleHandle("s-1", ScheduleKind.CAMPAIGN, campaign_id="c", schedule={"time": soon})
    cancel = BrazeCancelScheduleOperator(task_id="cancel", schedule_id="s-1", best_effort_window=zero)
    default = BrazeCancelScheduleOperator(task_id="cancel_default", schedule_id="s-1")

    assert cancel._late_change(target, "cancel")["outcome"] == "applied"
    assert default._late_change(target, "cancel")["outcome"] == "best_effort"  # within the default hour
