"""Operators that create, update and cancel Braze schedules."""

from __future__ import annotations

from airflow_braze_schedule.operators.braze import (
    BrazeCancelScheduleOperator,
    BrazeCreateScheduleOperator,
    BrazeUpdateScheduleOperator,
)
from airflow_braze_schedule.operators.bulk import BrazeBulkCreateScheduleOperator

__all__ = [
    "BrazeBulkCreateScheduleOperator",
    "BrazeCancelScheduleOperator",
    "BrazeCreateScheduleOperator",
    "BrazeUpdateScheduleOperator",
]

# Keyed schedules: upsert and reconcile by schedule_key.
from airflow_braze_schedule.operators.keyed import (
    BrazeReconcileSchedulesOperator,
    BrazeUpsertScheduleOperator,
)

__all__ += ["BrazeReconcileSchedulesOperator", "BrazeUpsertScheduleOperator"]
