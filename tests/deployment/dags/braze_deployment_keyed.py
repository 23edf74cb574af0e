"""Keyed schedules in a real deployment: many tasks creating new keys of one connection at the same moment.

``deployment_keyed_new_keys`` upserts twelve new keys (``<params.prefix>/<n>``) from twelve mapped
tasks. Each task waits, before it starts its upsert, until every one of them has started (a file per
task in a folder of the run's own, on this one machine: the LocalExecutor's tasks), so that their
registry writes really overlap; after 120 s it goes on regardless. ``list_keys`` then lists the registry
under the prefix, as a reconcile would, and ``find_keys`` looks each key up by key.
"""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path
from typing import Any

import pendulum
from airflow.providers.common.compat.sdk import DAG, task

from airflow_braze_schedule.assets import schedules_asset
from airflow_braze_schedule.operators import BrazeUpsertScheduleOperator

NEW_KEYS = 12
SEND_TIME = "{{ (dag_run.run_after + macros.timedelta(days=2)).strftime('%Y-%m-%d') }}T09:00:00Z"
BARRIER_TIMEOUT = 120.0


def wait_for_every_upsert(context: Any) -> None:
    """Hold this task until all ``NEW_KEYS`` upserts of the run have started (or the timeout passed)."""
    run_id = re.sub(r"[^A-Za-z0-9_.-]", "_", context["run_id"])
    folder = Path(tempfile.gettempdir()) / "braze-deployment-barriers" / run_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / str(context["ti"].map_index)).touch()
    deadline = time.monotonic() + BARRIER_TIMEOUT
    while len(list(folder.iterdir())) < NEW_KEYS and time.monotonic() < deadline:
        time.sleep(0.05)
    print(f"{len(list(folder.iterdir()))} of {NEW_KEYS} upserts started; going on")


with DAG(
    dag_id="deployment_keyed_new_keys",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={"prefix": "deployment-race"},
    max_active_tasks=NEW_KEYS,
    tags=["braze", "deployment-test"],
    doc_md=__doc__,
):
    upserts = BrazeUpsertScheduleOperator.partial(
        task_id="upsert_new_key",
        campaign_id="deployment-race-campaign",
        schedule={"time": SEND_TIME},
        pre_execute=wait_for_every_upsert,
        # A mapped operator's outlets are what partial() is given: the registry lives on this asset.
        outlets=[schedules_asset("braze_default")],
    ).expand_kwargs(
        [
            {
                "schedule_key": "{{ params.prefix }}/" + str(n),
                "recipients": [{"external_user_id": f"user-95{n:02d}"}],
            }
            for n in range(NEW_KEYS)
        ]
    )

    @task(outlets=[schedules_asset("braze_default")])
    def list_keys(**context: Any) -> list[str]:
        """The keys the registry lists under the prefix: what a reconcile of that scope would see."""
        from airflow_braze_schedule.registry import open_registry

        registry = open_registry(context, braze_conn_id="braze_default")
        return [entry["schedule_key"] for entry in registry.list(context["params"]["prefix"] + "/")]

    @task(outlets=[schedules_asset("braze_default")])
    def find_keys(**context: Any) -> dict[str, str | None]:
        """Each key's state, looked up by key from a fresh task, as a later single-key task would: a new
        key lives in its writer's pages only, found through the summary pages or the writer's tail."""
        from airflow_braze_schedule.registry import open_registry

        registry = open_registry(context, braze_conn_id="braze_default")
        keys = [f"{context['params']['prefix']}/{n}" for n in range(NEW_KEYS)]
        return {key: entry.state if (entry := registry.get(key)) is not None else None for key in keys}

    upserts >> [list_keys(), find_keys()]
