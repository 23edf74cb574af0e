"""Errors a task retry cannot fix, made into a failed task: shared by every operator module and the sensor.

A leaf module (Airflow and the core only) outside the operators package, so operator modules share it
without importing each other, and a DAG using only the create, update and cancel operators loads no
other operator module.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from airflow.providers.common.compat.sdk import AirflowFailException


@contextlib.contextmanager
def _failing_fast_where_retries_cannot_help(*, creates: bool) -> Iterator[None]:
    """Turn errors that a task retry cannot fix into ``AirflowFailException`` (no retries).

    Which errors those are is decided in one place, :func:`~airflow_braze_schedule.core.retry.airflow_may_retry`.
    The original error stays attached as the exception's cause.
    """
    from airflow_braze_schedule.core.errors import BrazeError
    from airflow_braze_schedule.core.retry import airflow_may_retry

    try:
        yield
    except BrazeError as error:
        if airflow_may_retry(error, creates=creates):
            raise
        raise AirflowFailException(str(error)) from error
