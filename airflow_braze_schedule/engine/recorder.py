"""Registry writes batched per wave of requests, so recording never holds up a request.

Braze has no idempotency key, so the registry is what makes a retry safe, under one rule: **a key's intent
is durable before its request is sent**, and a crash leaves at most ``max_workers`` intents to settle
(requests sent whose results were not recorded). Writing each intent and each result with its own call,
on the calling thread, between requests, made the registry the bottleneck (one write per step, one key at
a time). The design here keeps the rule and takes the writes off the request path:

* Steps do not write: :meth:`BatchedRecorder.put` queues an entry (the latest state of each key wins: it
  carries its whole history).
* A reconcile phase works in *waves*. Before submitting new requests it starts up to the number of free
  slots (``max_workers`` minus the requests in flight), each start queuing its key's intent; then one
  :meth:`flush` writes, in a single ``put_many``, those intents **and** the results of every request
  answered since the last flush; only then are the new requests submitted. Requests already in flight keep
  running on the workers while the calling thread writes, so a write delays only the requests whose
  intents it carries, which must wait for them anyway.
* A slot is freed when its result is *durable*, not when the answer arrives: an answered request whose
  result is still queued keeps its slot until the flush that writes it, and that flush precedes any new
  submission. So at every instant, intents written without their results <= requests in flight + answers
  queued <= ``max_workers``: a crash leaves at most ``max_workers`` intents to settle, as before.
* Whatever is queued when a phase ends (results, refusals, failures) is flushed then, and also when it
  ends by an exception (a process that dies writes nothing more, which the rule above already covers).

With a batching backend (``put_many`` in one transaction or one asset-store write), a wave of 8 keys costs
one registry write instead of 16, and the wave's requests wait for it, not for 8 writes each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_braze_schedule.core.registry_model import RegistryEntry
    from airflow_braze_schedule.engine.ports import RegistryStore


class BatchedRecorder:
    """Queues entries and writes them to the registry in one ``put_many`` per :meth:`flush`."""

    def __init__(self, registry: RegistryStore) -> None:
        self.registry = registry
        self._queued: dict[str, RegistryEntry] = {}
        #: How many ``put_many`` calls were made, and entries written (for tests and benchmarks).
        self.flushes = 0
        self.written = 0

    def put(self, entry: RegistryEntry) -> RegistryEntry:
        """Queue ``entry`` for the next flush (replacing an earlier queued state of its key)."""
        self._queued[entry.schedule_key] = entry
        return entry

    def __len__(self) -> int:
        return len(self._queued)

    def flush(self) -> None:
        """Write every queued entry in one batch; on failure they stay queued (nothing is sent meanwhile)."""
        if not self._queued:
            return
        entries = list(self._queued.values())
        self.registry.put_many(entries)
        self._queued.clear()
        self.flushes += 1
        self.written += len(entries)
