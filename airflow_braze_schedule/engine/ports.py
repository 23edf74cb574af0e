"""The ports the engine works through; Airflow's side (the operators) or a test fills them in.

They are structural (:class:`typing.Protocol`): a :class:`~airflow_braze_schedule.registry.store.ScheduleRegistry`
is a :class:`RegistryStore`, a :class:`logging.Logger` a :class:`Log`, ``BrazeHook.send`` a :data:`Send`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from airflow_braze_schedule.core.payload import BrazeRequest
    from airflow_braze_schedule.core.plan import KeyPlan
    from airflow_braze_schedule.core.registry_model import RegistryEntry

#: Sends one validated request and returns Braze's answer (the hook's ``send``; a test's fake client).
Send = Callable[["BrazeRequest"], dict[str, Any]]

#: Seconds on a monotonic clock (``time.monotonic``; a test's fake clock).
Clock = Callable[[], float]


class RegistryStore(Protocol):
    """Where keyed entries are kept: reads of one key or many, writes of one entry or a batch."""

    def get(self, schedule_key: str) -> RegistryEntry | None: ...

    def get_many(self, schedule_keys: Iterable[str]) -> dict[str, RegistryEntry]: ...

    def put(self, entry: RegistryEntry) -> RegistryEntry: ...

    def put_many(self, entries: Iterable[RegistryEntry]) -> None: ...

    def scope(self, prefix: str = "") -> dict[str, RegistryEntry]: ...


class Log(Protocol):
    """What the engine says: a :class:`logging.Logger` or Airflow's task logger."""

    def info(self, msg: Any, /, *args: Any) -> Any: ...

    def warning(self, msg: Any, /, *args: Any) -> Any: ...

    def error(self, msg: Any, /, *args: Any) -> Any: ...


class GroupSteps(Protocol):
    """Carries out a group key's plan (a send made of many schedules) for a reconcile; the operators'
    :class:`~airflow_braze_schedule.engine.group_steps.GroupSteps` is one."""

    #: Requests sent so far.
    sent: int

    def carry_out(self, plan: KeyPlan, member: Any) -> RegistryEntry | None: ...

    def settle(self, entry: RegistryEntry) -> RegistryEntry: ...


class GroupSender(Protocol):
    """Sends a group's requests for :class:`~airflow_braze_schedule.engine.group_steps.GroupSteps`; the
    operators' :class:`~airflow_braze_schedule.operators.keyed_groups.TaskGroupSender` is one.

    ``report``: push the group's ids to XCom and put its change on the task's event (a reconcile's groups
    do not: it reports every change at once).
    """

    #: Requests the last :meth:`create` sent (chunks created or answered otherwise), even if it failed.
    requests_sent: int

    def create(self, member: Any, ledger_key: str, *, report: bool) -> dict[str, Any]:
        """Send a validated group (``member``) with the chunk ledger named ``ledger_key``; its handle."""
        ...

    def change(
        self, group: Any, action: str, operator: Any, *, not_found_is_cancelled: bool = False, report: bool
    ) -> dict[str, Any]:
        """Update (to ``operator``'s schedule; None: the task's) or cancel every schedule of ``group``."""
        ...
