"""`make demo`: run the lifecycle example DAG against a fake Braze on loopback and tell what happened.

Airflow runs in an isolated home (``.airflow/demo``, ignored by git) with the example DAGs as its dags
folder. The fake Braze runs in this process; ``airflow dags test`` runs in a child process and reaches it
through the ``braze_default`` connection given as ``AIRFLOW_CONN_BRAZE_DEFAULT``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / ".airflow" / "demo"
DAG_ID = "braze_schedule_lifecycle"


def airflow(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True, check=False
    )


def step(text: str) -> None:
    print(f"\n== {text}")


def compact(body: object, limit: int = 150) -> str:
    text = json.dumps(body, separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def provider_log_lines(output: str) -> list[str]:
    """What the Braze operators logged, without Airflow's timestamps and logger names."""
    lines = []
    for line in output.splitlines():
        if "airflow_braze_schedule" not in line or "[" not in line:
            continue
        message = line.split("] ", 1)[-1]  # drop "<timestamp> [level   ]"
        message = message.split(" [airflow.task", 1)[0].strip()
        level = "warning" if "[warning" in line else "info"
        lines.append(f"{level:7} {message}")
    return lines


def main() -> int:
    from airflow_braze_schedule.testing import FakeBraze

    started = time.monotonic()
    HOME.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    step("Preparing an isolated Airflow (.airflow/demo)")
    migrated = airflow("db", "migrate", env=env)
    if migrated.returncode != 0:
        print(migrated.stdout[-3000:], migrated.stderr[-3000:])
        return 1

    with FakeBraze() as braze:
        name, value = braze.airflow_conn_env()
        env[name] = value
        print(f"   Fake Braze listening on {braze.url} (connection braze_default points at it)")

        step(f"Running the example DAG: airflow dags test {DAG_ID}")
        run = airflow("dags", "test", DAG_ID, env=env)
        log = HOME / "dags_test.log"
        log.write_text(run.stdout + run.stderr)
        print(f"   exit code {run.returncode}; full Airflow output in {log.relative_to(ROOT)}")

        step("What the Braze tasks logged")
        for line in provider_log_lines(run.stdout + run.stderr):
            print(f"   {textwrap.shorten(line, 160, placeholder='…')}")

        step("What the fake Braze received")
        for number, request in enumerate(braze.received, 1):
            print(f"   {number}. {request.method} {request.path} -> HTTP {request.status}")
            if request.json is not None:
                print(f"      {compact(request.json)}")
        schedules = list(braze.schedules.values())

    step("The story")
    creates = [r for r in braze.received if r.path.endswith("/schedule/create") and r.status == 200]
    updates = [r for r in braze.received if r.path.endswith("/schedule/update")]
    deletes = [r for r in braze.received if r.path.endswith("/schedule/delete")]
    if creates:
        sent = creates[0].json or {}
        ids = [s.schedule_id for s in schedules]
        print(
            f"   1. schedule_campaign scheduled campaign {sent.get('campaign_id')!r} for "
            f"{sent['schedule']['time']} in each user's local time "
            f"(in_local_time={sent['schedule'].get('in_local_time')}); Braze answered schedule_id {ids[0] if ids else '?'}."
        )
    if updates:
        body = updates[0].json or {}
        print(
            f"   2. move_to_ten got that schedule_id through XCom ({body.get('schedule_id')}) and moved the send "
            f"to {body['schedule']['time']}, keeping in_local_time={body['schedule'].get('in_local_time')}."
        )
    if deletes:
        body = deletes[0].json or {}
        print(f"   3. cancel pulled schedule_id {body.get('schedule_id')} from XCom and cancelled the send.")
    for schedule in schedules:
        print(
            f"   Now the fake Braze holds {schedule.kind} schedule {schedule.schedule_id}: status "
            f"{schedule.status!r}, schedule {json.dumps(schedule.schedule)}."
        )
    ok = run.returncode == 0 and len(creates) == 1 and bool(updates) and bool(deletes)
    ok = ok and all(s.status == "cancelled" for s in schedules)
    print(f"\n{'Done' if ok else 'Something went wrong'} in {time.monotonic() - started:.1f} s.")
    if not ok:
        print(run.stdout[-4000:], run.stderr[-4000:])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
