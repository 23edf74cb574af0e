"""Benchmark 4: the lifecycle example DAG end to end, against the same DAG shape made of no-op tasks.

``airflow dags test`` runs in a child process with the run's isolated, migrated ``AIRFLOW_HOME``; its
dags folder holds the example DAG and its no-op twin (same params, task ids and edges, tasks that return
``None``), so both runs parse the same files. The example DAG talks to a fake Braze in this process.
The two DAGs alternate, ``REPETITIONS`` runs each. Three times are reported for each run:

* wall: the whole command, start-up and parsing included;
* DagRun: the run's duration as Airflow logs it (``run_duration``);
* tasks: from the first task's ``Task started`` log line to the end of the run. This leaves out the
  seconds ``dags test`` spends, before the first task starts, bringing up its in-process execution API,
  which both DAGs pay alike; it is where the provider's own cost (its lazy imports, three calls to
  Braze, the XComs) shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from common import LIFECYCLE_DAG_ID, Table, Workspace, airflow_env, dags_test, median, rotated

REPETITIONS = 3
_FIRST_TASK = re.compile(r"^(\S+) \[info\s*\] Task started", re.MULTILINE)
_FINISHED = re.compile(r"^(\S+) \[info\s*\] DagRun Finished:.*?run_duration=([0-9.]+).*?state=(\w+)", re.M)


@dataclass(frozen=True)
class _Timing:
    wall: float
    dag_run: float
    tasks: float


def _dags_test(dag_id: str, env: dict[str, str]) -> _Timing:
    """Run ``airflow dags test dag_id`` and time it (seconds)."""
    wall, output = dags_test(dag_id, env)
    first_task, finished = _FIRST_TASK.search(output), _FINISHED.search(output)
    if first_task is None or finished is None or finished.group(3) != "success":
        raise RuntimeError(f"airflow dags test {dag_id}: no task start or finish line in\n{output[-3000:]}")
    tasks = datetime.fromisoformat(finished.group(1)) - datetime.fromisoformat(first_task.group(1))
    return _Timing(wall, float(finished.group(2)), tasks.total_seconds())


def run(workspace: Workspace) -> Table:
    from airflow_braze_schedule.testing import FakeBraze

    dag_ids = [LIFECYCLE_DAG_ID, workspace.noop_dag_id]
    timings: dict[str, list[_Timing]] = {dag_id: [] for dag_id in dag_ids}
    with FakeBraze() as braze:
        env = airflow_env(workspace.home, workspace.e2e_dags, extra=dict([braze.airflow_conn_env()]))
        for turn in range(REPETITIONS):
            for dag_id in rotated(dag_ids, turn):
                before = len(braze.received)
                timings[dag_id].append(_dags_test(dag_id, env))
                statuses = [request.status for request in braze.received[before:]]
                if dag_id == LIFECYCLE_DAG_ID and statuses != [200] * workspace.task_count:
                    raise RuntimeError(f"{dag_id}: the fake Braze answered {statuses}")

    def med(dag_id: str) -> _Timing:
        runs = timings[dag_id]
        return _Timing(*(median([getattr(t, f) for t in runs]) for f in ("wall", "dag_run", "tasks")))

    floor = med(workspace.noop_dag_id)
    table = Table(
        title="4. A DAG end to end",
        method=(
            f"airflow dags test, {REPETITIONS} alternating runs per DAG, medians; the example DAG against a "
            f"fake Braze, the floor its no-op twin ({workspace.task_count} tasks, same edges). wall = the "
            "whole command; DagRun = run_duration logged by Airflow; tasks = first task start to run end."
        ),
        columns=[
            "DAG",
            "wall",
            "DagRun",
            "tasks",
            "wall ratio",
            "DagRun ratio",
            "tasks ratio",
            "extra (tasks)",
        ],
    )
    for dag_id, label in ((workspace.noop_dag_id, "floor"), (LIFECYCLE_DAG_ID, "example")):
        timing = med(dag_id)
        table.rows.append(
            [
                f"{dag_id} ({label})",
                f"{timing.wall:.2f} s",
                f"{timing.dag_run:.2f} s",
                f"{timing.tasks:.2f} s",
                f"{timing.wall / floor.wall:.3f}x",
                f"{timing.dag_run / floor.dag_run:.3f}x",
                f"{timing.tasks / floor.tasks:.2f}x",
                f"{timing.tasks - floor.tasks:+.2f} s",
            ]
        )
    table.goal = "none set by the issue; the ratios are reported"
    return table
