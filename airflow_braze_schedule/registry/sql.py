"""The registry as a table in any database an Airflow SQL connection reaches (any ``DbApiHook``).

For Airflow lines before 3.3, or for users who want to query their schedules with SQL. The tables are
created if missing:

``braze_schedule_registry``: one row per ``(workspace, schedule_key)``, where ``workspace`` is the Braze
connection id: ``state`` (``scheduled``, ``updated``, ``cancelled``; a row whose ``send_last`` has passed
is presumed sent), ``outcome``, ``schedule_id``, ``kind``, ``send_first`` / ``send_last`` (the UTC
instants the send begins and ends across time zones, ISO 8601), ``fingerprint``, ``pending`` (JSON of a
job under way), ``entry`` (the whole entry as JSON), ``updated_at`` and the ``dag_id``, ``run_id``,
``task_id`` of the last change.

``braze_schedule_registry_history``: one row per change, ``(workspace, schedule_key, seq)``, with
``at``, ``action``, ``state``, ``outcome``, ``schedule_id``, ``dag_id``, ``run_id``, ``task_id``, ``note``.

Example: the schedules still to be sent, ``SELECT schedule_key, schedule_id, send_first FROM
braze_schedule_registry WHERE state IN ('scheduled', 'updated') AND send_last > '2026-12-01T00:00:00'``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from airflow_braze_schedule.core.registry_model import delivery_window

DEFAULT_TABLE = "braze_schedule_registry"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,50}")

_COLUMNS = (
    "workspace",
    "schedule_key",
    "state",
    "outcome",
    "schedule_id",
    "kind",
    "send_first",
    "send_last",
    "fingerprint",
    "pending",
    "entry",
    "history_count",
    "updated_at",
    "dag_id",
    "run_id",
    "task_id",
)
_HISTORY_COLUMNS = (
    "workspace",
    "schedule_key",
    "seq",
    "at",
    "action",
    "state",
    "outcome",
    "schedule_id",
    "dag_id",
    "run_id",
    "task_id",
    "note",
)


def ddl(table: str = DEFAULT_TABLE) -> list[str]:
    """The statements that create the two tables (portable SQL: SQLite, PostgreSQL, MySQL)."""
    return [
        f"""CREATE TABLE IF NOT EXISTS {table} (
    workspace VARCHAR(250) NOT NULL,
    schedule_key VARCHAR(400) NOT NULL,
    state VARCHAR(32),
    outcome VARCHAR(32),
    schedule_id VARCHAR(200),
    kind VARCHAR(16),
    send_first VARCHAR(32),
    send_last VARCHAR(32),
    fingerprint VARCHAR(64),
    pending TEXT,
    entry TEXT NOT NULL,
    history_count INTEGER NOT NULL,
    updated_at VARCHAR(32),
    dag_id VARCHAR(250),
    run_id VARCHAR(250),
    task_id VARCHAR(250),
    PRIMARY KEY (workspace, schedule_key)
)""",
        f"""CREATE TABLE IF NOT EXISTS {table}_history (
    workspace VARCHAR(250) NOT NULL,
    schedule_key VARCHAR(400) NOT NULL,
    seq INTEGER NOT NULL,
    at VARCHAR(32),
    action VARCHAR(40),
    state VARCHAR(32),
    outcome VARCHAR(32),
    schedule_id VARCHAR(200),
    dag_id VARCHAR(250),
    run_id VARCHAR(250),
    task_id VARCHAR(250),
    note TEXT,
    PRIMARY KEY (workspace, schedule_key, seq)
)""",
    ]


class SqlBackend:
    """Registry entries as rows, through a ``DbApiHook`` (one DB-API connection, opened on first use).

    :param hook: a ``DbApiHook`` (``SqliteHook``, ``PostgresHook``, ...).
    :param workspace: the Braze connection id: keys are unique per workspace.
    :param table: the table's name (letters, digits, underscores); the history table adds ``_history``.
    """

    def __init__(self, hook: Any, *, workspace: str, table: str = DEFAULT_TABLE) -> None:
        if not _NAME.fullmatch(table):
            raise ValueError(f"registry table name {table!r}: letters, digits and underscores only")
        self.hook = hook
        self.workspace = workspace
        self.table = table
        self.description = f"table {table} of connection {hook.get_conn_id()!r}"
        self.mark = hook.placeholder
        self._conn: Any = None

    @property
    def conn(self) -> Any:
        if self._conn is None:
            self._conn = self.hook.get_conn()
            cursor = self._conn.cursor()
            for statement in ddl(self.table):
                cursor.execute(statement)
            self._conn.commit()
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _marks(self, count: int) -> str:
        return ", ".join([self.mark] * count)

    def load(self, schedule_key: str) -> dict[str, Any] | None:
        cursor = self.conn.cursor()
        cursor.execute(
            f"SELECT entry FROM {self.table} WHERE workspace = {self.mark} AND schedule_key = {self.mark}",
            (self.workspace, schedule_key),
        )
        row = cursor.fetchone()
        self.conn.commit()  # end the read transaction: later reads see other tasks' writes
        return json.loads(row[0]) if row else None

    def load_scope(self, prefix: str) -> dict[str, dict[str, Any]]:
        cursor = self.conn.cursor()
        # SUBSTR rather than LIKE: a prefix with % or _ in it needs no escaping.
        cursor.execute(
            f"SELECT schedule_key, entry FROM {self.table} WHERE workspace = {self.mark} "
            f"AND SUBSTR(schedule_key, 1, {len(prefix)}) = {self.mark}",
            (self.workspace, prefix),
        )
        rows = cursor.fetchall()
        self.conn.commit()
        return {key: json.loads(entry) for key, entry in rows}

    def save(self, entry: dict[str, Any]) -> None:
        key = entry["schedule_key"]
        handle = entry.get("handle") or {}
        window = delivery_window(handle.get("schedule"))
        last = entry["history"][-1] if entry.get("history") else {}
        row = {
            "workspace": self.workspace,
            "schedule_key": key,
            "state": entry.get("state"),
            "outcome": entry.get("outcome"),
            "schedule_id": handle.get("schedule_id"),
            "kind": handle.get("kind"),
            "send_first": window[0].isoformat(timespec="seconds") if window else None,
            "send_last": window[1].isoformat(timespec="seconds") if window else None,
            "fingerprint": entry.get("fingerprint"),
            "pending": json.dumps(entry["pending"]) if entry.get("pending") else None,
            "entry": json.dumps(entry, sort_keys=True),
            "history_count": int(last.get("seq", -1)) + 1,
            "updated_at": entry.get("updated_at"),
            "dag_id": last.get("dag_id"),
            "run_id": last.get("run_id"),
            "task_id": last.get("task_id"),
        }
        conn = self.conn
        cursor = conn.cursor()
        try:
            cursor.execute(
                f"SELECT history_count FROM {self.table} WHERE workspace = {self.mark} AND schedule_key = {self.mark}",
                (self.workspace, key),
            )
            found = cursor.fetchone()
            if found is None:
                cursor.execute(
                    f"INSERT INTO {self.table} ({', '.join(_COLUMNS)}) VALUES ({self._marks(len(_COLUMNS))})",
                    tuple(row[name] for name in _COLUMNS),
                )
                stored_history = 0
            else:
                settable = [name for name in _COLUMNS if name not in ("workspace", "schedule_key")]
                cursor.execute(
                    f"UPDATE {self.table} SET {', '.join(f'{name} = {self.mark}' for name in settable)} "
                    f"WHERE workspace = {self.mark} AND schedule_key = {self.mark}",
                    (*(row[name] for name in settable), self.workspace, key),
                )
                stored_history = int(found[0])
            self._append_history(cursor, key, entry.get("history") or [], stored_history)
            conn.commit()
        except Exception:
            conn.rollback()
            raise

    def _append_history(self, cursor: Any, key: str, history: list[dict[str, Any]], stored: int) -> None:
        """Add the history lines the table does not have yet (numbered by their ``seq``)."""
        for line in history:
            seq = int(line.get("seq", -1))
            if seq < stored:
                continue
            values = (
                self.workspace,
                key,
                seq,
                line.get("at"),
                line.get("action"),
                line.get("state"),
                line.get("outcome"),
                line.get("schedule_id"),
                line.get("dag_id"),
                line.get("run_id"),
                line.get("task_id"),
                line.get("note"),
            )
            cursor.execute(
                f"INSERT INTO {self.table}_history ({', '.join(_HISTORY_COLUMNS)}) "
                f"VALUES ({self._marks(len(_HISTORY_COLUMNS))})",
                values,
            )
