"""The registry in Airflow 3.3+'s ``asset_state_store``: no set-up at all.

Each Braze connection has an asset, ``braze://<conn_id>/schedules`` (:func:`schedules_asset`), which the
keyed operators declare as an outlet. Its state store is a map of JSON values with ``get``, ``set`` and
``delete`` only: it cannot list its keys and has no compare-and-set. Inside a task every call is a
request to Airflow's API server, so the layout is made for few calls.

Layout
------

* ``entry:<schedule_key>``: the *own value* of a key, its whole entry with its whole history (up to
  ``MAX_HISTORY`` lines); what :meth:`load` reads first. A *paged* key has none (below).
* Writer slots ``writer:<n>:door`` / ``writer:<n>:race`` (``n`` = 0, 1, 2, ...): each registry object
  that writes claims one slot for itself (below), once, and then alone writes its **pages**:
  ``entries:<n>:<p>`` (up to :data:`ENTRIES_PER_PAGE` entries, each with its last history line only, a
  paged key's copy with its whole short history: pages stay small and fast to read) and
  ``summaries:<n>:<p>`` (up to :data:`SUMMARIES_PER_PAGE` summaries: state, the send's first and last
  instants, the entry's version, the key's position in the slot).
  A key keeps its place in its writer's pages; a batch rewrites only the pages it touched, so its cost
  does not grow with the registry. Pages of a slot are written in order, so they are contiguous.
* ``writers``: a hint, the slot after the newest claimed one, so a new writer does not walk them all.
* ``writer:<n>:closed`` and ``writers:free``: a writer that is done (its task's keyed step has ended,
  :meth:`AssetStateStoreBackend.close`) hands its slot on, below.

Listing reads every slot's door and pages, up to a run of doors never opened (a few calls per writer and
one per page, never one per key); a key changed by several writers is in several pages and the newest
version wins (the seq of its last history line). A query reads only the summary
pages, then the page of entries it answers. Either gives each entry with its last history line only
(``RegistryEntry.partial_history``); writing such an entry back first joins it to the history in
``entry:<key>`` (``ScheduleRegistry.put_many``, one batched read), so ``entry:<key>`` never loses a line.

Paged keys
----------

Inside a task the state store's calls go one at a time, each a request to the API server (about 12 ms
under ``airflow dags test``). An own value per key made a new key cost two calls of its own (its intent,
then its result), which bounded a reconcile of new keys however the rest was batched. So a key that is
new to the registry, and whose history is still short (:data:`PAGE_HISTORY` lines: a create's intent and
its result), has no own value: its page copy, marked ``paged``, holds its whole entry, and a batch of
new keys costs its two pages only. Such a key gets its own value once its history outgrows the copy (its
next change), and keeps it: a writer writes the own value of every key it does not know to be paged, so
an own value, where one exists, is always the newest. A writer knows a key is paged from a listing (the
newest copy is marked), from a lookup that found it paged, or because the key is new: missing from a
listing of a prefix it falls under, or looked up and found nowhere.

A lookup by key (a single-key task) reads the own value; missing, it finds the key's position in the
summary pages (one read per 500 keys) and reads the entries page at that position, or finds the key in
a slot's tail (below). A batch writes its summaries first and its entries pages second: a summary may
name a key whose page is not written yet (a crash between them), and the lookup takes only a marked
copy found in the page, so that key is new, rightly, since its intent was never durable and its request
never sent. An intent is durable once its entries page is written, before the request, so a crash's
intents are seen by a listing and by a lookup.

Summaries written late
----------------------

A batch of new keys changes one entries page and one summary page; writing both would cost two calls a
batch, and a batch's requests wait for them. So a writer writes a summary page once it is full (and
again when a later batch changes it), and the last, part-filled one when it closes. Until then that
page's keys are the slot's *tail*: the entries pages past the positions the slot's summary pages cover
(a page holds the positions from its first on, so the last page's length tells), at most
:data:`TAIL_PAGES`. A lookup by key and a query read each slot's tail beside its summaries (a crashed
writer's tail stays, bounded); a listing reads entries pages only, so it never lags.

Key filters
-----------

A lookup by key of a paged key would read every summary page (one per 500 keys: 20 calls at 10,000
keys, 200 at 100,000). So each full summary page gets a filter of its keys (a Bloom filter:
:data:`FILTER_BITS` bits, :data:`FILTER_HASHES` set per key), and a slot's filters are kept together in
``filters:<n>:<f>``, :data:`FILTERS_PER_PAGE` pages' filters each. A lookup by key reads a slot's
filter values, then only the summary pages whose filters may hold the key (a filter can be wrong only
the safe way: about 2% of pages read for nothing), then every summary page that has no filter (the last,
part-filled one, and pages written before filters), then the tail. A filter is written after its page,
and a full page's keys never change, so a filter is never older than its page; a crash between the two
leaves a page without a filter, which is read. Listings and queries read every summary page anyway.

Why no key is lost when writers race
-------------------------------------

No page is ever written by two writers, so no write can undo another's: a page belongs to the one
writer that won its slot, and ``entry:<key>`` to the one task changing that key (only the slot values
and the ``writers`` hint are shared, and they are made for it). A slot is won through a *splitter*
(Moir and Anderson, 1995), which needs nothing but atomic reads and writes of single values (each
``get``/``set`` is one statement in Airflow's database) and no timing at all: a writer sets ``race`` to
its own random token; if ``door`` is already open it moves on; else it opens ``door`` and reads
``race`` back: its own token means the slot is its own, anything else means move on, to one of the next
:data:`SLOT_SPREAD` slots at random (losers racing on together would keep colliding).

Two writers cannot both win a slot: say B set ``race`` after A did. A won only if it read its own token
back, so before B's set; A had opened ``door`` before that read, so B, reading ``door`` after its set,
found it open and moved on. A writer alone at a fresh slot wins it, so every writer finds one. A writer
only moves on from a slot whose door is open, and by fewer than :data:`SLOT_SPREAD` slots, so a reader
that stops after that many shut doors in a row has seen every slot that holds a page. A crash leaves at
most one batch half written, its own values without their pages. A new key's page copy is then missing,
but its intent's request was never sent (the engine sends after ``put_many`` returns). A known key's
page copy is older than its entry; listing reads the entry of every key whose page copy has an intent
pending (few: a crash's batch at most), so an answer recorded just before a crash is never hidden.
``tests/keyed/test_asset_store_layout.py`` races dozens of writers on a store that delays every call
at random, and a hundred starting at one slot at once, and checks that every key is listed and that
no page has two writers; ``tests/keyed/test_asset_store_paged.py`` races writers of paged keys.

Slots handed on
---------------

Without it every writing task would add a slot, and listing would read one more door and page per task
ever run (a daily DAG of 1,000 mapped upserts: 1,000 a day). So a writer that is done closes its slot:
it writes ``writer:<n>:closed`` (the slot's epoch and how many positions its pages hold) and adds ``n`` to
the ``writers:free`` hint. A new writer first tries the slots the hint names: it wins slot ``n``'s next
epoch ``e`` through the same splitter on ``writer:<n>:door:<e>`` / ``writer:<n>:race:<e>``, and then
continues the slot's pages: it reads the last, partly filled entries page and summaries page (two
calls) and adds its keys after them. Only a closed slot is offered, and its epoch is won by one writer
at most, so a page still has one writer at a time, and each writes the pages whole, as before.

The hint is shared and written without compare-and-set, so it is kept lossy only the safe way. Only
closers write it (a claimer leaves a taken slot in it: its next epoch is raced for already, so the next
claimer moves on after one read), and a closer reads the hint back and adds its slot again if another
closer's write dropped it (:data:`OFFER_TRIES` at most). A claimer never joins a race under way: it
moves on from a slot whose next epoch's ``race`` is set, since joining could only lose, or make every
racer lose (a splitter may refuse them all), and an epoch nobody won is never closed, so its slot would
never be offered again. Either way a race can cost a slot, never a key. A writer that crashes never
closes, and its slot is never reused. Slots then grow with the writers running at once, not with every
writer ever (4 threads opening and closing 80 registries end with 5 to 9 slots; 26 to 40 before these
rules); pages with the keys written.

Registries written before (one ``entry:<key>`` per key, listed in ``index:00`` .. ``index:31``, or in
the single ``index`` before that) are still read: listing reads those 33 index values too and loads the
entries of the keys no page holds yet, and a registry that may write copies them into its own pages,
so the next listing does not load them one by one. Pages written before hold whole entries: they are
read as they are and listed with the last line only, as the registry lists every entry. Nothing old is
changed or deleted.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

from airflow_braze_schedule.assets import schedules_asset, schedules_asset_uri
from airflow_braze_schedule.core.registry_model import listed_value
from airflow_braze_schedule.registry.store import (
    RegistryQuery,
    RegistryReadOnlyError,
    entry_summary,
)

if TYPE_CHECKING:
    from datetime import datetime

__all__ = [
    "ENTRIES_PER_PAGE",
    "SUMMARIES_PER_PAGE",
    "AssetStateStoreBackend",
    "MetadataDbAssetStore",
    "schedules_asset",
    "schedules_asset_uri",
]

_ENTRY = "entry:"
#: The single index of the first registries, and the 32 buckets that followed it: read, never written.
_LEGACY_INDEX = "index"
LEGACY_BUCKETS = 32
#: Entries per page (each with its last history line: a page stays well under Airflow's 64 KB advice
#: per value).
ENTRIES_PER_PAGE = 50
#: Summaries per page: about 100 bytes each.
SUMMARIES_PER_PAGE = 500
_HINT = "writers"
#: Slots whose writers closed them (a hint: see "Slots handed on").
_FREE = "writers:free"
#: Slots of the free hint a new writer tries before it takes a fresh one; and the hint's length.
REUSE_TRIES = 8
FREE_HINT_LENGTH = 64
#: Writes of the free hint a closing writer makes at most, each checked by reading it back.
OFFER_TRIES = 3
#: A writer that loses a slot tries one of the next this many; so never more than this many - 1 shut
#: doors lie between two open ones, and a reader stops after this many shut doors in a row.
SLOT_SPREAD = 8
_ENTRY_PAGES = "entries:"
_SUMMARY_PAGES = "summaries:"
#: History lines a *paged* key's page copy holds whole: a new key's intent and its result (see "Paged
#: keys"). A key with more keeps them in its own value, and its page copies hold the last line.
PAGE_HISTORY = 2
#: The mark of a paged key's page copy (stripped from what is read).
_PAGED = "paged"
#: The most entries pages a slot's summaries may lag behind (see "Summaries written late").
TAIL_PAGES = SUMMARIES_PER_PAGE // ENTRIES_PER_PAGE + 1
_FILTER_PAGES = "filters:"
#: Summary pages whose key filters one filter value holds (see "Key filters"): 25,000 keys, about 35 KB.
FILTERS_PER_PAGE = 50
#: Each summary page's filter: bits, and bits set per key (about 2% false positives at 500 keys).
FILTER_BITS = 4096
FILTER_HASHES = 4


def legacy_index_names() -> list[str]:
    """The index values registries wrote before writer pages: ``index`` and ``index:00`` .. ``index:31``."""
    return [_LEGACY_INDEX, *(f"index:{n:02d}" for n in range(LEGACY_BUCKETS))]


def _door(slot: int, epoch: int = 0) -> str:
    # Epoch 0's door is also what readers walk: it says the slot was ever claimed.
    return f"writer:{slot}:door" if epoch == 0 else f"writer:{slot}:door:{epoch}"


def _race(slot: int, epoch: int = 0) -> str:
    return f"writer:{slot}:race" if epoch == 0 else f"writer:{slot}:race:{epoch}"


def _closed(slot: int) -> str:
    return f"writer:{slot}:closed"


def _page(kind: str, slot: int, page: int) -> str:
    return f"{kind}{slot}:{page}"


def entry_version(entry: dict[str, Any]) -> int:
    """Which of two copies of a key's entry is newer: every change adds a history line with a higher seq
    (and one task changes a key at a time, so two copies with one seq are the same)."""
    history = entry.get("history") or []
    return int(history[-1].get("seq", -1)) if history else -1


def _newest(pages: Iterable[dict[str, Any]], version: Callable[[Any], int]) -> dict[str, Any]:
    """Every key of the pages at its newest copy; most pages share no key, and those merge whole."""
    newest: dict[str, Any] = {}
    for page in pages:
        shared = newest.keys() & page.keys()
        kept = {key: newest[key] for key in shared if version(newest[key]) >= version(page[key])}
        newest.update(page)
        newest.update(kept)
    return newest


#: A slot walk's summary pages and tails (entries pages past them), each with its name.
_SummariesAndTails = tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, dict[str, Any]]]]


class _KeyKnowledge:
    """What one registry object knows of keys (see "Paged keys"): paged ones, by the entries page holding
    their newest copy; those with an own value; those looked up and found nowhere; and the prefixes it
    listed whole (a key under one that the listing lacked is new). A reader learns nothing: it writes no
    key, so it needs none of this, and it must not trust what it learnt while others write."""

    def __init__(self, *, learning: bool) -> None:
        self.learning = learning
        self._paged: dict[str, str] = {}
        self._owned: set[str] = set()
        self._absent: set[str] = set()
        self._scopes: list[str] = []

    def page_of(self, key: str) -> str | None:
        return self._paged.get(key)

    def is_absent(self, key: str) -> bool:
        return key in self._absent

    def has_no_own_value(self, key: str) -> bool:
        """Known to have no own value: paged, or found nowhere."""
        return key in self._paged or key in self._absent

    def may_page(self, key: str) -> bool:
        """The key may be written as a page copy: it has no own value, as far as this object knows."""
        if key in self._owned:
            return False
        return self.has_no_own_value(key) or any(key.startswith(scope) for scope in self._scopes)

    def paged(self, key: str, page: str) -> None:
        if self.learning:
            self._paged[key] = page
            self._absent.discard(key)

    def owned(self, key: str) -> None:
        if self.learning:
            self._owned.add(key)
            self._paged.pop(key, None)
            self._absent.discard(key)

    def absent(self, keys: Iterable[str]) -> None:
        if self.learning:
            self._absent.update(keys)

    def listed(self, prefix: str) -> None:
        if self.learning:
            self._scopes.append(prefix)


class AssetStateStoreBackend:
    """Registry entries in an asset's state store (a task's ``asset_state_store[asset]``), see above.

    :param accessor: ``get(key, default)`` and ``set(key, value)``; if it also has ``get_many(names)`` and
        ``values_with_prefix(prefix)`` (:class:`MetadataDbAssetStore`), reads use them.
    :param read_only: refuse to write (a reader outside a task).
    :param token: this writer's token in the slot race (unique per registry object).
    """

    def __init__(
        self,
        accessor: Any,
        *,
        uri: str,
        read_only: bool = False,
        token: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self.accessor = accessor
        self.description = f"the asset_state_store of {uri}"
        self.read_only = read_only
        self._token = token()
        self._slot: int | None = None
        self._epoch = 0
        # What this writer wrote, by page, so that a batch rewrites its pages without reading them.
        self._position: dict[str, int] = {}
        self._positions = 0  # positions taken in the slot's pages, by this writer and those before it
        self._entry_pages: list[dict[str, dict[str, Any]]] = []
        self._summary_pages: list[dict[str, list[Any]]] = []
        self._keys = _KeyKnowledge(learning=not read_only)
        self._summaries_due: set[int] = set()  # this writer's summary pages changed but not written
        self._filters: dict[int, dict[str, str]] = {}  # this slot's filter pages, by number

    # --- reading --------------------------------------------------------------------------------------

    def _get_many(self, names: Iterable[str]) -> dict[str, Any]:
        get_many = getattr(self.accessor, "get_many", None)
        if get_many is not None:
            return dict(get_many(list(names)))
        return {name: value for name in names if (value := self.accessor.get(name, None)) is not None}

    def load(self, schedule_key: str) -> dict[str, Any] | None:
        if self._keys.has_no_own_value(schedule_key):  # see _load_paged
            return self._load_paged([schedule_key]).get(schedule_key)
        value = self.accessor.get(_ENTRY + schedule_key, None)
        if isinstance(value, dict):
            return self._newer_than_own({schedule_key: value})[schedule_key]
        return self._load_paged([schedule_key]).get(schedule_key)

    def load_many(
        self, schedule_keys: list[str], *, read: _SummariesAndTails | None = None
    ) -> dict[str, dict[str, Any]]:
        """Whole entries: own values, then paged keys from their pages (located if need be, in ``read``
        if the caller has read the summaries and tails already)."""
        unknown = [key for key in schedule_keys if not self._keys.has_no_own_value(key)]
        found = self._newer_than_own(self._load_own(unknown))
        found.update(self._load_paged([key for key in schedule_keys if key not in found], read=read))
        return found

    def _load_own(self, schedule_keys: list[str]) -> dict[str, dict[str, Any]]:
        values = self._get_many(_ENTRY + key for key in schedule_keys)
        return {name[len(_ENTRY) :]: value for name, value in values.items() if isinstance(value, dict)}

    def _newer_than_own(self, own: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Own values, each replaced by a newer paged copy if one exists. An own value is the newest
        unless a batch crashed after writing it and before its pages, for a key new then and written
        without a lookup: its intent (never sent) stays, and a later writer pages the key. So only an
        own value with an intent pending is checked against the pages (rarely: a crash's batch)."""
        pending = [key for key, value in own.items() if value.get("pending")]
        newer = {
            key: copy
            for key, copy in self._load_paged(pending).items()
            if entry_version(copy) > entry_version(own[key])
        }
        for key in own.keys() - newer.keys():
            self._keys.owned(key)
        return {**own, **newer}

    def _load_paged(
        self, schedule_keys: list[str], *, read: _SummariesAndTails | None = None
    ) -> dict[str, dict[str, Any]]:
        """Paged keys' whole entries from their pages: where a listing saw them, else where the summary
        pages place them. A key found nowhere is new (noted, so that its first write may page it, and not
        looked for again: one task changes a key at a time, so only this object could have added it)."""
        schedule_keys = [key for key in schedule_keys if not self._keys.is_absent(key)]
        if not schedule_keys:
            return {}
        where = {key: [page] for key in schedule_keys if (page := self._keys.page_of(key)) is not None}
        unplaced = {key for key in schedule_keys if key not in where}
        pages: dict[str, Any] = {}
        if unplaced:
            located, pages = self._locate(unplaced, read)
            where.update(located)
        pages.update(self._get_many({name for names in where.values() for name in names} - pages.keys()))
        found: dict[str, dict[str, Any]] = {}
        for key, names in where.items():
            # Only a marked copy is a record: a summary written just before a crash may name a page
            # that lacks the key (its intent was never sent), or holds an older copy.
            copies = [
                (copy, name)
                for name in names
                if isinstance(page := pages.get(name), dict)
                and isinstance(copy := page.get(key), dict)
                and copy.get(_PAGED)
            ]
            if copies:
                copy, name = max(copies, key=lambda pair: entry_version(pair[0]))
                found[key] = {field: value for field, value in copy.items() if field != _PAGED}
                self._keys.paged(key, name)
        # Located but with no marked copy: a key with an own value once (lost since), not a new one.
        self._keys.absent(key for key in schedule_keys if key not in where)
        return found

    def _locate(
        self, keys: set[str], read: _SummariesAndTails | None = None
    ) -> tuple[dict[str, list[str]], dict[str, Any]]:
        """The entries pages that may hold each key's paged copy: from the summary pages (which give each
        key's position in its slot; summaries written before positions were kept name no paged key),
        and the tails, read here unless given (returned too, by name)."""
        where: dict[str, list[str]] = {}
        summaries, tails = read if read is not None else self._summaries_with_tails(keys)
        for name, page in summaries:
            slot = int(name.split(":")[1])
            for key in keys & page.keys():
                item = page[key]
                if isinstance(item, list) and len(item) > 4:
                    where.setdefault(key, []).append(
                        _page(_ENTRY_PAGES, slot, int(item[4]) // ENTRIES_PER_PAGE)
                    )
        for name, page in tails:
            for key in keys & page.keys():
                where.setdefault(key, []).append(name)
        return where, dict(tails)

    def _summaries_with_tails(self, keys: set[str] | None = None) -> _SummariesAndTails:
        """Every slot's summary pages, and its *tail*: the entries pages past what those cover (see
        "Summaries written late"), at most :data:`TAIL_PAGES` a slot. Given ``keys``, a slot walk skips
        the summary pages whose key filters hold none of them (see "Key filters")."""
        if getattr(self.accessor, "values_with_prefix", None) is None:
            return self._walk_summaries_with_tails(keys)
        summaries = list(self._pages(_SUMMARY_PAGES))
        covered = _coverage(summaries)
        slots = {
            int(parts[1])
            for name in self.accessor.values_with_prefix("writer:")
            if len(parts := name.split(":")) == 3 and parts[2] == "door"
        }
        names = [
            _page(_ENTRY_PAGES, slot, first + n)
            for slot in sorted(slots)
            for first in [covered.get(slot, 0) // ENTRIES_PER_PAGE]
            for n in range(TAIL_PAGES)
        ]
        read = self._get_many(names)
        return summaries, [(name, read[name]) for name in names if isinstance(read.get(name), dict)]

    def _walk_summaries_with_tails(self, keys: set[str] | None) -> _SummariesAndTails:
        summaries: list[tuple[str, dict[str, Any]]] = []
        tails: list[tuple[str, dict[str, Any]]] = []
        for slot in self._open_slots():
            filters = self._read_filters(slot) if keys is not None else {}
            hashed = [_key_bits(key) for key in keys] if filters and keys is not None else []
            covered = 0
            page = 0
            while True:
                bits = filters.get(page)
                if bits is not None:  # a full page, written before its filter: it exists
                    covered = _covered_by(page, SUMMARIES_PER_PAGE)
                    if any(_may_hold(bits, indexes) for indexes in hashed):
                        value = self.accessor.get(name := _page(_SUMMARY_PAGES, slot, page), None)
                        if isinstance(value, dict):
                            summaries.append((name, value))
                else:
                    value = self.accessor.get(name := _page(_SUMMARY_PAGES, slot, page), None)
                    if not isinstance(value, dict):
                        break
                    summaries.append((name, value))
                    covered = _covered_by(page, len(value))
                page += 1
            first = covered // ENTRIES_PER_PAGE
            for page in range(first, first + TAIL_PAGES):
                if not isinstance(
                    value := self.accessor.get(name := _page(_ENTRY_PAGES, slot, page), None), dict
                ):
                    break
                tails.append((name, value))
        return summaries, tails

    def _open_slots(self) -> Iterator[int]:
        """The slots ever claimed, by their doors: past the last open door, every door within reach of a
        writer is shut (see "Why no key is lost when writers race")."""
        slot, shut = 0, 0
        while shut < SLOT_SPREAD:
            if self.accessor.get(_door(slot), None) is None:
                shut += 1
            else:
                shut = 0
                yield slot
            slot += 1

    def _read_filters(self, slot: int) -> dict[int, bytes]:
        """A slot's key filters, by summary page: its filter pages, read until one is missing."""
        filters: dict[int, bytes] = {}
        number = 0
        while isinstance(value := self.accessor.get(_page(_FILTER_PAGES, slot, number), None), dict):
            for page, encoded in value.items():
                bits = base64.b64decode(encoded) if isinstance(encoded, str) else b""
                if len(bits) == FILTER_BITS // 8:  # anything else: no filter, the page is read
                    filters[int(page)] = bits
            number += 1
        return filters

    def _pages(self, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every writer's pages of one kind with their names, one at a time: by prefix if the store can
        list (as it reads them if it can), else slot by slot."""
        pages_with_prefix = getattr(self.accessor, "pages_with_prefix", None)
        values_with_prefix = getattr(self.accessor, "values_with_prefix", None)
        if pages_with_prefix is not None:
            yield from ((name, value) for name, value in pages_with_prefix(kind) if isinstance(value, dict))
            return
        if values_with_prefix is not None:
            yield from (
                (name, value) for name, value in values_with_prefix(kind).items() if isinstance(value, dict)
            )
            return
        for slot in self._open_slots():
            page = 0
            while isinstance(value := self.accessor.get(name := _page(kind, slot, page), None), dict):
                yield name, value
                page += 1

    def _legacy_keys(self, listed: Iterable[str]) -> list[str]:
        """Keys of the old index values that no page lists yet."""
        keys: set[str] = set()
        for value in self._get_many(legacy_index_names()).values():
            if isinstance(value, list):
                keys.update(key for key in value if isinstance(key, str))
        return sorted(keys.difference(listed))

    #: Listings give ``listed_value``'s values (see :meth:`load_scope`).
    lists_compact = True

    def load_scope(self, prefix: str) -> dict[str, dict[str, Any]]:
        """Every entry under ``prefix`` as a listing keeps it (``listed_value``), made page by page as the
        pages are read: old pages holding whole entries are never all held at once."""
        shared: dict[Any, Any] = {}

        def listed(name: str, page: dict[str, Any]) -> dict[str, Any]:
            items = {}
            for key, value in page.items():
                if isinstance(value, dict):
                    item = items[key] = listed_value(value, shared)
                    if item.pop(_PAGED, None):
                        item[_PAGED] = name  # where the newest copy is, if it wins (popped below)
            return items

        newest = _newest((listed(name, page) for name, page in self._pages(_ENTRY_PAGES)), entry_version)
        # A crash between a batch's own values and its pages leaves the pages older: only intents matter
        # (a paged key's page copy is its record, so it has nothing newer elsewhere).
        pending = [key for key, value in newest.items() if value.get("pending") and _PAGED not in value]
        for key, value in self._load_own(pending).items():
            if entry_version(value) > entry_version(newest[key]):
                newest[key] = listed_value(value, shared)
        newest.update((key, listed_value(value, shared)) for key, value in self._adopt_legacy(newest).items())
        listing = {}
        for key, value in newest.items():
            page = value.pop(_PAGED, None)
            if page is not None:
                self._keys.paged(key, page)
            else:
                self._keys.owned(key)
            if key.startswith(prefix):
                listing[key] = value
        self._keys.listed(prefix)
        return listing

    def _adopt_legacy(self, listed: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The entries of old-layout keys that no page holds, copied into this writer's pages if it may."""
        legacy = self._load_own(self._legacy_keys(listed))
        if legacy and not self.read_only:
            self._write_pages(list(legacy.values()))
        return legacy

    def query(self, query: RegistryQuery, now: datetime | None) -> tuple[int, list[dict[str, Any]]]:
        """A page of a query from the summary pages; then only that page's entries are read."""
        summaries, tails = read = self._summaries_with_tails()
        pages = [page for _, page in summaries]
        pages += [
            {key: _summary_item(copy) for key, copy in tail.items() if isinstance(copy, dict)}
            for _, tail in tails
        ]
        newest = _newest(pages, _summary_version)
        newest.update((key, _summary_item(value)) for key, value in self._adopt_legacy(newest).items())
        matched = sorted(query.select(newest.items(), now))
        keys = matched[query.offset : query.offset + query.limit]
        entries = self.load_many(keys, read=read)  # paged keys are placed by what was just read
        shared: dict[Any, Any] = {}
        return len(matched), [listed_value(entries[key], shared) for key in keys if key in entries]

    # --- writing --------------------------------------------------------------------------------------

    def save(self, entry: dict[str, Any]) -> None:
        self.save_many([entry])

    def save_many(self, entries: list[dict[str, Any]]) -> None:
        """Own values of the keys that need one, then this writer's pages that changed: one call per page,
        not per key (a batch of new keys costs its pages only: see "Paged keys")."""
        if self.read_only:
            raise RegistryReadOnlyError(f"{self.description} was opened for reading only")
        paged = {entry["schedule_key"] for entry in entries if self._may_page(entry)}
        for entry in entries:
            if entry["schedule_key"] not in paged:
                # The own value first: a key whose page is not written yet is only unlisted, never wrong.
                self.accessor.set(_ENTRY + entry["schedule_key"], entry)
        self._write_pages(entries, paged)

    def _may_page(self, entry: dict[str, Any]) -> bool:
        """A key is paged while its history is short, if this object knows it has no own value: seen
        paged, looked up and found nowhere, or missing from a listing of a prefix it falls under."""
        history = entry.get("history") or []
        # A page copy holds the key's whole history: short, and from its first line on.
        if len(history) > PAGE_HISTORY or (history and history[0].get("seq", 0) != 0):
            return False
        return self._keys.may_page(entry["schedule_key"])

    def _write_pages(
        self, entries: list[dict[str, Any]], paged: set[str] | frozenset[str] = frozenset()
    ) -> None:
        if not entries:
            return
        slot = self._claim_slot()
        touched_entries: set[int] = set()
        touched_summaries: set[int] = set()
        names: dict[int, str] = {}
        for entry in entries:
            key = entry["schedule_key"]
            position = self._position.get(key)
            if position is None:
                position = self._position[key] = self._positions
                self._positions += 1
            at_entry, at_summary = position // ENTRIES_PER_PAGE, position // SUMMARIES_PER_PAGE
            if at_entry == len(self._entry_pages):
                self._entry_pages.append({})
            if at_summary == len(self._summary_pages):
                self._summary_pages.append({})
            if key in paged:
                self._entry_pages[at_entry][key] = {**entry, _PAGED: True}
                self._keys.paged(key, names.setdefault(at_entry, _page(_ENTRY_PAGES, slot, at_entry)))
            else:
                self._entry_pages[at_entry][key] = _last_line_only(entry)
                self._keys.owned(key)
            self._summary_pages[at_summary][key] = [*_summary_item(entry), position]
            touched_entries.add(at_entry)
            touched_summaries.add(at_summary)
        # Summaries first: one naming a copy its page lacks yet is checked against the page (_load_paged);
        # entries second, whose writing makes the batch's intents durable. Each kind in order: a new page
        # is written only after the one before it, so a slot's pages are contiguous. A summary page not
        # yet full waits (see "Summaries written late").
        full: list[int] = []
        for page in sorted(touched_summaries):
            if (page + 1) * SUMMARIES_PER_PAGE <= self._positions:
                self.accessor.set(_page(_SUMMARY_PAGES, slot, page), self._summary_pages[page])
                self._summaries_due.discard(page)
                full.append(page)
            else:
                self._summaries_due.add(page)
        self._write_filters(slot, full)
        for page in sorted(touched_entries):
            self.accessor.set(_page(_ENTRY_PAGES, slot, page), self._entry_pages[page])

    def _write_filters(self, slot: int, written: list[int]) -> None:
        """Add the key filters of full summary pages just written (see "Key filters"): after the pages
        themselves, so a filter never names a page that is not there. A full page's keys never change,
        so its filter is written once."""
        changed: set[int] = set()
        for page in written:
            keys = self._summary_pages[page]
            number = page // FILTERS_PER_PAGE
            filters = self._filters.setdefault(number, {})
            if str(page) not in filters and len(keys) == SUMMARIES_PER_PAGE:
                filters[str(page)] = _filter_of(keys)
                changed.add(number)
        for number in sorted(changed):
            self.accessor.set(_page(_FILTER_PAGES, slot, number), self._filters[number])

    def _claim_slot(self) -> int:
        """The writer slot this registry alone writes: a closed one handed on, or a fresh one, each won
        through the splitter described above."""
        if self._slot is not None:
            return self._slot
        if self._continue_a_closed_slot():
            assert self._slot is not None
            return self._slot
        hint = self.accessor.get(_HINT, None)
        slot = hint if isinstance(hint, int) and hint >= 0 else 0
        spread = random.Random(self._token)
        while not self._split(slot, 0):
            # Losers scatter over the next few slots: racing on together, they would keep colliding.
            slot += 1 + spread.randrange(SLOT_SPREAD)
        self.accessor.set(_HINT, slot + 1)
        self._slot, self._epoch = slot, 0
        return slot

    def _split(self, slot: int, epoch: int) -> bool:
        """The splitter: True for at most one writer of ``slot``'s ``epoch``, and for one running alone."""
        self.accessor.set(_race(slot, epoch), self._token)
        if self.accessor.get(_door(slot, epoch), None) is not None:
            return False
        self.accessor.set(_door(slot, epoch), True)
        return bool(self.accessor.get(_race(slot, epoch), None) == self._token)

    def _free_slots(self) -> list[int]:
        free = self.accessor.get(_FREE, None)
        return [slot for slot in free if isinstance(slot, int)] if isinstance(free, list) else []

    def _continue_a_closed_slot(self) -> bool:
        """Win the next epoch of a slot the free hint names, and carry on after its last pages."""
        free = self._free_slots()
        # Each writer its own order: writers starting at once would otherwise all race for the first.
        random.Random(self._token).shuffle(free)
        for slot in free[:REUSE_TRIES]:
            closed = self.accessor.get(_closed(slot), None)
            epoch = int(closed["epoch"]) + 1 if isinstance(closed, dict) else 0
            # Its next epoch already raced for (a racer sets race before it opens the door): taken, or
            # being taken. Joining a race under way could only lose it, or make every racer lose it (a
            # splitter may refuse them all, and then nobody ever closes the slot again).
            if not epoch or self.accessor.get(_race(slot, epoch), None) is not None:
                continue
            if not self._split(slot, epoch):
                continue
            positions = int(closed["positions"])
            entry_page, summary_page = positions // ENTRIES_PER_PAGE, positions // SUMMARIES_PER_PAGE
            # Full pages before these are never rewritten: no key of this writer is placed in them.
            self._entry_pages = [{} for _ in range(entry_page)]
            self._summary_pages = [{} for _ in range(summary_page)]
            last_entries = self.accessor.get(_page(_ENTRY_PAGES, slot, entry_page), None)
            self._entry_pages.append(last_entries if isinstance(last_entries, dict) else {})
            last_summaries = self.accessor.get(_page(_SUMMARY_PAGES, slot, summary_page), None)
            self._summary_pages.append(last_summaries if isinstance(last_summaries, dict) else {})
            # The filter page the next full summary page goes into: its earlier filters are kept.
            number = summary_page // FILTERS_PER_PAGE
            last_filters = self.accessor.get(_page(_FILTER_PAGES, slot, number), None)
            self._filters = {number: last_filters} if isinstance(last_filters, dict) else {}
            # The last page's keys keep a place in it (which one does not matter: 50 divides 500).
            start = entry_page * ENTRIES_PER_PAGE
            self._position = {key: start + n for n, key in enumerate(self._entry_pages[-1])}
            self._positions = max(positions, start + len(self._position))
            self._slot, self._epoch = slot, epoch
            # The hint is left as it is: a claimer rewriting it would drop the slots closed meanwhile, and
            # a taken slot left in it costs the next claimer a read (its next epoch's race is set).
            return True
        return False

    def _offer(self, slot: int) -> None:
        """Add ``slot`` to the free hint, newest last. Another closer may write the hint between this
        one's read and write, and drop the slot: so read it back and add it again, a few times at most
        (each round it is dropped again needs yet another closer in that window)."""
        hint = self._free_slots()
        for _ in range(OFFER_TRIES):
            self.accessor.set(_FREE, [*(free for free in hint if free != slot), slot][-FREE_HINT_LENGTH:])
            hint = self._free_slots()  # read back: also what the next try starts from
            if slot in hint:
                return

    def close(self) -> None:
        """Hand this writer's slot on (see "Slots handed on"); a later write by this object claims another."""
        if self._slot is None or self.read_only:
            return
        slot = self._slot
        for page in sorted(self._summaries_due):
            self.accessor.set(_page(_SUMMARY_PAGES, slot, page), self._summary_pages[page])
        self._summaries_due.clear()
        self.accessor.set(_closed(slot), {"epoch": self._epoch, "positions": self._positions})
        self._offer(slot)
        self._slot, self._epoch, self._position, self._positions = None, 0, {}, 0
        self._entry_pages, self._summary_pages, self._filters = [], [], {}


def _key_bits(key: str) -> list[int]:
    """The bits a key sets in a summary page's filter: from a hash every process agrees on."""
    digest = hashlib.blake2b(key.encode(), digest_size=2 * FILTER_HASHES).digest()
    return [int.from_bytes(digest[2 * n : 2 * n + 2], "big") % FILTER_BITS for n in range(FILTER_HASHES)]


def _filter_of(keys: Iterable[str]) -> str:
    bits = bytearray(FILTER_BITS // 8)
    for key in keys:
        for index in _key_bits(key):
            bits[index // 8] |= 1 << (index % 8)
    return base64.b64encode(bytes(bits)).decode()


def _may_hold(bits: bytes, indexes: list[int]) -> bool:
    """False only if the page's filter proves the key absent (a filter has false positives, never false
    negatives)."""
    return all(bits[index // 8] >> (index % 8) & 1 for index in indexes)


def _covered_by(number: int, length: int) -> int:
    """The positions a slot's summary pages cover up to page ``number`` holding ``length`` summaries: a
    slot's pages are written whole and in order, and a page holds the positions from its first on."""
    return number * SUMMARIES_PER_PAGE + length


def _coverage(summaries: Iterable[tuple[str, dict[str, Any]]]) -> dict[int, int]:
    """Per slot, the positions its summary pages cover (its last page's length tells)."""
    covered: dict[int, int] = {}
    for name, page in summaries:
        _, slot, number = name.split(":")
        covered[int(slot)] = max(covered.get(int(slot), 0), _covered_by(int(number), len(page)))
    return covered


def _last_line_only(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry as its page keeps it: its last history line only (``entry:<key>`` keeps them all)."""
    history = entry.get("history") or []
    return {**entry, "history": history[-1:]} if len(history) > 1 else entry


def _summary_item(entry: dict[str, Any]) -> list[Any]:
    """A summary page's item: state, send_first, send_last, then the version (and, as a page keeps it,
    the key's position in its slot)."""
    _, state, first, last = entry_summary(entry)
    return [state, first, last, entry_version(entry)]


def _summary_version(item: list[Any]) -> int:
    return int(item[3])


def _among(keys: list[str], column: Any) -> Any:
    return column.in_(keys)


#: Summary pages parsed by this process, by (asset uri, value key): (the row's updated_at, the value).
#: A schedules page is asked again and again (page 2, 3, ...): only pages written since are parsed again.
_SUMMARY_CACHE: dict[tuple[str, str], tuple[Any, Any]] = {}
#: Rows a metadata-database listing reads at a time.
PAGES_PER_FETCH = 20
_SUMMARY_CACHE_LOCK = threading.Lock()


class MetadataDbAssetStore:
    """An asset's state store read straight from Airflow's metadata database: for readers outside tasks
    (the API server's schedules page, the console command), where no Task SDK accessor exists.

    Reads only; it can also list values by prefix, so a reader needs no slot walk. Summary pages are
    kept parsed between readers of one process and read again only once their row has changed (its
    ``updated_at``); nothing else is kept, since entries handed out may be changed by their caller.
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def _select(self, condition: Callable[[Any], Any], *, with_values: bool = True) -> dict[str, Any]:
        """``{key: value}`` (parsed) of the rows that meet ``condition``, or ``{key: updated_at}``."""
        from airflow.models.asset import AssetModel
        from airflow.models.asset_state_store import AssetStateStoreModel
        from airflow.utils.session import create_session
        from sqlalchemy import select

        column: Any = AssetStateStoreModel.value if with_values else AssetStateStoreModel.updated_at
        with create_session() as session:
            rows = session.execute(
                select(AssetStateStoreModel.key, column)
                .join(AssetModel, AssetModel.id == AssetStateStoreModel.asset_id)
                .where(AssetModel.uri == self.uri, condition(AssetStateStoreModel.key))
            ).all()
        return {key: json.loads(value) if with_values else value for key, value in rows}

    def get(self, key: str, default: Any = None) -> Any:
        return self._select(lambda column: column == key).get(key, default)

    def get_many(self, keys: list[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for start in range(0, len(keys), 500):
            found.update(self._select(partial(_among, keys[start : start + 500])))
        return found

    def pages_with_prefix(self, prefix: str) -> Iterator[tuple[str, Any]]:
        """``(key, value)`` of the values whose keys start with ``prefix``, parsed one at a time as the
        rows arrive."""
        from airflow.models.asset import AssetModel
        from airflow.models.asset_state_store import AssetStateStoreModel
        from airflow.utils.session import create_session
        from sqlalchemy import select

        if prefix == _SUMMARY_PAGES:  # kept parsed between readers: see values_with_prefix
            yield from self.values_with_prefix(prefix).items()
            return
        with create_session() as session:
            rows = session.execute(
                select(AssetStateStoreModel.key, AssetStateStoreModel.value)
                .join(AssetModel, AssetModel.id == AssetStateStoreModel.asset_id)
                .where(
                    AssetModel.uri == self.uri, AssetStateStoreModel.key.startswith(prefix, autoescape=True)
                )
                .execution_options(yield_per=PAGES_PER_FETCH)
            )
            for key, value in rows:
                yield key, json.loads(value)

    def values_with_prefix(self, prefix: str) -> dict[str, Any]:
        def under_prefix(column: Any) -> Any:
            return column.startswith(prefix, autoescape=True)

        if prefix != _SUMMARY_PAGES:
            return self._select(under_prefix)
        stamps = self._select(under_prefix, with_values=False)
        with _SUMMARY_CACHE_LOCK:
            known = {key: _SUMMARY_CACHE.get((self.uri, key)) for key in stamps}
        changed = [key for key, stamp in stamps.items() if (known[key] or (None,))[0] != stamp]
        # The value read may be newer than the stamp read before it: kept under the older stamp, it is
        # only read again next time.
        fresh = self.get_many(changed)
        with _SUMMARY_CACHE_LOCK:
            for key, value in fresh.items():
                _SUMMARY_CACHE[(self.uri, key)] = (stamps[key], value)
            return {
                key: _SUMMARY_CACHE[(self.uri, key)][1] for key in stamps if (self.uri, key) in _SUMMARY_CACHE
            }
