"""The read-only registry the page and the CLI use, and the ``airflow-braze-schedule`` command."""

from __future__ import annotations

import json
from typing import Any

import pendulum
import pytest

from airflow_braze_schedule.cli import main
from airflow_braze_schedule.core.registry_model import Actor, RegistryEntry
from airflow_braze_schedule.registry import (
    RegistryQuery,
    ScheduleRegistry,
    open_registry,
    open_registry_reader,
)
from tests.helpers import env_vars

CONN = "braze_cli_registry"
NOW = pendulum.datetime(2030, 1, 10, 12, tz="UTC")


def keyed(key: str, day: int, state: str = "scheduled", local: bool = False) -> RegistryEntry:
    schedule: dict[str, Any] = {
        "time": pendulum.datetime(2030, 1, day, 9, tz="UTC").isoformat().replace("+00:00", "Z")
    }
    if local:
        schedule = {"time": f"2030-01-{day:02d}T09:00:00", "in_local_time": True}
    entry = RegistryEntry(key, handle={"schedule_id": f"s-{key}", "kind": "message", "schedule": schedule})
    entry.record("create", Actor("orders", "run-1", "create"), state="scheduled")
    if state != "scheduled":
        entry.record("cancel", Actor("braze_schedule_admin", "run-2", "cancel_by_key"), state=state)
    return entry


@pytest.fixture
def sql_registry(tmp_path):
    with env_vars(
        **{
            f"AIRFLOW_CONN_{CONN.upper()}": json.dumps(
                {"conn_type": "sqlite", "host": str(tmp_path / "r.db")}
            )
        }
    ):
        writer = open_registry(braze_conn_id="braze_default", registry_conn_id=CONN)
        writer.put_many(
            [keyed(f"shop-{n % 3}/{n:02d}", 1 + n % 20, local=n % 4 == 0) for n in range(40)]
            + [keyed("shop-0/cancelled", 15, state="cancelled")]
        )
        writer.backend.close()  # type: ignore[attr-defined]
        yield CONN


QUERIES = [
    RegistryQuery(),
    RegistryQuery(prefix="shop-1/", limit=5, offset=3),
    RegistryQuery(state="scheduled"),
    RegistryQuery(state="presumed_sent"),
    RegistryQuery(state="cancelled"),
    RegistryQuery(send_after=NOW, send_before=NOW.add(days=4)),
    RegistryQuery(prefix="shop-2/", state="scheduled", send_after=NOW.subtract(days=3), limit=2, offset=1),
]


@pytest.mark.parametrize("query", QUERIES, ids=range(len(QUERIES)))
def test_the_sql_readers_paged_query_answers_as_the_registrys_own_filter_does(sql_registry, query):
    reader = open_registry_reader(registry_conn_id=sql_registry)
    # The generic answer: every entry read, then filtered by the rule in Python.
    everything = open_registry(registry_conn_id=sql_registry).scope("")
    generic = ScheduleRegistry(
        _Entries({key: entry.to_json() for key, entry in everything.items()}), workspace="braze_default"
    )

    fast, slow = reader.query(query, now=NOW), generic.query(query, now=NOW)

    assert fast.total == slow.total
    assert [e.schedule_key for e in fast.entries] == [e.schedule_key for e in slow.entries]


def test_the_sql_reader_never_creates_the_registry_table(tmp_path):
    from airflow_braze_schedule.registry import RegistryUnavailableError

    with env_vars(
        **{
            f"AIRFLOW_CONN_{CONN.upper()}": json.dumps(
                {"conn_type": "sqlite", "host": str(tmp_path / "e.db")}
            )
        }
    ):
        reader = open_registry_reader(registry_conn_id=CONN)
        with pytest.raises(RegistryUnavailableError, match="cannot be read"):
            reader.query(RegistryQuery())
        reader.backend.close()  # type: ignore[attr-defined]
        import sqlite3

        tables = sqlite3.connect(tmp_path / "e.db").execute("SELECT name FROM sqlite_master").fetchall()
    assert tables == []


def test_cli_list_prints_a_table_with_the_page_and_its_total(sql_registry, capsys):
    code = main(["list", "--registry-conn-id", sql_registry, "--scope", "shop-1/", "--limit", "3"])

    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[0].split()[:3] == ["KEY", "STATE", "KIND"]
    assert [line.split()[0] for line in out.splitlines()[1:4]] == ["shop-1/01", "shop-1/04", "shop-1/07"]
    assert "1-3 of 13 schedules" in out


def test_cli_main_gives_logging_back_as_it_found_it(sql_registry, capsys):
    import logging

    before = logging.root.manager.disable

    assert main(["list", "--registry-conn-id", sql_registry, "--json"]) == 0
    assert main(["show", "--registry-conn-id", sql_registry, "shop-0/nothing"]) == 1

    # Quieting Airflow's log lines for a clean pipe must not silence the rest of the process.
    assert logging.root.manager.disable == before


def test_cli_list_json_filters_by_state(sql_registry, capsys):
    code = main(["list", "--registry-conn-id", sql_registry, "--state", "cancelled", "--json"])

    page = json.loads(capsys.readouterr().out)
    assert code == 0
    assert page["total"] == 1
    assert page["entries"][0]["schedule_key"] == "shop-0/cancelled"
    assert page["entries"][0]["last_change"]["dag_id"] == "braze_schedule_admin"


def test_cli_show_prints_the_history_and_an_unknown_key_fails(sql_registry, capsys):
    assert main(["show", "--registry-conn-id", sql_registry, "shop-0/cancelled"]) == 0
    out = capsys.readouterr().out
    assert "HISTORY" in out
    assert "braze_schedule_admin/run-2/cancel_by_key" in out

    assert main(["show", "--registry-conn-id", sql_registry, "shop-0/nothing"]) == 1
    assert "No schedule is recorded under 'shop-0/nothing'" in capsys.readouterr().err


def test_the_console_script_is_declared():
    from importlib.metadata import entry_points

    scripts = {e.name: e.value for e in entry_points(group="console_scripts")}
    assert scripts["airflow-braze-schedule"] == "airflow_braze_schedule.cli:main"


# --- the asset store (Airflow 3.3+), read from the metadata database -----------------------------------

ASSET_CONN = "braze_reader_test"


class _Entries:
    description = "a dict"

    def __init__(self, values: dict[str, dict[str, Any]]) -> None:
        self.values = values

    def load(self, schedule_key: str) -> dict[str, Any] | None:
        return self.values.get(schedule_key)

    def save(self, entry: dict[str, Any]) -> None:
        raise AssertionError("read only")

    def load_scope(self, prefix: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.values.items() if k.startswith(prefix)}


@pytest.fixture(scope="module")
def asset_registry(airflow_db) -> dict[str, dict[str, Any]]:
    pytest.importorskip("airflow.models.asset_state_store", reason="the asset store came in Airflow 3.3")
    from airflow.models.asset import AssetModel
    from airflow.models.asset_state_store import AssetStateStoreModel
    from airflow.utils.session import create_session

    from airflow_braze_schedule.assets import schedules_asset_uri

    values = {
        e.schedule_key: e.to_json()
        for e in [keyed(f"shop-{n % 3}/{n:02d}", 1 + n % 20, local=n % 4 == 0) for n in range(40)]
        + [keyed("shop-0/cancelled", 15, state="cancelled"), keyed("shop_0/underscore", 12)]
    }
    uri = schedules_asset_uri(ASSET_CONN)
    with create_session() as session:
        asset = AssetModel(uri=uri, name=uri)
        session.add(asset)
        session.flush()
        for key, value in values.items():
            session.add(AssetStateStoreModel(asset_id=asset.id, key="entry:" + key, value=json.dumps(value)))
        # The store's key index is not an entry: the reader lists entry rows only.
        session.add(AssetStateStoreModel(asset_id=asset.id, key="index:00", value=json.dumps(sorted(values))))
    return values


ASSET_QUERIES = [*QUERIES, RegistryQuery(prefix="shop_"), RegistryQuery(prefix="shop-0/", offset=10)]


@pytest.mark.parametrize("query", ASSET_QUERIES, ids=range(len(ASSET_QUERIES)))
def test_the_asset_store_reader_answers_as_the_registrys_own_filter_does(asset_registry, query):
    reader = open_registry_reader(ASSET_CONN)
    generic = ScheduleRegistry(_Entries(asset_registry), workspace=ASSET_CONN)

    fast, slow = reader.query(query, now=NOW), generic.query(query, now=NOW)

    assert fast.total == slow.total
    assert [e.schedule_key for e in fast.entries] == [e.schedule_key for e in slow.entries]
    assert reader.get("shop-0/cancelled").state == "cancelled"  # type: ignore[union-attr]
    assert reader.get("shop-0/none") is None


def test_cli_lists_the_asset_store_without_a_registry_connection(asset_registry, capsys):
    code = main(["list", "--conn-id", ASSET_CONN, "--scope", "shop-0/", "--state", "cancelled", "--json"])

    assert code == 0
    assert [e["schedule_key"] for e in json.loads(capsys.readouterr().out)["entries"]] == ["shop-0/cancelled"]


def test_the_plugin_module_and_the_cli_load_no_fastapi_app():
    """Plugins load in every Airflow process: importing ours builds no app. On Airflow 2, which has no
    FastAPI at all, the plugin still loads and the CLI runs."""
    import subprocess
    import sys

    from tests.helpers import AIRFLOW_VERSION

    # FastAPI comes with Airflow 3 (its own plugins manager imports it); only Airflow 2 lacks it.
    block = "sys.modules['fastapi'] = None" if AIRFLOW_VERSION.major < 3 else "pass"
    code = (
        f"import sys; {block}\n"
        "import airflow_braze_schedule.plugins, airflow_braze_schedule.cli\n"
        "assert 'airflow_braze_schedule.plugins.app' not in sys.modules\n"
        "raise SystemExit(airflow_braze_schedule.cli.main(['list', '--help']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr[-2000:]
    assert "--send-before" in done.stdout
