"""Benchmark 3: throughput of eight worker processes sharing one rate-limited Braze workspace.

The fake Braze (:class:`airflow_braze_schedule.testing.FakeBraze`, in the parent process) allows
``LIMIT`` requests per ``WINDOW`` seconds, in windows aligned to the clock as Braze's hourly limit is,
and answers 429 beyond that. A driver process imports the hook and forks ``WORKERS`` workers, each with
its own ``BrazeHook`` (default ``RetryPolicy``) and session; they start together on a window boundary
and schedule campaign sends one after the other, up to ``QUOTA`` each, for ``WINDOWS`` whole windows.

The achieved rate counts the creates that succeeded within those windows; the allowed rate is
``LIMIT / WINDOW``. Counting whole windows matters: Braze's limit is a budget per window, not a pace, so a
run that ended mid-window would show a rate above the allowed one. A create that would only complete
after the last window (the hook is about to sleep past it) is abandoned there, through the hook's
``sleep`` argument, and counted neither way. 429s are counted from the fake's log, failed operations from
the exceptions the workers got.

Child mode: ``python bench/rate_limit.py <fake Braze URL>`` runs the workers and prints their results.
"""

from __future__ import annotations

import math
import multiprocessing
import sys
import time
import traceback
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from multiprocessing.queues import Queue
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from typing import Any

from common import Table, Workspace, airflow_env, emit, median, run_child

WORKERS = 8
LIMIT = 200
WINDOW = 5.0
WINDOWS = 6
QUOTA = 300
GOAL = 0.9
CONN_ID = "braze_rate"


class _PastTheLastWindow(Exception):
    """Raised by a worker's ``sleep`` when the hook would wake after the last window: stop there."""


def _schedule_sends(index: int, start: float) -> dict[str, Any]:
    """Schedule sends through one BrazeHook from ``start`` until the last window ends."""
    from airflow_braze_schedule.core.errors import BrazeError
    from airflow_braze_schedule.hooks.braze import BrazeHook

    deadline = start + WINDOW * WINDOWS

    def sleep(seconds: float) -> None:
        if time.time() + seconds >= deadline:
            raise _PastTheLastWindow
        time.sleep(seconds)

    hook = BrazeHook(CONN_ID, sleep=sleep)
    hook.get_conn()  # read the connection before the clock starts
    day = (datetime.now(UTC) + timedelta(days=2)).date()
    time.sleep(max(0.0, start - time.time()))
    done: list[float] = []
    failures: Counter[str] = Counter()
    for number in range(QUOTA):
        if time.time() >= deadline:
            break
        try:
            hook.schedule_campaign(
                "bench-campaign",
                schedule={"time": f"{day}T09:00:00", "in_local_time": True},
                recipients=[{"external_user_id": f"user-{index}-{number}"}],
            )
        except _PastTheLastWindow:
            break
        except BrazeError as error:
            failures[type(error).__name__] += 1
        else:
            done.append(time.time())
    return {"done": [t for t in done if t < deadline], "failures": dict(failures)}


def _worker(index: int, go: Event, start: Synchronized[float], results: Queue[Any]) -> None:
    """A worker process: wait for the shared start, then report what it did (or how it crashed)."""
    try:
        go.wait()
        results.put(_schedule_sends(index, start.value))
    except Exception:
        results.put({"error": traceback.format_exc()})


def measure(fake_url: str) -> list[dict[str, Any]]:
    """Fork the workers from this process, which has imported the hook already, and collect their work.

    Forking after the imports keeps eight Airflow imports (half a minute on two cores) out of the run;
    this process has no threads, and each worker makes its own hook and session after the fork.
    """
    import airflow_braze_schedule.hooks.braze  # noqa: F401

    context = multiprocessing.get_context("fork")
    results: Queue[Any] = context.Queue()
    go = context.Event()
    start = context.Value("d", 0.0)
    workers = [context.Process(target=_worker, args=(i, go, start, results)) for i in range(WORKERS)]
    for worker in workers:
        worker.start()
    # Forget the requests of earlier runs and restart the limit's count; then start on a window boundary.
    urllib.request.urlopen(urllib.request.Request(f"{fake_url}/_fake/reset", method="POST")).close()
    start.value = math.ceil((time.time() + 0.5) / WINDOW) * WINDOW
    go.set()
    outcomes = [results.get(timeout=WINDOW * WINDOWS + 120) for _ in workers]
    for worker in workers:
        worker.join()
    return outcomes


def run(workspace: Workspace) -> Table:
    from airflow_braze_schedule.testing import FakeBraze

    with FakeBraze(rate_limit=LIMIT, rate_limit_window=WINDOW) as braze:
        name, value = braze.airflow_conn_env(CONN_ID)
        # Each 429 is logged as a warning before the retry; the fake's log counts them instead.
        env = airflow_env(workspace.home, extra={"AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR", name: value})
        outcomes: list[dict[str, Any]] = run_child([__file__, braze.url], env)
        received = braze.received
    crashed = [outcome["error"] for outcome in outcomes if "error" in outcome]
    if crashed:
        raise RuntimeError(f"a worker crashed:\n{crashed[0]}")
    in_windows = [t for outcome in outcomes for t in outcome["done"]]
    per_worker = [len(outcome["done"]) for outcome in outcomes]
    failures: Counter[str] = Counter()
    for outcome in outcomes:
        failures.update(outcome["failures"])
    rate_limited = sum(1 for request in received if request.status == 429)
    allowed = LIMIT / WINDOW
    achieved = len(in_windows) / (WINDOW * WINDOWS)
    fraction = achieved / allowed
    table = Table(
        title="3. Throughput under a rate limit",
        method=(
            f"{WORKERS} worker processes, one BrazeHook each (default RetryPolicy), one fake Braze "
            f"workspace allowing {LIMIT} requests per {WINDOW:g} s window; {WINDOWS} whole windows from a "
            f"shared start at a window boundary; each worker schedules up to {QUOTA} sends."
        ),
        columns=[
            "limit",
            "creates in windows",
            "achieved/s",
            "allowed/s",
            "fraction",
            "429s",
            "failed ops",
            "per worker (min-median-max)",
        ],
    )
    table.rows.append(
        [
            f"{LIMIT} / {WINDOW:g} s",
            str(len(in_windows)),
            f"{achieved:.1f}",
            f"{allowed:.1f}",
            f"{fraction:.3f}",
            str(rate_limited),
            str(sum(failures.values())),
            f"{min(per_worker)}-{median(per_worker):.0f}-{max(per_worker)}",
        ]
    )
    table.goal = f"fraction >= {GOAL} ({fraction:.3f}) and no failed operation ({sum(failures.values())})"
    table.passed = fraction >= GOAL and not failures
    if failures:
        table.notes.append(f"Failed operations by error: {dict(failures)}")
    return table


if __name__ == "__main__":
    emit(measure(sys.argv[1]))
