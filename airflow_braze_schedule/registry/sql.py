"""The registry as a table in any database an Airflow SQL connection reaches (any ``DbApiHook``).

For Airflow lines before 3.3, or for users who want to query their schedules with SQL. The tables are
created if missing:

``braze_schedule_registry``: one row per ``(workspace, schedule_key)``, where ``workspace`` is the Braze
connection id: ``state`` (``scheduled``, ``updated``, ``cancelled``; a row whose ``send_last`` has passed
is presumed sent), ``outcome``, ``schedule_id``, ``kind``, ``send_first`` / ``send_last`` (the UTC
instants the send begins and ends across time zones, ISO 8601), ``fingerprint``, ``pending`` (JSON of a
job under way), ``entry`` (the whole entry as JSON), ``updated_at`` and the ``dag_id``, ``run_id``,
``task_id`` of the last change. ``entry`` keeps the entry's last history line only (rows written before
kept the whole history there), so that listing a registry reads one line per key; a key's whole history
is read from the history table.

``braze_schedule_registry_history``: one row per change, ``(workspace, schedule_key, seq)``, with
``at``, ``action``, ``state``, ``outcome``, ``schedule_id``, ``dag_id``, ``run_id``, ``task_id``, ``note``
(``HISTORY_FIELDS``): every change ever made, where reading a key (``ScheduleRegistry.get``) takes its
last ``MAX_HISTORY`` lines from.

Example: the schedules still to be sent, ``SELECT schedule_key, schedule_id, send_first FROM
braze_schedule_registry WHERE state IN ('scheduled', 'updated') AND send_last > '2026-12-01T00:00:00'``.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_braze_schedule.core.registry_model import (
    HISTORY_FIELDS,
    PRESUMED_SENT,
    SCHEDULED,
    UPDATED,
    listed_value,
    utc_now,
)
from airflow_braze_schedule.registry.store import (
    MAX_HISTORY,
    RegistryQuery,
    RegistryReadOnlyError,
    RegistryUnavailableError,
    entry_summary,
    instant_text,
)

if TYPE_CHECKING:
    from datetime import datetime

T = TypeVar("T")

DEFAULT_TABLE = "braze_schedule_registry"
#: Keys named in one IN (...) list, and rows in one multi-row INSERT: under SQLite's oldest limit of
#: 999 parameters per statement (16 columns x 50 rows = 800).
KEYS_PER_STATEMENT = 500
ROWS_PER_STATEMENT = 50
#: Rows a listing reads and parses at a time.
ROWS_PER_FETCH = 1000
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
_HISTORY_COLUMNS = ("workspace", "schedule_key", *HISTORY_FIELDS)


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

    Every history line is kept in the history table, and :meth:`save_many` adds the lines it lacks, so an
    entry from a listing (its last line only) is saved as it is (``keeps_history_apart``).

    :param hook: a ``DbApiHook`` (``SqliteHook``, ``PostgresHook``, ...).
    :param workspace: the Braze connection id: keys are unique per workspace.
    :param table: the table's name (letters, digits, underscores); the history table adds ``_history``.
    :param read_only: refuse to write, and create no table (a reader outside a task).
    """

    #: A listed entry (last history line only) needs no joining before it is saved: see above.
    keeps_history_apart = True
    #: Listings give ``listed_value``'s values (see :meth:`load_scope`).
    lists_compact = True

    def __init__(
        self, hook: Any, *, workspace: str, table: str = DEFAULT_TABLE, read_only: bool = False
    ) -> None:
        if not _NAME.fullmatch(table):
            raise ValueError(f"registry table name {table!r}: letters, digits and underscores only")
        self.hook = hook
        self.workspace = workspace
        self.table = table
        self.description = f"table {table} of connection {hook.get_conn_id()!r}"
        self.mark = hook.placeholder
        self.read_only = read_only
        self._conn: Any = None

    @property
    def conn(self) -> Any:
        if self._conn is None:
            self._conn = self.hook.get_conn()
            if not self.read_only:  # a reader creates nothing, not even the tables
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

    def _in(self, count: int) -> str:
        return f"IN ({self._marks(count)})"

    def load(self, schedule_key: str) -> dict[str, Any] | None:
        return self.load_many([schedule_key]).get(schedule_key)

    def load_many(self, schedule_keys: list[str]) -> dict[str, dict[str, Any]]:
        """The entries of those keys that exist, each with its history from the history table (its last
        :data:`MAX_HISTORY` lines): two SELECTs per :data:`KEYS_PER_STATEMENT` keys."""
        found: dict[str, dict[str, Any]] = {}
        with self._reading() as cursor:
            for chunk in _chunks(list(dict.fromkeys(schedule_keys)), KEYS_PER_STATEMENT):
                cursor.execute(
                    f"SELECT schedule_key, entry FROM {self.table} WHERE workspace = {self.mark} "
                    f"AND schedule_key {self._in(len(chunk))}",
                    (self.workspace, *chunk),
                )
                entries = {key: json.loads(entry) for key, entry in cursor.fetchall()}
                if not entries:
                    continue
                cursor.execute(
                    f"SELECT schedule_key, {', '.join(HISTORY_FIELDS)} FROM {self.table}_history "
                    f"WHERE workspace = {self.mark} AND schedule_key {self._in(len(entries))} "
                    "ORDER BY schedule_key, seq",
                    (self.workspace, *entries),
                )
                lines: dict[str, list[dict[str, Any]]] = {}
                for key, *values in cursor.fetchall():
                    lines.setdefault(key, []).append(_history_line(values))
                for key, entry in entries.items():
                    entry["history"] = _joined(lines.get(key, []), entry.get("history") or [])
                found.update(entries)
        return found

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Any]:
        """A cursor for reads, whose transaction ends after them, so later reads see other tasks' writes.

        A reader creates no table, so its first read of a registry nobody has written yet fails in the
        database's own words: said here as which table of which connection, and why it may be missing.
        """
        try:
            cursor = self.conn.cursor()
            yield cursor
            self.conn.commit()
        except Exception as error:
            if not self.read_only:
                raise
            with contextlib.suppress(Exception):
                self.conn.rollback()
            raise RegistryUnavailableError(
                f"The registry {self.description} cannot be read ({type(error).__name__}: {error}). A keyed "
                "task creates it when it first records a send: check registry_conn_id and registry_table"
            ) from error

    def load_scope(self, prefix: str) -> dict[str, dict[str, Any]]:
        """Every entry under ``prefix`` as a listing keeps it (``listed_value``), made as the rows arrive:
        never every row's text, nor every entry's parsed JSON, at once."""
        found: dict[str, dict[str, Any]] = {}
        shared: dict[Any, Any] = {}
        with self._reading() as cursor:
            cursor.execute(
                f"SELECT schedule_key, entry FROM {self.table} WHERE {self._prefix_clause(prefix)}",
                (self.workspace, prefix),
            )
            while rows := cursor.fetchmany(ROWS_PER_FETCH):
                found.update(zip((key for key, _ in rows), _listed(rows, shared), strict=True))
        return found

    def _prefix_clause(self, prefix: str) -> str:
        # SUBSTR rather than LIKE: a prefix with % or _ in it needs no escaping.
        return f"workspace = {self.mark} AND SUBSTR(schedule_key, 1, {len(prefix)}) = {self.mark}"

    def query(self, query: RegistryQuery, now: datetime | None) -> tuple[int, list[dict[str, Any]]]:
        """A page of :class:`RegistryQuery`, in SQL: the filter on columns, COUNT, ORDER BY, LIMIT, OFFSET.

        The same rule as :meth:`RegistryQuery.matches_summary`, on the same text instants; keys are in the
        database's order of ``schedule_key`` (its collation).
        """
        clauses = [self._prefix_clause(query.prefix)]
        params: list[Any] = [self.workspace, query.prefix]
        now_text = instant_text(now or utc_now())
        if query.state == PRESUMED_SENT:
            clauses.append(
                f"state IN ({self._marks(2)}) AND send_last IS NOT NULL AND send_last <= {self.mark}"
            )
            params += [SCHEDULED, UPDATED, now_text]
        elif query.state in (SCHEDULED, UPDATED):
            clauses.append(f"state = {self.mark} AND (send_last IS NULL OR send_last > {self.mark})")
            params += [query.state, now_text]
        elif query.state is not None:
            clauses.append(f"state = {self.mark}")
            params.append(query.state)
        if query.send_after is not None:
            clauses.append(f"send_first >= {self.mark}")
            params.append(instant_text(query.send_after))
        if query.send_before is not None:
            clauses.append(f"send_first < {self.mark}")
            params.append(instant_text(query.send_before))
        where = " AND ".join(f"({clause})" for clause in clauses)
        with self._reading() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {self.table} WHERE {where}", tuple(params))
            (total,) = cursor.fetchone()
            cursor.execute(
                f"SELECT entry FROM {self.table} WHERE {where} ORDER BY schedule_key "
                f"LIMIT {int(query.limit)} OFFSET {int(query.offset)}",
                tuple(params),
            )
            rows = cursor.fetchall()
        return int(total), _listed(rows, {})

    def save(self, entry: dict[str, Any]) -> None:
        self.save_many([entry])

    def save_many(self, entries: list[dict[str, Any]]) -> None:
        """Write many entries in one transaction, with set-based statements whatever their number.

        One SELECT finds which keys have rows (and how much history each has); their rows are deleted
        and every row inserted again, a multi-row INSERT per :data:`ROWS_PER_STATEMENT` rows, and the new
        history lines likewise: a batch costs a handful of statements, not a few per key.
        """
        if self.read_only:
            raise RegistryReadOnlyError(f"{self.description} was opened for reading only")
        by_key = {entry["schedule_key"]: entry for entry in entries}  # the last write of a key wins
        if not by_key:
            return
        conn = self.conn
        cursor = conn.cursor()
        try:
            stored: dict[str, int] = {}
            for chunk in _chunks(list(by_key), KEYS_PER_STATEMENT):
                cursor.execute(
                    f"SELECT schedule_key, history_count FROM {self.table} WHERE workspace = {self.mark} "
                    f"AND schedule_key {self._in(len(chunk))}",
                    (self.workspace, *chunk),
                )
                stored.update((key, int(count)) for key, count in cursor.fetchall())
            for chunk in _chunks(list(stored), KEYS_PER_STATEMENT):
                cursor.execute(
                    f"DELETE FROM {self.table} WHERE workspace = {self.mark} AND schedule_key {self._in(len(chunk))}",
                    (self.workspace, *chunk),
                )
            rows = [self._row(entry) for entry in by_key.values()]
            self._insert(cursor, self.table, _COLUMNS, rows)
            lines = [
                self._history_row(key, line)
                for key, entry in by_key.items()
                for line in entry.get("history") or []
                if int(line.get("seq", -1)) >= stored.get(key, 0)
            ]
            self._insert(cursor, f"{self.table}_history", _HISTORY_COLUMNS, lines)
            conn.commit()
        except Exception:
            conn.rollback()
            raise

    def _insert(self, cursor: Any, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        one = f"({self._marks(len(columns))})"
        for chunk in _chunks(rows, ROWS_PER_STATEMENT):
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([one] * len(chunk))}",
                tuple(value for row in chunk for value in row),
            )

    def _row(self, entry: dict[str, Any]) -> tuple[Any, ...]:
        handle = entry.get("handle") or {}
        summary = entry_summary(entry)
        last = entry["history"][-1] if entry.get("history") else {}
        row = {
            "workspace": self.workspace,
            "schedule_key": entry["schedule_key"],
            "state": entry.get("state"),
            "outcome": entry.get("outcome"),
            "schedule_id": handle.get("schedule_id"),
            "kind": handle.get("kind"),
            "send_first": summary.send_first,
            "send_last": summary.send_last,
            "fingerprint": entry.get("fingerprint"),
            "pending": json.dumps(entry["pending"]) if entry.get("pending") else None,
            # The last history line only: what a listing gives (the history table has every line).
            "entry": json.dumps({**entry, "history": entry.get("history", [])[-1:]}, sort_keys=True),
            "history_count": int(last.get("seq", -1)) + 1,
            "updated_at": entry.get("updated_at"),
            "dag_id": last.get("dag_id"),
            "run_id": last.get("run_id"),
            "task_id": last.get("task_id"),
        }
        return tuple(row[name] for name in _COLUMNS)

    def _history_row(self, key: str, line: dict[str, Any]) -> tuple[Any, ...]:
        return (
            self.workspace,
            key,
            int(line.get("seq", -1)),
            *(line.get(name) for name in HISTORY_FIELDS[1:]),
        )


def _listed(rows: list[Any], shared: dict[Any, Any]) -> list[dict[str, Any]]:
    """The ``entry`` column (the last item) of rows, as a listing keeps each: parsed as one JSON array, so
    the names in them are read once, not once per row."""
    values = json.loads("[" + ",".join(row[-1] for row in rows) + "]")
    return [listed_value(value, shared) for value in values]


def _history_line(values: list[Any]) -> dict[str, Any]:
    """A history row as the line :meth:`RegistryEntry.record` wrote: outcome and note only if it had them."""
    line = dict(zip(HISTORY_FIELDS, values, strict=True))
    for name in ("outcome", "note"):
        if line[name] is None:
            del line[name]
    return line


def _joined(table: list[dict[str, Any]], stored: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A key's history: the history table's lines, and any line of the ``entry`` column's JSON the table
    lacks (rows written before it had them all), by seq; the last :data:`MAX_HISTORY`."""
    by_seq = {int(line.get("seq", at)): line for at, line in enumerate(stored)}
    by_seq.update((int(line["seq"]), line) for line in table)
    return [by_seq[seq] for seq in sorted(by_seq)][-MAX_HISTORY:]


def _chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
