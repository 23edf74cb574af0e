"""`make bench`: run the benchmarks in order and print one table each.

Every figure is a ratio against a baseline measured in the same run, because absolute times drift on
shared machines. See bench/README.md for what each benchmark measures and how.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bulk
import dag_e2e
import import_cost
import keyed
import keyed_dag
import per_call
import rate_limit
import registry
from common import BENCH, LIFECYCLE_FILE, PYTHON, Workspace, airflow_env, run_child
from twins import http_twin, noop_twin

NOOP_DAG_ID = "bench_noop_lifecycle"
HTTP_DAG_ID = "bench_http_lifecycle"


def _cpu_model() -> str:
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or "unknown"


def _dag_folder(folder: Path, files: dict[str, str]) -> Path:
    """Create ``folder`` holding ``files`` (name: source)."""
    folder.mkdir()
    for name, source in files.items():
        (folder / name).write_text(source)
    return folder


def prepare(scratch: Path) -> Workspace:
    """Migrate an isolated Airflow home and write the DAG folders, reading the example DAG's shape."""
    home = scratch / "airflow-home"
    home.mkdir()
    migrate = subprocess.Popen(
        [PYTHON, "-m", "airflow", "db", "migrate"],
        env=airflow_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # Read the shape meanwhile, in a home of its own: two first Airflow starts must not share one.
    shape_home = scratch / "shape-home"
    shape_home.mkdir()
    shape = run_child([str(BENCH / "twins.py"), str(LIFECYCLE_FILE)], airflow_env(shape_home))
    output, _ = migrate.communicate()
    if migrate.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{output[-3000:]}")
    lifecycle = {LIFECYCLE_FILE.name: LIFECYCLE_FILE.read_text()}
    noop = {f"{NOOP_DAG_ID}.py": noop_twin(shape, NOOP_DAG_ID)}
    http = {f"{HTTP_DAG_ID}.py": http_twin(shape, HTTP_DAG_ID)}
    return Workspace(
        home=home,
        braze_dags=_dag_folder(scratch / "dags-braze", lifecycle),
        noop_dags=_dag_folder(scratch / "dags-noop", noop),
        http_dags=_dag_folder(scratch / "dags-http", http),
        e2e_dags=_dag_folder(scratch / "dags-e2e", {**lifecycle, **noop}),
        noop_dag_id=NOOP_DAG_ID,
        task_count=len(shape["tasks"]),
    )


BENCHMARKS = {
    "import_cost": import_cost.run,
    "per_call": per_call.run,
    "rate_limit": rate_limit.run,
    "dag_e2e": dag_e2e.run,
    "bulk": bulk.run,
    "registry": registry.run,
    "keyed": keyed.run,
    "keyed_dag": keyed_dag.run,
}


def main(names: list[str]) -> int:
    """Run the benchmarks named on the command line (all by default), in order."""
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}", file=sys.stderr)
        return 2
    started = time.monotonic()
    print(
        f"make bench: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs "
        f"({_cpu_model()}), Python {platform.python_version()}, {platform.system()} {platform.release()}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="braze-bench-") as scratch:
        workspace = prepare(Path(scratch))
        for name in names or BENCHMARKS:
            table = BENCHMARKS[name](workspace)
            print(f"\n{table.render()}", flush=True)
    print(f"\nmake bench finished in {time.monotonic() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
