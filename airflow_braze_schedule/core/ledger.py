"""The create ledger: how a retried create task finds the schedule an earlier try made.

Braze has no idempotency key and no way to look up API-made schedules, so the only defence against a
second schedule for the same send is to remember, outside the task's memory, what an earlier try did.
The ledger writes to a key-value store (Airflow 3.3's ``task_state_store``, which survives task retries,
unlike XCom) at three moments:

* ``sending``: written *before* the request goes out, with a fingerprint of the request;
* ``not_sent``: the request failed in a way that proves nothing was created (a 4xx/5xx answer, or
  Braze was unreachable);
* ``created``: Braze answered with a ``schedule_id``; the handle is kept.

A later try then knows: ``created`` with the same fingerprint means "return that handle"; ``sending``
means an earlier try's outcome is unknown (the worker died mid-request, or the answer was lost), which
must not be resent blindly.

The store also outlives a *clear*: a finished run that is cleared runs the create again, and finds
``created``. By then a downstream task may have cancelled that schedule, and Braze answers 404 to
anything addressing a cancelled schedule, so the caller says which schedules it knows to be cancelled
(``existing(cancelled_by=...)``): a cancelled one is never handed out again, a new one is created.

Without a store (Airflow before 3.3), a retry cannot know what an earlier try did, so a retried create
refuses to send. The hook's own retries still cover 429s, 5xx answers and an unreachable Braze within
one try.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from airflow_braze_schedule.core.errors import BrazeError, BrazeValidationError
from airflow_braze_schedule.core.handle import ScheduleHandle

if TYPE_CHECKING:
    from airflow_braze_schedule.core.payload import BrazeRequest

LEDGER_KEY = "braze_schedule_create"
#: Longer than the 90 days ahead older Braze docs allowed a send to be scheduled.
RETENTION = timedelta(days=120)
ON_UNKNOWN_OUTCOME = ("fail", "resend")


def check_on_unknown_outcome(value: Any) -> str:
    """``on_unknown_outcome`` must be one of its two values (a typo must not mean "resend")."""
    if value not in ON_UNKNOWN_OUTCOME:
        raise BrazeValidationError("on_unknown_outcome", f"{value!r} is not an option", "'fail' or 'resend'")
    return str(value)


class StateStore(Protocol):
    """What the ledger needs of a store; Airflow's ``task_state_store`` fits."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any, *, retention: timedelta | None = None) -> None: ...


class EarlierAttemptError(BrazeError):
    """An earlier try of this create left something that forbids sending again."""


def fingerprint(request: BrazeRequest) -> str:
    """A short, stable digest of what a request asks Braze to do."""
    canonical = json.dumps(
        {"path": request.path, "body": request.body}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class CancelledEarlier:
    """An earlier try created ``handle``, and ``cancelled_by`` cancelled it since."""

    handle: ScheduleHandle
    cancelled_by: str


class CreateLedger:
    """Records one create's progress in ``store`` (or in nothing, when there is no store).

    :param store: the task's state store, or None where Airflow has none.
    :param request: the validated create request.
    :param try_number: the task's try number (1 on the first try).
    :param on_unknown_outcome: ``"fail"`` (default) refuses to send again after an earlier try whose
        outcome is unknown; ``"resend"`` sends anyway, for a user who has checked Braze.
    """

    def __init__(
        self,
        store: StateStore | None,
        request: BrazeRequest,
        *,
        try_number: int,
        on_unknown_outcome: str = "fail",
    ) -> None:
        self.store = store
        self.request = request
        self.fingerprint = fingerprint(request)
        self.try_number = try_number
        self.resend = check_on_unknown_outcome(on_unknown_outcome) == "resend"
        #: Set by ``existing()`` when an earlier try's schedule was cancelled since, so a new one is made.
        self.cancelled_earlier: CancelledEarlier | None = None

    def existing(
        self, *, cancelled_by: Callable[[ScheduleHandle], str | None] | None = None
    ) -> ScheduleHandle | None:
        """The schedule an earlier try created for this very request, if any and not cancelled since.

        :param cancelled_by: says who cancelled a schedule since it was created, or None when nobody
            is known to have. An earlier try's schedule that was cancelled is not returned, whatever
            request made it: the create sends anew (``cancelled_earlier`` says why).
        :raises EarlierAttemptError: when an earlier try may have created a schedule that cannot be
            identified, or created a live one for a different request.
        """
        if self.store is None:
            if self.try_number > 1 and not self.resend:
                raise EarlierAttemptError(
                    f"This is try {self.try_number} of a create, and this Airflow has no task_state_store "
                    "(Airflow 3.3+) to tell whether an earlier try created a schedule. Not sending again, so "
                    "the send cannot be scheduled twice. Check Braze for the send; to create it anyway, set "
                    "on_unknown_outcome='resend' (or set retries=0 on create tasks and clear the task)"
                )
            return None
        record = self.store.get(LEDGER_KEY)
        if not isinstance(record, dict):
            return None
        state = record.get("state")
        if state == "created":
            handle = ScheduleHandle.from_xcom(record["handle"])
            cancelled = cancelled_by(handle) if cancelled_by is not None else None
            if cancelled is not None:
                self.cancelled_earlier = CancelledEarlier(handle, cancelled)
                return None
            if record.get("fingerprint") != self.fingerprint:
                raise EarlierAttemptError(
                    f"An earlier try of this task created schedule_id {handle.schedule_id} "
                    f"({handle.kind.value}), for a request that differs from this one. Not creating a second "
                    "schedule: update or cancel that schedule_id instead"
                )
            return handle
        if state == "sending" and not self.resend:
            raise EarlierAttemptError(
                f"An earlier try of this task sent this create ({self.request.method} {self.request.path}) at "
                f"{record.get('at')} and never recorded Braze's answer: the worker may have stopped mid-request "
                "or the answer was lost. A schedule may exist whose schedule_id is unknown, so this try does not "
                "send again. Check Braze for the send before going on; to send anyway, set "
                "on_unknown_outcome='resend'"
            )
        return None

    def _write(self, value: dict[str, Any]) -> None:
        if self.store is not None:
            self.store.set(LEDGER_KEY, value, retention=RETENTION)

    def sending(self) -> None:
        """Call right before the request goes out."""
        at = datetime.now(tz=UTC).isoformat(timespec="seconds")
        self._write(
            {"state": "sending", "fingerprint": self.fingerprint, "path": self.request.path, "at": at}
        )

    def not_sent(self) -> None:
        """Call when the request is known to have created nothing."""
        self._write({"state": "not_sent", "fingerprint": self.fingerprint})

    def created(self, handle: ScheduleHandle) -> None:
        """Call as soon as Braze has answered with a schedule_id."""
        self._write({"state": "created", "fingerprint": self.fingerprint, "handle": handle.to_xcom()})
