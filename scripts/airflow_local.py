"""`make airflow`: a local Airflow with the example DAGs and a fake Braze, to click through; Ctrl-C stops it.

Airflow runs as it does in production, one process per component (API server with the UI, scheduler,
DAG processor, triggerer), with the LocalExecutor on SQLite, in ``.airflow/local`` (ignored by git; made
anew at each start). The fake Braze runs as a service on loopback and the ``braze_default`` connection,
stored in Airflow's database (Admin > Connections), points at it. Login: user ``admin``, password
``admin`` (Airflow 3's simple auth manager; this Airflow listens on 127.0.0.1 only).

While it runs, every request the fake Braze receives is printed here, one line each.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from airflow_braze_schedule.testing import FakeBrazeControl
from scripts.deployment.harness import Deployment, free_port

PASSWORD = "admin"
READY_TO_TRIGGER = ["braze_schedule_lifecycle", "braze_message_optimal_time"]


def port_or_free(port: int) -> int:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return free_port()
    return port


def interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--port", type=int, default=8080, help="the UI's port (another if taken; default 8080)"
    )
    args = parser.parse_args()
    # Stop cleanly on SIGTERM too, and on SIGINT even when started from a shell that ignores it for
    # background jobs (Python then leaves SIGINT ignored).
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)

    deployment = Deployment(
        "local",
        database="sqlite",
        password=PASSWORD,
        port=port_or_free(args.port),
        connection_in_db=True,
    )
    print("Starting Airflow (API server and UI, scheduler, DAG processor, triggerer) and a fake Braze ...")
    print(f"Everything lives in {deployment.folder}; each process logs to {deployment.logs}/", flush=True)
    try:
        with deployment:
            assert deployment.api is not None
            assert deployment.fake is not None
            for dag_id in READY_TO_TRIGGER:
                deployment.api.unpause(dag_id)
            url = deployment.api_url
            print(
                f"""
Airflow is up (started in {deployment.started_in:.0f} s): {url}
  Login:      user admin, password {PASSWORD}  (simple auth manager; listening on 127.0.0.1 only)
  Try:        {url}/dags/braze_schedule_lifecycle -> Trigger; then its run's Graph, each task's Logs,
              and schedule_campaign's XCom (the schedule's handle)
  Fake Braze: {deployment.fake.url}  (connection braze_default; what it holds: {deployment.fake.url}/_fake/state)
Ctrl-C stops everything. Requests the fake Braze receives:""",
                flush=True,
            )
            watch(FakeBrazeControl(deployment.fake.url), deployment)
    except KeyboardInterrupt:
        print("\nStopping Airflow and the fake Braze ...", flush=True)
    except Exception as error:
        print(f"\n{error}\n{deployment.tails()}", file=sys.stderr)
        return 1
    print("Stopped.")
    return 0


def watch(braze: FakeBrazeControl, deployment: Deployment) -> None:
    """Print each request the fake receives once answered; fail if an Airflow process dies."""
    shown = 0
    while True:
        for process in deployment.components.values():
            process.check_alive()
        received = braze.requests()
        while shown < len(received) and received[shown].status is not None:
            request = received[shown]
            body = json.dumps(request.json)[:140] if request.json is not None else ""
            print(
                f"  {time.strftime('%H:%M:%S')} {request.method} {request.path} -> {request.status} {body}",
                flush=True,
            )
            shown += 1
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
