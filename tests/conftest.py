"""Test set-up shared by the whole suite.

Airflow reads its configuration when it is first imported, so the isolated ``AIRFLOW_HOME`` is set here,
before any test module imports Airflow. End-to-end tests run real DAG files with ``dag.test()``, which
needs a migrated metadata database and the DAG files inside the dags folder: the folder is a temporary
directory holding links to ``example_dags/`` and ``tests/dags/``.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

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

pytest_plugins = ["airflow_braze_schedule.testing.pytest_plugin"]

_migrated = False


def migrate_db() -> None:
    """Migrate the SQLite metadata database once per test run (about 3 s), only if a test needs it."""
    global _migrated
    if not _migrated:
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
        _migrated = True


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    migrate_db()
    return _HOME


def load_dag(file_name: str, dag_id: str | None = None):
    """Import a DAG file from the dags folder (so ``dag.test()`` finds it there) and return its DAG."""
    path = DAGS_FOLDER / file_name
    spec = importlib.util.spec_from_file_location(f"dagfile_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from airflow.sdk import DAG

    dags = [value for value in vars(module).values() if isinstance(value, DAG)]
    if dag_id is not None:
        dags = [dag for dag in dags if dag.dag_id == dag_id]
    assert len(dags) == 1, f"{file_name} defines {len(dags)} matching DAGs"
    return dags[0]


@pytest.fixture
def run_dag(airflow_db, fake_braze):
    """Run a DAG file against the fake Braze with ``dag.test()``; returns the DagRun (it never raises)."""

    def run(file_name: str, dag_id: str | None = None, **kwargs):
        return load_dag(file_name, dag_id).test(**kwargs)

    return run


def task_states(dag_run) -> dict[str, str | None]:
    return {ti.task_id: (str(ti.state) if ti.state else None) for ti in dag_run.get_task_instances()}
