"""Many requests at once: a bounded pool of threads, and progress reported at a steady pace.

The coordinating thread hands out work and records outcomes; only the work itself (sending one request)
runs in the pool's threads, so whatever the coordinator keeps (a ledger, counters) needs no lock. The
number of items handed out but not finished is bounded, so an audience streamed from a file is never
read ahead further than a few chunks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass
class Progress:
    """Counts for the progress line: chunks done of total, recipients, request rate, waits, time left."""

    total: int
    recipients_total: int
    done: int = 0
    recipients: int = 0
    failed: int = 0
    requests: int = 0
    waits: int = 0
    waited_seconds: float = 0.0
    started: float = field(default_factory=time.monotonic)

    def line(self, now: float | None = None) -> str:
        elapsed = max((now if now is not None else time.monotonic()) - self.started, 1e-9)
        rate = self.requests / elapsed
        left = self.total - self.done
        pace = self.done / elapsed
        eta = (
            f"about {left / pace:,.0f} s left"
            if pace > 0 and left
            else "done"
            if not left
            else "time left unknown"
        )
        percent = 100 * self.done / self.total if self.total else 100.0
        text = (
            f"{self.done:,} of {self.total:,} chunks ({percent:.0f}%), {self.recipients:,} of "
            f"{self.recipients_total:,} recipients, {rate:.1f} requests/s, "
            f"{self.waits} waits for Braze ({self.waited_seconds:.1f} s), {eta}"
        )
        if self.failed:
            text += f", {self.failed:,} chunks failed"
        return text


class Ticker:
    """Calls ``report`` at most once every ``interval`` seconds, when :meth:`tick` is called."""

    def __init__(
        self, interval: float, report: Callable[[], None], clock: Callable[[], float] = time.monotonic
    ):
        self.interval = interval
        self.report = report
        self._clock = clock
        self._next = clock() + interval

    def tick(self) -> None:
        now = self._clock()
        if now >= self._next:
            self._next = now + self.interval
            self.report()


@dataclass
class FanOut(Generic[Item, Result]):
    """Run ``work`` over items with at most ``concurrency`` at a time, in the pool's threads.

    :param work: what to do with one item; runs in a pool thread. It should not raise: an exception is
        handed to ``on_done`` as the result's error.
    :param concurrency: threads in the pool.
    :param ahead: items handed to the pool beyond those running, so a thread never waits for the
        coordinator (which may be writing the ledger).
    """

    work: Callable[[Item], Result]
    concurrency: int
    ahead: int = 0

    def run(
        self,
        items: Iterable[Item],
        *,
        before: Callable[[Item], None],
        on_done: Callable[[Item, Result | None, BaseException | None], None],
        tick: Callable[[], None],
        stop: Callable[[], bool],
        poll: float = 0.5,
    ) -> None:
        """Hand out items until they run out or ``stop()`` says so. ``before`` runs in the coordinator
        before an item goes to the pool; ``on_done`` and ``tick`` run in the coordinator too. If drawing
        an item raises, the items already handed out are still finished and reported, then it re-raises.
        """
        limit = self.concurrency + self.ahead
        pending: dict[Future[Result], Item] = {}

        def collect(timeout: float | None) -> None:
            done, _ = wait(pending, timeout=timeout, return_when=FIRST_COMPLETED)
            for future in done:
                item = pending.pop(future)
                error = future.exception()
                on_done(item, None if error is not None else future.result(), error)

        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="braze-bulk") as pool:
            try:
                for item in items:
                    while len(pending) >= limit:
                        collect(poll)
                        tick()
                    if stop():
                        break
                    before(item)
                    pending[pool.submit(self.work, item)] = item
                    tick()
            finally:
                # Whatever went out is answered and recorded, even when the coordinator fails.
                while pending:
                    collect(poll)
                    tick()
