"""Benchmark 5: the bulk create, at Braze's limit, against its floor, against mapped tasks, in memory,
and what its bookkeeping costs.

(a) **At the limit.** The fake Braze answers each call after ``LATENCY`` and allows ``LIMIT`` requests per
    ``WINDOW`` s window (aligned to the clock, as Braze's hour is). One bulk create of more chunks than
    the windows allow; the achieved rate counts the creates Braze accepted in the whole windows the run
    covered, against ``LIMIT / WINDOW``. 429s from the fake's log; failed chunks from the task.
(b) **Against the floor.** 50 ms latency, no limit, ``FLOOR_CHUNKS`` chunks: the bulk create (validation
    of every chunk included) against a bare ``ThreadPoolExecutor`` of the same size posting the same
    bodies, one ``requests.Session`` per thread. Alternating rounds; throughput ratio per round.
(c) **Against mapping.** ``MAPPED_USERS`` recipients as ``BrazeCreateScheduleOperator.partial(...).expand(...)``
    (one task instance per chunk) and as one bulk task, each under ``airflow dags test``: wall times.
(d) **Memory.** A dry run over a ``DRY_RUN_USERS``-line JSON Lines file: peak RSS growth of the process
    over its RSS before the task, and recipients validated per second.
(e) **Bookkeeping.** ``FLOOR_CHUNKS`` chunks at 50 ms under ``airflow dags test``, once with Airflow's real
    ``task_state_store`` and once without: the time spent in the store's reads and writes against the
    run's time, and the two runs' times.

The operator runs for real in (a), (b), (d): ``execute()`` in a child process, given a context with a
task instance that records XComs (and, in (a) and (b), no task_state_store, so that only sending is
measured; (e) measures the store). Child mode: ``python bench/bulk.py <mode> <args>``.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import Table, Workspace, airflow_env, bare_poster, dags_test, emit, median, run_child

LATENCY = 0.05
CONCURRENCY = 8
LIMIT = 200
WINDOW = 5.0
RATE_CHUNKS = 1500  # 75,000 recipients: more than the ~6 windows of the run allow
FLOOR_CHUNKS = 2000  # 100,000 recipients
FLOOR_ROUNDS = 2
MAPPED_USERS = 5000
DRY_RUN_USERS = 1_000_000
SCHEDULE = {"time": "2099-01-02T09:00:00", "in_local_time": True}
CAMPAIGN = "bench-bulk"


def _recipients(count: int) -> list[dict[str, Any]]:
    return [
        {"external_user_id": f"user-{n}", "trigger_properties": {"n": n, "tier": "gold"}}
        for n in range(count)
    ]


def _write_jsonl(path: Path, count: int) -> Path:
    with path.open("w") as out:
        for n in range(count):
            out.write(json.dumps({"external_user_id": f"user-{n}", "trigger_properties": {"n": n}}) + "\n")
    return path


# --- child side ---------------------------------------------------------------------------------


class _TaskInstance:
    try_number = 1

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def _execute(**kwargs: Any) -> tuple[float, Any, _TaskInstance]:
    """Run the bulk operator's execute() once; return its wall time, its result and the task instance."""
    from airflow_braze_schedule.operators import BrazeBulkCreateScheduleOperator

    operator = BrazeBulkCreateScheduleOperator(
        task_id="bulk", campaign_id=CAMPAIGN, schedule=SCHEDULE, progress_interval=5.0, **kwargs
    )
    ti = _TaskInstance()
    started = time.perf_counter()
    try:
        result = operator.execute({"ti": ti, "task_state_store": None})  # type: ignore[arg-type]
    except Exception as error:  # the table reports it
        result = {"error": str(error)[:2000]}
    return time.perf_counter() - started, result, ti


def _reset(url: str) -> None:
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{url}/_fake/reset", method="POST")).close()


def child_rate(url: str) -> dict[str, Any]:
    _reset(url)
    wall, result, _ = _execute(recipients=_recipients(RATE_CHUNKS * 50), max_concurrency=CONCURRENCY)
    return {"wall": wall, "chunks": len(result.get("chunks", [])), "error": result.get("error")}


def child_floor(url: str, key: str) -> dict[str, Any]:
    """Alternate the bulk create and a bare thread pool posting the same bodies."""
    from concurrent.futures import ThreadPoolExecutor

    from airflow_braze_schedule.core.audience import chunk_request, chunked, list_entries
    from airflow_braze_schedule.core.endpoints import ScheduleKind

    recipients = _recipients(FLOOR_CHUNKS * 50)
    base = {"campaign_id": CAMPAIGN, "schedule": SCHEDULE}
    bodies = [
        chunk_request(base, ScheduleKind.CAMPAIGN, chunk).payload
        for chunk in chunked(list_entries("recipients", recipients), 50)
    ]
    post = bare_poster(url, key, "/campaigns/trigger/schedule/create")

    def floor() -> float:
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
            ids = list(pool.map(post, bodies))
        assert len(set(ids)) == len(bodies)
        return time.perf_counter() - started

    from airflow_braze_schedule.core.audience import make_plan

    started = time.perf_counter()
    make_plan(base, ScheduleKind.CAMPAIGN, lambda: list_entries("recipients", recipients))
    validation = time.perf_counter() - started
    rounds = []
    for turn in range(FLOOR_ROUNDS):
        times: dict[str, float] = {}
        for contender in ("floor", "bulk") if turn % 2 == 0 else ("bulk", "floor"):
            _reset(url)
            if contender == "floor":
                times["floor"] = floor()
            else:
                wall, result, _ = _execute(recipients=recipients, max_concurrency=CONCURRENCY)
                if len(result.get("chunks", [])) != FLOOR_CHUNKS:
                    raise RuntimeError(f"the bulk create did not create every chunk: {result.get('error')}")
                times["bulk"] = wall
        rounds.append(times)
    return {"rounds": rounds, "validation": validation}


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mib() -> float:
    """This process image's peak RSS (``VmHWM``). Not ``ru_maxrss``: Linux carries that over ``exec``
    from the forked copy of the parent, so a child of a large parent would report the parent's size."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def child_memory(path: str) -> dict[str, Any]:
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    import airflow_braze_schedule.core.audience
    import airflow_braze_schedule.operators  # noqa: F401

    ObjectStoragePath(f"file://{path}").exists()  # fsspec's file system, loaded before the baseline
    before = _rss_mib()
    wall, result, _ = _execute(recipients_path=f"file://{path}", dry_run=True)
    peak = _peak_rss_mib()
    return {
        "wall": wall,
        "before": before,
        "peak": peak,
        "recipients": result.get("recipients"),
        "chunks": len(result.get("chunks", [])),
        "error": result.get("error"),
    }


# --- parent side ----------------------------------------------------------------------------------

_MAPPED_DAG = """
import pendulum
from airflow.providers.common.compat.sdk import DAG
from airflow_braze_schedule.operators import BrazeBulkCreateScheduleOperator, BrazeCreateScheduleOperator

SCHEDULE = {schedule!r}
USERS = [{{"external_user_id": f"user-{{n}}"}} for n in range({users})]

with DAG("bench_bulk_mapped", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
    BrazeCreateScheduleOperator.partial(task_id="create", campaign_id="mapped", schedule=SCHEDULE).expand(
        recipients=[USERS[i : i + 50] for i in range(0, len(USERS), 50)]
    )

with DAG("bench_bulk_one_task", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
    BrazeBulkCreateScheduleOperator(task_id="create", campaign_id="bulk", schedule=SCHEDULE, recipients=USERS)
"""

_STORE_DAG = '''
import json, os, time
import pendulum
from airflow.providers.common.compat.sdk import DAG
from airflow_braze_schedule.operators import BrazeBulkCreateScheduleOperator

SCHEDULE = {schedule!r}


class TimedStore:
    """The task's store, timing each read and write."""

    def __init__(self, store, timing):
        self.store, self.timing = store, timing

    def get(self, key, default=None):
        started = time.perf_counter()
        try:
            return self.store.get(key, default)
        finally:
            self.timing["seconds"] += time.perf_counter() - started
            self.timing["calls"] += 1

    def set(self, key, value, **kwargs):
        started = time.perf_counter()
        try:
            self.store.set(key, value, **kwargs)
        finally:
            self.timing["seconds"] += time.perf_counter() - started
            self.timing["calls"] += 1


class Timed(BrazeBulkCreateScheduleOperator):
    def __init__(self, *, with_store, **kwargs):
        super().__init__(**kwargs)
        self.with_store = with_store

    def execute(self, context):
        timing = {{"seconds": 0.0, "calls": 0}}
        store = context.get("task_state_store")
        context["task_state_store"] = TimedStore(store, timing) if self.with_store and store is not None else None
        started = time.perf_counter()
        result = super().execute(context)
        timing["wall"] = time.perf_counter() - started
        timing["store"] = store is not None and self.with_store
        with open(os.environ["BENCH_BULK_TIMINGS"], "a") as out:
            out.write(json.dumps({{"task": self.task_id, **timing}}) + "\\n")
        return result


with DAG("bench_bulk_store", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
    first = Timed(task_id="with_store", with_store=True, campaign_id="store", schedule=SCHEDULE,
                  recipients_path={path!r})
    second = Timed(task_id="without_store", with_store=False, campaign_id="nostore", schedule=SCHEDULE,
                   recipients_path={path!r})
    first >> second
'''


def run(workspace: Workspace) -> Table:
    from airflow_braze_schedule.testing import FakeBraze

    table = Table(
        title="5. Large audiences in one task (bulk create)",
        method=(
            f"BrazeBulkCreateScheduleOperator, {CONCURRENCY} requests at a time, 50 recipients per chunk, "
            f"against a fake Braze answering each call after {LATENCY * 1000:.0f} ms. (a) a limit of {LIMIT} "
            f"requests per {WINDOW:g} s window, {RATE_CHUNKS} chunks; (b) no limit, {FLOOR_CHUNKS} chunks, "
            f"{FLOOR_ROUNDS} alternating rounds against a bare thread pool of {CONCURRENCY} posting the same "
            f"bodies with requests.Session; (c) {MAPPED_USERS:,} recipients, mapped tasks vs one bulk task "
            f"under airflow dags test; (d) dry run over a {DRY_RUN_USERS:,}-line JSON Lines file; (e) "
            f"{FLOOR_CHUNKS} chunks under airflow dags test with and without task_state_store."
        ),
        columns=["measure", "figure", "goal", "verdict"],
    )
    verdicts: list[bool] = []

    def row(measure: str, figure: str, goal: str = "", passed: bool | None = None) -> None:
        if passed is not None:
            verdicts.append(passed)
        table.rows.append([measure, figure, goal, "" if passed is None else "PASS" if passed else "MISS"])

    scratch = Path(tempfile.mkdtemp(prefix="braze-bench-bulk-"))
    with FakeBraze(latency=LATENCY) as braze:
        name, value = braze.airflow_conn_env()
        env = airflow_env(workspace.home, extra={"AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR", name: value})

        # (a) at the limit: a workspace of its own, whose limit a reset keeps
        with FakeBraze(latency=LATENCY, rate_limit=LIMIT, rate_limit_window=WINDOW) as limited:
            limited_env = airflow_env(
                workspace.home,
                extra={"AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR", **dict([limited.airflow_conn_env()])},
            )
            outcome = run_child([__file__, "rate", limited.url], limited_env)
            received = limited.requests_to("/campaigns/trigger/schedule/create")
        if outcome["error"]:
            table.notes.append(f"(a) the bulk create failed: {outcome['error'][:500]}")
        accepted = sorted(r.at for r in received if r.status == 200)
        first_window = math.ceil(accepted[0] / WINDOW) * WINDOW
        last_window = math.floor(accepted[-1] / WINDOW) * WINDOW
        windows = round((last_window - first_window) / WINDOW)
        in_windows = sum(1 for at in accepted if first_window <= at < last_window)
        fraction = in_windows / (windows * LIMIT) if windows else 0.0
        rate_limited = sum(1 for r in received if r.status == 429)
        failed_chunks = RATE_CHUNKS - outcome["chunks"]
        row(
            "(a) achieved / allowed rate",
            f"{in_windows / (windows * WINDOW):.1f}/s of {LIMIT / WINDOW:.1f}/s = {fraction:.3f} "
            f"({windows} whole windows)",
            ">= 0.95",
            fraction >= 0.95,
        )
        row(
            "(a) failed chunks",
            f"{failed_chunks} (429s answered: {rate_limited}, each retried after the reset)",
            "0",
            failed_chunks == 0,
        )

        # (b) against the floor
        outcome = run_child([__file__, "floor", braze.url, braze.api_key], env)
        ratios = [r["floor"] / r["bulk"] for r in outcome["rounds"]]
        floor_rate = median([FLOOR_CHUNKS / r["floor"] for r in outcome["rounds"]])
        bulk_rate = median([FLOOR_CHUNKS / r["bulk"] for r in outcome["rounds"]])
        row(
            "(b) throughput vs bare thread pool",
            f"{median(ratios):.3f}x ({bulk_rate:.1f} vs {floor_rate:.1f} creates/s; rounds "
            + ", ".join(f"{r:.3f}" for r in ratios)
            + ")",
            ">= 0.9x",
            median(ratios) >= 0.9,
        )
        sending = [r["bulk"] - outcome["validation"] for r in outcome["rounds"]]
        row(
            "(b) the same, sending pass only",
            f"{median([r['floor'] / s for r, s in zip(outcome['rounds'], sending, strict=True)]):.3f}x "
            f"(the validation pass of every chunk took {outcome['validation']:.2f} s of each bulk run)",
        )

        # (c) against mapping
        dags = scratch / "dags"
        dags.mkdir()
        (dags / "bench_bulk_mapped.py").write_text(_MAPPED_DAG.format(schedule=SCHEDULE, users=MAPPED_USERS))
        dag_env = airflow_env(
            workspace.home, dags, extra={name: value, "AIRFLOW__CORE__MAX_MAP_LENGTH": "100000"}
        )
        mapped, _ = dags_test("bench_bulk_mapped", dag_env)
        one, _ = dags_test("bench_bulk_one_task", dag_env)
        row(
            f"(c) {MAPPED_USERS:,} recipients: mapped tasks / one bulk task",
            f"{mapped:.1f} s / {one:.1f} s = {mapped / one:.1f}x (wall time of airflow dags test)",
        )

        # (e) bookkeeping
        audience = _write_jsonl(scratch / "store.jsonl", FLOOR_CHUNKS * 50)
        (dags / "bench_bulk_store.py").write_text(_STORE_DAG.format(schedule=SCHEDULE, path=str(audience)))
        timings_file = scratch / "timings.jsonl"
        dags_test("bench_bulk_store", {**dag_env, "BENCH_BULK_TIMINGS": str(timings_file)})
        timings = {t["task"]: t for t in map(json.loads, timings_file.read_text().splitlines())}
        with_store, without = timings["with_store"], timings["without_store"]
        share = with_store["seconds"] / with_store["wall"]
        row(
            f"(e) task_state_store time / run time, {FLOOR_CHUNKS} chunks",
            f"{with_store['seconds']:.2f} s in {with_store['calls']} calls / {with_store['wall']:.1f} s = {share:.3f}"
            f" (run without the store: {without['wall']:.1f} s)",
            "<= 0.10",
            share <= 0.10 and with_store["store"],
        )

    # (d) memory
    big = _write_jsonl(scratch / "million.jsonl", DRY_RUN_USERS)
    outcome = run_child([__file__, "memory", str(big)], env)
    growth = outcome["peak"] - outcome["before"]
    row(
        f"(d) dry run of {DRY_RUN_USERS:,} recipients: peak RSS growth",
        f"{growth:.0f} MiB ({outcome['before']:.0f} -> {outcome['peak']:.0f} MiB)",
        "<= 150 MB",
        growth <= 150 and outcome["recipients"] == DRY_RUN_USERS,
    )
    row(
        "(d) recipients validated per second",
        f"{DRY_RUN_USERS / outcome['wall']:,.0f} ({outcome['wall']:.1f} s)",
    )
    if outcome["error"]:
        table.notes.append(f"(d) the dry run failed: {outcome['error'][:500]}")
    for path in scratch.rglob("*.jsonl"):
        path.unlink()
    table.goal = "every goal of (a), (b), (d) and (e) met"
    table.passed = all(verdicts)
    return table


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    emit({"rate": child_rate, "floor": child_floor, "memory": child_memory}[mode](*args))
