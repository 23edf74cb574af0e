"""Benchmark 2: the per-call overhead of BrazeHook against a bare requests.Session and HttpHook.

One minimal loopback server (:mod:`loopback_server`, its own process) answers every contender. One
client process sends schedule creates, each contender ``CALLS`` of them per round, interleaved and
rotated round by round:

* the floor: a ``requests.Session`` configured as the hook configures its own (same headers,
  ``trust_env=False``), posting the JSON body the hook sends and reading the answer's JSON;
* ``BrazeHook.schedule_campaign(...)``: validation, request building, send, rate-limit headers, answer
  (the goal's contender);
* ``BrazeHook.send(request)`` of a request validated once beforehand: the same without validation, to
  tell the cost of the rules from the cost of sending;
* ``HttpHook(method="POST").run(endpoint, json=body, headers=...)`` from apache-airflow-providers-http,
  what users would write by hand; it opens a new session (and connection) per call by design.

Each round's throughput is compared with the floor's in the same round; the table gives medians. When
BrazeHook misses its goal, the client profiles it (cProfile) and the table lists where the time goes.

Child mode: ``python bench/per_call.py``, with both connections in its environment, prints the rates
(and a profile) as JSON.
"""

from __future__ import annotations

import cProfile
import json
import pstats
import re
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from common import BENCH, PYTHON, ROOT, Table, Workspace, airflow_env, emit, median, rotated, run_child

CALLS = 800
ROUNDS = 7
WARMUP = 100
GOAL_VS_FLOOR = 0.9
GOAL_VS_HTTP = 1.25
API_KEY = "bench-rest-api-key"
BRAZE_CONN_ID = "braze_bench"
HTTP_CONN_ID = "http_bench"
ENDPOINT = "/campaigns/trigger/schedule/create"
LABELS = {
    "floor": "requests.Session (floor)",
    "braze": "BrazeHook.schedule_campaign (validates)",
    "send": "BrazeHook.send (pre-validated request)",
    "http": "HttpHook.run",
}


def _campaign_fields() -> dict[str, Any]:
    """A create like the lifecycle example's: two recipients, trigger properties, local time tomorrow."""
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
    return {
        "campaign_id": "winter-sale-api-campaign",
        "recipients": [
            {"external_user_id": "user-1001", "trigger_properties": {"first_name": "Ada"}},
            {"external_user_id": "user-1002", "trigger_properties": {"first_name": "Grace"}},
        ],
        "trigger_properties": {"sale_name": "Winter sale", "discount_percent": 20},
        "schedule": {"time": f"{tomorrow}T09:00:00", "in_local_time": True},
    }


def _contenders() -> dict[str, Callable[[], dict[str, Any]]]:
    import requests
    from airflow.providers.http.hooks.http import HttpHook

    from airflow_braze_schedule.core.payload import build_create_request
    from airflow_braze_schedule.hooks.braze import BrazeHook

    fields = _campaign_fields()
    campaign_id = fields.pop("campaign_id")
    hook = BrazeHook(BRAZE_CONN_ID)
    request = build_create_request({**fields, "campaign_id": campaign_id})
    body = request.body
    url = hook.settings.base_url + ENDPOINT
    session = requests.Session()
    session.headers.update(hook.session.headers)
    session.trust_env = False
    http_hook = HttpHook(method="POST", http_conn_id=HTTP_CONN_ID)
    auth = {"Authorization": f"Bearer {API_KEY}", "Accept": "application/json"}

    def floor() -> dict[str, Any]:
        response = session.post(url, json=body, timeout=30)
        response.raise_for_status()
        return dict(response.json())

    def braze() -> dict[str, Any]:
        return dict(hook.schedule_campaign(campaign_id, **fields))

    def send() -> dict[str, Any]:
        return dict(hook.send(request))

    def http() -> dict[str, Any]:
        return dict(http_hook.run(ENDPOINT, json=body, headers=auth).json())

    return {"floor": floor, "braze": braze, "send": send, "http": http}


def _time_calls(call: Callable[[], dict[str, Any]], calls: int) -> tuple[float, float]:
    """Make ``calls`` calls: the throughput (calls per wall second) and this process's CPU us per call."""
    started, cpu_started = time.perf_counter(), time.process_time()
    for _ in range(calls):
        if call()["schedule_id"] != "s":
            raise RuntimeError("the loopback server gave an unexpected answer")
    cpu_us = (time.process_time() - cpu_started) * 1e6 / calls
    return calls / (time.perf_counter() - started), cpu_us


def _profile(call: Callable[[], dict[str, Any]], calls: int) -> list[str]:
    """Where one call's time goes: the top functions by own time, then this package's by cumulative time."""
    profiler = cProfile.Profile()
    profiler.runcall(_time_calls, call, calls)
    stats = pstats.Stats(profiler)
    entries = stats.stats  # type: ignore[attr-defined]  # {(file, line, name): (cc, nc, tt, ct, callers)}

    def describe(key: tuple[str, int, str]) -> str:
        file, line, name = key
        _, ncalls, own, cumulative, _ = entries[key]
        where = re.sub(r".*/(site-packages|lib/python3\.\d+)/", "", file).replace(f"{ROOT}/", "")
        return (
            f"  {own * 1e6 / calls:7.1f} us own {cumulative * 1e6 / calls:7.1f} us cum "
            f"{ncalls / calls:5.1f}x  {where}:{line}({name})"
        )

    by_own = sorted(entries, key=lambda key: entries[key][2], reverse=True)[:8]
    ours = [key for key in entries if "airflow_braze_schedule" in key[0] or "tenacity" in key[0]]
    by_cumulative = sorted(ours, key=lambda key: entries[key][3], reverse=True)[:14]
    return [
        "Profile of BrazeHook, per call (cProfile inflates every figure; compare them with each other):",
        "top functions by own time:",
        *map(describe, by_own),
        "this package and tenacity by cumulative time:",
        *map(describe, by_cumulative),
    ]


def measure() -> dict[str, Any]:
    """Interleaved rounds of every contender; a profile of BrazeHook if it misses its goal."""
    contenders = _contenders()
    for call in contenders.values():
        _time_calls(call, WARMUP)
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    for turn in range(ROUNDS):
        for name in rotated(list(contenders), turn):
            rate, cpu_us = _time_calls(contenders[name], CALLS)
            rates[name].append(rate)
            cpu[name].append(cpu_us)
    ratio = median([b / f for b, f in zip(rates["braze"], rates["floor"], strict=True)])
    profile = _profile(contenders["braze"], CALLS) if ratio < GOAL_VS_FLOOR else []
    return {"rates": rates, "cpu": cpu, "profile": profile}


def run(workspace: Workspace) -> Table:
    server = subprocess.Popen([PYTHON, str(BENCH / "loopback_server.py")], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{int(server.stdout.readline())}"
        env = airflow_env(
            workspace.home,
            extra={
                f"AIRFLOW_CONN_{BRAZE_CONN_ID.upper()}": json.dumps(
                    {"conn_type": "braze", "host": url, "password": API_KEY}
                ),
                f"AIRFLOW_CONN_{HTTP_CONN_ID.upper()}": json.dumps({"conn_type": "http", "host": url}),
            },
        )
        result = run_child([__file__], env)
    finally:
        server.terminate()
        server.wait()
    rates: dict[str, list[float]] = result["rates"]
    cpu: dict[str, list[float]] = result["cpu"]
    vs_floor = {
        name: median([r / f for r, f in zip(rates[name], rates["floor"], strict=True)]) for name in rates
    }
    cpu_vs_floor = {
        name: median([f / c for c, f in zip(cpu[name], cpu["floor"], strict=True)]) for name in cpu
    }
    braze_vs_http = median([b / h for b, h in zip(rates["braze"], rates["http"], strict=True)])
    table = Table(
        title="2. Per-call overhead",
        method=(
            f"{ROUNDS} interleaved rounds of {CALLS} campaign schedule creates per contender, one client "
            "process, one loopback server process (one write per answer, TCP_NODELAY). Medians; ratios "
            "are taken round by round against the floor. CPU = the client process's CPU time per call; "
            "its ratio is the floor's CPU per call over the contender's."
        ),
        columns=["contender", "calls/s", "wall us/call", "CPU us/call", "vs floor", "CPU vs floor"],
    )
    for name, label in LABELS.items():
        rate = median(rates[name])
        table.rows.append(
            [
                label,
                f"{rate:.0f}",
                f"{1e6 / rate:.0f}",
                f"{median(cpu[name]):.0f}",
                f"{vs_floor[name]:.3f}x",
                f"{cpu_vs_floor[name]:.3f}x",
            ]
        )
    table.goal = (
        f"BrazeHook >= {GOAL_VS_FLOOR}x the floor ({vs_floor['braze']:.3f}x) and well ahead of HttpHook, "
        f"taken as >= {GOAL_VS_HTTP}x its throughput ({braze_vs_http:.2f}x)"
    )
    table.passed = vs_floor["braze"] >= GOAL_VS_FLOOR and braze_vs_http >= GOAL_VS_HTTP
    table.notes.extend(result["profile"])
    return table


if __name__ == "__main__":
    emit(measure())
