"""Benchmark 2: the per-call overhead of BrazeHook against a bare requests.Session and HttpHook.

One minimal loopback server (:mod:`loopback_server`, its own process) answers every contender. One
client process sends campaign schedule creates in two cases: the lifecycle example's create (two
recipients) and a full chunk of 50 recipients, each with its own ``trigger_properties`` (what a bulk
create sends). Per case, the contenders take turns one block of ``BLOCK`` calls at a time, rotated round
by round:

* the floor: a ``requests.Session`` configured as the hook configures its own (same headers,
  ``trust_env=False``), posting the JSON body the hook sends and reading the answer's JSON;
* ``BrazeHook.schedule_campaign(...)``: validation, request building, send, rate-limit headers, answer
  (the goal's contender);
* ``BrazeHook.send(request)`` of a request validated once beforehand: the same without validation, to
  tell the cost of the rules from the cost of sending;
* ``HttpHook(method="POST").run(endpoint, json=body, headers=...)`` from apache-airflow-providers-http,
  what users would write by hand (lifecycle case only); it opens a new session (and connection) per
  call by design.

Each block's throughput is compared with the floor's block of the same round; the table gives medians.
When BrazeHook misses its goal in a case, the client profiles it (cProfile) and the table lists where the
time goes.

Child mode: ``python bench/per_call.py``, with both connections in its environment, prints its progress
on stderr and the rates (and profiles) as JSON on stdout.
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import re
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from common import BENCH, PYTHON, ROOT, Table, Workspace, airflow_env, emit, median, rotated

BLOCK = 200  # calls per block; contenders alternate block by block
ROUNDS = 21  # blocks per contender and case
WARMUP = 100
GOAL_VS_FLOOR = 0.95
GOAL_VS_HTTP = 1.25
API_KEY = "bench-rest-api-key"
BRAZE_CONN_ID = "braze_bench"
HTTP_CONN_ID = "http_bench"
ENDPOINT = "/campaigns/trigger/schedule/create"
CHUNK = 50  # recipients per request: Braze's most (braze-api.md §4.2)
CASES = {
    "lifecycle": "the lifecycle example's create (2 recipients)",
    "chunk": f"a full chunk of {CHUNK} recipients, each with its own trigger_properties",
}
LABELS = {
    "floor": "requests.Session (floor)",
    "braze": "BrazeHook.schedule_campaign (validates)",
    "send": "BrazeHook.send (pre-validated request)",
    "http": "HttpHook.run",
}


def _campaign_fields(case: str) -> dict[str, Any]:
    """The create of ``case``: trigger properties and local time tomorrow, like the lifecycle example's."""
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date()
    fields: dict[str, Any] = {
        "campaign_id": "winter-sale-api-campaign",
        "trigger_properties": {"sale_name": "Winter sale", "discount_percent": 20},
        "schedule": {"time": f"{tomorrow}T09:00:00", "in_local_time": True},
    }
    if case == "lifecycle":
        fields["recipients"] = [
            {"external_user_id": "user-1001", "trigger_properties": {"first_name": "Ada"}},
            {"external_user_id": "user-1002", "trigger_properties": {"first_name": "Grace"}},
        ]
    else:
        fields["recipients"] = [
            {
                "external_user_id": f"user-{1000 + n}",
                "trigger_properties": {
                    "first_name": f"Customer {n}",
                    "tier": ["bronze", "silver", "gold"][n % 3],
                    "points": 100 * n,
                    "last_order": {"id": f"order-{n:05d}", "total": 19.99 + n, "items": n % 4 + 1},
                },
            }
            for n in range(CHUNK)
        ]
    return fields


def _contenders(case: str) -> dict[str, Callable[[], dict[str, Any]]]:
    import requests
    from airflow.providers.http.hooks.http import HttpHook

    from airflow_braze_schedule.core.payload import build_create_request
    from airflow_braze_schedule.hooks.braze import BrazeHook

    fields = _campaign_fields(case)
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

    contenders = {"floor": floor, "braze": braze, "send": send, "http": http}
    if case != "lifecycle":  # HttpHook's figure is the lifecycle case's
        del contenders["http"]
    return contenders


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


class _Progress:
    """Blocks done of the total, the rate and the time left, on stderr every few seconds."""

    def __init__(self, total: int) -> None:
        self.total, self.done = total, 0
        self.started = self.last = time.monotonic()

    def step(self) -> None:
        self.done += 1
        now = time.monotonic()
        if now - self.last >= 5 or self.done == self.total:
            self.last = now
            rate = self.done / (now - self.started)
            left = (self.total - self.done) / rate
            print(
                f"  per-call: {self.done}/{self.total} blocks of {BLOCK} calls, {rate:.1f} blocks/s, "
                f"~{left:.0f} s left",
                file=sys.stderr,
                flush=True,
            )


def measure() -> dict[str, Any]:
    """Per case: blocks of every contender, interleaved and rotated; a profile of the hook if it misses."""
    contenders = {case: _contenders(case) for case in CASES}
    progress = _Progress(sum(ROUNDS * len(c) for c in contenders.values()))
    result: dict[str, Any] = {}
    for case, calls in contenders.items():
        for call in calls.values():
            _time_calls(call, WARMUP)
        rates: dict[str, list[float]] = {name: [] for name in calls}
        cpu: dict[str, list[float]] = {name: [] for name in calls}
        for turn in range(ROUNDS):
            for name in rotated(list(calls), turn):
                rate, cpu_us = _time_calls(calls[name], BLOCK)
                rates[name].append(rate)
                cpu[name].append(cpu_us)
                progress.step()
        ratio = median([b / f for b, f in zip(rates["braze"], rates["floor"], strict=True)])
        profile = _profile(calls["braze"], 4 * BLOCK) if ratio < GOAL_VS_FLOOR else []
        result[case] = {"rates": rates, "cpu": cpu, "profile": profile}
    return result


def _run_child(env: dict[str, str]) -> Any:
    """The child's JSON result; its progress lines (stderr) pass through to the terminal."""
    done = subprocess.run([PYTHON, __file__], env=env, stdout=subprocess.PIPE, text=True, check=False)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"per_call.py exited with {done.returncode}:\n{done.stdout[-3000:]}")
    return json.loads(lines[-1])


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
        load_before = os.getloadavg()[0]
        result = _run_child(env)
        load_after = os.getloadavg()[0]
    finally:
        server.terminate()
        server.wait()
    table = Table(
        title="2. Per-call overhead",
        method=(
            f"Campaign schedule creates, two cases: {'; '.join(CASES.values())}. Per case, {ROUNDS} rounds "
            f"of one block of {BLOCK} calls per contender, interleaved and rotated; one client process, one "
            "loopback server process (one write per answer, TCP_NODELAY). Medians; ratios are taken round by "
            "round against the floor's block in the same round. CPU = the client process's CPU time per "
            "call; its ratio is the floor's CPU per call over the contender's."
        ),
        columns=["case", "contender", "calls/s", "wall us/call", "CPU us/call", "vs floor", "CPU vs floor"],
    )
    verdicts, passed = [], True
    for case, figures in result.items():
        rates: dict[str, list[float]] = figures["rates"]
        cpu: dict[str, list[float]] = figures["cpu"]
        vs_floor = {
            name: median([r / f for r, f in zip(rates[name], rates["floor"], strict=True)]) for name in rates
        }
        cpu_vs_floor = {
            name: median([f / c for c, f in zip(cpu[name], cpu["floor"], strict=True)]) for name in cpu
        }
        for name in rates:
            rate = median(rates[name])
            table.rows.append(
                [
                    case,
                    LABELS[name],
                    f"{rate:.0f}",
                    f"{1e6 / rate:.0f}",
                    f"{median(cpu[name]):.0f}",
                    f"{vs_floor[name]:.3f}x",
                    f"{cpu_vs_floor[name]:.3f}x",
                ]
            )
        verdicts.append(f"{case} {vs_floor['braze']:.3f}x")
        passed = passed and vs_floor["braze"] >= GOAL_VS_FLOOR
        if "http" in rates:
            braze_vs_http = median([b / h for b, h in zip(rates["braze"], rates["http"], strict=True)])
            verdicts.append(f"vs HttpHook {braze_vs_http:.2f}x")
            passed = passed and braze_vs_http >= GOAL_VS_HTTP
        if figures["profile"]:
            table.notes.extend([f"[{case}]", *figures["profile"]])
    table.goal = (
        f"BrazeHook.schedule_campaign >= {GOAL_VS_FLOOR}x the floor in both cases, and well ahead of "
        f"HttpHook, taken as >= {GOAL_VS_HTTP}x its throughput ({', '.join(verdicts)})"
    )
    table.passed = passed
    table.notes.insert(
        0,
        f"Load average {load_before:.1f} before, {load_after:.1f} after, on {os.cpu_count()} CPUs. Above the "
        "CPU count, the server waits for a CPU on every call and wall-clock ratios scatter; CPU ratios "
        "stay steadier.",
    )
    return table


if __name__ == "__main__":
    emit(measure())
