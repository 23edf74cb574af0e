"""Benchmark 6: the registry's cost per key, on both stores, as it grows.

(a) **Growth.** ``put_many`` of 1,000 / 10,000 / 100,000 new keys in batches of ``BATCH`` (the intents,
    then the answers, as a reconcile writes them, after listing its scope), into an empty registry: the
    SQL store (a SQLite file) and the asset store (an in-memory state store that keeps JSON text, as
    Airflow's database does, and counts calls: inside a task each is an API call). Time per key against a floor measured
    in the same child: ``json.dumps`` of the same values, the least any store does per key. CPU time
    (``time.process_time``), which other processes on a shared machine inflate less than wall time.
(b) **Listing 100,000 entries.** ``scope("")`` in a fresh child: the SQL store, the asset store read
    from Airflow's metadata database (``open_registry_reader``), and the in-task asset store. Time and
    RSS growth (result still held) against the floor: reading the same stored JSON once and parsing it.
(c) **A page of 100 out of 100,000** (``RegistryQuery(state="scheduled", offset=50,000)``), as the
    schedules page asks it: SQL and the asset store from the metadata database; the first query of its
    process, then the median of ``QUERY_ROUNDS`` more (the goal's verdict), since the reader keeps summary
    pages parsed until their rows change; the floor reads the 100 answered entries by key.

Child mode: ``python bench/registry.py <mode> <args>`` prints one JSON line.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from common import ROOT, Table, Workspace, airflow_env, emit, median, run_child

SIZES = (1_000, 10_000, 100_000)
LISTED = 100_000
BATCH = 8
QUERY_ROUNDS = 5
CONN = "bench_registry"
SQL_CONN = "bench_registry_sql"
NOW = "2026-12-01T12:00:00+00:00"


# --- children ------------------------------------------------------------------------------------------


class JsonTextStore:
    """An asset state store in memory: values kept as JSON text (as the database keeps them), calls counted."""

    def __init__(self, values: dict[str, str] | None = None) -> None:
        self.values: dict[str, str] = values or {}
        self.calls = 0

    def get(self, key: str, default: Any = None) -> Any:
        self.calls += 1
        text = self.values.get(key)
        return json.loads(text) if text is not None else default

    def set(self, key: str, value: Any) -> None:
        self.calls += 1
        self.values[key] = json.dumps(value)


class _SqliteHook:
    """The part of a ``DbApiHook`` the SQL store uses, on a SQLite file without fsync (a fast disk)."""

    placeholder = "?"

    def __init__(self, path: str) -> None:
        self.path = path

    def get_conn_id(self) -> str:
        return SQL_CONN

    def get_conn(self) -> Any:
        import sqlite3

        conn = sqlite3.connect(self.path)
        conn.execute("PRAGMA synchronous = OFF")
        return conn


def _rss_mb() -> float:
    """The resident set now (a listing's result is still held when it is read)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def _entries(start: int, count: int) -> tuple[list[Any], list[Any]]:
    """The intents and the answers of ``count`` new keys from ``start``; every tenth is cancelled."""
    import pendulum

    from airflow_braze_schedule.core.registry_model import Actor, RegistryEntry

    now = pendulum.parse(NOW)
    actor = Actor("bench_dag", "run_1", "reconcile")
    intents, answers = [], []
    for n in range(start, start + count):
        entry = RegistryEntry(f"bench/{n:06d}").intend({"op": "create"}, actor, now=now)
        intents.append(entry.to_json())
        handle = {
            "schedule_id": f"s-{n}",
            "kind": "message",
            "schedule": {"time": f"2099-01-{1 + n % 28:02d}T09:00:00Z"},
        }
        entry.record("create", actor, now=now, handle=handle, state="scheduled", pending=None)
        if n % 10 == 0:
            entry.record("cancel", actor, now=now, state="cancelled", outcome="applied")
        answers.append(entry)
    return [_from(value) for value in intents], answers


def _from(value: dict[str, Any]) -> Any:
    from airflow_braze_schedule.core.registry_model import RegistryEntry

    return RegistryEntry.from_json(value)


def child_write(store: str, count: int, path: str) -> None:
    from airflow_braze_schedule.registry import ScheduleRegistry
    from airflow_braze_schedule.registry.asset_store import AssetStateStoreBackend
    from airflow_braze_schedule.registry.sql import SqlBackend

    memory = JsonTextStore()
    if store == "sql":
        backend: Any = SqlBackend(_SqliteHook(path), workspace=CONN)
    else:
        backend = AssetStateStoreBackend(memory, uri=f"braze://{CONN}/schedules")
    registry = ScheduleRegistry(backend, workspace=CONN)
    # A reconcile lists its scope first; on the asset store that is how a writer knows its keys are new,
    # and keeps them in its pages only (see "Paged keys" in registry/asset_store.py).
    began = time.process_time()
    registry.scope("bench/")
    spent, floor = time.process_time() - began, 0.0
    for start in range(0, count, BATCH):
        intents, answers = _entries(start, min(BATCH, count - start))
        for batch in (intents, answers):
            began = time.process_time()
            registry.put_many(batch)
            spent += time.process_time() - began
            began = time.process_time()
            for entry in batch:
                json.dumps(entry.to_json())
            floor += time.process_time() - began
    if store == "asset":
        Path(path).write_text(json.dumps(memory.values))
    emit({"seconds": spent, "floor": floor, "calls": memory.calls})


def child_list(store: str, path: str) -> None:
    """``scope("")`` of a registry in a fresh process: wall time and RSS growth (or the floor's)."""
    from airflow_braze_schedule.registry import ScheduleRegistry, open_registry_reader
    from airflow_braze_schedule.registry.asset_store import AssetStateStoreBackend

    values = json.loads(Path(path).read_text()) if store.startswith("asset-task") else None
    memory = JsonTextStore(values)
    if store == "sql":
        registry = open_registry_reader(CONN, registry_conn_id=SQL_CONN)
    elif store == "asset-db":
        registry = open_registry_reader(CONN)
    else:
        registry = ScheduleRegistry(AssetStateStoreBackend(memory, uri="", read_only=True), workspace=CONN)
    floor = store.endswith("floor")
    rss, began = _rss_mb(), time.perf_counter()
    listed = _raw_values(store, path, memory) if floor else registry.scope("")
    seconds, mb = time.perf_counter() - began, _rss_mb() - rss
    emit({"seconds": seconds, "mb": mb, "count": len(listed), "calls": memory.calls})


def _raw_values(store: str, path: str, memory: JsonTextStore) -> list[Any]:
    """The floor of a listing: every stored value of the registry, read once and parsed (on the asset
    store, own values and pages alike: since paged keys, most entries live in pages only)."""
    if store.startswith("asset-task"):
        return [json.loads(text) for text in memory.values.values()]
    if store.startswith("sql"):
        import sqlite3

        rows = sqlite3.connect(path).execute("SELECT entry FROM braze_schedule_registry").fetchall()
        return [json.loads(entry) for (entry,) in rows]
    from airflow.models.asset import AssetModel
    from airflow.models.asset_state_store import AssetStateStoreModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(AssetStateStoreModel.value)
            .join(AssetModel, AssetModel.id == AssetStateStoreModel.asset_id)
            .where(AssetModel.uri == f"braze://{CONN}/schedules")
        ).all()
    return [json.loads(value) for value in rows]


def child_query(store: str) -> None:
    """A page of 100 out of ``LISTED``: the first in the process, then the median of ``QUERY_ROUNDS`` more
    (the metadata-database reader keeps summary pages parsed); the floor reads those 100 entries by key."""
    from airflow_braze_schedule.registry import RegistryQuery, open_registry_reader

    registry = open_registry_reader(CONN, registry_conn_id=SQL_CONN if store == "sql" else None)
    query = RegistryQuery(state="scheduled", limit=100, offset=LISTED // 2)
    times, floors = [], []
    for _ in range(1 + QUERY_ROUNDS):
        began = time.perf_counter()
        page = registry.query(query)
        times.append(time.perf_counter() - began)
        keys = [entry.schedule_key for entry in page.entries]
        began = time.perf_counter()
        found = registry.get_many(keys)
        floors.append(time.perf_counter() - began)
    emit(
        {
            "first": times[0],
            "seconds": median(times[1:]),
            "floor": median(floors),
            "total": page.total,
            "page": len(found),
        }
    )


def child_load_asset_db(path: str) -> None:
    """Put the in-task store's values into Airflow's metadata database, as the API server would have."""
    from airflow.models.asset import AssetModel
    from airflow.models.asset_state_store import AssetStateStoreModel
    from airflow.utils.session import create_session

    uri = f"braze://{CONN}/schedules"
    values = json.loads(Path(path).read_text())
    with create_session() as session:
        asset = AssetModel(name=uri, uri=uri)
        session.add(asset)
        session.flush()
        session.bulk_insert_mappings(
            AssetStateStoreModel,  # type: ignore[arg-type]
            [{"asset_id": asset.id, "key": key, "value": text} for key, text in values.items()],
        )
    emit({"rows": len(values)})


# --- the parent ------------------------------------------------------------------------------------------


def _child(args: list[str], env: dict[str, str]) -> Any:
    return run_child([str(Path(__file__)), *args], env)


def run(workspace: Workspace) -> Table:
    scratch = workspace.home.parent / "registry"  # inside the run's temporary directory, removed with it
    scratch.mkdir()
    sqlite_path = scratch / "registry.db"
    env = airflow_env(
        workspace.home,
        extra={
            f"AIRFLOW_CONN_{SQL_CONN.upper()}": json.dumps({"conn_type": "sqlite", "host": str(sqlite_path)})
        },
    )
    table = Table(
        title="6. Registry cost per key",
        method=(
            f"put_many of new keys in batches of {BATCH} (intents, then answers; the scope listed first) into an empty registry; "
            f"scope('') of {LISTED:,} entries in a fresh process; a query page of 100 at offset "
            f"{LISTED // 2:,}: the first in its process, then the median of {QUERY_ROUNDS} more. Floors from the same child: json.dumps of the "
            "values written; reading and parsing the stored JSON once; reading the page's 100 entries by key."
        ),
        columns=["measure", "figure", "floor", "ratio", "goal"],
    )
    verdicts: list[bool] = []
    per_key: dict[str, dict[int, float]] = {"sql": {}, "asset": {}}
    for count in SIZES:
        for store in ("sql", "asset"):
            path = sqlite_path if store == "sql" else scratch / "asset.json"
            if store == "sql" and sqlite_path.exists():
                sqlite_path.unlink()
            done = _child(["write", store, str(count), str(path)], env)
            per_key[store][count] = done["seconds"] / count
            calls = f", {done['calls'] / count:.2f} calls/key" if store == "asset" else ""
            table.rows.append(
                [
                    f"write {count:,} keys, {store}",
                    f"{done['seconds'] / count * 1e6:.0f} us/key{calls}",
                    f"{done['floor'] / count * 1e6:.0f} us/key",
                    f"{done['seconds'] / done['floor']:.1f}x",
                    "",
                ]
            )
    for store, costs in per_key.items():
        growth = costs[SIZES[-1]] / costs[SIZES[0]]
        verdicts.append(growth <= 1.5)
        table.rows.append(
            [f"growth per key {SIZES[-1]:,} / {SIZES[0]:,}, {store}", f"{growth:.2f}x", "", "", "<= 1.5x"]
        )
    _child(["load-asset-db", str(scratch / "asset.json")], env)
    for store in ("sql", "asset-db", "asset-task"):
        path = str(sqlite_path if store == "sql" else scratch / "asset.json")
        listed = _child(["list", store, path], env)
        floor = _child(["list", store + "-floor", path], env)
        ok = listed["count"] == LISTED and listed["seconds"] <= 5 and listed["mb"] <= 200
        verdicts.append(ok)
        calls = f", {listed['calls']} calls" if store == "asset-task" else ""
        table.rows.append(
            [
                f"list {LISTED:,}, {store}",
                f"{listed['seconds']:.2f} s, +{listed['mb']:.0f} MB{calls}",
                f"{floor['seconds']:.2f} s, +{floor['mb']:.0f} MB",
                f"{listed['seconds'] / floor['seconds']:.1f}x",
                "<= 5 s, +200 MB",
            ]
        )
    for store in ("sql", "asset-db"):
        page = _child(["query", store], env)
        verdicts.append(page["seconds"] <= 0.3 and page["page"] == 100)  # the first is reported
        table.rows.append(
            [
                f"query page of 100 of {page['total']:,}, {store}",
                f"{page['first'] * 1000:.0f} ms first, then {page['seconds'] * 1000:.0f} ms",
                f"{page['floor'] * 1000:.0f} ms",
                f"{page['seconds'] / page['floor']:.1f}x",
                "<= 300 ms",
            ]
        )
    table.goal = "per-key cost at 100k within 1.5x of 1k; listing 100k <= 5 s, +200 MB; a page <= 300 ms"
    table.passed = all(verdicts)
    return table


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    mode, *args = sys.argv[1:]
    if mode == "write":
        child_write(args[0], int(args[1]), args[2])
    elif mode == "list":
        child_list(args[0], args[1])
    elif mode == "query":
        child_query(args[0])
    elif mode == "load-asset-db":
        child_load_asset_db(args[0])
    else:
        raise SystemExit(f"unknown mode {mode!r}")
