"""A registry backend in memory, for tests and benchmarks of the engine (no Airflow, no database).

It keeps what a crash would leave: every write is "durable" the moment it returns. Entries are kept as
JSON text, as the SQL backend keeps them, so a read returns fresh objects and costs what a parse costs. ``latency`` adds a
fixed wait per call (not per entry), as a database round trip would; ``on_write`` is called after each
write with the backend, so a test can check an invariant at every point a process could die. One lock
guards the store: an engine's worker threads may read it (a test's send does) while its thread writes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any


class MemoryRegistryBackend:
    description = "memory"

    def __init__(
        self, *, latency: float = 0.0, on_write: Callable[[MemoryRegistryBackend], None] | None = None
    ) -> None:
        self._text: dict[str, str] = {}
        self._lock = threading.RLock()
        self.latency = latency
        self.on_write = on_write
        #: Calls made, by method name.
        self.calls: dict[str, int] = {}

    def _call(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1
        if self.latency:
            time.sleep(self.latency)

    def load(self, schedule_key: str) -> dict[str, Any] | None:
        self._call("load")
        with self._lock:
            text = self._text.get(schedule_key)
        return json.loads(text) if text is not None else None

    def load_many(self, schedule_keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        self._call("load_many")
        with self._lock:
            found = {key: self._text[key] for key in schedule_keys if key in self._text}
        return {key: json.loads(text) for key, text in found.items()}

    def load_scope(self, prefix: str) -> dict[str, dict[str, Any]]:
        self._call("load_scope")
        with self._lock:
            found = {key: text for key, text in self._text.items() if key.startswith(prefix)}
        return {key: json.loads(text) for key, text in found.items()}

    def save(self, entry: dict[str, Any]) -> None:
        self._call("save")
        text = json.dumps(entry)
        with self._lock:
            self._text[entry["schedule_key"]] = text
        if self.on_write is not None:
            self.on_write(self)

    def save_many(self, entries: Iterable[dict[str, Any]]) -> None:
        self._call("save_many")
        texts = {entry["schedule_key"]: json.dumps(entry) for entry in entries}
        with self._lock:
            self._text.update(texts)
        if self.on_write is not None:
            self.on_write(self)

    @property
    def values(self) -> dict[str, dict[str, Any]]:
        """Every stored entry, by key (a copy)."""
        with self._lock:
            texts = dict(self._text)
        return {key: json.loads(text) for key, text in texts.items()}

    def pending(self) -> dict[str, dict[str, Any]]:
        """The keys whose stored entry holds an intent (what a crash now would leave to settle)."""
        return {key: value["pending"] for key, value in self.values.items() if value.get("pending")}
