"""Twins of the lifecycle example DAG: the same params, task ids and edges, built from other operators.

The *no-op twin* is Airflow's own floor: its tasks are a ``BaseOperator`` whose ``execute`` returns
``None``, defined in the DAG file itself, so parsing it imports nothing beyond ``airflow.sdk``. The *HTTP
twin* builds the same tasks from ``HttpOperator``, what a DAG author would write without this provider.
The shape is read from the example DAG itself (:func:`read_shape`, in a child process), so the twins
follow the example if it changes.

Child mode: ``python bench/twins.py <dag file>`` prints the DAG's shape as JSON.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import emit

HTTP_CONN_ID = "http_bench"

_HEADER = '''"""Written by bench/twins.py: the shape of {source} ({kind})."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG{extra_sdk}
{imports}{classes}
with DAG(
    dag_id="{dag_id}",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={params},
    tags=["bench"],
) as dag:'''

_NOOP_CLASS = '''

class NoopOperator(BaseOperator):
    """A task that does nothing."""

    def execute(self, context):
        return None

'''


def read_shape(dag_file: Path) -> dict[str, Any]:
    """Parse ``dag_file`` with Airflow's DagBag: its ``dag_id``, params, and tasks (id, upstream ids,
    trigger rule)."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import TriggerRule

    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / dag_file.name
        copy.write_text(dag_file.read_text())
        bag = DagBag(dag_folder=folder)
    if bag.import_errors or len(bag.dags) != 1:
        raise RuntimeError(f"{dag_file} did not parse into one DAG: {bag.import_errors}")
    dag = next(iter(bag.dags.values()))
    tasks = [
        {
            "task_id": t.task_id,
            "upstream": sorted(t.upstream_task_ids),
            "trigger_rule": TriggerRule(t.trigger_rule).value,
        }
        for t in dag.tasks
    ]
    return {"dag_id": dag.dag_id, "params": dag.params.dump(), "tasks": tasks}


def _render(
    shape: dict[str, Any], dag_id: str, kind: str, task_source: Callable[[dict[str, Any]], str], **header: str
) -> str:
    lines = [
        _HEADER.format(
            source=shape["dag_id"], kind=kind, dag_id=dag_id, params=repr(shape["params"]), **header
        )
    ]
    names = {task["task_id"]: f"task_{index}" for index, task in enumerate(shape["tasks"])}
    lines.extend(f"    {names[task['task_id']]} = {task_source(task)}" for task in shape["tasks"])
    for task in shape["tasks"]:
        if task["upstream"]:
            upstream = ", ".join(names[u] for u in task["upstream"])
            lines.append(f"    {names[task['task_id']]}.set_upstream([{upstream}])")
    return "\n".join(lines) + "\n"


def noop_twin(shape: dict[str, Any], dag_id: str) -> str:
    """The source of a DAG of ``shape`` whose tasks do nothing."""

    def task_source(task: dict[str, Any]) -> str:
        return f"NoopOperator(task_id={task['task_id']!r}, trigger_rule={task['trigger_rule']!r})"

    return _render(
        shape, dag_id, "no-op tasks", task_source, extra_sdk=", BaseOperator", imports="", classes=_NOOP_CLASS
    )


def http_twin(shape: dict[str, Any], dag_id: str) -> str:
    """The source of a DAG of ``shape`` whose tasks are ``HttpOperator`` POSTs of a JSON body."""
    body = json.dumps({"campaign_id": "{{ params.campaign_id }}", "schedule": {"time": "{{ ds }}T09:00:00"}})

    def task_source(task: dict[str, Any]) -> str:
        return (
            f"HttpOperator(task_id={task['task_id']!r}, trigger_rule={task['trigger_rule']!r}, "
            f"http_conn_id={HTTP_CONN_ID!r}, method='POST', endpoint='/campaigns/trigger/schedule/create', "
            f"data={body!r}, headers={{'Content-Type': 'application/json'}})"
        )

    return _render(
        shape,
        dag_id,
        "HttpOperator tasks",
        task_source,
        extra_sdk="",
        imports="from airflow.providers.http.operators.http import HttpOperator\n",
        classes="",
    )


if __name__ == "__main__":
    emit(read_shape(Path(sys.argv[1])))
