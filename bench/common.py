"""What the benchmarks share: paths, the isolated Airflow environment, child processes, ``airflow dags
test``, the bare pool that is the floor of sends, tables."""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
LIFECYCLE_FILE = ROOT / "example_dags" / "braze_schedule_lifecycle.py"
LIFECYCLE_DAG_ID = "braze_schedule_lifecycle"
PYTHON = sys.executable


@dataclass(frozen=True)
class Workspace:
    """The run's scratch space: one isolated, migrated ``AIRFLOW_HOME`` and the DAG folders.

    :param home: the ``AIRFLOW_HOME`` of every Airflow process of the run (its database is migrated).
    :param braze_dags: a folder holding only the lifecycle example DAG.
    :param noop_dags: a folder holding only its no-op twin (same params, task ids and edges; tasks that
        do nothing).
    :param http_dags: a folder holding only its ``HttpOperator`` twin.
    :param e2e_dags: the dags folder of ``airflow dags test``: the example DAG and its no-op twin.
    :param noop_dag_id: the no-op twin's ``dag_id``.
    :param task_count: tasks in the example DAG.
    """

    home: Path
    braze_dags: Path
    noop_dags: Path
    http_dags: Path
    e2e_dags: Path
    noop_dag_id: str
    task_count: int


def airflow_env(
    home: Path, dags_folder: Path | None = None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of an Airflow child process: isolated home, no example DAGs, plus ``extra``."""
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False", **(extra or {})}
    if dags_folder is not None:
        env["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags_folder)
    # A deployed Airflow imports from bytecode caches; without them every fresh interpreter compiles each
    # module it imports, and the compiler, not the code, is what gets measured.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_child(args: Sequence[str], env: dict[str, str]) -> Any:
    """Run ``python <args>`` and return the JSON object it prints on its last line of output.

    :raises RuntimeError: if the child fails, with the end of its output.
    """
    done = subprocess.run([PYTHON, *args], env=env, capture_output=True, text=True, check=False)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            f"{' '.join(args)} exited with {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return json.loads(lines[-1])


def emit(result: Any) -> None:
    """Print a child's result as the last line of its output (see :func:`run_child`)."""
    print(json.dumps(result), flush=True)


def dags_test(dag_id: str, env: dict[str, str]) -> tuple[float, str]:
    """Run ``airflow dags test dag_id``: its wall time (seconds) and its output.

    :raises RuntimeError: unless the DAG run finished in success, with the end of its output.
    """
    started = time.perf_counter()
    done = subprocess.run(
        [PYTHON, "-m", "airflow", "dags", "test", dag_id],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    output = done.stdout + done.stderr
    if done.returncode != 0 or not re.search(r"DagRun Finished:.*state=success", output):
        raise RuntimeError(
            f"airflow dags test {dag_id} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return wall, output


def bare_poster(url: str, api_key: str, path: str) -> Callable[[bytes], str]:
    """What a bare thread pool posts with, the floor of every send benchmark: plain ``requests``, one
    ``Session`` per thread, ``path`` on ``url``; returns the answer's ``schedule_id``."""
    from threading import local

    import requests

    sessions = local()

    def post(body: bytes) -> str:
        session = getattr(sessions, "session", None)
        if session is None:
            session = sessions.session = requests.Session()
            session.trust_env = False
            session.headers.update({"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"})
        response = session.post(f"{url}{path}", data=body, timeout=30)
        response.raise_for_status()
        return str(response.json()["schedule_id"])

    return post


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def rotated(items: Sequence[str], turn: int) -> list[str]:
    """``items`` rotated by ``turn``, so that no contender always runs first in a round."""
    shift = turn % len(items)
    return [*items[shift:], *items[:shift]]


@dataclass
class Table:
    """One benchmark's figures: a title, how they were measured, the rows, the goal and the verdict."""

    title: str
    method: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    goal: str = ""
    passed: bool | None = None  # None: no goal to meet
    notes: list[str] = field(default_factory=list)

    def render(self) -> str:
        widths = [max(len(row[i]) for row in [self.columns, *self.rows]) for i in range(len(self.columns))]

        def line(cells: list[str]) -> str:
            first, *rest = cells
            return "  ".join(
                [first.ljust(widths[0]), *(c.rjust(w) for c, w in zip(rest, widths[1:], strict=True))]
            )

        out = [self.title, "=" * len(self.title), self.method, "", line(self.columns)]
        out.append("  ".join("-" * w for w in widths))
        out.extend(line(row) for row in self.rows)
        out.append("")
        verdict = "REPORTED" if self.passed is None else "PASS" if self.passed else "MISS"
        out.append(f"Goal: {self.goal} -> {verdict}")
        out.extend(self.notes)
        return "\n".join(out)
