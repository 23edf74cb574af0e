"""The registry of keyed schedules, over a storage backend.

:class:`ScheduleRegistry` reads and writes :class:`~airflow_braze_schedule.core.registry_model.RegistryEntry`
objects for one Braze workspace (one Airflow connection). Where they are kept is a backend's business:
:mod:`.asset_store` (Airflow 3.3+'s ``asset_state_store``, nothing to set up) or :mod:`.sql` (a table in any
database reached through an Airflow SQL connection). Every access goes through one lock: a registry is
used from one task at a time, and Airflow's task-side stores are not meant for concurrent callers.
"""

from __future__ import annotations

import builtins
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from airflow_braze_schedule.core.errors import BrazeConfigurationError, BrazeError
from airflow_braze_schedule.core.registry_model import (
    PRESUMED_SENT,
    SCHEDULED,
    UPDATED,
    RegistryEntry,
    check_schedule_key,
    delivery_window,
    utc_now,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

#: History lines kept per key; older ones are dropped (the SQL backend's history table keeps them all).
MAX_HISTORY = 100


class RegistryBackend(Protocol):
    """Where entries live. Values are JSON-serialisable dicts (``RegistryEntry.to_json()``).

    ``load`` (and ``load_many``, if the backend has it) give an entry with its whole history (up to
    :data:`MAX_HISTORY` lines); ``load_scope`` (and ``query``) may give only the last line of each, which
    is all a listing keeps, and say ``lists_compact`` if they give
    :func:`~airflow_braze_schedule.core.registry_model.listed_value`'s values. ``save`` gets whole
    entries, unless the backend says ``keeps_history_apart`` (it stores every line apart and adds those
    it lacks): then a listed entry is saved as it is.
    """

    description: str

    def load(self, schedule_key: str) -> dict[str, Any] | None: ...

    def save(self, entry: dict[str, Any]) -> None: ...

    def load_scope(self, prefix: str) -> dict[str, dict[str, Any]]: ...


@dataclass(frozen=True)
class RegistryQuery:
    """A filter over one workspace's entries, answered a page at a time.

    :param prefix: keys starting with this (a scope).
    :param state: the effective state (``scheduled``, ``updated``, ``cancelled``, ``presumed_sent``).
    :param send_after: entries whose send begins at or after this instant (UTC-aware).
    :param send_before: entries whose send begins before this instant.
    :param limit: at most this many entries in the page.
    :param offset: skip this many entries (in key order) first.
    """

    prefix: str = ""
    state: str | None = None
    send_after: datetime | None = None
    send_before: datetime | None = None
    limit: int = 100
    offset: int = 0

    def matches(self, entry: RegistryEntry, now: datetime | None = None) -> bool:
        fields = {"schedule_key": entry.schedule_key, "state": entry.state, "handle": entry.handle}
        return self.matches_summary(entry_summary(fields), now)

    def matches_summary(self, summary: EntrySummary, now: datetime | None = None) -> bool:
        return bool(self.select([(summary.schedule_key, summary[1:])], now))

    def select(
        self, summaries: Iterable[tuple[str, Sequence[Any]]], now: datetime | None = None
    ) -> list[str]:
        """The keys this query selects among ``(key, (state, send_first, send_last, ...))`` pairs: the one
        rule of a query (the SQL store's WHERE clause says the same), as one comprehension, since it
        runs over every key of a registry; instants are turned into text once."""
        now_text = instant_text(now or utc_now())
        after = instant_text(self.send_after) if self.send_after is not None else None
        before = instant_text(self.send_before) if self.send_before is not None else None
        prefix, wanted = self.prefix, self.state
        return [
            key
            for key, item in summaries
            if key.startswith(prefix)
            and (wanted is None or effective_state_at(item[0], item[2], now_text) == wanted)
            and (after is None or (item[1] is not None and item[1] >= after))
            and (before is None or (item[1] is not None and item[1] < before))
        ]


def _seq(line: dict[str, Any], at: int) -> int:
    """A history line's seq (lines once had none: their place in the history stood for it)."""
    return int(line.get("seq", at))


def instant_text(moment: datetime) -> str:
    """A UTC instant as the stores keep it (``send_first``, ``send_last``): ISO 8601 text, ``+00:00``.

    Text of this one shape orders as the instants do (a fraction's ``.`` sorts after ``+``), so both
    stores compare send times as text: SQL in its WHERE clause, the asset store in Python.
    """
    return moment.astimezone(UTC).isoformat()


def effective_state_at(state: str | None, send_last: str | None, now_text: str) -> str | None:
    """As :meth:`RegistryEntry.effective_state`, from the stored text of the send's last instant."""
    if state in (SCHEDULED, UPDATED) and send_last is not None and send_last <= now_text:
        return PRESUMED_SENT
    return state


class EntrySummary(NamedTuple):
    """What a query filters on, per key: kept beside the entry by both stores (SQL columns, asset pages)."""

    schedule_key: str
    state: str | None
    send_first: str | None
    send_last: str | None


def entry_summary(entry: dict[str, Any]) -> EntrySummary:
    """The summary of an entry's JSON: its state and the UTC instants its send begins and ends."""
    handle = entry.get("handle") or {}
    window = delivery_window(handle.get("schedule"))
    return EntrySummary(
        entry["schedule_key"],
        entry.get("state"),
        instant_text(window[0]) if window else None,
        instant_text(window[1]) if window else None,
    )


@dataclass
class RegistryPage:
    """One page of a :class:`RegistryQuery`'s answer: ``total`` entries matched, ``entries`` in key order."""

    total: int
    entries: list[RegistryEntry] = field(default_factory=list)


class RegistryUnavailableError(BrazeConfigurationError):
    """No registry can be reached from here; the message says which one to set up."""


class UnknownScheduleKeyError(BrazeError, LookupError):
    """No schedule was ever recorded under this key in this workspace."""


class RegistryReadOnlyError(BrazeError):
    """A registry opened for reading (:func:`~airflow_braze_schedule.registry.open_registry_reader`) was
    asked to write."""


class ScheduleRegistry:
    """The keyed schedules of one Braze workspace."""

    def __init__(self, backend: RegistryBackend, *, workspace: str) -> None:
        self.backend = backend
        self.workspace = workspace
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"<ScheduleRegistry {self.workspace!r} in {self.backend.description}>"

    def close(self) -> None:
        """Done for now: the SQL store closes its connection, the asset store hands its writer slot on.
        Reading or writing afterwards still works (the connection is opened, or a slot claimed, again)."""
        close = getattr(self.backend, "close", None)
        if close is not None:
            with self._lock:
                close()

    def get(self, schedule_key: str) -> RegistryEntry | None:
        """The entry for a key, or None if the key was never used."""
        check_schedule_key(schedule_key)
        with self._lock:
            value = self.backend.load(schedule_key)
        return RegistryEntry.from_json(value) if value is not None else None

    def require(self, schedule_key: str) -> RegistryEntry:
        """The entry for a key. :raises UnknownScheduleKeyError: if there is none."""
        entry = self.get(schedule_key)
        if entry is None:
            raise UnknownScheduleKeyError(
                f"No schedule is recorded under schedule_key {schedule_key!r} in the registry of "
                f"{self.workspace!r} ({self.backend.description}). Check the key's spelling and the "
                "braze_conn_id (keys are per connection), or create it first (BrazeUpsertScheduleOperator)"
            )
        return entry

    def get_many(self, schedule_keys: Iterable[str]) -> dict[str, RegistryEntry]:
        """The entries of those keys that exist, by key (a backend may read them in one batch)."""
        keys = [check_schedule_key(key) for key in schedule_keys]
        with self._lock:
            values = self._load_many(keys)
        return {key: RegistryEntry.from_json(value) for key, value in values.items()}

    def _load_many(self, keys: builtins.list[str]) -> dict[str, dict[str, Any]]:
        load_many = getattr(self.backend, "load_many", None)
        if load_many is not None:
            return dict(load_many(keys))
        return {key: value for key in keys if (value := self.backend.load(key)) is not None}

    def put_many(self, entries: Iterable[RegistryEntry]) -> None:
        """Write many entries (a backend may write them in one batch).

        An entry from a listing (``partial_history``) first gets back the stored history it lacks, in
        place (see :meth:`_complete_histories`), so writing it loses no line.
        """
        entries = list(entries)
        for entry in entries:
            check_schedule_key(entry.schedule_key)
        with self._lock:
            self._complete_histories(entries)
            values = [self._value(entry) for entry in entries]
            save_many = getattr(self.backend, "save_many", None)
            if save_many is not None:
                save_many(values)
            else:
                for value in values:
                    self.backend.save(value)

    def query(self, query: RegistryQuery, *, now: datetime | None = None) -> RegistryPage:
        """One page of the entries matching ``query``, in key order, with the total that matched; each
        with its last history line only, as :meth:`scope` gives them."""
        with self._lock:
            backend_query = getattr(self.backend, "query", None)
            if backend_query is not None:
                total, values = backend_query(query, now)
                compact, shared = not self._lists_compact, dict[Any, Any]()
                return RegistryPage(
                    total, [RegistryEntry.listed(value, shared, compact=compact) for value in values]
                )
            matched = [entry for entry in self.scope(query.prefix).values() if query.matches(entry, now)]
        return RegistryPage(len(matched), matched[query.offset : query.offset + query.limit])

    def put(self, entry: RegistryEntry) -> RegistryEntry:
        """Write an entry (replacing what was there; a listed entry's history is joined to the stored one)."""
        check_schedule_key(entry.schedule_key)
        with self._lock:
            self._complete_histories([entry])
            self.backend.save(self._value(entry))
        return entry

    @staticmethod
    def _value(entry: RegistryEntry) -> dict[str, Any]:
        if len(entry.history) > MAX_HISTORY:
            entry.history = entry.history[-MAX_HISTORY:]
        return entry.to_json()

    def complete_histories(self, entries: Iterable[RegistryEntry]) -> None:
        """Give each listed entry (``partial_history``) its whole history, in place: one batched read of
        those keys. For code that reads further back than the last change of entries it listed."""
        with self._lock:
            self._complete_histories(list(entries), writing=False)

    def _complete_histories(self, entries: builtins.list[RegistryEntry], *, writing: bool = True) -> None:
        """Give each listed entry (``partial_history``) the stored lines older than its own, in place.

        One batched read of those keys' stored entries; each keeps the stored lines whose seq is below
        its first line's, then its own lines, and is whole from then on (writing it again needs no read).
        Before a write, a backend that keeps every line apart from the entry (``keeps_history_apart``:
        the SQL store's history table) needs none of this: it stores the lines it has not got yet.
        """
        partial = [entry for entry in entries if entry.partial_history]
        if not partial or (writing and getattr(self.backend, "keeps_history_apart", False)):
            return
        stored = self._load_many([entry.schedule_key for entry in partial])
        for entry in partial:
            value = stored.get(entry.schedule_key)
            if value is not None and entry.history:
                first = _seq(entry.history[0], 0)
                older = value.get("history") or []
                kept = [line for at, line in enumerate(older) if _seq(line, at) < first]
                entry.history = (kept + entry.history)[-MAX_HISTORY:]
            # No stored entry (or no line of its own): nothing older to keep.
            entry.partial_history = False

    def scope(self, prefix: str = "") -> dict[str, RegistryEntry]:
        """Every entry whose key starts with ``prefix``, by key, with its last history line only
        (``partial_history``: :meth:`get` or :meth:`history` gives a key's whole history)."""
        with self._lock:
            values = dict(self.backend.load_scope(prefix))  # ours to empty as the entries are made
        compact, shared = not self._lists_compact, dict[Any, Any]()
        return {key: RegistryEntry.listed(values.pop(key), shared, compact=compact) for key in sorted(values)}

    @property
    def _lists_compact(self) -> bool:
        """The backend's listings give ``listed_value``'s values already (made as they are read, so a
        listing never holds every entry's whole JSON)."""
        return bool(getattr(self.backend, "lists_compact", False))

    # --- the read-only API for users' own code and audits ---------------------------------------------

    def find(self, schedule_key: str, *, now: datetime | None = None) -> dict[str, Any] | None:
        """A key's entry as users read it (state, outcome, schedule_id, handle, last change), or None."""
        entry = self.get(schedule_key)
        return entry.summary(now) if entry is not None else None

    def list(self, prefix: str = "", *, now: datetime | None = None) -> list[dict[str, Any]]:
        """The entries under a key prefix, sorted by key, as :meth:`find` gives them."""
        return [entry.summary(now) for entry in self.scope(prefix).values()]

    def history(self, schedule_key: str) -> builtins.list[dict[str, Any]]:
        """Every change made under a key, oldest first: when, what, and by which DAG run and task."""
        return list(self.require(schedule_key).history)

    def live_schedule_ids(self, prefix: str = "", *, now: datetime | None = None) -> dict[str, str]:
        """``{schedule_key: schedule_id}`` of the schedules live under a prefix."""
        return {
            key: entry.schedule_id
            for key, entry in self.scope(prefix).items()
            if entry.schedule_id is not None and entry.is_live(now)
        }
