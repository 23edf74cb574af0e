"""The schedules page at scale: 100,000 keyed entries, one page of 100 (``bench/schedules_page.py``).

Goals: the API answers a page of 100 entries out of 100,000 in at most 300 ms; the page renders
(navigation until the table shows the page's first key) in at most 2 s in headless Chromium.

What it does, in a temporary ``AIRFLOW_HOME`` (SQLite metadata database, loopback only):

1. writes 100,000 entries into each registry: the SQL table (``[braze_schedule] registry_conn_id``,
   SQLite) through the SQL backend's own ``save``, and the asset store of ``braze://braze_default/schedules``
   (rows of ``asset_state_store``, written through the registry's own backend, as keyed tasks leave them);
2. times ``GET /braze/api/schedules`` in Airflow's own API app (in-process, with a token, so the figures
   include Airflow's authentication): a page deep in the key order (offset 50,000), a page of one state,
   and a "next 24 hours" page; 15 rounds each, medians; a trivial authenticated route of the same app
   (``/braze/api/context``) is the baseline, so the ratio says what the registry query adds;
3. starts ``airflow api-server`` (login switched off: ``simple_auth_manager_all_admins``), opens the page
   in headless Chromium (Debian's) 7 times and reports the median render time.

Not a test: nothing here asserts a time. Run: ``.venv/bin/python bench/schedules_page.py [--entries N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REGISTRY_CONN = "bench_registry"
PAGE = 100
ROUNDS = 15
RENDER_ROUNDS = 7
API_GOAL_MS = 300.0
RENDER_GOAL_S = 2.0


def entries(count: int, now: datetime) -> list[dict[str, Any]]:
    """``count`` entries under 1,000 stores, sends spread over the next 60 days, one in 20 cancelled."""
    from airflow_braze_schedule.core.registry_model import Actor, RegistryEntry

    made = []
    for n in range(count):
        send = (now + timedelta(minutes=37 * n % (60 * 24 * 60))).replace(second=0, microsecond=0)
        entry = RegistryEntry(
            f"store-{n % 1000:04d}/reminder-{n:06d}",
            handle={
                "schedule_id": f"sched-{n:06d}",
                "kind": "campaign",
                "campaign_id": "bench-campaign",
                "schedule": {"time": send.strftime("%Y-%m-%dT%H:%M:%SZ")},
            },
        )
        entry.record("create", Actor("orders", f"run-{n // 1000}", "create"), state="scheduled", now=now)
        if n % 20 == 0:
            entry.record(
                "cancel", Actor("braze_schedule_admin", "r", "cancel_by_key"), state="cancelled", now=now
            )
        made.append(entry.to_json())
    return made


def fill_sql(values: list[dict[str, Any]]) -> None:
    from airflow_braze_schedule.registry import open_registry

    class OneCommit:
        """The connection, committing once at the end rather than after each save (a scratch file)."""

        def __init__(self, connection: Any) -> None:
            self.connection = connection

        def cursor(self) -> Any:
            return self.connection.cursor()

        def commit(self) -> None:
            pass

        def rollback(self) -> None:
            self.connection.rollback()

    backend: Any = open_registry(registry_conn_id=REGISTRY_CONN).backend
    connection = backend.conn
    backend._conn = OneCommit(connection)
    for value in values:
        backend.save(value)
    connection.commit()
    connection.close()


def fill_asset_store(values: list[dict[str, Any]]) -> None:
    """The asset store's rows as a keyed task leaves them: written through the registry's own backend (its
    entries, summary pages and writer slots) into memory, then inserted into the metadata database."""
    from airflow.models.asset import AssetModel
    from airflow.models.asset_state_store import AssetStateStoreModel
    from airflow.utils.session import create_session
    from sqlalchemy import insert

    from airflow_braze_schedule.assets import schedules_asset_uri
    from airflow_braze_schedule.registry.asset_store import AssetStateStoreBackend

    class Memory:
        def __init__(self) -> None:
            self.values: dict[str, str] = {}

        def get(self, key: str, default: Any = None) -> Any:
            text = self.values.get(key)
            return json.loads(text) if text is not None else default

        def set(self, key: str, value: Any) -> None:
            self.values[key] = json.dumps(value)

    uri = schedules_asset_uri("braze_default")
    memory = Memory()
    backend = AssetStateStoreBackend(memory, uri=uri)
    for start in range(0, len(values), 500):
        backend.save_many(values[start : start + 500])
    with create_session() as session:
        asset = AssetModel(uri=uri, name=uri, group="asset")
        session.add(asset)
        session.flush()
        rows = [{"asset_id": asset.id, "key": key, "value": text} for key, text in memory.values.items()]
        for start in range(0, len(rows), 5000):
            session.execute(insert(AssetStateStoreModel), rows[start : start + 5000])


def median_ms(client: Any, path: str, headers: dict[str, str], params: dict[str, Any]) -> tuple[float, int]:
    times, total = [], -1
    for _ in range(ROUNDS):
        started = time.perf_counter()
        answer = client.get(path, headers=headers, params=params)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, answer.text
        total = answer.json().get("total", -1)
    return statistics.median(times), total


def api_figures(now: datetime) -> list[tuple[str, str, float, int]]:
    from airflow.api_fastapi.app import create_app, get_auth_manager, purge_cached_app
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi.testclient import TestClient

    rows = []
    next_day = {"send_after": now.isoformat(), "send_before": (now + timedelta(hours=24)).isoformat()}
    queries = {
        "page at offset 50,000": {"limit": PAGE, "offset": 50_000},
        "state=cancelled, first page": {"limit": PAGE, "state": "cancelled"},
        "next 24 hours, first page": {"limit": PAGE, **next_day},
    }
    for registry, setting in (("SQL table", REGISTRY_CONN), ("asset store", "")):
        os.environ["AIRFLOW__BRAZE_SCHEDULE__REGISTRY_CONN_ID"] = setting
        purge_cached_app()
        client = TestClient(create_app("core"))
        user = SimpleAuthManagerUser(username="bench", role="admin")
        headers = {"Authorization": "Bearer " + get_auth_manager().generate_jwt(user)}
        client.get(
            "/braze/api/schedules", headers=headers, params={"limit": PAGE}
        )  # warm: imports, first connect
        baseline, _ = median_ms(client, "/braze/api/context", headers, {})
        rows.append((registry, "baseline: /braze/api/context", baseline, -1))
        for name, params in queries.items():
            ms, total = median_ms(client, "/braze/api/schedules", headers, params)
            rows.append((registry, name, ms, total))
    return rows


def render_figures(home: Path, env: dict[str, str]) -> list[float]:
    from scripts import schedules_page as ui
    from scripts.deployment.harness import ensure_debian_package, free_port, wait_for
    from scripts.screenshot_connection_form import chromium

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server_env = {
        **env,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__API__BASE_URL": url,
        "AIRFLOW__API__WORKERS": "1",
    }
    log = open(home / "api-server.log", "wb")  # noqa: SIM115  (closed below, after the server)
    server = subprocess.Popen(
        [sys.executable, "-m", "airflow", "api-server", "--host", "127.0.0.1", "--port", str(port)],
        env=server_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for("the API server", lambda: _healthy(url), timeout=180)
        with chromium(ensure_debian_package("chromium", "chromium")) as page:
            page.call("Page.navigate", url=url + "/auth/token/login?next=" + url + "/braze/")
            wait_for(
                "the all-admins login", lambda: page.evaluate("location.pathname.startsWith('/braze')"), 60
            )
            first_key = "store-0000/reminder-000000"
            ui.open_schedules(page, url, [first_key])  # warm: the browser's and the server's first load
            return [ui.open_schedules(page, url, [first_key]) for _ in range(RENDER_ROUNDS)]
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _healthy(url: str) -> bool:
    import requests

    try:
        return requests.get(url + "/api/v2/monitor/health", timeout=5).status_code == 200
    except requests.ConnectionError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--no-browser", action="store_true", help="API figures only")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="braze-bench-page-"))
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "bench:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__API_AUTH__JWT_SECRET": "bench-only-secret-" + "x" * 64,
        f"AIRFLOW_CONN_{REGISTRY_CONN.upper()}": json.dumps(
            {"conn_type": "sqlite", "host": str(home / "registry.db")}
        ),
        "AIRFLOW__BRAZE_SCHEDULE__REGISTRY_CONN_ID": REGISTRY_CONN,
    }
    (home / "dags").mkdir()
    os.environ.update(env)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)

    now = datetime.now(UTC)
    started = time.monotonic()
    values = entries(args.entries, now)
    fill_sql(values)
    fill_asset_store(values)
    print(
        f"wrote {args.entries:,} entries into each registry in {time.monotonic() - started:.0f} s", flush=True
    )

    print(
        f"\nAPI: GET /braze/api/schedules, a page of {PAGE} out of {args.entries:,} (median of {ROUNDS}, ms)"
    )
    print(f"{'registry':<12} {'query':<30} {'ms':>8} {'total':>8} {'x baseline':>11} {'goal <=300':>10}")
    baselines: dict[str, float] = {}
    for registry, name, ms, total in api_figures(now):
        if total < 0:
            baselines[registry] = ms
            print(f"{registry:<12} {name:<30} {ms:8.1f} {'':>8} {'1.0':>11} {'':>10}")
            continue
        verdict = "PASS" if ms <= API_GOAL_MS else "MISS"
        print(
            f"{registry:<12} {name:<30} {ms:8.1f} {total:8,} {ms / baselines[registry]:11.1f} {verdict:>10}"
        )

    if not args.no_browser:
        os.environ["AIRFLOW__BRAZE_SCHEDULE__REGISTRY_CONN_ID"] = REGISTRY_CONN
        renders = render_figures(home, {**os.environ})
        median = statistics.median(renders)
        print(
            f"\nPage render in headless Chromium, SQL registry, {args.entries:,} entries ({RENDER_ROUNDS} loads):"
        )
        print(
            f"median {median:.2f} s, min {min(renders):.2f} s, max {max(renders):.2f} s; "
            f"{median / RENDER_GOAL_S:.2f} of the 2 s goal: {'PASS' if median <= RENDER_GOAL_S else 'MISS'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
