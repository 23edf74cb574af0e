"""Benchmark 1: what a DAG processor pays, in time and memory, to import the operators and parse a DAG.

Every measurement runs in a fresh interpreter, which first imports ``airflow.sdk`` (the baseline every
DAG file pays) and records what that cost. Then it imports one contender's operator module, and parses
with Airflow's own ``DagBag`` a folder holding the lifecycle DAG's no-op twin (same params, tasks, edges;
tasks that do nothing: the floor) and then a folder holding the contender's DAG. A first, untimed
``DagBag`` of the twin warms ``DagBag`` up, so that both timed parses find it in the same state.
Contenders, alternating round by round:

* this provider: ``airflow_braze_schedule.operators`` and the ``braze_schedule_lifecycle`` example;
* the HTTP provider: ``airflow.providers.http.operators.http`` and the lifecycle's ``HttpOperator`` twin.

A contender's extra cost, taken within each interpreter, is its import plus its DAG's parse minus the
twin's parse. Times are CPU time (``time.process_time``), which the other processes of a busy machine
inflate far less than wall time; memory is the resident set (``/proc/self/statm``) grown over the same
steps, page-granular, and only what the allocator could not serve from memory it already held.

Child mode: ``python bench/import_cost.py <module> <its DAG folder> <twin folder>`` prints one
measurement as JSON.
"""

from __future__ import annotations

import importlib
import os
import sys
import time

from common import Table, Workspace, airflow_env, emit, median, rotated, run_child

ROUNDS = 7
GOAL_MS = 10.0
BRAZE_MODULE = "airflow_braze_schedule.operators"
HTTP_MODULE = "airflow.providers.http.operators.http"


def _rss_kib() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _parse(dag_folder: str) -> tuple[float, int]:
    """Parse ``dag_folder`` with a DagBag: the CPU milliseconds and resident KiB it took."""
    from airflow.dag_processing.dagbag import DagBag

    rss = _rss_kib()
    started = time.process_time()
    bag = DagBag(dag_folder=dag_folder)
    cpu_ms = (time.process_time() - started) * 1000
    if bag.import_errors or len(bag.dags) != 1:
        raise RuntimeError(f"{dag_folder} did not parse into one DAG: {bag.import_errors}")
    return cpu_ms, _rss_kib() - rss


def measure(module: str, dag_folder: str, twin_folder: str) -> dict[str, float]:
    """In this fresh interpreter: import ``airflow.sdk``, then ``module``, then parse the twin and the DAG."""
    started = time.process_time()
    import airflow.sdk  # noqa: F401

    baseline_ms = (time.process_time() - started) * 1000
    baseline_kib = _rss_kib()
    started = time.process_time()
    importlib.import_module(module)
    import_ms = (time.process_time() - started) * 1000
    import_kib = _rss_kib() - baseline_kib
    _parse(twin_folder)
    twin_ms, twin_kib = _parse(twin_folder)
    parse_ms, parse_kib = _parse(dag_folder)
    return {
        "baseline_ms": baseline_ms,
        "baseline_kib": baseline_kib,
        "import_ms": import_ms,
        "parse_ms": parse_ms,
        "twin_ms": twin_ms,
        "extra_ms": import_ms + parse_ms - twin_ms,
        "extra_kib": import_kib + parse_kib - twin_kib,
    }


def run(workspace: Workspace) -> Table:
    contenders = {
        "braze": (BRAZE_MODULE, workspace.braze_dags, "+ braze_schedule_lifecycle"),
        "http": (HTTP_MODULE, workspace.http_dags, "+ HttpOperator twin"),
    }
    env = airflow_env(workspace.home)
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in contenders}
    for turn in range(ROUNDS):
        for name in rotated(list(contenders), turn):
            module, folder, _ = contenders[name]
            samples[name].append(run_child([__file__, module, str(folder), str(workspace.noop_dags)], env))

    def med(name: str, key: str) -> float:
        return median([sample[key] for sample in samples[name]])

    every = [sample for runs in samples.values() for sample in runs]
    sdk_ms = median([sample["baseline_ms"] for sample in every])
    sdk_mib = median([sample["baseline_kib"] for sample in every]) / 1024
    table = Table(
        title="1. Parse-time import cost",
        method=(
            f"Fresh interpreters, {ROUNDS} alternating rounds, medians of CPU time. Baseline: import "
            f"airflow.sdk ({sdk_ms:.0f} ms, RSS {sdk_mib:.1f} MiB). Extra = import + DagBag of its DAG "
            "- DagBag of the lifecycle's no-op twin, in the same interpreter."
        ),
        columns=[
            "contender",
            "import",
            "DagBag",
            "twin DagBag",
            "extra time",
            "extra RSS",
            "extra / baseline",
            "vs HTTP",
        ],
    )
    for name, (module, _, dag) in contenders.items():
        extra_ms = med(name, "extra_ms")
        table.rows.append(
            [
                f"{module} {dag}",
                f"{med(name, 'import_ms'):.1f} ms",
                f"{med(name, 'parse_ms'):.1f} ms",
                f"{med(name, 'twin_ms'):.1f} ms",
                f"{extra_ms:.1f} ms",
                f"{med(name, 'extra_kib') / 1024:.2f} MiB",
                f"{extra_ms / sdk_ms:.4f}x",
                f"{extra_ms / med('http', 'extra_ms'):.3f}x",
            ]
        )
    braze_ms, braze_kib = med("braze", "extra_ms"), med("braze", "extra_kib")
    http_ms, http_kib = med("http", "extra_ms"), med("http", "extra_kib")
    table.goal = (
        f"extra time < {GOAL_MS:.0f} ms and never above the HTTP provider's (time and RSS): "
        f"{braze_ms:.1f} ms / {braze_kib / 1024:.2f} MiB vs {http_ms:.1f} ms / {http_kib / 1024:.2f} MiB"
    )
    table.passed = braze_ms < GOAL_MS and braze_ms <= http_ms and braze_kib <= http_kib
    return table


if __name__ == "__main__":
    emit(measure(sys.argv[1], sys.argv[2], sys.argv[3]))
