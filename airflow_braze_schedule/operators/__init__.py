"""Operators that create, update and cancel Braze schedules.

Each operator's module is imported when its name is first asked for: Airflow builds every operator class
at some cost (about 1-2 ms each, paid by every DAG file parse), so a DAG that only creates, updates and
cancels does not pay for the bulk and keyed operators.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Public name -> the module that defines it.
_MODULE_OF = {
    "BrazeCreateScheduleOperator": "airflow_braze_schedule.operators.braze",
    "BrazeUpdateScheduleOperator": "airflow_braze_schedule.operators.braze",
    "BrazeCancelScheduleOperator": "airflow_braze_schedule.operators.braze",
    "BrazeBulkCreateScheduleOperator": "airflow_braze_schedule.operators.bulk",
    # Keyed schedules: upsert and reconcile by schedule_key.
    "BrazeUpsertScheduleOperator": "airflow_braze_schedule.operators.keyed",
    "BrazeReconcileSchedulesOperator": "airflow_braze_schedule.operators.keyed",
}

__all__ = [
    "BrazeBulkCreateScheduleOperator",
    "BrazeCancelScheduleOperator",
    "BrazeCreateScheduleOperator",
    "BrazeReconcileSchedulesOperator",
    "BrazeUpdateScheduleOperator",
    "BrazeUpsertScheduleOperator",
]

if TYPE_CHECKING:
    from airflow_braze_schedule.operators.braze import (
        BrazeCancelScheduleOperator,
        BrazeCreateScheduleOperator,
        BrazeUpdateScheduleOperator,
    )
    from airflow_braze_schedule.operators.bulk import BrazeBulkCreateScheduleOperator
    from airflow_braze_schedule.operators.keyed import (
        BrazeReconcileSchedulesOperator,
        BrazeUpsertScheduleOperator,
    )


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
