"""Test set-up shared by the whole suite.

Airflow reads its configuration when it is first imported, so the isolated ``AIRFLOW_HOME`` is set here,
before any test module imports Airflow. End-to-end tests run real DAG files with ``dag.test()``, which
needs a migrated metadata database and the DAG files inside the dags folder: the folder is a temporary
directory holding links to ``example_dags/`` and ``tests/dags/``. Shared helpers live in
``tests/helpers.py``; import them from there, never from this file (pytest loads it as ``conftest``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
_HOME = Path(tempfile.mkdtemp(prefix="braze_airflow_home_"))
DAGS_FOLDER = _HOME / "dags"
DAGS_FOLDER.mkdir()
for source in [
    *sorted((ROOT / "example_dags").glob("*.py")),
    *sorted((ROOT / "tests" / "dags").glob("*.py")),
]:
    (DAGS_FOLDER / source.name).symlink_to(source)

os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS_FOLDER)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ.pop("AIRFLOW_CONN_BRAZE_DEFAULT", None)

from tests.helpers import capture_output, load_dag, logs_by_task, plain_text  # noqa: E402  (after the environment)

pytest_plugins = ["airflow_braze_schedule.testing.pytest_plugin"]

_migrated = False


def migrate_db() -> None:
    """Migrate the SQLite metadata database once per test run (about 3 s), only if a test needs it."""
    global _migrated
    if not _migrated:
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
        _migrated = True


@pytest.fixture(autouse=True, scope="session")
def _dag_test_syncs_its_own_file():
    """While a DAG's ``test()`` runs, the DAGs folder shows its own file only.

    Airflow 3.3's ``dag.test()`` parses and serializes every DAG of the folder on each call, to keep
    sibling DAGs current in the database: here 24 files and 73 DAGs, about 2 s a run, most of a run's
    time. An ``.airflowignore`` naming every other file keeps that to the DAG's own file (DAGs synced
    before stay as they were). Earlier lines read nothing from the folder there; the file does no harm.
    """
    import re

    from airflow.configuration import conf
    from airflow.providers.common.compat.sdk import DAG

    ignore = DAGS_FOLDER / ".airflowignore"
    regexp = conf.get("core", "dag_ignore_file_syntax", fallback="regexp") == "regexp"
    original = DAG.test

    def test(self, *args, **kwargs):
        own = Path(self.fileloc).name
        others = sorted(path.name for path in DAGS_FOLDER.glob("*.py") if path.name != own)
        ignore.write_text("".join(f"^{re.escape(name)}$\n" if regexp else f"{name}\n" for name in others))
        try:
            return original(self, *args, **kwargs)
        finally:
            ignore.unlink(missing_ok=True)

    DAG.test = test
    yield
    DAG.test = original


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    migrate_db()
    return _HOME


@pytest.fixture
def run_dag(airflow_db, fake_braze):
    """Run a DAG file against the fake Braze with ``dag.test()``; returns the DagRun (it never raises)."""

    def run(file_name: str, dag_id: str | None = None, **kwargs):
        return load_dag(file_name, dag_id).test(**kwargs)

    return run


@dataclass
class LoggedRun:
    """A ``dag.test()`` run with what it printed, split by task.

    White space is collapsed (a line break counts as a space): Airflow 3.0 renders tracebacks with rich,
    which wraps a long message over several lines.
    """

    dag_run: Any
    output: str
    logs: dict[str, str]


@pytest.fixture
def run_dag_logged(airflow_db, fake_braze, tmp_path):
    """Like ``run_dag``, but also captures the run's output and splits it into each task's log."""

    def run(file_name: str, dag_id: str | None = None, **kwargs) -> LoggedRun:
        dag = load_dag(file_name, dag_id)
        path = tmp_path / f"{dag.dag_id}.log"
        with capture_output(path):
            dag_run = dag.test(**kwargs)
        output = path.read_text(errors="replace")
        logs = {task_id: plain_text(log) for task_id, log in logs_by_task(output, dag.dag_id).items()}
        return LoggedRun(dag_run, plain_text(output), logs)

    return run


def pytest_terminal_summary(terminalreporter) -> None:
    """Print the figures tests recorded with ``record_property("figures", ...)`` (the fault campaign)."""
    for report in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", []):
        for name, value in getattr(report, "user_properties", []):
            if name == "figures" and report.when == "call":
                terminalreporter.write_sep("-", report.nodeid)
                terminalreporter.write_line(str(value).strip())
