"""Benchmark 9: keyed sends through real Airflow (``airflow dags test``), against a bare thread pool.

The fake Braze (:class:`~airflow_braze_schedule.testing.FakeBraze`, loopback) answers each request after
``LATENCY`` s; the registry is Airflow 3.3's ``asset_state_store`` of ``braze://braze_default/schedules``
(nothing to set up). Every DAG run is ``airflow dags test`` in the run's temporary ``AIRFLOW_HOME``, and
task times are read back from Airflow's metadata database (each task instance's ``start_date`` and
``end_date``), so Airflow's start-up is not in them. Rows:

1. **reconcile, new keys**: ``BrazeReconcileSchedulesOperator(max_workers=8)`` over ``--keys`` (default
   10,000) keys none of which exists (``desired_path``, one JSON object per line), one recipient each,
   against the floor: a bare ``ThreadPoolExecutor(8)`` in a child process posting the same creates to
   the same fake with plain ``requests`` (one ``Session`` per thread). Goal: floor / task >= 0.8x.
2. **reconcile, unchanged**: the same DAG run again; nothing to send. Goal: <= 10 s at 10,000 keys.
3. **upsert, mapped**: ``BrazeUpsertScheduleOperator.partial(...).expand(schedule_key=...)`` over
   ``--mapped`` (default 1,000) keys, one recipient each, a campaign create per key: the run's time
   (DagRun start to end) and the mean task time, against the same bare pool sending the same M creates
   (REPORTED, no goal). Afterwards the registry (``open_registry_reader()``, from the metadata database)
   must list all M keys and the fake must hold exactly M live schedules.

``python bench/keyed_dag.py --keys 500 --mapped 20`` runs it on its own, scaled down (it migrates a
temporary Airflow home first); ``bench/run.py keyed_dag`` runs it at the defaults, or at
``BENCH_KEYED_DAG_KEYS`` / ``BENCH_KEYED_DAG_MAPPED``. Child mode: ``python bench/keyed_dag.py <mode> ...``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import PYTHON, Table, Workspace, airflow_env, emit, run_child

LATENCY = 0.05
WORKERS = 8
KEYS = int(os.environ.get("BENCH_KEYED_DAG_KEYS", "10000"))
MAPPED = int(os.environ.get("BENCH_KEYED_DAG_MAPPED", "1000"))
CAMPAIGN = "bench-keyed-dag"
RECONCILE_SCOPE = "bench9/reconcile/"
MAPPED_SCOPE = "bench9/mapped/"
RECONCILE_DAG = "bench_keyed_dag_reconcile"
MAPPED_DAG = "bench_keyed_dag_mapped"
CREATE_PATH = "/campaigns/trigger/schedule/create"


def _send_time(days: int = 3) -> str:
    day = time.gmtime(time.time() + days * 86400)
    return f"{day.tm_year:04d}-{day.tm_mon:02d}-{day.tm_mday:02d}T09:00:00Z"


def _creates(scope: str, count: int, send_time: str) -> list[dict[str, Any]]:
    """The desired sends, one recipient each: the reconcile's lines and the floor's bodies."""
    return [
        {
            "schedule_key": f"{scope}{n:06d}",
            "campaign_id": CAMPAIGN,
            "recipients": [{"external_user_id": f"user-{n}"}],
            "schedule": {"time": send_time},
        }
        for n in range(count)
    ]


# --- child side -----------------------------------------------------------------------------------


def child_floor(url: str, key: str, path: str) -> dict[str, Any]:
    """A bare 8-thread pool posting each line's create (without its key) with plain requests."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import local

    import requests

    bodies = []
    with open(path) as lines:
        for line in lines:
            fields = json.loads(line)
            fields.pop("schedule_key")
            bodies.append(json.dumps(fields).encode())
    sessions = local()

    def post(body: bytes) -> str:
        session = getattr(sessions, "session", None)
        if session is None:
            session = sessions.session = requests.Session()
            session.trust_env = False
            session.headers.update({"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        response = session.post(f"{url}{CREATE_PATH}", data=body, timeout=30)
        response.raise_for_status()
        return str(response.json()["schedule_id"])

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        ids = list(pool.map(post, bodies))
    seconds = time.perf_counter() - started
    assert len(set(ids)) == len(bodies)
    return {"seconds": seconds, "creates": len(ids)}


def child_inspect(dag_id: str, scope: str) -> dict[str, Any]:
    """The latest run of ``dag_id`` from the metadata database: its times, its tasks' times, and the
    registry's key count under ``scope`` (read as the schedules page would: ``open_registry_reader``)."""
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    from airflow_braze_schedule.registry import open_registry_reader

    with create_session() as session:
        run = session.query(DagRun).filter(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).first()
        tis = (
            session.query(TaskInstance)
            .filter(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id)
            .all()
        )
        tasks = [
            {
                "task_id": ti.task_id,
                "map_index": ti.map_index,
                "state": str(ti.state),
                "seconds": (ti.end_date - ti.start_date).total_seconds(),
                "start": ti.start_date.timestamp(),
                "end": ti.end_date.timestamp(),
            }
            for ti in tis
        ]
        run_seconds = (run.end_date - run.start_date).total_seconds()
    started = time.perf_counter()
    registered = len(open_registry_reader().scope(scope))
    return {
        "run_seconds": run_seconds,
        "tasks": tasks,
        "registered": registered,
        "registry_read": time.perf_counter() - started,
    }


# --- parent side ----------------------------------------------------------------------------------

_DAGS = """
import pendulum
from airflow.providers.common.compat.sdk import DAG
from airflow_braze_schedule.operators import BrazeReconcileSchedulesOperator, BrazeUpsertScheduleOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")

with DAG({reconcile_dag!r}, schedule=None, start_date=START, catchup=False, default_args={{"retries": 0}}):
    BrazeReconcileSchedulesOperator(
        task_id="reconcile", scope={reconcile_scope!r}, desired_path={desired_path!r}, max_workers={workers}
    )

with DAG({mapped_dag!r}, schedule=None, start_date=START, catchup=False, default_args={{"retries": 0}}):
    BrazeUpsertScheduleOperator.partial(
        task_id="upsert",
        campaign_id={campaign!r},
        recipients=[{{"external_user_id": "user-{{{{ ti.map_index }}}}"}}],
        schedule={{"time": {send_time!r}}},
    ).expand(schedule_key={mapped_keys!r})
"""


def _dags_test(dag_id: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [PYTHON, "-m", "airflow", "dags", "test", dag_id],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0 or not re.search(r"DagRun Finished:.*state=success", done.stdout + done.stderr):
        raise RuntimeError(
            f"airflow dags test {dag_id} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return wall


def _load() -> str:
    return "{:.1f}/{:.1f}/{:.1f}".format(*os.getloadavg())


def run(workspace: Workspace, keys: int = KEYS, mapped: int = MAPPED) -> Table:
    from airflow_braze_schedule.testing import FakeBraze

    scratch = Path(tempfile.mkdtemp(prefix="braze-bench-keyed-dag-"))
    send_time = _send_time()
    desired_path = scratch / "desired.jsonl"
    desired_path.write_text("".join(json.dumps(c) + "\n" for c in _creates(RECONCILE_SCOPE, keys, send_time)))
    mapped_path = scratch / "mapped.jsonl"
    mapped_creates = _creates(MAPPED_SCOPE, mapped, send_time)
    mapped_path.write_text("".join(json.dumps(c) + "\n" for c in mapped_creates))
    dags = scratch / "dags"
    dags.mkdir()
    (dags / "bench_keyed_dag.py").write_text(
        _DAGS.format(
            reconcile_dag=RECONCILE_DAG,
            reconcile_scope=RECONCILE_SCOPE,
            desired_path=str(desired_path),
            workers=WORKERS,
            mapped_dag=MAPPED_DAG,
            campaign=CAMPAIGN,
            send_time=send_time,
            mapped_keys=[c["schedule_key"] for c in mapped_creates],
        )
    )
    loads = [_load()]
    with FakeBraze(latency=LATENCY) as braze:
        name, value = braze.airflow_conn_env()
        env = airflow_env(
            workspace.home,
            dags,
            extra={
                name: value,
                "AIRFLOW__CORE__MAX_MAP_LENGTH": str(max(1024, mapped)),
            },
        )

        def fresh() -> None:
            braze.reset()
            braze.set_latency(LATENCY)

        # 1. new keys, against the floor
        fresh()
        floor = run_child([__file__, "floor", braze.url, braze.api_key, str(desired_path)], env)
        fresh()
        new_wall = _dags_test(RECONCILE_DAG, env)
        new = run_child([__file__, "inspect", RECONCILE_DAG, RECONCILE_SCOPE], env)
        loads.append(_load())
        new_live = len(braze.active_schedules())
        creates_after_new = len(braze.requests_to(CREATE_PATH))
        # 2. unchanged
        unchanged_wall = _dags_test(RECONCILE_DAG, env)
        unchanged = run_child([__file__, "inspect", RECONCILE_DAG, RECONCILE_SCOPE], env)
        unchanged_sent = len(braze.requests_to(CREATE_PATH)) - creates_after_new
        loads.append(_load())
        # 3. mapped upserts, against the floor
        fresh()
        mapped_floor = run_child([__file__, "floor", braze.url, braze.api_key, str(mapped_path)], env)
        fresh()
        mapped_wall = _dags_test(MAPPED_DAG, env)
        mapped_run = run_child([__file__, "inspect", MAPPED_DAG, MAPPED_SCOPE], env)
        mapped_live = len(braze.active_schedules())
        loads.append(_load())

    new_task = new["tasks"][0]["seconds"]
    unchanged_task = unchanged["tasks"][0]["seconds"]
    ratio = floor["seconds"] / new_task
    mapped_tasks = [t["seconds"] for t in mapped_run["tasks"]]
    mapped_span = max(t["end"] for t in mapped_run["tasks"]) - min(t["start"] for t in mapped_run["tasks"])
    mapped_ratio = mapped_floor["seconds"] / mapped_run["run_seconds"]
    unchanged_goal = 10.0  # stated at 10,000 keys; a scaled-down run keeps it

    table = Table(
        title=f"9. Keyed sends through Airflow ({keys:,} keys reconciled, {mapped:,} mapped upserts)",
        method=(
            f"airflow dags test in a temporary AIRFLOW_HOME, registry in the asset_state_store; the fake Braze "
            f"(loopback) answers each request after {LATENCY * 1000:.0f} ms. Task times from the metadata "
            f"database (start_date to end_date); floor: a bare ThreadPoolExecutor({WORKERS}) in a child "
            f"process posting the same creates with requests. One run each."
        ),
        columns=["row", "seconds", "keys/s", "vs floor", "goal"],
    )
    table.rows.append(
        [
            "floor: bare 8-thread pool, N creates",
            f"{floor['seconds']:.1f}",
            f"{keys / floor['seconds']:.0f}",
            "",
            "",
        ]
    )
    table.rows.append(
        [
            f"1. reconcile, {keys:,} new keys (task; dags test {new_wall:.0f} s)",
            f"{new_task:.1f}",
            f"{keys / new_task:.0f}",
            f"{ratio:.2f}x",
            ">= 0.80x",
        ]
    )
    table.rows.append(
        [
            f"2. reconcile, all unchanged (task; dags test {unchanged_wall:.0f} s; {unchanged_sent} sent)",
            f"{unchanged_task:.2f}",
            f"{keys / unchanged_task:.0f}",
            "",
            f"<= {unchanged_goal:.1f} s",
        ]
    )
    table.rows.append(
        [
            "floor: bare 8-thread pool, M creates",
            f"{mapped_floor['seconds']:.2f}",
            f"{mapped / mapped_floor['seconds']:.0f}",
            "",
            "",
        ]
    )
    table.rows.append(
        [
            f"3. upsert, {mapped:,} mapped tasks: DagRun (dags test {mapped_wall:.0f} s)",
            f"{mapped_run['run_seconds']:.1f}",
            f"{mapped / mapped_run['run_seconds']:.1f}",
            f"{mapped_ratio:.3f}x",
            "REPORTED",
        ]
    )
    table.rows.append(
        [
            "3. per mapped task, mean (min-max); first start to last end",
            f"{sum(mapped_tasks) / len(mapped_tasks):.2f} ({min(mapped_tasks):.2f}-{max(mapped_tasks):.2f}); "
            f"{mapped_span:.1f}",
            "",
            "",
            "",
        ]
    )
    checks_ok = mapped_run["registered"] == mapped and mapped_live == mapped and len(mapped_tasks) == mapped
    table.rows.append(
        [
            f"3. check: registry keys / fake live schedules (of {mapped:,})",
            f"{mapped_run['registered']:,} / {mapped_live:,}",
            "",
            "",
            f"{mapped:,} / {mapped:,}",
        ]
    )
    table.goal = (
        f"new keys >= 0.80x the floor ({ratio:.2f}x); unchanged <= {unchanged_goal:.1f} s ({unchanged_task:.2f} s); "
        f"mapped run REPORTED ({mapped_ratio:.3f}x); registry and fake hold all M keys "
        f"({'yes' if checks_ok else 'no'})"
    )
    table.passed = ratio >= 0.8 and unchanged_task <= unchanged_goal and checks_ok and unchanged_sent == 0
    table.notes.append(
        f"Reconcile first run: {new['registered']:,} keys registered, {new_live:,} live schedules at the fake; "
        f"registry read through open_registry_reader: {mapped_run['registry_read']:.2f} s."
    )
    table.notes.append(
        f"Load average (1/5/15 min) before, after rows 1, 2, 3: {', '.join(loads)} on {os.cpu_count()} CPUs."
    )
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=KEYS, help=f"keys reconciled (default {KEYS})")
    parser.add_argument("--mapped", type=int, default=MAPPED, help=f"mapped upsert tasks (default {MAPPED})")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="braze-bench-") as scratch:
        home = Path(scratch) / "airflow-home"
        home.mkdir()
        subprocess.run(
            [PYTHON, "-m", "airflow", "db", "migrate"], env=airflow_env(home), check=True, capture_output=True
        )
        workspace = Workspace(home, home, home, home, home, "", 0)
        started = time.monotonic()
        print(run(workspace, args.keys, args.mapped).render())
        print(f"\nfinished in {time.monotonic() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("floor", "inspect"):
        mode, *child_args = sys.argv[1:]
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        emit({"floor": child_floor, "inspect": child_inspect}[mode](*child_args))
    else:
        sys.exit(main())
