"""Fixtures for ``make test-deployment``: a real Airflow deployment per configuration, and the fake Braze.

Two configurations, each started once for the session (pytest groups the tests by it):

* ``local-postgres``: LocalExecutor on a PostgreSQL server, running up to 16 task instances at once (the
  keyed race test runs twelve together);
* ``celery-redis``: CeleryExecutor with a Redis broker and two Celery workers (PostgreSQL as the
  metadata database and result backend).

Both run the scheduler, the DAG processor, the triggerer and the API server as separate processes
(:mod:`scripts.deployment.harness`). The fake Braze runs as a service (``python -m
airflow_braze_schedule.testing``) driven through :class:`~airflow_braze_schedule.testing.FakeBrazeControl`.
When a test fails, the last lines of every process's log are added to its report; the whole logs stay in
``.airflow/deployment-<configuration>/logs``.
"""

from __future__ import annotations

import signal
import time
from typing import TYPE_CHECKING

import pytest

from airflow_braze_schedule.testing import FakeBrazeControl
from scripts.deployment.harness import ROOT, Deployment

if TYPE_CHECKING:
    from collections.abc import Iterator

#: Beside ``admin``, a user who may read but not trigger DAGs (the schedules page's cancel is refused).
VIEWER = "vera"
CONFIGURATIONS = {
    "local-postgres": {
        "executor": "LocalExecutor",
        "database": "postgres",
        "parallelism": 16,
        "users": {VIEWER: "viewer"},
    },
    "celery-redis": {"executor": "CeleryExecutor", "database": "postgres", "celery_workers": 2},
}
_started: dict[str, float] = {}


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@pytest.fixture(scope="session", params=list(CONFIGURATIONS))
def deployment(request: pytest.FixtureRequest) -> Iterator[Deployment]:
    name = request.param
    deployment = Deployment(
        f"deployment-{name}", extra_dags=[ROOT / "tests" / "deployment" / "dags"], **CONFIGURATIONS[name]
    )
    deployment.configuration = name  # type: ignore[attr-defined]
    # A SIGTERM (a CI job cancelled) must still stop the deployment's processes: make it an interrupt.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        try:
            deployment.start()
        except Exception:
            pytest.fail(f"the {name} deployment did not start:\n{deployment.tails()}", pytrace=False)
        _started[name] = deployment.started_in
        yield deployment
    finally:
        deployment.stop()
        signal.signal(signal.SIGTERM, previous)


@pytest.fixture
def braze(deployment: Deployment) -> FakeBrazeControl:
    """The deployment's fake Braze, reset before the test."""
    assert deployment.fake is not None
    control = FakeBrazeControl(deployment.fake.url)
    control.reset()
    return control


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    deployment = getattr(item, "funcargs", {}).get("deployment")
    if report.failed and deployment is not None:
        report.sections.append(("deployment logs", deployment.tails()))


_session_started = time.monotonic()


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    if not _started:
        return
    terminalreporter.write_sep("-", "deployment figures")
    for name, seconds in _started.items():
        terminalreporter.write_line(
            f"{name}: started (services, migration, components, DAGs parsed) in {seconds:.0f} s"
        )
    terminalreporter.write_line(f"whole run: {time.monotonic() - _session_started:.0f} s")
