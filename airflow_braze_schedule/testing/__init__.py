"""Test helpers for code that talks to Braze: an in-memory fake Braze REST server on loopback.

:class:`FakeBraze` serves Braze's scheduled-messaging endpoints over real HTTP, keeps the schedules it is
given, validates requests the way Braze documents, rate-limits, and can inject faults (:class:`Status`,
:class:`RateLimited`, :class:`HtmlError`, :class:`Delay`, :class:`DropBeforeProcessing`,
:class:`DropAfterProcessing`)::

    from airflow_braze_schedule.testing import FakeBraze, Status

    with FakeBraze() as braze:
        monkeypatch.setenv(*braze.airflow_conn_env())   # AIRFLOW_CONN_BRAZE_DEFAULT
        braze.inject(Status(503))
        ...
        assert braze.active_schedules()

With pytest, enable the fixtures ``fake_braze`` and ``fake_braze_server`` in your ``conftest.py``::

    pytest_plugins = ["airflow_braze_schedule.testing.pytest_plugin"]

Standalone (e.g. for a demo or a deployment): ``python -m airflow_braze_schedule.testing --port 8765``,
driven from another process with :class:`FakeBrazeControl` (its control API, :mod:`.control`)::

    braze = FakeBrazeControl("http://127.0.0.1:8765")
    braze.inject(Status(503), times=2, path="/messages/schedule/create")
    assert braze.active_schedules()

This package needs ``werkzeug`` (the ``testing`` extra) and never imports Airflow.
"""

from __future__ import annotations

from airflow_braze_schedule.testing.control import ControlError, FakeBrazeControl
from airflow_braze_schedule.testing.fake_braze import (
    DEFAULT_API_KEY,
    DEFAULT_RATE_LIMIT,
    FakeBraze,
    ReceivedRequest,
    StoredSchedule,
)
from airflow_braze_schedule.testing.faults import (
    Delay,
    DropAfterProcessing,
    DropBeforeProcessing,
    Fault,
    HtmlError,
    RateLimited,
    Status,
)

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_RATE_LIMIT",
    "ControlError",
    "Delay",
    "DropAfterProcessing",
    "DropBeforeProcessing",
    "FakeBraze",
    "FakeBrazeControl",
    "Fault",
    "HtmlError",
    "RateLimited",
    "ReceivedRequest",
    "Status",
    "StoredSchedule",
]
