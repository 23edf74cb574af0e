"""Pytest fixtures for a fake Braze server; enable them in a ``conftest.py`` with::

    pytest_plugins = ["airflow_braze_schedule.testing.pytest_plugin"]

``fake_braze_server`` (session scope) starts one :class:`~airflow_braze_schedule.testing.FakeBraze` for the
whole session. ``fake_braze`` (function scope) resets it, points the ``braze_default`` Airflow connection
at it through ``AIRFLOW_CONN_BRAZE_DEFAULT``, and yields it::

    def test_create(fake_braze):
        run_my_dag()
        assert len(fake_braze.active_schedules()) == 1

To configure the server (API key, permissions, rate limit), override ``fake_braze_server`` in your own
``conftest.py``; settings changed inside a test (``set_rate_limit``, ``set_permissions``, faults) are undone
by the next ``fake_braze``'s reset.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from airflow_braze_schedule.testing.fake_braze import FakeBraze

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="session")
def fake_braze_server() -> Iterator[FakeBraze]:
    """One fake Braze server for the test session, on a free loopback port."""
    with FakeBraze() as server:
        yield server


@pytest.fixture
def fake_braze(fake_braze_server: FakeBraze, monkeypatch: pytest.MonkeyPatch) -> FakeBraze:
    """The session's fake Braze, reset, with ``AIRFLOW_CONN_BRAZE_DEFAULT`` pointing at it."""
    fake_braze_server.reset()
    monkeypatch.setenv(*fake_braze_server.airflow_conn_env())
    return fake_braze_server
